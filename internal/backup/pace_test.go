package backup

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func TestPacePause(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name          string
		pace          Pace
		work, elapsed time.Duration
		want          time.Duration
	}{
		{"zero pace: full speed", Pace{}, 40 * ms, time.Second, 0},
		{"duty 1: full speed", Pace{Duty: 1}, 40 * ms, time.Second, 0},
		{"duty above 1: full speed", Pace{Duty: 3}, 40 * ms, time.Second, 0},
		{"negative duty: full speed", Pace{Duty: -0.5}, 40 * ms, time.Second, 0},
		{"half: as long as the chunk", Pace{Duty: 0.5}, 40 * ms, time.Second, 40 * ms},
		{"a quarter: three times the chunk", Pace{Duty: 0.25, MaxPause: time.Second}, 20 * ms, time.Second, 60 * ms},
		{"0.8: a quarter of the chunk", Pace{Duty: 0.8}, 40 * ms, time.Second, 10 * ms},
		{"bounded by MaxPause", Pace{Duty: 0.5, MaxPause: 30 * ms}, 40 * ms, time.Second, 30 * ms},
		{"bounded by the default MaxPause", Pace{Duty: 0.01}, 40 * ms, time.Second, DefaultMaxPause},
		{"not past the budget", Pace{Duty: 0.5, Budget: time.Second}, 40 * ms, 990 * ms, 10 * ms},
		{"budget spent: no sleep", Pace{Duty: 0.5, Budget: time.Second}, 40 * ms, 2 * time.Second, 0},
		{"no work: no sleep", Pace{Duty: 0.5}, 0, time.Second, 0},
		{"clock stepped back: no sleep", Pace{Duty: 0.5}, -5 * ms, time.Second, 0},
		{"the serving pace", ServingPace, 10 * ms, time.Second, 30 * ms},
	} {
		if got := c.pace.pause(c.work, c.elapsed); got != c.want {
			t.Errorf("%s: %+v.pause(%v, %v) = %v, want %v", c.name, c.pace, c.work, c.elapsed, got, c.want)
		}
	}
}

// TestPaceBounded: over a whole backup of chunks however slow, the sleeps
// add up to at most (1−Duty)/Duty of the work and never take the backup
// past its budget.
func TestPaceBounded(t *testing.T) {
	for _, p := range []Pace{ServingPace, {Duty: 0.2, MaxPause: time.Second, Budget: 3 * time.Second}, {Duty: 0.5, Budget: 500 * time.Millisecond}} {
		var work, slept, elapsed time.Duration
		for i := range 2000 {
			chunk := time.Duration(1+i%37) * time.Millisecond
			work += chunk
			elapsed += chunk
			d := p.pause(chunk, elapsed)
			slept += d
			elapsed += d
		}
		if limit := time.Duration(float64(work) * (1 - p.Duty) / p.Duty); slept > limit {
			t.Errorf("%+v: slept %v for %v of work; want at most %v", p, slept, work, limit)
		}
		if p.Budget > 0 && slept > p.Budget {
			t.Errorf("%+v: slept %v, past the budget", p, slept)
		}
	}
}

// TestPacedRoundTrip: a paced backup (the online backup a run of pages at a
// time, the hashing and encryption yielding) restores to the same data.
func TestPacedRoundTrip(t *testing.T) {
	f := newFixture(t)
	res, err := Create(context.Background(), Options{Store: f.st, DataDir: f.data, Dir: filepath.Join(f.dir, "backups"),
		Recipients: []age.Recipient{f.id.Recipient()}, Key: f.key, Node: "node-1", Version: "test", Now: time.Now().Add(time.Hour),
		Pace: Pace{Duty: 0.9, MaxPause: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, data, keyset := target(t)
	m, rep, err := f.restore(res.Path, data, keyset, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep, "every count matches") || m.Audit.Size == 0 {
		t.Errorf("manifest %+v, report:\n%s", m, rep)
	}
	for table, n := range f.counts {
		if m.Tables[table] != n {
			t.Errorf("%s: %d rows in the paced archive, want %d", table, m.Tables[table], n)
		}
	}
}
