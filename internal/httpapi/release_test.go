package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestDrawOverHTTP: a draw session's release and commitment are public; a
// patient enters (twice, getting the one entry back), cannot book it first
// come, the admin runs the draw, and the published record verifies.
func TestDrawOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.clock.now = time.Date(2026, 12, 10, 7, 5, 0, 0, loc)
	e.svc.Release = release.Default()
	e.svc.Release.Rules = []release.Rule{{Department: "CARD", Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute)}}
	var sess fairslot.Session
	err := e.store.Update(ctx, func(tx storage.Tx) error {
		ds, _ := tx.Departments(ctx)
		var dept fairslot.Department
		for _, d := range ds {
			if d.Code == "CARD" {
				dept = d
			}
		}
		doc := fairslot.Doctor{DepartmentID: dept.ID, Name: "Dr Draw", Title: fairslot.Expert}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		start := time.Date(2026, 12, 17, 8, 0, 0, 0, loc)
		sess = fairslot.Session{DoctorID: doc.ID, DepartmentID: dept.ID, Date: "2026-12-17", Period: fairslot.Morning,
			Start: start, End: start.Add(time.Hour), FeeCents: 100}
		return e.svc.NewSession(ctx, tx, dept.Code, &sess, []fairslot.Slot{{Number: 1, Start: start, End: start.Add(30 * time.Minute)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v1/sessions/%d", sess.ID)
	code, rel := e.do(t, call{method: "GET", path: base + "/release"})
	if code != 200 || rel["mode"] != "draw" || len(fmt.Sprint(rel["commitment"])) != 64 {
		t.Fatalf("release = %d %v", code, rel)
	}
	tok := e.patientToken(t, demo.PatientPhone)
	code, body := e.do(t, call{method: "POST", path: base + "/draw/entries", token: tok, body: `{"patient_id":"one"}`})
	if code != http.StatusBadRequest {
		t.Errorf("malformed entry = %d %v", code, body)
	}
	code, first := e.do(t, call{method: "POST", path: base + "/draw/entries", token: tok, body: `{"patient_id":1}`})
	if code != 201 || first["hash"] == nil {
		t.Fatalf("entry = %d %v", code, first)
	}
	if code, again := e.do(t, call{method: "POST", path: base + "/draw/entries", token: tok, body: `{"patient_id":1}`}); code != 201 || again["id"] != first["id"] {
		t.Errorf("repeated entry = %d %v, want entry %v", code, again, first["id"])
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, body: fmt.Sprintf(`{"session_id":%d,"patient_id":1}`, sess.ID)}); code != 409 {
		t.Errorf("first-come booking of a draw session = %d %v", code, body)
	}
	if code, _ := e.do(t, call{method: "GET", path: base + "/draw/record"}); code != 404 {
		t.Errorf("record before the draw = %d", code)
	}
	admin := e.staffToken(t, "admin")
	if code, body := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/staff/sessions/%d/draw", sess.ID), token: admin}); code != 409 {
		t.Errorf("draw before the close = %d %v", code, body)
	}
	e.clock.now = time.Date(2026, 12, 10, 7, 35, 0, 0, loc)
	if code, body := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/staff/sessions/%d/draw", sess.ID), token: e.staffToken(t, "desk")}); code != 403 {
		t.Errorf("draw by the desk = %d %v", code, body)
	}
	admin = e.staffToken(t, "admin") // 30 minutes idle ended the first session
	if code, sum := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/staff/sessions/%d/draw", sess.ID), token: admin}); code != 200 || sum["won"] != 1.0 {
		t.Fatalf("draw = %d %v", code, sum)
	}
	resp, err := http.Get(e.srv.URL + base + "/draw/record")
	if err != nil {
		t.Fatal(err)
	}
	var rec release.Record
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := release.Verify(rec); err != nil {
		t.Errorf("published record: %v", err)
	}
	code, body = e.do(t, call{method: "GET", path: "/api/v1/entries", token: tok})
	entries, _ := body["entries"].([]any)
	if code != 200 || len(entries) != 1 || entries[0].(map[string]any)["outcome"] != "won" || entries[0].(map[string]any)["rank"] != 1.0 {
		t.Errorf("entries = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/staff/risk-events", token: admin}); code != 200 || body["risk_events"] == nil {
		t.Errorf("risk events = %d %v", code, body)
	}
}
