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

// BenchmarkBookingBesideStaffLogins measures the median time of a booking
// write (a hold, one write transaction, one client after another) on the
// embedded store, first alone and then while 8 workers log staff in and
// out of a real argon2id check without pause, and reports both medians
// and their ratio. Each op is one booking in each phase.
//
//	go test ./internal/app -run '^$' -bench BookingBesideStaffLogins -benchtime 200x
func BenchmarkBookingBesideStaffLogins(b *testing.B) {
	e := &env{dir: b.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = openServiceTB(b, e.dir, "FULL")
	// 2·b.N patients, five to an account, and sessions of 48 slots.
	var sessions []fairslot.Session
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		tx.CreateHospital(ctx, &h)
		c := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		tx.CreateCampus(ctx, &c)
		d := fairslot.Department{CampusID: c.ID, Code: "D", Name: "D"}
		tx.CreateDepartment(ctx, &d)
		for len(sessions)*48 < 2*b.N {
			doc := fairslot.Doctor{DepartmentID: d.ID, Name: "Dr", Title: fairslot.Expert}
			tx.CreateDoctor(ctx, &doc)
			s, err := addSession(ctx, tx, d.ID, doc.ID, "2026-12-12", 48)
			if err != nil {
				return err
			}
			sessions = append(sessions, s)
		}
		for i := range 8 {
			st := fairslot.Staff{Username: fmt.Sprint("staff", i), Name: "S", Role: fairslot.Registrar}
			if err := tx.CreateStaff(ctx, &st, app.HashPassword(staffPassword)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	type pa struct {
		a app.Actor
		p int64
	}
	var people []pa
	for i := 0; len(people) < 2*b.N; i++ {
		a, err := e.svc.OpenAccount(ctx, app.System, fmt.Sprintf("1500%07d", i))
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 5 && len(people) < 2*b.N; j++ {
			p, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "P", IDType: fairslot.IDPassport, IDNumber: fmt.Sprintf("E%08d", len(people))})
			if err != nil {
				b.Fatal(err)
			}
			people = append(people, pa{a, p.ID})
		}
	}
	median := func(from int) time.Duration {
		d := make([]time.Duration, b.N)
		for i := range d {
			k := from + i
			start := time.Now()
			if _, err := e.svc.Hold(ctx, people[k].a, app.HoldInput{SessionID: sessions[k/48].ID, PatientID: people[k].p}); err != nil {
				b.Fatal(err)
			}
			d[i] = time.Since(start)
		}
		slices.Sort(d)
		return d[len(d)/2]
	}

	b.ResetTimer()
	alone := median(0)
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
				tok, _, err := e.svc.StaffLogin(ctx, app.Actor{RequestID: "bench"}, fmt.Sprint("staff", w), staffPassword)
				mu.Lock()
				if err == nil {
					count++
				} else {
					refused++
				}
				mu.Unlock()
				if err == nil {
					e.svc.Logout(ctx, app.Actor{}, tok)
				} else if fairslot.ErrorKind(err) != fairslot.Unavailable {
					b.Error(err)
					return
				}
			}
		})
	}
	beside := median(b.N)
	close(stop)
	logins.Wait()
	b.StopTimer()
	b.ReportMetric(float64(alone.Microseconds())/1000, "p50_ms_alone")
	b.ReportMetric(float64(beside.Microseconds())/1000, "p50_ms_8logins")
	b.ReportMetric(float64(beside)/float64(alone), "ratio")
	b.ReportMetric(float64(count), "logins")
	b.ReportMetric(float64(refused), "logins_refused")
}
