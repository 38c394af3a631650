package frontdoor

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/promtest"
	"github.com/fairslot/fairslot/internal/testlog"
)

// TestBreaker drives the state machine through its transitions on a made-up
// clock. gen is the generation an attempt began in (cur: the current one).
func TestBreaker(t *testing.T) {
	const cur = -1
	type step struct {
		op       string // "fail" (a call or probe failed) or "recover" (a probe succeeded)
		gen      int
		at       time.Duration // since the breaker was made
		switched bool
		was      time.Duration // how long the previous state lasted, when switched
		open     bool          // the state after the step
	}
	for name, steps := range map[string][]step{
		"the first failure opens it at once": {
			{op: "fail", gen: cur, at: 5 * time.Second, switched: true, was: 5 * time.Second, open: true},
		},
		"open, it stays open: more failures switch nothing": {
			{op: "fail", gen: cur, at: time.Second, switched: true, was: time.Second, open: true},
			{op: "fail", gen: cur, at: 2 * time.Second, open: true},
			{op: "fail", gen: 0, at: 2 * time.Second, open: true}, // a call that was waiting when it opened
			{op: "fail", gen: cur, at: 3 * time.Second, open: true},
		},
		"a successful probe closes it, once": {
			{op: "fail", gen: cur, at: time.Second, switched: true, was: time.Second, open: true},
			{op: "recover", gen: cur, at: 31 * time.Second, switched: true, was: 30 * time.Second},
			{op: "recover", gen: cur, at: 32 * time.Second},
		},
		"a success while closed changes nothing": {
			{op: "recover", gen: cur, at: time.Second},
		},
		"it opens again after closing": {
			{op: "fail", gen: cur, at: time.Second, switched: true, was: time.Second, open: true},
			{op: "recover", gen: cur, at: 2 * time.Second, switched: true, was: time.Second},
			{op: "fail", gen: cur, at: 7 * time.Second, switched: true, was: 5 * time.Second, open: true},
		},
		"a call begun before it opened cannot open it again once a probe closed it": {
			{op: "fail", gen: 0, at: time.Second, switched: true, was: time.Second, open: true},
			{op: "recover", gen: 1, at: 2 * time.Second, switched: true, was: time.Second},
			{op: "fail", gen: 0, at: 2 * time.Second},
		},
		"a probe begun before a failure cannot close what the failure opened": {
			{op: "fail", gen: 0, at: time.Second, switched: true, was: time.Second, open: true},
			{op: "recover", gen: 0, at: time.Second, open: true},
			{op: "recover", gen: 1, at: 2 * time.Second, switched: true, was: time.Second},
		},
	} {
		t0 := time.Date(2026, 12, 10, 7, 0, 0, 0, time.UTC)
		b := breaker{since: t0}
		for i, s := range steps {
			gen := uint64(s.gen)
			if s.gen == cur {
				gen, _ = b.admit(t0.Add(s.at))
			}
			var switched bool
			var was time.Duration
			if s.op == "fail" {
				switched, was = b.failed(gen, t0.Add(s.at))
			} else {
				switched, was = b.recovered(gen, t0.Add(s.at))
			}
			_, closed := b.admit(t0.Add(s.at))
			if switched != s.switched || was != s.was || closed == s.open || b.isOpen() != s.open {
				t.Errorf("%s, step %d (%s of generation %d at %v): switched %v after %v, open %v; want %v after %v, open %v",
					name, i, s.op, s.gen, s.at, switched, was, !closed, s.switched, s.was, s.open)
			}
		}
	}
}

// count returns how many lines hold s.
const (
	alertDown = "ALERT: shared rate limits unavailable"
	alertBack = "ALERT: shared rate limits back"
)

// linkTest is a link whose probes answer probeErr (nil: Redis is fine),
// with its log and metrics.
type linkTest struct {
	*redisLink
	logs     *testlog.Buffer
	reg      *prometheus.Registry
	probeErr atomic.Pointer[error]
}

func testLink(t *testing.T) *linkTest {
	t.Helper()
	lt := &linkTest{logs: &testlog.Buffer{}, reg: prometheus.NewRegistry()}
	probe := func(ctx context.Context) error {
		if err := lt.probeErr.Load(); err != nil {
			return *err
		}
		return nil
	}
	lt.redisLink = newRedisLink("127.0.0.1:1", 50*time.Millisecond, 64, probe, lt.reg, slog.New(slog.NewTextHandler(lt.logs, nil)))
	t.Cleanup(func() { lt.Close() })
	return lt
}

// metric reads one series: name with the label pair given.
func (lt *linkTest) metric(t *testing.T, name, label, value string) float64 {
	t.Helper()
	return promtest.Value(t, lt.reg, name, map[string]string{label: value})
}

func (lt *linkTest) callCount(t *testing.T, result string) float64 {
	return lt.metric(t, "fairslot_redis_calls_total", "result", result)
}

func (lt *linkTest) switchCount(t *testing.T, to string) float64 {
	return lt.metric(t, "fairslot_redis_switches_total", "to", to)
}

var errRedis = errors.New("redis: connection refused")

// hung is a call to a Redis that never answers: it returns when its
// deadline passes.
func hung(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestLinkFailuresSwitchToLocal: the first calls to a hung Redis wait for
// their deadline — no longer — and once a run of them has failed every
// call is decided on the node without going to Redis at all; one ALERT
// says so.
func TestLinkFailuresSwitchToLocal(t *testing.T) {
	l := testLink(t)
	now := time.Now()
	l.now = func() time.Time { return now }
	var reached atomic.Int64
	call := func(ctx context.Context) error {
		reached.Add(1)
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > l.timeout {
			t.Errorf("call to Redis with deadline %v (set %v); want at most %v from now", d, ok, l.timeout)
		}
		return hung(ctx)
	}
	for i := range 100 {
		if l.do(context.Background(), call) {
			t.Fatalf("call %d: Redis decided", i)
		}
		if i%10 == 9 {
			now = now.Add(l.timeout) // calls come for longer than one deadline
		}
	}
	if n := reached.Load(); n != failsToOpen {
		t.Errorf("%d calls reached the hung Redis; want only the first %d", n, failsToOpen)
	}
	if got := l.callCount(t, "failed"); got != failsToOpen {
		t.Errorf("failed calls %v, want %d", got, failsToOpen)
	}
	if got := l.callCount(t, "skipped"); got != 100-failsToOpen {
		t.Errorf("skipped calls %v, want %d", got, 100-failsToOpen)
	}
	if n := l.logs.Count(alertDown); n != 1 {
		t.Errorf("%d ALERTs for the outage, want 1:\n%s", n, l.logs.String())
	}
	if !strings.Contains(l.logs.String(), "limiting per node") {
		t.Errorf("the ALERT does not say what the node does now:\n%s", l.logs.String())
	}
}

// TestLinkAlertPairOnce: many requests failing at once, then failing and
// succeeding probes, log exactly one ALERT for the outage and one when
// Redis is back; the gauge and the switch counter follow.
func TestLinkAlertPairOnce(t *testing.T) {
	l := testLink(t)
	const n = 20
	var inside sync.WaitGroup
	inside.Add(n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			l.do(context.Background(), func(ctx context.Context) error {
				inside.Done()
				inside.Wait() // all n were admitted before any failed
				return errRedis
			})
		})
	}
	wg.Wait()
	if got := l.callCount(t, "failed"); got != n {
		t.Errorf("failed calls %v, want %d", got, n)
	}
	l.probeErr.Store(&errRedis)
	for range 3 {
		l.probeOnce(context.Background())
	}
	if !l.b.isOpen() {
		t.Fatal("closed after failed probes")
	}
	l.probeErr.Store(nil)
	for range 3 {
		l.probeOnce(context.Background())
	}
	if l.b.isOpen() {
		t.Fatal("still open after a successful probe")
	}
	if down, back := l.logs.Count(alertDown), l.logs.Count(alertBack); down != 1 || back != 1 {
		t.Errorf("ALERTs: %d down, %d back; want exactly 1 each:\n%s", down, back, l.logs.String())
	}
	if down, back := l.switchCount(t, "local"), l.switchCount(t, "shared"); down != 1 || back != 1 {
		t.Errorf("switches to local %v, to shared %v; want 1 each", down, back)
	}
	if !l.do(context.Background(), func(context.Context) error { return nil }) {
		t.Error("Redis back, but a call was not sent to it")
	}
}

// TestLinkProbeFindsAnIdleOutage: with no request going to Redis, a failed
// probe opens the breaker, so the next request does not wait on Redis.
func TestLinkProbeFindsAnIdleOutage(t *testing.T) {
	l := testLink(t)
	l.probeErr.Store(&errRedis)
	l.probeOnce(context.Background())
	if l.do(context.Background(), func(context.Context) error { t.Error("a request went to Redis after a failed probe"); return nil }) {
		t.Error("Redis decided with the breaker open")
	}
	if n := l.logs.Count(alertDown); n != 1 {
		t.Errorf("%d ALERTs, want 1", n)
	}
}

// TestLinkNoOutageFromABusyNode: calls beyond what the pool holds are
// decided on the node without a wait and without counting against Redis;
// a slow answer now and then, with successes between, opens nothing.
func TestLinkNoOutageFromABusyNode(t *testing.T) {
	l := testLink(t)
	release := make(chan struct{})
	var wg sync.WaitGroup
	var inside sync.WaitGroup
	inside.Add(cap(l.inflight))
	for range cap(l.inflight) {
		wg.Go(func() {
			l.do(context.Background(), func(context.Context) error { inside.Done(); <-release; return nil })
		})
	}
	inside.Wait()
	for i := range 100 {
		if l.do(context.Background(), func(context.Context) error { t.Error("a call beyond the pool went to Redis"); return nil }) {
			t.Fatalf("call %d beyond the pool: Redis decided", i)
		}
	}
	close(release)
	wg.Wait()
	if got := l.callCount(t, "busy"); got != 100 {
		t.Errorf("busy decisions %v, want 100", got)
	}
	now := time.Now()
	l.now = func() time.Time { return now }
	for range 10 {
		l.do(context.Background(), hung)
		now = now.Add(l.timeout)
		l.do(context.Background(), func(context.Context) error { return nil })
	}
	if l.b.isOpen() || l.logs.Count("ALERT") != 0 {
		t.Errorf("a busy node or a slow answer now and then opened the breaker (%v):\n%s", l.b.isOpen(), l.logs.String())
	}
}

// TestLinkRequestGoneIsNotAnOutage: a request whose client went away while
// Redis worked on it neither opens the breaker nor alerts.
func TestLinkRequestGoneIsNotAnOutage(t *testing.T) {
	l := testLink(t)
	ctx, cancel := context.WithCancel(context.Background())
	if l.do(ctx, func(ctx context.Context) error { cancel(); return hung(ctx) }) {
		t.Error("a cancelled call decided")
	}
	if l.b.isOpen() || l.logs.Count("ALERT") != 0 || l.callCount(t, "failed") != 0 {
		t.Errorf("a request that went away opened the breaker (%v) or alerted:\n%s", l.b.isOpen(), l.logs.String())
	}
}

// TestProberOneAtATime: the prober runs one probe at a time however fast
// the ticks come, probes on each tick it takes, closes the breaker when a
// probe succeeds, and stops — and is waited for — on Close.
func TestProberOneAtATime(t *testing.T) {
	l := testLink(t)
	l.failed(l.b.failed, 0, errRedis)
	var running, most, probes atomic.Int64
	entered, release := make(chan struct{}), make(chan struct{})
	l.probe = func(ctx context.Context) error {
		probes.Add(1)
		if n := running.Add(1); n > most.Load() {
			most.Store(n)
		}
		defer running.Add(-1)
		entered <- struct{}{}
		<-release
		return nil
	}
	tick := make(chan time.Time, 1) // as a time.Ticker's: a tick that finds one waiting is dropped
	send := func() {
		select {
		case tick <- time.Now():
		default:
		}
	}
	var stopped atomic.Bool
	l.start(context.Background(), tick, func() { stopped.Store(true) })
	send()
	<-entered
	for range 50 { // ticks while a probe runs
		send()
	}
	release <- struct{}{}
	<-entered // the one tick that waited
	release <- struct{}{}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !stopped.Load() {
		t.Error("Close returned before the prober stopped its ticker")
	}
	if p, m := probes.Load(), most.Load(); p != 2 || m != 1 {
		t.Errorf("%d probes, at most %d at once; want 2, 1", p, m)
	}
	if l.b.isOpen() || l.logs.Count(alertBack) != 1 {
		t.Errorf("after a successful probe: open %v, %d back ALERTs; want closed, 1", l.b.isOpen(), l.logs.Count(alertBack))
	}
	send()
	if probes.Load() != 2 {
		t.Error("a probe ran after Close")
	}
}
