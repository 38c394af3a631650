package app_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

const staffPassword = "correct horse battery"

// benchStaff adds n registrars, staff0 ... staff{n-1}, with staffPassword
// and the fixture enrolment code: the staff the login benchmarks sign in.
func benchStaff(b *testing.B, e *env, n int) {
	b.Helper()
	hash := app.HashPassword(staffPassword)
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			st := fairslot.Staff{Username: fmt.Sprint("staff", i), Name: "S", Role: fairslot.Registrar}
			if err := tx.CreateStaff(ctx, &st, hash); err != nil {
				return err
			}
			if err := app.SetEnrolCode(e.svc, tx, st.ID, testEnrolCode); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// benchHolds makes b.N holds, one after another, for people[from:] (of
// benchPeople), and returns their rate and median time.
func benchHolds(b *testing.B, e *env, sessions []fairslot.Session, people []benchPatient, from int) (rate float64, p50 time.Duration) {
	d := make([]time.Duration, b.N)
	start := time.Now()
	for i := range d {
		k := from + i
		t0 := time.Now()
		if _, err := e.svc.Hold(ctx, people[k].a, app.HoldInput{SessionID: sessions[k/48].ID, PatientID: people[k].p}); err != nil {
			b.Fatal(err)
		}
		d[i] = time.Since(t0)
	}
	rate = float64(b.N) / time.Since(start).Seconds()
	slices.Sort(d)
	return rate, d[len(d)/2]
}

// BenchmarkBookingBesideStaffLogins measures the median time of a booking
// write (a hold, one write transaction, one client after another) on the
// embedded store, first alone and then while 8 workers log staff in and
// out of a real argon2id check without pause, and reports both medians
// and their ratio. Each op is one booking in each phase.
//
//	go test ./internal/app -run '^$' -bench BookingBesideStaffLogins -benchtime 200x
func BenchmarkBookingBesideStaffLogins(b *testing.B) {
	e := newBenchEnv(b)
	// 2·b.N patients and their sessions, and the 8 staff who log in.
	sessions, people := benchPeople(b, e, 2*b.N)
	benchStaff(b, e, 8)

	b.ResetTimer()
	_, alone := benchHolds(b, e, sessions, people, 0)
	stop := make(chan struct{})
	var logins sync.WaitGroup
	var count, refused int64
	var mu sync.Mutex
	for w := range 8 {
		logins.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// The password step: the argon2id check this benchmark
				// measures (with the enrolment code: not yet enrolled).
				_, err := e.svc.StaffLogin(ctx, app.Actor{RequestID: "bench"}, fmt.Sprint("staff", w), staffPassword, testEnrolCode)
				mu.Lock()
				if err == nil {
					count++
				} else {
					refused++
				}
				mu.Unlock()
				if err != nil && fairslot.ErrorKind(err) != fairslot.Unavailable {
					b.Error(err)
					return
				}
			}
		})
	}
	_, beside := benchHolds(b, e, sessions, people, b.N)
	close(stop)
	logins.Wait()
	b.StopTimer()
	b.ReportMetric(float64(alone.Microseconds())/1000, "p50_ms_alone")
	b.ReportMetric(float64(beside.Microseconds())/1000, "p50_ms_8logins")
	b.ReportMetric(float64(beside)/float64(alone), "ratio")
	b.ReportMetric(float64(count), "logins")
	b.ReportMetric(float64(refused), "logins_refused")
}
