package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/storage"
)

// addCampus adds a third campus to the demo's two for a week: depts
// departments of doctors doctors each, a morning and an afternoon session
// of each doctor every day from the env's today.
func (e *env) addCampus(t *testing.T, depts, doctors int) {
	t.Helper()
	today := e.clock()
	day0 := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		hs, err := tx.Hospitals(ctx)
		if err != nil {
			return err
		}
		c := fairslot.Campus{HospitalID: hs[0].ID, Name: "北院区 North Campus"}
		if err := tx.CreateCampus(ctx, &c); err != nil {
			return err
		}
		for i := range depts {
			d := fairslot.Department{CampusID: c.ID, Code: fmt.Sprintf("N%02d", i), Name: fmt.Sprintf("北院 %d 科 North Department %d", i+1, i+1)}
			if err := tx.CreateDepartment(ctx, &d); err != nil {
				return err
			}
			for j := range doctors {
				doc := fairslot.Doctor{DepartmentID: d.ID, Name: fmt.Sprintf("北院医生 Dr North %d-%d", i+1, j+1), Title: fairslot.General}
				if err := tx.CreateDoctor(ctx, &doc); err != nil {
					return err
				}
				for day := range 7 {
					for _, half := range []struct {
						p     fairslot.Period
						start time.Duration
					}{{fairslot.Morning, 8 * time.Hour}, {fairslot.Afternoon, 13*time.Hour + 30*time.Minute}} {
						start := day0.AddDate(0, 0, day).Add(half.start)
						s := fairslot.Session{DoctorID: doc.ID, DepartmentID: d.ID, Date: start.Format(time.DateOnly), Period: half.p,
							Start: start, End: start.Add(4 * time.Hour), Room: fmt.Sprintf("N-%d%02d", i, j), FeeCents: 2000}
						if err := e.svc.NewSession(ctx, tx, d.Code, &s, fairslot.Windows(s.Start, s.End, 3)); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdminPageWeight measures each admin page over a week of a 3-campus
// hospital (the demo's two campuses and a third of 8 departments of 4
// doctors) against the single admin page it replaced, in the same run
// (BENCHMARKS.md): each page must stay under 100 KB however many sessions
// the hospital has, because the lists are paged.
func TestAdminPageWeight(t *testing.T) {
	e := newEnv(t)
	e.addCampus(t, 8, 4)
	var all []fairslot.Session
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { all, err = tx.Sessions(ctx, storage.SessionFilter{}); return err }); err != nil {
		t.Fatal(err)
	}
	h, err := e.pages.Handler(frontdoor.SingleListener)
	if err != nil {
		t.Fatal(err)
	}
	old, err := e.pages.OldAdmin()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("GET /staff/admin-before", old)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := e.staffBrowser(t, srv, "admin")

	status, before := b.get("/staff/admin-before")
	if status != 200 || !strings.Contains(before, "/staff/sessions/") {
		t.Fatalf("the old admin page: %d", status)
	}
	t.Logf("a week of a 3-campus hospital: %d sessions; the single admin page before: %d bytes", len(all), len(before))
	const limit = 100 << 10
	for _, path := range []string{"/staff/admin", "/staff/admin/doctors", "/staff/admin/doctors?page=2", "/staff/admin/doctors/1",
		"/staff/admin/sessions", "/staff/admin/sessions?page=20", "/staff/admin/sessions?campus=3", "/staff/admin/sessions?department=9",
		"/staff/admin/sessions/1", "/staff/admin/rules"} {
		status, body := b.get(path)
		if status != 200 {
			t.Errorf("%s: %d", path, status)
			continue
		}
		t.Logf("%-36s %6d bytes  %5.1f%% of before", path, len(body), 100*float64(len(body))/float64(len(before)))
		if len(body) >= limit {
			t.Errorf("%s weighs %d bytes, over %d", path, len(body), limit)
		}
	}
	if len(before) < limit {
		t.Errorf("the old page weighs only %d bytes: the hospital is too small to show anything", len(before))
	}
}
