package fhir_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// post sends a FHIR operation's body with a token (and an Idempotency-Key
// when key is not ""), checks the media type and sends the answer to the
// validator.
func (e *env) post(t *testing.T, path, token, body, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
		t.Errorf("POST %s: Content-Type %q", path, ct)
	}
	e.v.add(b)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s = %d %s: %v", path, resp.StatusCode, b, err)
	}
	m["_raw"] = string(b)
	return resp.StatusCode, m
}

// goldenOf writes an answer (without the test's _raw copy) to its golden file.
func goldenOf(t *testing.T, name string, m map[string]any) {
	t.Helper()
	raw := m["_raw"].(string)
	golden(t, name, []byte(raw))
}

// patientParam is the patient parameter naming an identity on record.
func patientParam(name, idNumber string) string {
	return fmt.Sprintf(`{"name":"patient","resource":{"resourceType":"Patient","identifier":[{"system":"urn:fairslot:identifier:cn-resident-id","value":%q}],"name":[{"text":%q}]}}`, idNumber, name)
}

func refParams(ref string, more ...string) string {
	ps := append([]string{fmt.Sprintf(`{"name":"appointment-reference","valueReference":{"reference":%q}}`, ref)}, more...)
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ps, ",") + `]}`
}

func slotParams(slot string, more ...string) string {
	ps := append([]string{fmt.Sprintf(`{"name":"appointment-resource","resource":{"resourceType":"Appointment","status":"proposed","slot":[{"reference":%q}],"participant":[{"status":"needs-action"}]}}`, slot)}, more...)
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ps, ",") + `]}`
}

// schedEnv is newEnv with a bound patient and a SMART client allowed to
// book.
type schedEnv struct {
	*env
	acct    app.Actor
	patient fairslot.Patient
	client  smartClient
	tok     string
}

const patientName = "张三"

func newSchedEnv(t *testing.T) *schedEnv {
	t.Helper()
	e := newEnv(t)
	e.svc.Release = release.Default() // as serve configures it (demotest leaves it zero: no draw entries at all)
	acct, err := e.svc.OpenAccount(ctx, app.System, demo.PatientPhone)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.BindPatient(ctx, acct, app.PatientInput{Name: patientName, IDType: fairslot.IDResident, IDNumber: residentID, Phone: "13800138000"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.register(t, jose.ES384, "system/Appointment.cruds", "system/Slot.rs")
	return &schedEnv{env: e, acct: acct, patient: p, client: c, tok: e.smartToken(t, c, "system/Appointment.cruds system/Slot.rs")}
}

func (e *schedEnv) me() string { return patientParam(patientName, residentID) }

// activeBookings counts the patient's bookings that hold a place.
func (e *schedEnv) activeBookings(t *testing.T) int {
	t.Helper()
	bs, err := e.svc.Bookings(ctx, e.acct)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bs {
		if b.PatientID == e.patient.ID && (b.Status == fairslot.Held || b.Status == fairslot.Confirmed) {
			n++
		}
	}
	return n
}

func TestFindHoldBookCancel(t *testing.T) {
	e := newSchedEnv(t)
	sess := e.bookable(t)
	// $find: free places of one doctor today, as proposed Appointments.
	find := fmt.Sprintf("/fhir/R4/Appointment/$find?start=2026-12-10&end=2026-12-11&practitioner=Practitioner/%d", sess.DoctorID)
	code, body := e.get(t, find, e.tok)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", find, code, body)
	}
	var b struct {
		Total int
		Entry []struct{ Resource map[string]any }
	}
	json.Unmarshal(body, &b)
	if b.Total == 0 || len(b.Entry) == 0 {
		t.Fatalf("$find found nothing: %s", body)
	}
	for _, en := range b.Entry {
		a := en.Resource
		slot := a["slot"].([]any)[0].(map[string]any)["reference"].(string)
		if a["status"] != "proposed" || a["participant"].([]any)[0].(map[string]any)["actor"].(map[string]any)["reference"] != fmt.Sprintf("Practitioner/%d", sess.DoctorID) {
			t.Errorf("$find returned %v", a)
		}
		if s := e.getOK(t, "/fhir/R4/"+slot); s["status"] != "free" || s["start"] != a["start"] {
			t.Errorf("$find proposed %s, which is %v from %v", slot, s["status"], s["start"])
		}
	}
	first := b.Entry[0].Resource
	// The same by POST, with Parameters.
	code, m := e.post(t, "/fhir/R4/Appointment/$find", e.tok, fmt.Sprintf(`{"resourceType":"Parameters","parameter":[
		{"name":"start","valueDateTime":"2026-12-10T00:00:00+08:00"},{"name":"end","valueDateTime":"2026-12-11T00:00:00+08:00"},
		{"name":"practitioner","valueReference":{"reference":"Practitioner/%d"}},{"name":"_count","valueInteger":2}]}`, sess.DoctorID), "")
	if code != 200 || m["total"] != float64(b.Total) || len(m["entry"].([]any)) != min(2, b.Total) {
		t.Fatalf("POST $find = %d %v, want total %d and 2 entries", code, m["_raw"], b.Total)
	}
	goldenOf(t, "op-find", m)

	// $hold: the patient's place is held, unpaid.
	code, held := e.post(t, "/fhir/R4/Appointment/$hold", e.tok, refParams("Appointment/"+first["id"].(string), e.me()), "hold-1")
	if code != 200 || held["status"] != "pending" || held["start"] != first["start"] {
		t.Fatalf("$hold = %d %v", code, held["_raw"])
	}
	goldenOf(t, "op-hold", held)
	// A retried $hold is the same hold.
	if code, again := e.post(t, "/fhir/R4/Appointment/$hold", e.tok, refParams("Appointment/"+first["id"].(string), e.me()), "hold-1"); code != 200 || again["id"] != held["id"] {
		t.Errorf("retried $hold = %d %v, want Appointment/%v again", code, again["_raw"], held["id"])
	}
	// $book of the held appointment: paid and booked.
	id := held["id"].(string)
	code, booked := e.post(t, "/fhir/R4/Appointment/$book", e.tok, refParams("Appointment/"+id), "book-1")
	if code != 200 || booked["status"] != "booked" || booked["id"] != id {
		t.Fatalf("$book = %d %v", code, booked["_raw"])
	}
	goldenOf(t, "op-book", booked)
	// A retried $book books nothing more and charges nothing more.
	if code, again := e.post(t, "/fhir/R4/Appointment/$book", e.tok, refParams("Appointment/"+id), "book-1"); code != 200 || again["status"] != "booked" || again["id"] != id {
		t.Errorf("retried $book = %d %v", code, again["_raw"])
	}
	if n := e.activeBookings(t); n != 1 {
		t.Errorf("the patient has %d bookings, want 1", n)
	}
	// The patient sees it in their own account.
	v, err := e.svc.Booking(ctx, e.acct, mustAtoi(t, id))
	if err != nil || v.Status != fairslot.Confirmed {
		t.Errorf("the patient's view of the booking: %+v, %v", v.Status, err)
	}
	// Cancel, as IHE does it: $book of the Appointment with status cancelled.
	cancel := fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"appointment-resource","resource":{"resourceType":"Appointment","id":%q,"status":"cancelled","participant":[{"status":"declined"}]}}]}`, id)
	code, cancelled := e.post(t, "/fhir/R4/Appointment/$book", e.tok, cancel, "")
	if code != 200 || cancelled["status"] != "cancelled" {
		t.Fatalf("cancel = %d %v", code, cancelled["_raw"])
	}
	goldenOf(t, "op-cancel", cancelled)
	if n := e.activeBookings(t); n != 0 {
		t.Errorf("after cancelling, the patient has %d bookings", n)
	}

	// Each act is the client's in the audit log, and each call is audited.
	var evs []audit.Event
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { evs, err = tx.AuditEvents(ctx, 0, 100000); return err }); err != nil {
		t.Fatal(err)
	}
	acts := map[string]string{}
	ops := map[string]int{}
	for _, ev := range evs {
		switch ev.Action {
		case "booking.hold", "booking.cancel", "payment.settle", "booking.confirm":
			acts[ev.Action] = ev.Actor
		case "fhir.call":
			ops[ev.Detail["operation"]]++
		}
	}
	for _, act := range []string{"booking.hold", "booking.cancel"} {
		if acts[act] != "fhir-client:"+e.client.id {
			t.Errorf("%s recorded as %q, want the client", act, acts[act])
		}
	}
	if ops["$find"] != 2 || ops["$hold"] != 2 || ops["$book"] != 3 {
		t.Errorf("fhir.call records by operation: %v, want $find 2, $hold 2, $book 3", ops)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A $book of a place with no hold holds and books at once; retried with
// the same Idempotency-Key it is the same booking, paid once.
func TestBookIsIdempotent(t *testing.T) {
	e := newSchedEnv(t)
	sess := e.bookable(t)
	body := slotParams(fmt.Sprintf("Slot/%d-1", sess.ID), e.me())
	code, first := e.post(t, "/fhir/R4/Appointment/$book", e.tok, body, "order-77")
	if code != 200 || first["status"] != "booked" {
		t.Fatalf("$book = %d %v", code, first["_raw"])
	}
	for range 2 {
		code, again := e.post(t, "/fhir/R4/Appointment/$book", e.tok, body, "order-77")
		if code != 200 || again["id"] != first["id"] || again["status"] != "booked" {
			t.Errorf("retried $book = %d %v, want Appointment/%v", code, again["_raw"], first["id"])
		}
	}
	if n := e.activeBookings(t); n != 1 {
		t.Errorf("the patient has %d bookings, want 1", n)
	}
	var pays int
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		_, err := tx.PaymentOf(ctx, mustAtoi(t, first["id"].(string)))
		if err == nil {
			pays++
		}
		return nil
	})
	if pays != 1 {
		t.Errorf("%d payments, want 1", pays)
	}
	// Another key for the same place and patient is a new request, refused
	// as the patient's would be (one booking per department and day).
	code, oo := e.post(t, "/fhir/R4/Appointment/$book", e.tok, body, "order-78")
	if _, text := issueOf(t, oo); code != 429 || !strings.Contains(text, "in this department on this day") {
		t.Errorf("a second booking in the session = %d %v", code, oo["_raw"])
	}
	if n := e.activeBookings(t); n != 1 {
		t.Errorf("the patient has %d bookings after the refusal, want 1", n)
	}
}

// issueOf is an OperationOutcome's one issue: its code and text.
func issueOf(t *testing.T, m map[string]any) (code, text string) {
	t.Helper()
	is, _ := m["issue"].([]any)
	if m["resourceType"] != "OperationOutcome" || len(is) != 1 {
		t.Fatalf("not an OperationOutcome with one issue: %v", m["_raw"])
	}
	i := is[0].(map[string]any)
	d, _ := i["details"].(map[string]any)
	txt, _ := d["text"].(string)
	return i["code"].(string), txt
}

// Every booking rule refuses a FHIR $book with the reason the patient's own
// request gets at the same moment (the app's Hold, as the JSON API calls
// it), and a draw session is entered, not booked.
func TestBookObeysThePatientsRules(t *testing.T) {
	e := newSchedEnv(t)
	// A second patient of the account, to fill a place.
	other, err := e.svc.BindPatient(ctx, e.acct, app.PatientInput{Name: "李四", IDType: fairslot.IDPassport, IDNumber: "E12345678", Phone: "13800138000"})
	if err != nil {
		t.Fatal(err)
	}
	open, err := demo.SeedStorm(ctx, e.svc, e.now.Add(-time.Minute), 30*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	later, err := demo.SeedStorm(ctx, e.svc, e.now.Add(time.Hour), 30*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Two sessions of one department today, for the per-department limit.
	vs, err := e.svc.Sessions(ctx, storage.SessionFilter{From: "2026-12-10", To: "2026-12-10"})
	if err != nil {
		t.Fatal(err)
	}
	var sameDept [2]app.SessionView
	var otherDept app.SessionView
	for _, v := range vs {
		if !v.Release.Bookable || v.Remaining == 0 || v.Release.Mode != fairslot.FirstCome {
			continue
		}
		switch {
		case sameDept[0].ID == 0:
			sameDept[0] = v
		case sameDept[1].ID == 0 && v.DepartmentID == sameDept[0].DepartmentID:
			sameDept[1] = v
		case otherDept.ID == 0 && v.DepartmentID != sameDept[0].DepartmentID:
			otherDept = v
		}
	}
	if sameDept[1].ID == 0 || otherDept.ID == 0 {
		t.Fatal("the demo has no two bookable sessions of one department today")
	}
	if _, err := e.svc.Hold(ctx, e.acct, app.HoldInput{SessionID: sameDept[0].ID, PatientID: e.patient.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Hold(ctx, e.acct, app.HoldInput{SessionID: open.FirstComeSession, PatientID: other.ID}); err != nil {
		t.Fatal(err)
	}
	cancelled := e.bookableExcept(t, sameDept[0].DepartmentID, otherDept.ID)
	admin, err := e.svc.StaffActor(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	admin.FactorAt = e.now
	if _, err := e.svc.CancelSession(ctx, admin, cancelled, "the doctor is ill"); err != nil {
		t.Fatal(err)
	}

	var maxActive int
	for _, c := range []struct {
		name    string
		session int64
		setup   func()
		undo    func()
		status  int
	}{
		{"identity limit: one booking per department per day", sameDept[1].ID, nil, nil, 429},
		{"quota: at most K active bookings", otherDept.ID,
			func() { maxActive, e.svc.Policy.MaxActive = e.svc.Policy.MaxActive, 1 }, func() { e.svc.Policy.MaxActive = maxActive }, 429},
		{"release time not reached", later.FirstComeSession, nil, nil, 409},
		{"session cancelled", cancelled, nil, nil, 409},
		{"session full", open.FirstComeSession, nil, nil, 409},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
				defer c.undo()
			}
			code, oo := e.post(t, "/fhir/R4/Appointment/$book", e.tok, slotParams(fmt.Sprintf("Slot/%d-1", c.session), e.me()), "")
			gotCode, gotText := issueOf(t, oo)
			_, perr := e.svc.Hold(ctx, e.acct, app.HoldInput{SessionID: c.session, PatientID: e.patient.ID})
			if perr == nil {
				t.Fatalf("the patient's own request was not refused: the case sets up nothing")
			}
			if gotText != fairslot.ErrorMessage(perr) || gotCode != fhirIssue(perr) {
				t.Errorf("FHIR $book refused with %s %q; the patient is refused with %s %q", gotCode, gotText, fhirIssue(perr), fairslot.ErrorMessage(perr))
			}
			if code != c.status {
				t.Errorf("status %d, want %d (%s)", code, c.status, oo["_raw"])
			}
		})
	}
	if n := e.activeBookings(t); n != 1 {
		t.Errorf("the patient holds %d places after the refusals, want the 1 made before", n)
	}

	// A full session's waitlist, when asked for.
	code, w := e.post(t, "/fhir/R4/Appointment/$hold", e.tok, slotParams(fmt.Sprintf("Slot/%d-1", open.FirstComeSession), e.me(),
		`{"name":"waitlist","valueBoolean":true}`), "")
	if code != 200 || w["status"] != "waitlist" || !strings.HasPrefix(w["id"].(string), "w") {
		t.Errorf("$hold with waitlist on a full session = %d %v", code, w["_raw"])
	}
	if ws, _ := e.svc.Waitlists(ctx, e.acct); len(ws) != 1 {
		t.Errorf("the patient has %d waitlist places, want 1", len(ws))
	}

	// A draw session: $book enters the draw (Appointment proposed), books
	// nothing, and a second $book is the same entry.
	var entryID any
	for i := range 2 {
		code, d := e.post(t, "/fhir/R4/Appointment/$book", e.tok, slotParams(fmt.Sprintf("Slot/%d-1", open.DrawSession), e.me()), "")
		if code != 200 || d["status"] != "proposed" || !strings.HasPrefix(d["id"].(string), "d") || (i > 0 && d["id"] != entryID) {
			t.Fatalf("$book on a draw session (%d) = %d %v", i+1, code, d["_raw"])
		}
		if i == 0 {
			entryID = d["id"]
			goldenOf(t, "op-book-draw", d)
		}
	}
	entries, err := e.svc.Entries(ctx, e.acct)
	if err != nil || len(entries) != 1 || entries[0].SessionID != open.DrawSession {
		t.Errorf("the patient's draw entries: %+v, %v; want one, in the draw", entries, err)
	}
	if n := e.activeBookings(t); n != 1 {
		t.Errorf("entering the draw booked a place: the patient holds %d", n)
	}
	// Before the entry window opens, the draw refuses the entry as it
	// refuses the patient's.
	code, oo := e.post(t, "/fhir/R4/Appointment/$hold", e.tok, slotParams(fmt.Sprintf("Slot/%d-1", later.DrawSession), e.me()), "")
	_, perr := e.svc.EnterDraw(ctx, e.acct, app.EntryInput{SessionID: later.DrawSession, PatientID: e.patient.ID})
	if _, txt := issueOf(t, oo); code != 409 || perr == nil || txt != fairslot.ErrorMessage(perr) {
		t.Errorf("$hold before the draw opens = %d %q; the patient gets %v", code, txt, perr)
	}

	// The entry reads back as it stands: proposed until the draw, then
	// naming the place it won (one entry, one place).
	if a := e.getOK(t, "/fhir/R4/Appointment/"+entryID.(string)); a["status"] != "proposed" || a["id"] != entryID {
		t.Errorf("the entry read back: %v", a)
	}
	e.now = e.now.Add(31 * time.Minute)
	if n, err := e.svc.RunDueDraws(ctx); err != nil || n != 1 {
		t.Fatalf("RunDueDraws = %d, %v", n, err)
	}
	e.admin = e.staffToken(t, "admin") // the staff session idled out with the clock
	won := e.getOK(t, "/fhir/R4/Appointment/"+entryID.(string))
	desc, _ := won["description"].(string)
	_, booking, _ := strings.Cut(desc, "the place is ")
	if won["status"] != "proposed" || booking == "" {
		t.Fatalf("the entry after the draw: %v", won)
	}
	if a := e.getOK(t, "/fhir/R4/"+booking); a["status"] != "pending" {
		t.Errorf("the place won: %v, want a pending (held, unpaid) Appointment", a)
	}
}

// fhirIssue is the issue code the one mapping gives err's kind.
func fhirIssue(err error) string {
	return map[fairslot.Kind]string{fairslot.Invalid: "invalid", fairslot.Conflict: "conflict", fairslot.Limited: "throttled",
		fairslot.NotFound: "not-found", fairslot.Forbidden: "forbidden", fairslot.Gone: "expired"}[fairslot.ErrorKind(err)]
}

// bookableExcept is a bookable first-come session today outside a
// department and other than one session.
func (e *env) bookableExcept(t *testing.T, dept, not int64) int64 {
	t.Helper()
	vs, err := e.svc.Sessions(ctx, storage.SessionFilter{From: "2026-12-10", To: "2026-12-10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Release.Bookable && v.Remaining > 0 && v.Release.Mode == fairslot.FirstCome && v.DepartmentID != dept && v.ID != not {
			return v.ID
		}
	}
	t.Fatal("no such session")
	return 0
}

func TestSchedulingRefusals(t *testing.T) {
	e := newSchedEnv(t)
	sess := e.bookable(t)
	readOnly := e.register(t, jose.RS384, "system/Slot.rs", "system/Appointment.rs")
	roTok := e.smartToken(t, readOnly, "system/Slot.rs system/Appointment.rs")
	// A client that may hold but not update: it cannot confirm or cancel.
	holdOnly := e.register(t, jose.ES384, "system/Appointment.c")
	hoTok := e.smartToken(t, holdOnly, "system/Appointment.c")
	code, held := e.post(t, "/fhir/R4/Appointment/$hold", hoTok, slotParams(fmt.Sprintf("Slot/%d-1", sess.ID), e.me()), "")
	if code != 200 || held["status"] != "pending" {
		t.Fatalf("$hold with system/Appointment.c = %d %v", code, held["_raw"])
	}
	heldRef := "Appointment/" + held["id"].(string)
	slot := slotParams(fmt.Sprintf("Slot/%d-2", sess.ID), e.me())
	for _, c := range []struct {
		name, path, token, body string
		status                  int
		issue, text             string
	}{
		{"$hold without Appointment.c", "/fhir/R4/Appointment/$hold", roTok, slot, 403, "forbidden", "system/Appointment.c"},
		{"$book of a new place without Appointment.c", "/fhir/R4/Appointment/$book", roTok, slot, 403, "forbidden", "system/Appointment.c"},
		{"$book of a held one without Appointment.u", "/fhir/R4/Appointment/$book", hoTok, refParams(heldRef), 403, "forbidden", "system/Appointment.u"},
		{"$book of another client's hold", "/fhir/R4/Appointment/$book", e.tok, refParams(heldRef), 404, "not-found", "not found"},
		{"$find without Appointment.s", "/fhir/R4/Appointment/$find", hoTok, `{"resourceType":"Parameters","parameter":[{"name":"start","valueDate":"2026-12-10"},{"name":"end","valueDate":"2026-12-11"}]}`, 403, "forbidden", "system/Appointment.s"},
		{"a staff admin does not book", "/fhir/R4/Appointment/$hold", e.admin, slot, 403, "forbidden", "SMART system client"},
		{"no token", "/fhir/R4/Appointment/$hold", "", slot, 401, "login", "Bearer"},
		{"a patient not on record", "/fhir/R4/Appointment/$hold", e.tok, slotParams(fmt.Sprintf("Slot/%d-2", sess.ID), patientParam("王五", residentID)), 404, "not-found", "registration desk"},
		{"no patient", "/fhir/R4/Appointment/$hold", e.tok, slotParams(fmt.Sprintf("Slot/%d-2", sess.ID)), 400, "invalid", "patient is required"},
		{"an identifier of no known system", "/fhir/R4/Appointment/$hold", e.tok, slotParams(fmt.Sprintf("Slot/%d-2", sess.ID),
			`{"name":"patient","resource":{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3","value":"x"}],"name":[{"text":"x"}]}}`), 400, "invalid", "identifier of one of the systems"},
		{"an unknown parameter", "/fhir/R4/Appointment/$hold", e.tok, refParams("Appointment/p1-1", e.me(), `{"name":"visit-type","valueString":"x"}`), 400, "not-supported", "visit-type"},
		{"not Parameters", "/fhir/R4/Appointment/$hold", e.tok, `{"resourceType":"Appointment"}`, 400, "structure", "Parameters"},
		{"no such slot", "/fhir/R4/Appointment/$hold", e.tok, slotParams("Slot/99999-1", e.me()), 404, "not-found", "Slot/99999-1"},
		{"$find without end", "/fhir/R4/Appointment/$find", e.tok, `{"resourceType":"Parameters","parameter":[{"name":"start","valueDate":"2026-12-10"}]}`, 400, "invalid", "end"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, m := e.post(t, c.path, c.token, c.body, "")
			issue, text := issueOf(t, m)
			if code != c.status || issue != c.issue || !strings.Contains(text, c.text) {
				t.Errorf("= %d %s %q; want %d %s containing %q", code, issue, text, c.status, c.issue, c.text)
			}
		})
	}
}

func TestCapabilityListsTheOperations(t *testing.T) {
	e := newEnv(t)
	m := e.getOK(t, "/fhir/R4/metadata")
	var ops []string
	for _, r := range m["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		r := r.(map[string]any)
		for _, o := range asSlice(r["operation"]) {
			o := o.(map[string]any)
			ops = append(ops, r["type"].(string)+" $"+o["name"].(string)+" "+o["definition"].(string))
		}
	}
	want := []string{
		"Appointment $find https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-find",
		"Appointment $hold https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-hold",
		"Appointment $book https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-book",
	}
	if strings.Join(ops, "\n") != strings.Join(want, "\n") {
		t.Errorf("the CapabilityStatement's operations:\n%s\nwant exactly:\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// The front door's per-client limit holds for each FHIR client apart: the
// internal listener puts every request in the staff lane, so the
// operations apply it themselves.
func TestSchedulingFrontDoorLimitsEachClient(t *testing.T) {
	e := newSchedEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := frontdoor.Default()
	cfg.AccountLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Hour), Burst: 2}
	door, err := frontdoor.New(ctx, cfg, e.svc.Vault.Key, func(tok string) (string, int64, bool) {
		kind, id, ok := e.svc.TokenClaims(tok)
		return string(kind), id, ok
	}, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	api := &httpapi.Server{App: e.svc, Log: log, Door: door}
	srv := httptest.NewServer(door.Wrap((&fhir.Server{App: e.svc, API: api, Base: "https://fhir.example/fhir/R4"}).Handler(), frontdoor.InternalListener))
	defer srv.Close()
	other := e.register(t, jose.RS384, "system/Appointment.s")
	otherTok := e.smartToken(t, other, "system/Appointment.s")
	find := srv.URL + "/fhir/R4/Appointment/$find?start=2026-12-10&end=2026-12-11"
	call := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", find, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		e.v.add(b)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range 2 {
		if code, _ := call(e.tok); code != 200 {
			t.Fatalf("call %d within the burst = %d", i+1, code)
		}
	}
	if code, retry := call(e.tok); code != 429 || retry == "" {
		t.Errorf("a call past the client's limit = %d, Retry-After %q; want 429 with Retry-After", code, retry)
	}
	if code, _ := call(otherTok); code != 200 {
		t.Errorf("another client = %d; its allowance is its own", code)
	}
}
