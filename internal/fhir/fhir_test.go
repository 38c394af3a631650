package fhir_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/demo/demotest"
	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var ctx = context.Background()

var loc = time.FixedZone("CST", 8*3600)

type env struct {
	srv   *httptest.Server
	api   *httptest.Server
	svc   *app.Service
	v     *validator
	admin string
	now   time.Time
}

// newEnv serves the facade over the demo hospital at 09:00 on 2026-12-10.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := newEnvTB(t)
	e.v = newValidator(t)
	return e
}

// newEnvTB is newEnv without the validator, for benchmarks.
func newEnvTB(t testing.TB) *env {
	t.Helper()
	e := &env{now: time.Date(2026, 12, 10, 9, 0, 0, 0, loc)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, st := demotest.Service(t, loc, func() time.Time { return e.now }, nil, log)
	e.svc = svc
	api := &httpapi.Server{App: svc, Log: log, Ready: st.Ping, BoardRefresh: time.Hour}
	e.api = httptest.NewServer(api.Handler(frontdoor.SingleListener))
	t.Cleanup(e.api.Close)
	f := &fhir.Server{App: svc, API: api, Base: "https://fhir.example/fhir/R4", Subscriptions: fhir.SubscriptionPolicy{AllowLoopback: true}}
	e.srv = httptest.NewServer(f.Handler())
	t.Cleanup(e.srv.Close)
	e.v = &validator{}
	e.admin = e.staffToken(t, "admin")
	return e
}

func (e *env) staffToken(t testing.TB, user string) string {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, demo.Password)
	resp, err := http.Post(e.api.URL+"/api/v1/staff/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("staff login %s: %d %v", user, resp.StatusCode, err)
	}
	return out.Token
}

// get reads a FHIR path with a token, checks the media type and sends the
// body to the validator.
func (e *env) get(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != fhir.ContentType {
		t.Errorf("GET %s: Content-Type %q, want %q", path, ct, fhir.ContentType)
	}
	e.v.add(b)
	return resp.StatusCode, b
}

func (e *env) getOK(t *testing.T, path string) map[string]any {
	t.Helper()
	code, b := e.get(t, path, e.admin)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", path, code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var requestID = regexp.MustCompile(`request [0-9a-f]{16}`)

// golden compares body with testdata/name.json, rewriting it under -update.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	got = append(requestID.ReplaceAll(got, []byte("request ID")), '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/fhir -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from its golden file (go test ./internal/fhir -update rewrites it):\n%s", name, got)
	}
}

// residentID is a valid resident ID number no demo patient has.
var residentID = "11010519491231007" + string(fairslot.ResidentCheckDigit("11010519491231007"))

// booked makes a patient of the demo account and holds, then pays for, a
// place in the first bookable first-come session of today.
func (e *env) booked(t *testing.T) (fairslot.Patient, app.BookingView, app.SessionView) {
	t.Helper()
	acct, err := e.svc.OpenAccount(ctx, app.System, demo.PatientPhone)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.BindPatient(ctx, acct, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID, Phone: "13800138000"})
	if err != nil {
		t.Fatal(err)
	}
	sess := e.bookable(t)
	b, err := e.svc.Hold(ctx, acct, app.HoldInput{SessionID: sess.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	return p, b, sess
}

func (e *env) bookable(t *testing.T) app.SessionView {
	t.Helper()
	vs, err := e.svc.Sessions(ctx, storage.SessionFilter{From: "2026-12-10", To: "2026-12-10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Release.Bookable && v.Remaining > 0 && v.Release.Mode == fairslot.FirstCome {
			return v
		}
	}
	t.Fatal("no bookable session today in the demo")
	return app.SessionView{}
}

func TestGoldenResources(t *testing.T) {
	e := newEnv(t)
	p, b, sess := e.booked(t)
	for _, c := range []struct{ name, path string }{
		{"metadata", "/fhir/R4/metadata"},
		{"organization", "/fhir/R4/Organization/1"},
		{"location-campus", "/fhir/R4/Location/campus-1"},
		{"location-room", fmt.Sprintf("/fhir/R4/Location/room-%d", sess.ID)},
		{"healthcareservice", "/fhir/R4/HealthcareService/2"},
		{"practitioner", "/fhir/R4/Practitioner/4"},
		{"practitionerrole", "/fhir/R4/PractitionerRole/4"},
		{"schedule", fmt.Sprintf("/fhir/R4/Schedule/%d", sess.ID)},
		{"slot", fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID)},
		{"appointment", fmt.Sprintf("/fhir/R4/Appointment/%d", b.ID)},
		{"patient", fmt.Sprintf("/fhir/R4/Patient/%d", p.ID)},
		{"search-appointment", fmt.Sprintf("/fhir/R4/Appointment?patient=Patient/%d&_include=Appointment:patient", p.ID)},
		{"search-slot", fmt.Sprintf("/fhir/R4/Slot?schedule=Schedule/%d&_count=2&_include=Slot:schedule", sess.ID)},
	} {
		code, body := e.get(t, c.path, e.admin)
		if code != 200 {
			t.Errorf("GET %s = %d %s", c.path, code, body)
			continue
		}
		golden(t, c.name, body)
	}
	// The patient is masked: no full ID number, name or phone anywhere.
	_, body := e.get(t, fmt.Sprintf("/fhir/R4/Patient/%d", p.ID), e.admin)
	for _, secret := range []string{residentID, "张三", "13800138000", "1949"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("Patient shows %q unmasked: %s", secret, body)
		}
	}
}

func TestStatusMappingBothWays(t *testing.T) {
	want := map[fairslot.Status]string{
		fairslot.Held: "pending", fairslot.Confirmed: "booked", fairslot.CheckedIn: "arrived", fairslot.Called: "checked-in",
		fairslot.Completed: "fulfilled", fairslot.Cancelled: "cancelled", fairslot.Expired: "cancelled", fairslot.NoShow: "noshow",
	}
	if len(want) != len(fairslot.Statuses) {
		t.Fatalf("the table covers %d statuses, the domain has %d", len(want), len(fairslot.Statuses))
	}
	for _, s := range fairslot.Statuses {
		got := fhir.ToFHIR(s)
		if got != want[s] {
			t.Errorf("ToFHIR(%s) = %q, want %q", s, got, want[s])
		}
		back, _, err := fhir.FromFHIR(got)
		if err != nil || !contains(back, s) {
			t.Errorf("FromFHIR(%q) = %v, %v; want it to hold %s", got, back, err, s)
		}
	}
	for code, wantBack := range map[string][]fairslot.Status{
		"pending": {fairslot.Held}, "booked": {fairslot.Confirmed}, "arrived": {fairslot.CheckedIn}, "checked-in": {fairslot.Called},
		"fulfilled": {fairslot.Completed}, "cancelled": {fairslot.Cancelled, fairslot.Expired}, "noshow": {fairslot.NoShow},
		"proposed": nil, "entered-in-error": nil, "waitlist": nil,
	} {
		back, waitlist, err := fhir.FromFHIR(code)
		if err != nil || fmt.Sprint(back) != fmt.Sprint(wantBack) || waitlist != (code == "waitlist") {
			t.Errorf("FromFHIR(%q) = %v, waitlist %v, %v; want %v", code, back, waitlist, err, wantBack)
		}
	}
	if _, _, err := fhir.FromFHIR("Booked"); fairslot.ErrorKind(err) != fairslot.Invalid {
		t.Errorf("FromFHIR(Booked) = %v, want invalid", err)
	}
}

func contains(ss []fairslot.Status, s fairslot.Status) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestAppointmentFollowsTheBooking(t *testing.T) {
	e := newEnv(t)
	p, b, _ := e.booked(t)
	path := fmt.Sprintf("/fhir/R4/Appointment/%d", b.ID)
	if got := e.getOK(t, path)["status"]; got != "pending" {
		t.Errorf("held booking: status %v, want pending", got)
	}
	search := fmt.Sprintf("/fhir/R4/Appointment?patient=%d&status=pending&date=ge2026-12-10&date=lt2026-12-11", p.ID)
	if got := e.getOK(t, search)["total"]; got != 1.0 {
		t.Errorf("%s: total %v, want 1", search, got)
	}
	if got := e.getOK(t, fmt.Sprintf("/fhir/R4/Appointment?patient=%d&status=booked", p.ID))["total"]; got != 0.0 {
		t.Errorf("status=booked: total %v, want 0", got)
	}
	if got := e.getOK(t, fmt.Sprintf("/fhir/R4/Appointment?patient=%d&date=lt2026-12-10", p.ID))["total"]; got != 0.0 {
		t.Errorf("date before: total %v, want 0", got)
	}
	acct, _ := e.svc.OpenAccount(ctx, app.System, demo.PatientPhone)
	if _, err := e.svc.Cancel(ctx, acct, b.ID); err != nil {
		t.Fatal(err)
	}
	a := e.getOK(t, path)
	if a["status"] != "cancelled" || a["cancelationReason"] == nil {
		t.Errorf("cancelled booking: %v", a)
	}
}

func TestSearchPaging(t *testing.T) {
	e := newEnv(t)
	var ids []string
	next := "/fhir/R4/Slot?start=ge2026-12-10&start=lt2026-12-11&_count=7"
	total := -1.0
	for pages := 0; next != ""; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		b := e.getOK(t, next)
		if b["type"] != "searchset" {
			t.Fatalf("type %v", b["type"])
		}
		if total >= 0 && b["total"] != total {
			t.Errorf("total changed between pages: %v then %v", total, b["total"])
		}
		total = b["total"].(float64)
		entries, _ := b["entry"].([]any)
		if len(entries) > 7 {
			t.Errorf("page of %d entries, _count 7", len(entries))
		}
		for _, en := range entries {
			ids = append(ids, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		next = ""
		hasSelf := false
		for _, l := range b["link"].([]any) {
			l := l.(map[string]any)
			hasSelf = hasSelf || l["relation"] == "self"
			if l["relation"] == "next" {
				next = strings.TrimPrefix(l["url"].(string), "https://fhir.example")
			}
		}
		if !hasSelf {
			t.Error("no self link")
		}
	}
	if total < 8 || float64(len(ids)) != total {
		t.Fatalf("paged through %d slots, total %v (want more than one page)", len(ids), total)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("slot %s on two pages", id)
		}
		seen[id] = true
	}
	// status filters: free ones are a subset, and each says so.
	b := e.getOK(t, "/fhir/R4/Slot?start=ge2026-12-10&start=lt2026-12-11&status=free&_count=100")
	for _, en := range b["entry"].([]any) {
		if st := en.(map[string]any)["resource"].(map[string]any)["status"]; st != "free" {
			t.Errorf("status=free returned a %v slot", st)
		}
	}
	// Practitioner by name, Schedule by actor.
	if b := e.getOK(t, "/fhir/R4/Practitioner?name=dr%20lin"); b["total"] != 1.0 {
		t.Errorf("Practitioner?name=dr lin: total %v, want 1 (not Dr Li, Liu or Liang)", b["total"])
	}
	if b := e.getOK(t, "/fhir/R4/Practitioner?name=wang"); b["total"] != 1.0 {
		t.Errorf("Practitioner?name=wang: total %v, want 1 (Prof Wang)", b["total"])
	}
	b = e.getOK(t, "/fhir/R4/Schedule?actor=Practitioner/4&_include=Schedule:actor")
	if b["total"].(float64) < 1 {
		t.Errorf("Schedule?actor=Practitioner/4: total %v", b["total"])
	}
	for _, p := range []string{"/fhir/R4/Location", "/fhir/R4/HealthcareService"} {
		if b := e.getOK(t, p); b["total"].(float64) < 1 {
			t.Errorf("%s: total %v", p, b["total"])
		}
	}
}

func TestOperationOutcomes(t *testing.T) {
	e := newEnv(t)
	kiosk, desk := e.staffToken(t, "kiosk"), e.staffToken(t, "desk")
	for _, c := range []struct {
		path, token string
		status      int
		code        string
	}{
		{"/fhir/R4/Practitioner/1", "", 401, "login"},
		{"/fhir/R4/Practitioner/1", "not-a-token", 401, "login"},
		{"/fhir/R4/Patient/1", kiosk, 403, "forbidden"},
		{"/fhir/R4/Appointment?patient=1", desk, 403, "forbidden"},
		{"/fhir/R4/Practitioner/9999", "admin", 404, "not-found"},
		{"/fhir/R4/Practitioner/abc", "admin", 404, "not-found"},
		{"/fhir/R4/Slot/1-999", "admin", 404, "not-found"},
		{"/fhir/R4/Appointment/99999", "admin", 404, "not-found"},
		{"/fhir/R4/Appointment/w99999", "admin", 404, "not-found"},
		{"/fhir/R4/Patient/99999", "admin", 404, "not-found"},
		{"/fhir/R4/Location/room-99999", "admin", 404, "not-found"},
		{"/fhir/R4/Location/campus-99", "admin", 404, "not-found"},
		{"/fhir/R4/Encounter/1", "admin", 404, "not-supported"},
		{"/fhir/R4/Slot?start=ge2026-13-45", "admin", 400, "invalid"},
		{"/fhir/R4/Slot?start=ne2026-12-10", "admin", 400, "not-supported"},
		{"/fhir/R4/Slot?status=open", "admin", 400, "invalid"},
		{"/fhir/R4/Slot?foo=bar", "admin", 400, "not-supported"},
		{"/fhir/R4/Slot?_count=-1", "admin", 400, "invalid"},
		{"/fhir/R4/Slot?_include=Slot:patient", "admin", 400, "not-supported"},
		{"/fhir/R4/Slot?_format=xml", "admin", 400, "not-supported"},
		{"/fhir/R4/Appointment?status=booked", "admin", 400, "too-costly"},
		{"/fhir/R4/Appointment?patient=1&status=done", "admin", 400, "invalid"},
		{"/fhir/R4/Appointment?patient=Practitioner/1", "admin", 400, "not-supported"},
		{"/fhir/R4/Schedule", "admin", 400, "too-costly"},
	} {
		tok := c.token
		if tok == "admin" {
			tok = e.admin
		}
		code, body := e.get(t, c.path, tok)
		var oo struct {
			ResourceType string
			Issue        []struct{ Severity, Code string }
		}
		json.Unmarshal(body, &oo)
		if code != c.status || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != c.code {
			t.Errorf("GET %s = %d %s; want %d OperationOutcome %s", c.path, code, body, c.status, c.code)
		}
	}
	// A change is refused: the facade is read-only today.
	req, _ := http.NewRequest("POST", e.srv.URL+"/fhir/R4/Appointment", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.v.add(body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "not-supported") {
		t.Errorf("POST Appointment = %d %s", resp.StatusCode, body)
	}
}

func TestOperationOutcomeGolden(t *testing.T) {
	e := newEnv(t)
	_, body := e.get(t, "/fhir/R4/Slot?start=ge2026-13-45", e.admin)
	golden(t, "operationoutcome", body)
}

// TestEveryKindHasAnIssueCode keeps the kind-to-issue-code table whole.
func TestEveryKindHasAnIssueCode(t *testing.T) {
	for _, k := range []fairslot.Kind{fairslot.Invalid, fairslot.Unauthorized, fairslot.Forbidden, fairslot.NotFound, fairslot.Conflict,
		fairslot.Limited, fairslot.Gone, fairslot.TooLarge, fairslot.Unavailable, fairslot.ChallengeRequired, fairslot.Internal} {
		if fhir.IssueCode(k) == "" {
			t.Errorf("kind %s has no OperationOutcome issue code", k)
		}
	}
}

// Every staff role but a hospital-wide admin is refused, on reads and on
// searches, and so is an admin once scoped to a campus or department (the
// scope is read on each request, so a token issued before applies it too).
func TestOnlyAHospitalWideAdmin(t *testing.T) {
	e := newEnv(t)
	p, _, _ := e.booked(t)
	paths := []string{fmt.Sprintf("/fhir/R4/Patient/%d", p.ID), fmt.Sprintf("/fhir/R4/Appointment?patient=%d&_include=Appointment:patient", p.ID),
		"/fhir/R4/Slot?_count=100", "/fhir/R4/Practitioner/1"}
	for _, user := range []string{"desk", "nurse", "doctor", "security", "kiosk"} {
		tok := e.staffToken(t, user)
		for _, path := range paths {
			if code, body := e.get(t, path, tok); code != 403 || strings.Contains(string(body), "张") {
				t.Errorf("%s: GET %s = %d %s; want 403", user, path, code, body)
			}
		}
	}
	if code, _ := e.get(t, paths[0], e.admin); code != 200 {
		t.Fatalf("admin: GET %s = %d", paths[0], code)
	}
	for _, scope := range []func(*app.Scope){func(s *app.Scope) { s.CampusID = 1 }, func(s *app.Scope) { s.CampusID, s.DepartmentID = 0, 1 }} {
		if _, err := e.svc.SetStaffScope(ctx, app.System, "admin", scope); err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if code, body := e.get(t, path, e.admin); code != 403 {
				t.Errorf("a scoped admin: GET %s = %d %s; want 403", path, code, body)
			}
		}
	}
}
