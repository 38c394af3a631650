package redislimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/redislimit"
)

func client(t *testing.T) *redislimit.Limiter {
	t.Helper()
	url := os.Getenv("FAIRSLOT_TEST_REDIS")
	if url == "" {
		t.Skip("FAIRSLOT_TEST_REDIS is not set: skipping the Redis limiter tests (CI sets it, e.g. redis://127.0.0.1:6379/0)")
	}
	// A generous deadline: these tests are about the decisions, and the
	// machines running them are shared.
	c, err := redislimit.NewClient(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("FAIRSLOT_TEST_REDIS=%s: %v", url, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	return &redislimit.Limiter{Client: c, Prefix: "fairslot:test:" + hex.EncodeToString(b) + ":"}
}

// TestAgreesWithMemory drives the Redis limiter and the in-memory one with
// the same random traffic and clock; every decision must agree.
func TestAgreesWithMemory(t *testing.T) {
	l := client(t)
	ctx := context.Background()
	for seed := range uint64(20) {
		rnd := mrand.New(mrand.NewPCG(seed, 3))
		// Redis keeps microseconds: an interval of whole milliseconds keeps
		// both limiters exact.
		rate := 1 + rnd.IntN(20)
		l.Limit = gate.Limit{Rate: rate, Per: time.Duration(rate*(50+rnd.IntN(500))) * time.Millisecond, Burst: 1 + rnd.IntN(10)}
		l.Prefix += fmt.Sprint(seed, ":")
		m := gate.NewMemory(l.Limit, 64*100) // room for every key in every shard: no eviction here
		now := time.UnixMicro(1_800_000_000_000_000)
		l.Clock = func() time.Time { return now }
		for i := range 300 {
			now = now.Add(time.Duration(rnd.IntN(400)) * time.Millisecond)
			key := fmt.Sprint("k", rnd.IntN(3))
			want, wantRetry := m.Allow(key, now)
			got, retry, err := l.Allow(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || retry != wantRetry {
				t.Fatalf("seed %d step %d %+v: Redis %v %v, memory %v %v", seed, i, l.Limit, got, retry, want, wantRetry)
			}
		}
	}
}

// TestServerClockAndExpiry: with Redis's own clock a burst is allowed then
// refused, and the key expires once it would limit nothing.
func TestServerClockAndExpiry(t *testing.T) {
	l := client(t)
	ctx := context.Background()
	l.Limit = gate.Limit{Rate: 10, Per: time.Second, Burst: 2}
	for i := range 2 {
		if ok, _, err := l.Allow(ctx, "a"); !ok || err != nil {
			t.Fatalf("burst %d: %v %v", i, ok, err)
		}
	}
	ok, retry, err := l.Allow(ctx, "a")
	if ok || err != nil || retry <= 0 || retry > 100*time.Millisecond {
		t.Fatalf("3rd = %v, %v, %v; want refused for at most 100ms", ok, retry, err)
	}
	time.Sleep(300 * time.Millisecond) // the key's time passes; no assertion on how long anything took
	if n, err := l.Client.Exists(ctx, l.Prefix+"a").Result(); err != nil || n != 0 {
		t.Errorf("key still stored after its time passed: %d, %v", n, err)
	}
}

// TestSpentOnceAcrossNodes: two nodes' spent sets on one Redis; a nonce is
// fresh once between them, and forgotten after its challenge expires.
func TestSpentOnceAcrossNodes(t *testing.T) {
	l := client(t)
	ctx := context.Background()
	a := &redislimit.Spent{Client: l.Client, Prefix: l.Prefix + "pow:"}
	b := &redislimit.Spent{Client: l.Client, Prefix: l.Prefix + "pow:"}
	until := time.Now().Add(time.Minute)
	if fresh, err := a.Spend(ctx, []byte("nonce-1"), until); !fresh || err != nil {
		t.Fatalf("first spend = %v, %v", fresh, err)
	}
	if fresh, err := b.Spend(ctx, []byte("nonce-1"), until); fresh || err != nil {
		t.Errorf("replay on another node = %v, %v; want not fresh", fresh, err)
	}
	if fresh, _ := b.Spend(ctx, []byte("nonce-2"), until); !fresh {
		t.Error("another nonce is not fresh")
	}
	ttl, err := l.Client.PTTL(ctx, a.Prefix+hex.EncodeToString([]byte("nonce-1"))).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute+time.Second {
		t.Errorf("spent nonce TTL %v, %v; want ≤ the challenge's life plus 1s", ttl, err)
	}
}
