package gate_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
)

// bucket is the reference model: a token bucket holding credit in
// nanoseconds, refilled by elapsed time up to Burst requests' worth, one
// request costing one interval. GCRA must decide exactly as it does.
type bucket struct {
	credit, last int64
	seen         bool
}

func (b *bucket) allow(l gate.Limit, now int64) bool {
	interval := int64(l.Per) / int64(l.Rate)
	full := interval * int64(l.Burst)
	if !b.seen {
		b.credit, b.seen = full, true
	} else {
		b.credit = min(full, b.credit+(now-b.last))
	}
	b.last = now
	if b.credit >= interval {
		b.credit -= interval
		return true
	}
	return false
}

// TestMemoryMatchesTheReference drives the limiter and the reference model
// with the same random traffic over a few keys and compares every decision;
// Peek before each decision foretells it and changes nothing.
func TestMemoryMatchesTheReference(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		l := gate.Limit{Rate: 1 + rnd.IntN(20), Per: time.Duration(1+rnd.IntN(10)) * time.Second, Burst: 1 + rnd.IntN(10)}
		m := gate.NewMemory(l, 1000)
		ref := map[string]*bucket{}
		now := time.Unix(1_800_000_000, 0)
		for i := range 2000 {
			now = now.Add(time.Duration(rnd.IntN(400)) * time.Millisecond)
			key := fmt.Sprint("k", rnd.IntN(4))
			if ref[key] == nil {
				ref[key] = &bucket{}
			}
			want := ref[key].allow(l, now.UnixNano())
			peeked, peekRetry := m.Peek(key, now)
			got, retry := m.Allow(key, now)
			if peeked != got || peekRetry != retry {
				t.Fatalf("seed %d step %d: Peek = %v %v, then Allow = %v %v", seed, i, peeked, peekRetry, got, retry)
			}
			if got != want {
				t.Fatalf("seed %d step %d %+v key %s: Allow = %v, reference %v", seed, i, l, key, got, want)
			}
			if !got && retry <= 0 {
				t.Fatalf("refused with Retry-After %v", retry)
			}
		}
	}
}

func TestRetryAfterIsExact(t *testing.T) {
	l := gate.Limit{Rate: 2, Per: time.Second, Burst: 3}
	m := gate.NewMemory(l, 10)
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if ok, _ := m.Allow("a", now); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, retry := m.Allow("a", now)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("4th = %v, retry %v; want refused for 500ms", ok, retry)
	}
	if ok, _ := m.Allow("a", now.Add(retry-time.Nanosecond)); ok {
		t.Error("allowed before Retry-After")
	}
	if ok, _ := m.Allow("a", now.Add(retry)); !ok {
		t.Error("refused at Retry-After")
	}
	if ok, _ := m.Allow("b", now); !ok {
		t.Error("another key is limited by the first")
	}
}

// TestMemoryIsBounded: a million unique keys leave at most the cap in the
// table, and keys whose time has passed are forgotten.
func TestMemoryIsBounded(t *testing.T) {
	l := gate.Limit{Rate: 1, Per: time.Minute, Burst: 1}
	m := gate.NewMemory(l, 6400)
	now := time.Unix(1_800_000_000, 0)
	for i := range 1_000_000 {
		m.Allow(fmt.Sprint("flood-", i), now)
	}
	if n := m.Len(); n > 6400 {
		t.Errorf("%d keys remembered, cap 6400", n)
	}
	later := now.Add(2 * time.Minute)
	for i := range 64 * 101 {
		m.Allow(fmt.Sprint("new-", i), later)
	}
	if n := m.Len(); n > 6400 {
		t.Errorf("%d keys after the flood expired, cap 6400", n)
	}
}
