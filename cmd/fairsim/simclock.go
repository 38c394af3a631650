package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// serverClock maps the server's simulated clock (serve --sim, GET and POST
// /demo/clock) to this process's real time: the server read sim at real,
// and runs speed times as fast.
type serverClock struct {
	mu    sync.Mutex
	real  time.Time
	sim   time.Time
	speed float64
}

func (k *serverClock) set(s demo.ClockState, real time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.real, k.sim, k.speed = real, s.Now, max(s.Speed, 1)
}

// now is the server's reading now.
func (k *serverClock) now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sim.Add(k.simForLocked(time.Since(k.real)))
}

// realAt is the real time at which the server's clock reads t.
func (k *serverClock) realAt(t time.Time) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.real.Add(time.Duration(float64(t.Sub(k.sim)) / k.speed))
}

// realFor is how long the server's d lasts in real time.
func (k *serverClock) realFor(d time.Duration) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return time.Duration(float64(d) / k.speed)
}

// simFor is how much server time passes in real d.
func (k *serverClock) simFor(d time.Duration) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.simForLocked(d)
}

func (k *serverClock) simForLocked(d time.Duration) time.Duration {
	return time.Duration(float64(d) * k.speed)
}

// inReal is release r with its times in real time, for waiting on.
func (k *serverClock) inReal(r demo.Release) demo.Release {
	r.Opens, r.EntryCloses = k.realAt(r.Opens), k.realAt(r.EntryCloses)
	return r
}

// readClock reads the server's clock.
func readClock(ctx context.Context, staff string) (*serverClock, error) {
	k := &serverClock{}
	return k, k.call(ctx, staff, "GET", nil)
}

// advance moves the server's clock forward to t (never back).
func (k *serverClock) advance(ctx context.Context, staff string, t time.Time) error {
	return k.call(ctx, staff, "POST", map[string]time.Time{"to": t})
}

func (k *serverClock) call(ctx context.Context, staff, method string, body any) error {
	sent := time.Now()
	resp, err := (&apiclient.Client{Base: staff}).Do(ctx, method, "/demo/clock", body, nil, false)
	if err == nil && resp.Status != 200 {
		err = fmt.Errorf("status %d", resp.Status)
	}
	var s demo.ClockState
	if err == nil {
		err = resp.Decode(&s)
	}
	if err != nil {
		return fmt.Errorf("%s /demo/clock: %v (is the server a fairslot with --sim-clock, running with --demo --sim?)", method, err)
	}
	// The reading was taken about halfway through the call.
	k.set(s, sent.Add(time.Since(sent)/2))
	return nil
}
