package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/kit"
)

// The console links "print today's list" for the desk and nurses, not for
// a doctor; the print view is the kit's own page, masked, and refused to
// whoever has no link.
func TestKitPrintLink(t *testing.T) {
	e := newEnv(t)
	const id = "110105201501010017"
	_, _, booking := e.paidBooking(t, app.PatientInput{Name: "李小明", IDType: fairslot.IDResident, IDNumber: id})
	dept := booking.DepartmentID
	link := `href="/staff/kit/` + strconv.FormatInt(dept, 10) + `"`
	signIn := func(user string) *browser {
		b := e.browser(t, e.internal)
		b.get("/staff/login")
		if status, loc, body := b.post("/staff/login", url.Values{"username": {user}, "password": {demo.Password}}); status != 303 || loc != "/staff" {
			t.Fatalf("%s signs in: %d %s\n%s", user, status, loc, body)
		}
		return b
	}
	for _, user := range []string{"desk", "nurse"} {
		b := signIn(user)
		if _, console := b.get("/staff"); !strings.Contains(console, link) {
			t.Errorf("%s's console has no print link %s", user, link)
		}
		resp, err := b.c.Get(b.base + "/staff/kit/" + strconv.FormatInt(dept, 10))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(raw)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), kit.StyleCSP) ||
			!strings.Contains(page, booking.Code) || !strings.Contains(page, "李*") {
			t.Errorf("%s's print view: %d, CSP %q\n%s", user, resp.StatusCode, resp.Header.Get("Content-Security-Policy"), page)
		}
		for _, secret := range []string{"李小明", id, "13912345678"} {
			if strings.Contains(page, secret) {
				t.Errorf("%s's print view carries %q", user, secret)
			}
		}
	}
	doctor := signIn("doctor")
	if _, console := doctor.get("/staff"); strings.Contains(console, "/staff/kit/") {
		t.Errorf("the doctor's console links to a print view")
	}
	if status, _ := doctor.get("/staff/kit/" + strconv.FormatInt(dept, 10)); status != http.StatusForbidden {
		t.Errorf("the doctor's print view: %d, want 403", status)
	}
}

// The desk form enters one check-in written on paper, once.
func TestKitDeskForm(t *testing.T) {
	e := newEnv(t)
	const id = "110105201501010017"
	_, _, booking := e.paidBooking(t, app.PatientInput{Name: "李小明", IDType: fairslot.IDResident, IDNumber: id})
	b := e.browser(t, e.internal)
	b.get("/staff/login")
	b.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	if status, form := b.get("/staff/kit/import"); status != 200 || !strings.Contains(form, `action="/staff/kit/import"`) {
		t.Fatalf("desk form: %d\n%s", status, form)
	}
	// Written down after the booking was made (now, the test's clock): a
	// time before it is refused.
	at := e.clock().Format("2006-01-02 15:04")
	entry := url.Values{"kind": {"check_in"}, "code": {booking.Code}, "id_last4": {id[14:]}, "checked_in_at": {at}}
	bad := url.Values{"kind": {"check_in"}, "code": {booking.Code}, "id_last4": {"0000"}, "checked_in_at": {at}}
	if status, _, page := b.post("/staff/kit/import", bad); status != 200 || !strings.Contains(page, "纸上记录的证件后 4 位与预约 "+booking.Code+" 不符。") {
		t.Errorf("a wrong last four, not said in the page's language: %d\n%s", status, page)
	}
	// Every refusal is in the clerk's language, the file's own words aside:
	// a time before the booking was made, a row the parser refuses.
	early := url.Values{"kind": {"check_in"}, "code": {booking.Code}, "id_last4": {id[14:]}, "checked_in_at": {e.clock().Add(-2 * time.Hour).Format("2006-01-02 15:04")}}
	for _, tt := range []struct {
		form url.Values
		want string
	}{
		{early, "晚于纸上记录的时间"},
		{url.Values{"kind": {"check_in"}, "code": {booking.Code}, "id_last4": {id[14:]}, "checked_in_at": {"yesterday"}}, `checked_in_at &#34;yesterday&#34; 不是 YYYY-MM-DD HH:MM 或 HH:MM 格式。`},
		{url.Values{"rows": {"kind\ncheck_in\n"}}, "checked_in_at 为空"},
	} {
		if _, _, page := b.post("/staff/kit/import", tt.form); !strings.Contains(page, tt.want) {
			t.Errorf("%v: the page does not say %q\n%s", tt.form, tt.want, page)
		}
	}
	status, _, page := b.post("/staff/kit/import", entry)
	if status != 200 || !strings.Contains(page, `role="status"`) || strings.Contains(page, `role="alert"`) {
		t.Fatalf("entering a check-in: %d\n%s", status, page)
	}
	b.get("/staff/kit/import")
	if _, _, page := b.post("/staff/kit/import", entry); !strings.Contains(page, "此前已录入") {
		t.Errorf("entering it again does not say it was entered before:\n%s", page)
	}
	kiosk := e.browser(t, e.internal)
	kiosk.get("/staff/login")
	kiosk.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}})
	if status, _ := kiosk.get("/staff/kit/import"); status == 200 {
		t.Errorf("the kiosk reaches the desk form")
	}
}
