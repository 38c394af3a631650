package demo

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a simulation's clock ('serve --demo --sim --sim-clock'): the
// server's Service.Now. It reads a chosen time at start and runs forward
// Speed times as fast as real time; Advance moves it forward at once, so
// that a scenario can go from a night's bindings to the morning's release
// without waiting for it. It never runs backwards: holds, tokens, draws and
// sweeps see time pass as they would in a hospital, only sooner.
type Clock struct {
	real  func() time.Time
	speed float64

	mu     sync.Mutex
	origin time.Time // a real time
	at     time.Time // the clock's reading at origin
}

// NewClock returns a clock reading start now (by real) and running speed
// times as fast as real from then; speed must be at least 1.
func NewClock(start time.Time, speed float64, real func() time.Time) (*Clock, error) {
	if speed < 1 || speed > 10_000 {
		return nil, fmt.Errorf("a simulated clock's speed must be from 1 to 10000, not %v", speed)
	}
	return &Clock{real: real, speed: speed, origin: real(), at: start}, nil
}

// Now is the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *Clock) now() time.Time {
	return c.at.Add(time.Duration(float64(c.real().Sub(c.origin)) * c.speed))
}

// Advance moves the clock forward to t and returns its reading: t, or the
// reading if that is already later (the clock never goes back).
func (c *Clock) Advance(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !t.After(now) {
		return now
	}
	c.origin, c.at = c.real(), t
	return t
}

// Speed is how many times as fast as real time the clock runs.
func (c *Clock) Speed() float64 { return c.speed }

// ClockState is what GET /demo/clock answers: the server's reading and its
// speed, from which a simulator maps the server's times to its own.
type ClockState struct {
	Now   time.Time `json:"now"`
	Speed float64   `json:"speed"`
}

// State is the clock's reading and speed.
func (c *Clock) State() ClockState { return ClockState{Now: c.Now(), Speed: c.speed} }

// NextAt is the first moment at or after now at which a clock in loc reads
// hhmm ("01:00"): where a simulation's clock starts.
func NextAt(now time.Time, loc *time.Location, hhmm string) (time.Time, error) {
	hm, err := time.Parse("15:04", hhmm)
	if err != nil {
		return time.Time{}, fmt.Errorf("a time of day is hh:mm, like 01:00, not %q", hhmm)
	}
	local := now.In(loc)
	t := time.Date(local.Year(), local.Month(), local.Day(), hm.Hour(), hm.Minute(), 0, 0, loc)
	if t.Before(now) {
		t = time.Date(local.Year(), local.Month(), local.Day()+1, hm.Hour(), hm.Minute(), 0, 0, loc)
	}
	return t, nil
}
