package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/staffauth"
)

// TestRevealFromTheStaffPages: the desk's look-up and the doctor's room
// show a reveal form beside each masked patient; posting it with a reason
// shows the full value on the answer page only; a stale second factor goes
// through the step-up page and comes back to the form; a kiosk gets no form
// and no value.
func TestRevealFromTheStaffPages(t *testing.T) {
	e := newEnv(t)
	// The phone on record is the binding account's (paidBooking's), not a
	// phone typed with the identity (issue 13 item 1).
	const phone = "13912345678"
	a, p, held := e.paidBooking(t, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID, Phone: "13800138011"})
	booking := strconv.FormatInt(held.ID, 10)
	// reveals counts the reveals the patient sees in "who looked".
	reveals := func() (n int) {
		t.Helper()
		vs, err := e.svc.PatientAccesses(ctx, a, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Kind == "reveal" {
				n++
			}
		}
		return n
	}
	reveal := func(b *browser, field, reason string) (int, string, string) {
		t.Helper()
		return b.post("/staff/reveal", url.Values{"booking_id": {booking}, "field": {field}, "reason": {reason}, "note": {"the patient is at the desk"},
			"back": {"/staff/desk"}})
	}

	// The desk (demo mode: its factor was skipped) finds the booking masked,
	// with the form beside it.
	desk := e.browser(t, e.internal)
	desk.get("/staff/login")
	desk.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	desk.get("/staff/desk")
	_, _, found := desk.post("/staff/desk", url.Values{"id_type": {"cn_resident"}, "id_number": {testID}, "reason": {"identity_check"}})
	if strings.Contains(found, testID) || !strings.Contains(found, `action="/staff/reveal"`) || !strings.Contains(found, `name="booking_id" value="`+booking+`"`) {
		t.Fatalf("the desk's look-up: the ID shown in full, or no reveal form:\n%s", found)
	}
	if status, _, page := reveal(desk, "id", ""); status == 200 || strings.Contains(page, testID) {
		t.Errorf("a reveal without a reason: %d, value shown %v", status, strings.Contains(page, testID))
	}
	if status, _, page := desk.post("/staff/reveal", url.Values{"csrf": {""}, "booking_id": {booking}, "field": {"id"}, "reason": {"identity_check"}}); status == 200 || strings.Contains(page, testID) {
		t.Errorf("a reveal without the form's token: %d, value shown %v", status, strings.Contains(page, testID))
	}
	status, _, page := reveal(desk, "id", "identity_check")
	if status != 200 || strings.Count(page, testID) != 1 || !strings.Contains(page, `href="/staff/desk"`) {
		t.Fatalf("the desk's reveal of the ID number: %d, shown %d times\n%s", status, strings.Count(page, testID), page)
	}
	if status, _, page := reveal(desk, "phone", "contact_patient"); status != 200 || !strings.Contains(page, phone) {
		t.Errorf("the desk's reveal of the phone: %d\n%s", status, page)
	}
	if n := reveals(); n != 2 {
		t.Errorf("%d reveals in the patient's \"who looked\", want 2", n)
	}

	// Checked in, the patient is in the doctor's queue, with the form.
	desk.get("/kiosk")
	if status, _, page := desk.post("/kiosk/check-in", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}}); status != 200 {
		t.Fatalf("check-in: %d\n%s", status, page)
	}
	doc := e.browser(t, e.internal)
	doc.get("/staff/login")
	doc.post("/staff/login", url.Values{"username": {"doctor"}, "password": {demo.Password}})
	// The room refreshes itself, so its queue links to the form's own page.
	formLink := "/staff/reveal?booking_id=" + booking + "&back=/staff/sessions/1"
	if _, room := doc.get("/staff/sessions/1"); !strings.Contains(room, `href="`+formLink+`"`) || strings.Contains(room, testID) {
		t.Fatalf("the doctor's room: no link to the reveal form for the queue, or the ID in full:\n%s", room)
	}
	if status, form := doc.get(formLink); status != 200 || !strings.Contains(form, `name="back" value="/staff/sessions/1"`) ||
		!strings.Contains(form, `name="booking_id" value="`+booking+`"`) {
		t.Fatalf("the reveal form from the room: %d\n%s", status, form)
	}
	status, _, page = doc.post("/staff/reveal", url.Values{"booking_id": {booking}, "field": {"phone"}, "reason": {"clinical_care"}, "back": {"/staff/sessions/1"}})
	if status != 200 || !strings.Contains(page, phone) || !strings.Contains(page, `href="/staff/sessions/1"`) {
		t.Errorf("the doctor's reveal from the room: %d\n%s", status, page)
	}

	// A kiosk sees no form and gets no value.
	k := e.browser(t, e.internal)
	k.get("/staff/login")
	k.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}})
	for _, path := range []string{"/kiosk", "/kiosk/walk-in"} {
		if _, page := k.get(path); strings.Contains(page, "/staff/reveal") {
			t.Errorf("the kiosk's %s has a reveal form", path)
		}
	}
	if status, _, page := reveal(k, "id", "identity_check"); status != http.StatusForbidden || strings.Contains(page, testID) {
		t.Errorf("a kiosk's reveal: %d, value shown %v", status, strings.Contains(page, testID))
	}
	if status, _ := k.get("/staff/reveal?booking_id=" + booking); status != http.StatusSeeOther {
		t.Errorf("a kiosk's GET of the reveal form: %d, want a redirect to the kiosk", status)
	}

	// A registrar with a real second factor: six minutes after it was
	// checked, the reveal goes through the step-up page and back.
	const pw = "lantern orbit pickle fjord"
	reg := &fairslot.Staff{Username: "registrar2", Name: "Reg", Role: fairslot.Registrar}
	if err := e.svc.CreateStaff(ctx, app.System, reg, pw); err != nil {
		t.Fatal(err)
	}
	enrol, err := e.svc.ResetStaffMFA(ctx, app.System, reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := e.browser(t, e.internal)
	r.get("/staff/login")
	_, _, page = r.post("/staff/login", url.Values{"username": {"registrar2"}, "password": {pw}, "enrol_code": {enrol.Code}})
	ch, secret := challengeField.FindStringSubmatch(page), secretText.FindStringSubmatch(page)
	if ch == nil || secret == nil {
		t.Fatalf("the registrar's enrolment:\n%s", page)
	}
	code := func() string { c, _ := staffauth.Code(secret[1], staffauth.Step(e.clock())); return c }
	if status, _, page := r.post("/staff/enrol", url.Values{"challenge": {html.UnescapeString(ch[1])}, "code": {code()}}); status != 200 {
		t.Fatalf("the registrar's enrolment confirm: %d\n%s", status, page)
	}
	e.advance(6 * time.Minute)
	r.get("/staff/desk")
	status, loc, page := reveal(r, "id", "identity_check")
	if status != 303 || !strings.HasPrefix(loc, "/staff/step-up?next=") || strings.Contains(page, testID) {
		t.Fatalf("a reveal with a stale factor: %d %s", status, loc)
	}
	if u, _ := url.QueryUnescape(loc); strings.Contains(u, "at+the+desk") || strings.Contains(u, "at the desk") {
		t.Errorf("the step-up address carries the note: %s", loc)
	}
	next, _ := url.Parse(loc)
	back := next.Query().Get("next")
	if !strings.HasPrefix(back, "/staff/reveal?") {
		t.Fatalf("the step-up page does not come back to the reveal: %s", loc)
	}
	r.get(loc)
	status, loc, _ = r.post("/staff/step-up", url.Values{"code": {code()}, "next": {back}})
	if status != 303 || loc != back {
		t.Fatalf("step-up: %d %s, want back to %s", status, loc, back)
	}
	status, form := r.get(loc)
	if status != 200 || !strings.Contains(form, `name="booking_id" value="`+booking+`"`) || !strings.Contains(form, `value="identity_check" selected`) ||
		strings.Contains(form, testID) {
		t.Fatalf("the reveal form after step-up: %d\n%s", status, form)
	}
	if status, _, page := reveal(r, "id", "identity_check"); status != 200 || strings.Count(page, testID) != 1 {
		t.Errorf("the reveal after step-up: %d\n%s", status, page)
	}
	if n := reveals(); n != 4 {
		t.Errorf("%d reveals in the patient's \"who looked\", want 4", n)
	}
}
