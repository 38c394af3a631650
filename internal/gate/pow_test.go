package gate_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
)

func challenger() *gate.Challenger {
	return &gate.Challenger{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Minute, Spent: gate.NewSpentSet(1000)}
}

// TestChallengeRejections: a solved challenge passes once; every way of
// cheating is refused with its own reason.
func TestChallengeRejections(t *testing.T) {
	ctx := context.Background()
	c := challenger()
	now := time.Unix(1_800_000_000, 0)
	ch := c.Issue("dev-1", 8, now)
	sol, err := gate.Solve(ctx, ch.Token, ch.Bits)
	if err != nil {
		t.Fatal(err)
	}
	other := challenger()
	other.Key = []byte("another key entirely, 32 bytes!!")
	flip := []byte(ch.Token)
	flip[5] ^= 1
	unsolved := "0"
	for gate.Solves(ch.Token, unsolved, ch.Bits) {
		unsolved += "1"
	}
	tests := []struct {
		name           string
		c              *gate.Challenger
		token, sol, dv string
		at             time.Time
		want           error
	}{
		{"no challenge", c, "", sol, "dev-1", now, gate.ErrNoChallenge},
		{"garbage", c, "not base64!", sol, "dev-1", now, gate.ErrForged},
		{"a flipped bit", c, string(flip), sol, "dev-1", now, gate.ErrForged},
		{"another server's key", other, ch.Token, sol, "dev-1", now, gate.ErrForged},
		{"expired", c, ch.Token, sol, "dev-1", ch.Expires, gate.ErrExpired},
		{"another device", c, ch.Token, sol, "dev-2", now, gate.ErrWrongDevice},
		{"no device", c, ch.Token, sol, "", now, gate.ErrWrongDevice},
		{"wrong solution", c, ch.Token, unsolved, "dev-1", now, gate.ErrUnsolved},
		{"not a number", c, ch.Token, "abc", "dev-1", now, gate.ErrUnsolved},
		{"solved", c, ch.Token, sol, "dev-1", now, nil},
		{"replayed", c, ch.Token, sol, "dev-1", now.Add(time.Second), gate.ErrReplayed},
	}
	for _, tt := range tests {
		bits, err := tt.c.Check(ctx, tt.token, tt.sol, tt.dv, tt.at)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && bits != 8 {
			t.Errorf("%s: difficulty %d, want 8", tt.name, bits)
		}
	}
}

// TestSolutionsHaveTheWork: a solution really has the leading zero bits, and
// a challenge asks for no more than MaxBits however hard it is made.
func TestSolutionsHaveTheWork(t *testing.T) {
	c := challenger()
	now := time.Unix(1_800_000_000, 0)
	for bits := 0; bits <= 14; bits += 2 {
		ch := c.Issue("d", bits, now)
		sol, _ := gate.Solve(context.Background(), ch.Token, bits)
		if !gate.Solves(ch.Token, sol, bits) {
			t.Errorf("Solve at %d bits gave %q, which does not solve it", bits, sol)
		}
	}
	// 16 random tokens at 12 bits: a counter of 0 solves one with chance
	// 1/4096, so finding all solutions at 0 would mean no work is checked.
	trivial := 0
	for range 16 {
		ch := c.Issue("d", 12, now)
		if gate.Solves(ch.Token, "0", 12) {
			trivial++
		}
	}
	if trivial > 2 {
		t.Errorf("%d of 16 challenges at 12 bits solved by 0", trivial)
	}
	if ch := c.Issue("d", 99, now); ch.Bits != gate.MaxBits {
		t.Errorf("Issue(99 bits) asks %d, want the cap %d", ch.Bits, gate.MaxBits)
	}
	if gate.Solves("t", strings.Repeat("1", 21), 0) {
		t.Error("a 21-digit solution accepted")
	}
}

func TestDifficulty(t *testing.T) {
	tests := []struct {
		load float64
		risk int
		want int
	}{
		{0, 0, 12}, {0.5, 0, 12}, {0.75, 0, 14}, {1, 0, 16}, {1.5, 0, 20}, {10, 0, 20},
		{0, 1, 14}, {0, 4, 20}, {0, 100, 20}, {10, 100, gate.MaxBits},
	}
	for _, tt := range tests {
		if got := gate.Difficulty(12, 4, tt.load, tt.risk); got != tt.want {
			t.Errorf("Difficulty(12, 4, load %v, risk %d) = %d, want %d", tt.load, tt.risk, got, tt.want)
		}
	}
}

// TestSpentSetOnceUnderRace: a hundred goroutines spend the same nonce; one
// wins.
func TestSpentSetOnceUnderRace(t *testing.T) {
	s := gate.NewSpentSet(1000)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	until := time.Now().Add(time.Minute)
	for range 100 {
		wg.Go(func() {
			if ok, err := s.Spend(context.Background(), []byte("nonce-123456"), until); ok && err == nil {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Errorf("%d spends of one nonce succeeded, want 1", fresh.Load())
	}
}

// TestSpentSetIsBounded: full of live nonces, the set refuses rather than
// forget one (which would allow a replay); expired ones make room.
func TestSpentSetIsBounded(t *testing.T) {
	s := gate.NewSpentSet(64 * 10)
	ctx := context.Background()
	soon := time.Now().Add(50 * time.Millisecond)
	full := 0
	for i := range 100_000 {
		n := []byte{byte(i), byte(i >> 8), byte(i >> 16), 0, 0, 0, 0, 0, 0, 0, 0, 0}
		if _, err := s.Spend(ctx, n, soon); errors.Is(err, gate.ErrSpentFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() > 640 || full == 0 {
		t.Fatalf("after 100k spends: %d held (cap 640), %d refused as full", s.Len(), full)
	}
	time.Sleep(60 * time.Millisecond) // let them expire; not a speed check
	for i := range 640 {
		n := []byte{byte(i), byte(i >> 8), 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}
		if _, err := s.Spend(ctx, n, time.Now().Add(time.Minute)); err != nil && i < 64 {
			t.Fatalf("spend %d after expiry: %v", i, err)
		}
	}
	if s.Len() > 640 {
		t.Errorf("%d held, cap 640", s.Len())
	}
}

func TestSigner(t *testing.T) {
	k := gate.Signer("key-one-key-one-key-one-key-one!")
	v := k.Sign([]byte("payload"))
	if p, ok := k.Verify(v); !ok || string(p) != "payload" {
		t.Fatalf("Verify(Sign) = %q, %v", p, ok)
	}
	b := []byte(v)
	b[0] ^= 2
	for _, bad := range []string{"", "x", string(b), v[:len(v)-1], strings.Repeat("A", 400)} {
		if _, ok := k.Verify(bad); ok {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
	if _, ok := gate.Signer("another key").Verify(v); ok {
		t.Error("another key verifies the value")
	}
}

// TestLane: places, queue, deadline and a client that goes away.
func TestLane(t *testing.T) {
	l := gate.NewLane(2, 1, 20*time.Millisecond)
	ctx := context.Background()
	for i := range 2 {
		if _, shed := l.Acquire(ctx); shed != "" {
			t.Fatalf("request %d shed (%s) with a place free", i, shed)
		}
	}
	if l.Load() != 1 {
		t.Errorf("Load = %v with both places taken, want 1", l.Load())
	}
	// One may wait; it times out at the deadline as nobody leaves.
	if _, shed := l.Acquire(ctx); shed != gate.Deadline {
		t.Errorf("waiter: shed %q, want deadline", shed)
	}
	// While one waits, another finds the queue full at once.
	got := make(chan gate.Shed)
	go func() { _, shed := l.Acquire(ctx); got <- shed }()
	for l.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, shed := l.Acquire(ctx); shed != gate.QueueFull {
		t.Errorf("second waiter: shed %q, want queue_full", shed)
	}
	l.Release() // the waiter takes the freed place
	if shed := <-got; shed != "" {
		t.Errorf("waiter when a place came free: shed %q", shed)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, shed := gate.NewLane(1, 1, time.Hour).Acquire(ctx); shed != "" {
		t.Fatal("empty lane shed")
	}
	busy := gate.NewLane(1, 1, time.Hour)
	busy.Acquire(ctx)
	if _, shed := busy.Acquire(cctx); shed != gate.Gone {
		t.Errorf("cancelled client: shed %q, want gone", shed)
	}
	if busy.Waiting() != 0 || busy.Active() != 1 {
		t.Errorf("after the shed: %d waiting, %d active; want 0, 1", busy.Waiting(), busy.Active())
	}
}
