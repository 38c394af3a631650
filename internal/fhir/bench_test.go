package fhir_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// BenchmarkSlotSearchWeek: a FHIR Slot search over a week of a 3-campus
// hospital (the demo's two campuses and a third added here), against the
// JSON API's session listing of one department for the same week, in the
// same run, alternating. Reports p50 and p99 of each and their ratio:
//
//	go test ./internal/fhir -run '^$' -bench SlotSearchWeek -benchtime 200x
func BenchmarkSlotSearchWeek(b *testing.B) {
	e := newBenchEnv(b)
	fhirPath := "/fhir/R4/Slot?start=ge2026-12-10&start=lt2026-12-17&_count=100"
	apiPath := "/api/v1/departments/2/sessions"
	get := func(url, token string) time.Duration {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s = %d", url, resp.StatusCode)
		}
		return time.Since(start)
	}
	var fh, api []time.Duration
	b.ResetTimer()
	for range b.N {
		fh = append(fh, get(e.srv.URL+fhirPath, e.admin))
		api = append(api, get(e.api.URL+apiPath, ""))
	}
	b.StopTimer()
	q := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	fp50, fp99, ap50, ap99 := q(fh, 0.5), q(fh, 0.99), q(api, 0.5), q(api, 0.99)
	b.ReportMetric(fp50/ap50, "p50-ratio")
	b.ReportMetric(fp50, "fhir-p50-ms")
	b.ReportMetric(fp99, "fhir-p99-ms")
	b.ReportMetric(ap50, "api-p50-ms")
	b.ReportMetric(ap99, "api-p99-ms")
	b.ReportMetric(fp99/ap99, "p99-ratio")
}

// newBenchEnv is newEnv with a third campus: a department of three doctors,
// each with a morning and an afternoon session every day of the week.
func newBenchEnv(b *testing.B) *env {
	e := newEnvTB(b)
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		hs, err := tx.Hospitals(ctx)
		if err != nil {
			return err
		}
		c := fairslot.Campus{HospitalID: hs[0].ID, Name: "East campus"}
		if err := tx.CreateCampus(ctx, &c); err != nil {
			return err
		}
		d := fairslot.Department{CampusID: c.ID, Code: "ENT", Name: "ENT"}
		if err := tx.CreateDepartment(ctx, &d); err != nil {
			return err
		}
		for n := range 3 {
			doc := fairslot.Doctor{DepartmentID: d.ID, Name: fmt.Sprintf("Dr East %d", n), Title: fairslot.General}
			if err := tx.CreateDoctor(ctx, &doc); err != nil {
				return err
			}
			for day := range 7 {
				date := time.Date(2026, 12, 10+day, 0, 0, 0, 0, loc)
				for _, p := range []struct {
					period fairslot.Period
					h0, h1 int
				}{{fairslot.Morning, 8, 12}, {fairslot.Afternoon, 14, 17}} {
					sess := fairslot.Session{DoctorID: doc.ID, DepartmentID: d.ID, Date: date.Format(time.DateOnly), Period: p.period,
						Start: date.Add(time.Duration(p.h0) * time.Hour), End: date.Add(time.Duration(p.h1) * time.Hour), Room: "E-1", FeeCents: 500}
					if err := e.svc.NewSession(ctx, tx, d.Code, &sess, fairslot.Windows(sess.Start, sess.End, 3)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return e
}
