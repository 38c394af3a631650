package app_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/backup"
)

// BenchmarkBookingDuringBackup measures what a running backup costs a
// booking's latency (issue 15: booking p99 while a backup runs within 2× of
// without): the booking path (hold, then pay) with 16 clients on the
// embedded store (synchronous FULL), timed one booking at a time, in phases
// with no backup and phases during which 'fairslot backup' (backup.Create:
// VACUUM INTO on a read connection, the manifest's counts and audit root
// read from the copy, age encryption, signature) runs back to back without
// pause. The phases are interleaved in eight rounds (ABBA) after an untimed
// warm-up; it reports p50 and p99 of each and the p99 ratio (with /
// without).
//
// Its sub-benchmarks: back-to-back is the measurement above, backups at full
// speed; paced the same with the backups paced as the scheduler takes
// them (backup.ServingPace); window and window-paced take one backup at the
// start of each phase, as the scheduler takes one an hour, and count as
// "with" only the bookings that overlapped it (the phase's other bookings
// are dropped).
//
//	go test ./internal/app -run '^$' -bench BookingDuringBackup -benchtime 4000x -count 3
func BenchmarkBookingDuringBackup(b *testing.B) {
	for _, m := range []struct {
		name   string
		pace   backup.Pace
		window bool
	}{
		{"back-to-back", backup.Pace{}, false},
		{"paced", backup.ServingPace, false},
		{"window", backup.Pace{}, true},
		{"window-paced", backup.ServingPace, true},
	} {
		b.Run(m.name, func(b *testing.B) { benchBookingDuringBackup(b, m.pace, m.window) })
	}
}

func benchBookingDuringBackup(b *testing.B, pace backup.Pace, window bool) {
	e := newBenchEnv(b)
	const clients, rounds = 16, 8
	per := max(b.N/rounds, clients)
	sessions, people := benchPeople(b, e, (2*rounds+1)*per)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	to := b.TempDir()
	var backups, backupErrs atomic.Int64
	var backupTime atomic.Int64
	takeBackup := func() {
		start := time.Now()
		res, err := backup.Create(ctx, backup.Options{Store: e.svc.Store, DataDir: filepath.Join(e.dir, "data"), Dir: to,
			Recipients: []age.Recipient{id.Recipient()}, Key: key, Node: "bench", Version: "bench", Now: time.Now().Add(time.Duration(backups.Load()) * time.Second),
			Pace: pace})
		if err != nil {
			backupErrs.Add(1)
			b.Error(err)
			return
		}
		backupTime.Add(int64(time.Since(start)))
		backups.Add(1)
		os.Remove(res.Path)
		os.Remove(res.SigPath)
	}
	// book books people[from:from+per] with the clients at once and returns
	// each booking's latency (hold and pay), and when each began and ended.
	type span struct{ start, end time.Time }
	var spans []span
	book := func(from int) []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		spans = spans[:0]
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < from+per; i = int(next.Add(1) - 1) {
					start := time.Now()
					v, err := e.svc.Hold(ctx, people[i].a, app.HoldInput{SessionID: sessions[i/48].ID, PatientID: people[i].p})
					if err == nil {
						_, err = e.svc.Pay(ctx, people[i].a, v.ID, "k"+v.Code)
					}
					if err != nil {
						b.Error(err)
						return
					}
					end := time.Now()
					mu.Lock()
					lat = append(lat, end.Sub(start))
					spans = append(spans, span{start, end})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lat
	}
	withBackup := func(from int) []time.Duration {
		if window {
			// One backup from the phase's start; only the bookings that
			// ran while it did count.
			var bs, be time.Time
			var loop sync.WaitGroup
			loop.Go(func() { bs = time.Now(); takeBackup(); be = time.Now() })
			all := book(from)
			loop.Wait()
			var lat []time.Duration
			for i, sp := range spans {
				if sp.start.Before(be) && sp.end.After(bs) {
					lat = append(lat, all[i])
				}
			}
			return lat
		}
		stop := make(chan struct{})
		var loop sync.WaitGroup
		loop.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				takeBackup()
			}
		})
		lat := book(from)
		close(stop)
		loop.Wait()
		return lat
	}
	book(2 * rounds * per) // warm-up, untimed
	b.ResetTimer()
	var without, with []time.Duration
	for r := range rounds {
		if r%2 == 0 {
			without = append(without, book(2*r*per)...)
			with = append(with, withBackup((2*r+1)*per)...)
		} else {
			with = append(with, withBackup(2*r*per)...)
			without = append(without, book((2*r+1)*per)...)
		}
	}
	b.StopTimer()
	if backups.Load() == 0 || backupErrs.Load() > 0 || len(with) == 0 {
		b.Fatalf("%d backups, %d failed, %d bookings during them", backups.Load(), backupErrs.Load(), len(with))
	}
	q := func(x []time.Duration, p float64) float64 {
		slices.Sort(x)
		return float64(x[int(p*float64(len(x)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(without, 0.5), "p50_ms_without")
	b.ReportMetric(q(with, 0.5), "p50_ms_with")
	b.ReportMetric(q(without, 0.99), "p99_ms_without")
	b.ReportMetric(q(with, 0.99), "p99_ms_with")
	b.ReportMetric(q(with, 0.99)/q(without, 0.99), "p99_ratio")
	b.ReportMetric(float64(backups.Load()), "backups")
	b.ReportMetric(float64(backupTime.Load())/float64(backups.Load())/1e6, "ms/backup")
	if window {
		b.ReportMetric(float64(len(with)), "bookings_with")
	}
}
