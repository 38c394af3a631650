package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/staffauth"
)

var (
	challengeField = regexp.MustCompile(`name="challenge" value="([^"]+)"`)
	secretText     = regexp.MustCompile(`<code>([A-Z2-7]{32})</code>`)
	recoveryItem   = regexp.MustCompile(`<li><code>([0-9A-Z-]{14})</code></li>`)
)

// TestStaffEnrolmentPages: a new admin's first sign-in shows the QR code
// and the key, a code confirms it and the recovery codes are shown once;
// the next sign-in asks for the code; the accounts page is the admin's,
// not the desk's, and a stale factor is sent to step up first.
func TestStaffEnrolmentPages(t *testing.T) {
	e := newEnv(t)
	const pw = "lantern orbit pickle fjord"
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}, pw); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t, e.internal)
	if _, page := b.get("/staff/login"); !strings.Contains(page, "--demo") {
		t.Errorf("the demo's login page does not say the demo staff skip the second factor")
	}
	status, _, page := b.post("/staff/login", url.Values{"username": {"boss"}, "password": {pw}})
	ch, secret := challengeField.FindStringSubmatch(page), secretText.FindStringSubmatch(page)
	if status != 200 || ch == nil || secret == nil || !strings.Contains(page, `<svg class="qr"`) {
		t.Fatalf("first sign-in: %d\n%s", status, page)
	}
	code := func() string { c, _ := staffauth.Code(secret[1], staffauth.Step(e.clock())); return c }
	status, _, page = b.post("/staff/enrol", url.Values{"challenge": {html.UnescapeString(ch[1])}, "code": {code()}})
	if codes := recoveryItem.FindAllStringSubmatch(page, -1); status != 200 || len(codes) != 10 {
		t.Fatalf("enrolment: %d, %d recovery codes\n%s", status, len(codes), page)
	}
	if status, console := b.get("/staff"); status != 200 || !strings.Contains(console, `href="/staff/accounts"`) {
		t.Errorf("the admin's console: %d, link to the accounts page missing", status)
	}
	if status, list := b.get("/staff/accounts"); status != 200 || !strings.Contains(list, "boss") || !strings.Contains(list, `action="/staff/accounts"`) {
		t.Fatalf("accounts page: %d\n%s", status, list)
	}

	// The desk (demo mode: no second factor) sees no link and is refused.
	desk := e.browser(t, e.internal)
	desk.get("/staff/login")
	desk.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	if _, console := desk.get("/staff"); strings.Contains(console, "/staff/accounts") {
		t.Errorf("the desk's console links to the accounts page")
	}
	if status, _ := desk.get("/staff/accounts"); status != http.StatusForbidden {
		t.Errorf("the desk's accounts page: %d", status)
	}

	// Six minutes on, disabling the desk goes through the step-up page.
	e.advance(6 * time.Minute)
	deskID := staffIDOf(t, e.svc, "desk")
	b.get("/staff/accounts")
	status, loc, _ := b.post("/staff/accounts/"+strconv.FormatInt(deskID, 10)+"/disable", url.Values{})
	if status != 303 || !strings.HasPrefix(loc, "/staff/step-up") {
		t.Fatalf("disable with a stale factor: %d %s", status, loc)
	}
	b.get(loc)
	if status, loc, _ := b.post("/staff/step-up", url.Values{"code": {code()}, "next": {"/staff/accounts"}}); status != 303 || loc != "/staff/accounts" {
		t.Fatalf("step-up: %d %s", status, loc)
	}
	b.get("/staff/accounts")
	if status, loc, _ := b.post("/staff/accounts/"+strconv.FormatInt(deskID, 10)+"/disable", url.Values{}); status != 303 || loc != "/staff/accounts" {
		t.Fatalf("disable after step-up: %d %s", status, loc)
	}
	if status, _ := desk.get("/staff"); status == 200 {
		t.Errorf("the disabled desk's session still opens the console")
	}
}

func staffIDOf(t *testing.T, svc *app.Service, user string) int64 {
	t.Helper()
	st, err := svc.StaffByUsername(ctx, app.System, user)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}
