package app_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// BenchmarkBookingPath measures the booking path — hold then pay, each one
// use case and one write transaction, with rules, audit records and the
// sandbox payment — on the embedded store with the default durability
// (synchronous FULL). In the same run it measures a bare single-row INSERT
// transaction on the same database file with the same settings, and
// reports bookings/s, bare_tx/s and their ratio.
//
// With clients=1 the bookings are made one after another; with clients=16
// sixteen patients book at once, as at a slot release, and the store's group
// commit lets their transactions share commits (writes/commit reports by how
// much). The bare baseline is always sequential on one connection: the
// fastest a bare insert transaction goes on this file.
func BenchmarkBookingPath(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("synchronous=%s/clients=%d", sync, clients), func(b *testing.B) { benchBookingPath(b, sync, clients) })
		}
	}
}

func benchBookingPath(b *testing.B, synchronous string, clients int) {
	e := &env{dir: b.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = openServiceTB(b, e.dir, synchronous)
	// Set up b.N patients, five to an account, and sessions of 48 slots (as
	// the demo's) for them all, outside the timer.
	var sessions []fairslot.Session
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		tx.CreateHospital(ctx, &h)
		c := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		tx.CreateCampus(ctx, &c)
		d := fairslot.Department{CampusID: c.ID, Code: "D", Name: "D"}
		tx.CreateDepartment(ctx, &d)
		for len(sessions)*48 < b.N {
			doc := fairslot.Doctor{DepartmentID: d.ID, Name: "Dr", Title: fairslot.Expert}
			tx.CreateDoctor(ctx, &doc)
			s, err := addSession(ctx, tx, d.ID, doc.ID, "2026-12-12", 48)
			if err != nil {
				return err
			}
			sessions = append(sessions, s)
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
	people := make([]pa, 0, b.N)
	for i := 0; len(people) < b.N; i++ {
		a, err := e.svc.OpenAccount(ctx, app.System, fmt.Sprintf("1500%07d", i))
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 5 && len(people) < b.N; j++ {
			p, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "P", IDType: fairslot.IDPassport, IDNumber: fmt.Sprintf("E%08d", len(people))})
			if err != nil {
				b.Fatal(err)
			}
			people = append(people, pa{a, p.ID})
		}
	}

	st := e.svc.Store.(*sqlite.Store)
	commits0, writes0 := st.WriteStats()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
				v, err := e.svc.Hold(ctx, people[i].a, app.HoldInput{SessionID: sessions[i/48].ID, PatientID: people[i].p})
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := e.svc.Pay(ctx, people[i].a, v.ID, strconv.FormatInt(v.ID, 10)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	booking := time.Since(start)
	b.StopTimer()
	commits1, writes1 := st.WriteStats()
	b.ReportMetric(float64(writes1-writes0)/float64(commits1-commits0), "writes/commit")

	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(e.dir, "data", sqlite.FileName),
		sqlite.Options{BusyTimeout: 30 * time.Second, Synchronous: synchronous}, "immediate"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 64)
	start = time.Now()
	for i := 0; i < b.N; i++ {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO bench_bare (v) VALUES (?)`, payload); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	bare := time.Since(start)
	bookingRate, bareRate := float64(b.N)/booking.Seconds(), float64(b.N)/bare.Seconds()
	b.ReportMetric(bookingRate, "bookings/s")
	b.ReportMetric(bareRate, "bare_tx/s")
	b.ReportMetric(bookingRate/bareRate, "ratio")
}
