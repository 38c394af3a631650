package demo_test

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/demo"
)

func TestClockRunsAdvancesAndNeverGoesBack(t *testing.T) {
	real := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	now := func() time.Time { return real }
	start := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	for _, speed := range []float64{1, 60} {
		c, err := demo.NewClock(start, speed, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Now(); !got.Equal(start) {
			t.Errorf("speed %v: reads %v at start, want %v", speed, got, start)
		}
		real = real.Add(10 * time.Second)
		want := start.Add(time.Duration(10*speed) * time.Second)
		if got := c.Now(); !got.Equal(want) {
			t.Errorf("speed %v: reads %v 10s later, want %v", speed, got, want)
		}
		morning := start.Add(6 * time.Hour)
		if got := c.Advance(morning); !got.Equal(morning) {
			t.Errorf("speed %v: Advance(%v) = %v", speed, morning, got)
		}
		if got := c.Advance(start); !got.Equal(morning) {
			t.Errorf("speed %v: Advance back to %v = %v, want the clock to stay at %v", speed, start, got, morning)
		}
		real = real.Add(time.Second)
		if got, want := c.Now(), morning.Add(time.Duration(speed)*time.Second); !got.Equal(want) {
			t.Errorf("speed %v: reads %v a second after the advance, want %v", speed, got, want)
		}
		if s := c.State(); s.Speed != speed || !s.Now.Equal(c.Now()) {
			t.Errorf("State() = %+v", s)
		}
	}
	for _, bad := range []float64{0, 0.5, -1, 20_000} {
		if _, err := demo.NewClock(start, bad, now); err == nil {
			t.Errorf("NewClock with speed %v: no error", bad)
		}
	}
}

func TestNextAt(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	for _, c := range []struct {
		now, hhmm, want string // now and want in Shanghai
	}{
		{"2026-12-01 17:03", "01:00", "2026-12-02 01:00"},
		{"2026-12-02 00:30", "01:00", "2026-12-02 01:00"},
		{"2026-12-02 01:00", "01:00", "2026-12-02 01:00"},
		{"2026-12-31 23:59", "23:00", "2027-01-01 23:00"},
	} {
		now, _ := time.ParseInLocation("2006-01-02 15:04", c.now, sh)
		want, _ := time.ParseInLocation("2006-01-02 15:04", c.want, sh)
		got, err := demo.NextAt(now.UTC(), sh, c.hhmm)
		if err != nil || !got.Equal(want) {
			t.Errorf("NextAt(%s, %s) = %v, %v; want %v", c.now, c.hhmm, got.In(sh), err, want)
		}
	}
	for _, bad := range []string{"", "1am", "25:00", "01:00:00"} {
		if _, err := demo.NextAt(time.Now(), sh, bad); err == nil {
			t.Errorf("NextAt(%q): no error", bad)
		}
	}
}
