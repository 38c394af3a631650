package frontdoor_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/redislimit/redistest"
	"github.com/fairslot/fairslot/internal/testlog"
)

// waitFor waits until cond holds; the 30 s is a hang guard, not a limit on
// how fast anything must be.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
	}
}

// TestDoorStartsWithoutRedis: a door whose Redis is silent (stopped with
// SIGSTOP) or refuses connections still starts, on its own limits with
// the breaker open and one ALERT, and serves requests without asking Redis;
// once the silent Redis runs again the prober takes it back, with the
// second ALERT, and decisions go to Redis again.
func TestDoorStartsWithoutRedis(t *testing.T) {
	rs := redistest.Start(t)
	refused := func() string { // a port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "redis://" + l.Addr().String() + "/0"
	}()
	for _, tt := range []struct {
		name, url string
		silent    bool
	}{{"silent", rs.URL, true}, {"refused", refused, false}} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.silent {
				rs.Freeze(t)
			}
			cfg := frontdoor.Default()
			cfg.Redis = tt.url
			// Not production's 50 ms: on a shared, slow machine that could
			// time out a Redis that is up, and switch the door back to
			// local limits after the thaw.
			cfg.RedisTimeout = fairslot.Duration(500 * time.Millisecond)
			reg, logs := prometheus.NewRegistry(), &testlog.Buffer{}
			d, err := frontdoor.New(context.Background(), cfg, key, claims, reg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatalf("New with a %s Redis: %v", tt.name, err)
			}
			defer d.Close()
			metric := func(name, label, v string) float64 {
				return value(t, reg, name, map[string]string{label: v})
			}
			if up := value(t, reg, "fairslot_redis_up", nil); up != 0 {
				t.Errorf("fairslot_redis_up = %v at start with a %s Redis, want 0", up, tt.name)
			}
			h := d.Wrap(ok, frontdoor.SingleListener)
			for i := range 20 {
				if w := serve(h, request("GET", "/x", "10.0.0.1:1", "acct-1")); w.Code != 200 {
					t.Fatalf("request %d: %d", i, w.Code)
				}
			}
			if failed, skipped := metric("fairslot_redis_calls_total", "result", "failed"), metric("fairslot_redis_calls_total", "result", "skipped"); failed != 0 || skipped == 0 {
				t.Errorf("calls failed %v, skipped %v; want none waiting on Redis, all decided here", failed, skipped)
			}
			if n := strings.Count(logs.String(), "ALERT: shared rate limits unavailable"); n != 1 {
				t.Errorf("%d ALERTs at start, want 1:\n%s", n, logs)
			}
			if !tt.silent {
				return
			}
			rs.Thaw(t)
			waitFor(t, "the prober takes Redis back", func() bool { return value(t, reg, "fairslot_redis_up", nil) == 1 })
			if w := serve(h, request("GET", "/x", "10.0.0.1:1", "acct-1")); w.Code != 200 {
				t.Fatalf("request after Redis is back: %d", w.Code)
			}
			if n := metric("fairslot_redis_calls_total", "result", "ok"); n == 0 {
				t.Error("Redis is back, but no decision went to it")
			}
			if n := strings.Count(logs.String(), "ALERT: shared rate limits back"); n != 1 {
				t.Errorf("%d back ALERTs, want 1:\n%s", n, logs)
			}
			if n := metric("fairslot_redis_switches_total", "to", "shared"); n != 1 {
				t.Errorf("switches to shared %v, want 1", n)
			}
		})
	}
}

func TestRedisConfigValidate(t *testing.T) {
	ms := func(n int) fairslot.Duration { return fairslot.Duration(time.Duration(n) * time.Millisecond) }
	for _, tt := range []struct {
		timeout, every fairslot.Duration
		ok             bool
	}{
		{ms(50), ms(1000), true},
		{ms(1), ms(100), true},
		{ms(1000), ms(60000), true},
		{0, ms(1000), false},
		{ms(1001), ms(5000), false},
		{ms(50), ms(99), false},
		{ms(50), ms(60001), false},
		{ms(500), ms(500), false}, // a probe would still be running at the next tick
	} {
		c := frontdoor.Default()
		c.RedisTimeout, c.RedisProbeEvery = tt.timeout, tt.every
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("redis_timeout %v, redis_probe_every %v: %v; want ok %v", tt.timeout, tt.every, err, tt.ok)
		}
	}
}

// TestBurstIsNoOutage: a burst of requests far beyond Redis's connection
// pool, with the default deadline, against a Redis that is up, never
// switches the node to its own limits: calls the pool cannot hold are
// decided here without counting against Redis (found in review: 3,000
// requests at once opened the breaker on every run).
//
// Not under the race detector: there 15,000 requests on a shared machine
// starve Redis's replies of CPU for longer than three 50 ms deadlines in a
// row — a node that busy rightly stops waiting on Redis — so the test would
// measure the machine, not the pool (it failed so in CI once, beside other
// packages' race runs). TestLinkNoOutageFromABusyNode checks the same rule with
// a fake clock, race or not.
func TestBurstIsNoOutage(t *testing.T) {
	if raceDetector {
		t.Skip("a load test against a 50 ms deadline: it runs without -race (see the comment)")
	}
	rs := redistest.Start(t)
	cfg := frontdoor.Default()
	cfg.Redis = rs.URL
	reg, logs := prometheus.NewRegistry(), &testlog.Buffer{}
	d, err := frontdoor.New(context.Background(), cfg, key, claims, reg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := d.Wrap(ok, frontdoor.PublicListener)
	var wg sync.WaitGroup
	for i := range 3000 {
		wg.Go(func() {
			for range 5 {
				serve(h, request("GET", "/x", "10."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+".1:1", ""))
			}
		})
	}
	wg.Wait()
	busy := value(t, reg, "fairslot_redis_calls_total", map[string]string{"result": "busy"})
	okCalls := value(t, reg, "fairslot_redis_calls_total", map[string]string{"result": "ok"})
	if n := value(t, reg, "fairslot_redis_switches_total", map[string]string{"to": "local"}); n != 0 {
		t.Errorf("a burst against a Redis that is up switched the node to its own limits %v times (ok %v, busy %v):\n%s", n, okCalls, busy, logs)
	}
	t.Logf("decisions by Redis %v, on this node because the pool was full %v", okCalls, busy)
}
