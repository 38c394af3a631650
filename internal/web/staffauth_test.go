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
	enrolCodeText  = regexp.MustCompile(`<code class="enrol-code">([0-9A-Z]{5}-[0-9A-Z]{5})</code>`)
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
	enrol, err := e.svc.ResetStaffMFA(ctx, app.System, staffIDOf(t, e.svc, "boss"))
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t, e.internal)
	if _, page := b.get("/staff/login"); !strings.Contains(page, "--demo") || !strings.Contains(page, `name="enrol_code"`) {
		t.Errorf("the demo's login page does not say the demo staff skip the second factor, or has no enrolment code field")
	}
	// The password alone, or with a wrong enrolment code, shows no QR code.
	for _, bad := range []string{"", "ABCDE-FGHJK"} {
		status, _, page := b.post("/staff/login", url.Values{"username": {"boss"}, "password": {pw}, "enrol_code": {bad}})
		if status != 401 || strings.Contains(page, `<svg class="qr"`) || challengeField.MatchString(page) {
			t.Fatalf("first sign-in with enrolment code %q: %d\n%s", bad, status, page)
		}
	}
	status, _, page := b.post("/staff/login", url.Values{"username": {"boss"}, "password": {pw}, "enrol_code": {enrol.Code}})
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

	// Adding an account shows its enrolment code once; the new member's
	// first sign-in needs it. Resetting the factor shows a new one and the
	// old one is dead.
	status, _, page = b.post("/staff/accounts", url.Values{"username": {"nurse2"}, "name": {"Li Na"}, "role": {"nurse"}, "password": {"velvet harbor quartz tundra"}})
	added := enrolCodeText.FindStringSubmatch(page)
	if status != 200 || added == nil || !strings.Contains(page, "nurse2") {
		t.Fatalf("adding an account: %d, no enrolment code shown\n%s", status, page)
	}
	nurseID := staffIDOf(t, e.svc, "nurse2")
	b.get("/staff/accounts")
	status, _, page = b.post("/staff/accounts/"+strconv.FormatInt(nurseID, 10)+"/reset-mfa", url.Values{})
	reset := enrolCodeText.FindStringSubmatch(page)
	if status != 200 || reset == nil || reset[1] == added[1] || !strings.Contains(page, "nurse2") {
		t.Fatalf("a new enrolment code: %d\n%s", status, page)
	}
	nurse := e.browser(t, e.internal)
	nurse.get("/staff/login")
	if status, _, _ := nurse.post("/staff/login", url.Values{"username": {"nurse2"}, "password": {"velvet harbor quartz tundra"}, "enrol_code": {added[1]}}); status != 401 {
		t.Errorf("the replaced enrolment code: %d, want 401", status)
	}
	if status, _, page := nurse.post("/staff/login", url.Values{"username": {"nurse2"}, "password": {"velvet harbor quartz tundra"}, "enrol_code": {reset[1]}}); status != 200 || !strings.Contains(page, `<svg class="qr"`) {
		t.Errorf("the new enrolment code: %d\n%s", status, page)
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

// TestStaffFormsKeepTheirPage: a wrong password, a wrong step-up code and
// an account the rules refuse show their form again, in the page's
// language, with what was typed kept — never the password.
func TestStaffFormsKeepTheirPage(t *testing.T) {
	e := newEnv(t)
	const pw = "lantern orbit pickle fjord"
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}, pw); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t, e.internal)
	b.get("/staff/login")
	status, _, page := b.post("/staff/login?lang=vi", url.Values{"username": {"desk"}, "password": {"not the password"}})
	if status != 401 || !strings.Contains(page, `id="username" name="username" autocomplete="username" required value="desk"`) ||
		!strings.Contains(page, `aria-describedby="password-error"`) || !strings.Contains(page, `<html lang="vi">`) ||
		strings.Contains(page, "not the password") || !strings.Contains(page, `class="field-error" id="password-error"`) {
		t.Fatalf("a wrong password: %d\n%s", status, page)
	}

	// The demo admin (no second factor in demo mode) adds an account with
	// a password too short: the form again, the rest kept.
	b.post("/staff/login", url.Values{"username": {"admin"}, "password": {demo.Password}})
	b.get("/staff/accounts")
	status, _, page = b.post("/staff/accounts?lang=zh-CN", url.Values{"username": {"nurse3"}, "name": {"王护士"}, "role": {"nurse"}, "password": {"short"}})
	if status < 400 || status >= 500 || !strings.Contains(page, `value="nurse3"`) || !strings.Contains(page, `value="王护士"`) ||
		!strings.Contains(page, `<option value="nurse" selected>`) || !strings.Contains(page, `role="alert"`) || strings.Contains(page, `value="short"`) {
		t.Fatalf("an account with a short password: %d\n%s", status, page)
	}

	// A new password too short for the desk: the accounts page again, the
	// reason in the desk's row.
	desk := strconv.FormatInt(staffIDOf(t, e.svc, "desk"), 10)
	b.get("/staff/accounts")
	status, _, page = b.post("/staff/accounts/"+desk+"/password?lang=vi", url.Values{"password": {"short"}})
	if status < 400 || status >= 500 || !strings.Contains(page, `action="/staff/accounts/`+desk+`/password"`) || !strings.Contains(page, `class="form-error"`) {
		t.Fatalf("a short password for the desk: %d\n%s", status, page)
	}

	// A wrong step-up code: the step-up form again, saying so.
	boss := e.browser(t, e.internal)
	enrol, err := e.svc.ResetStaffMFA(ctx, app.System, staffIDOf(t, e.svc, "boss"))
	if err != nil {
		t.Fatal(err)
	}
	boss.get("/staff/login")
	_, _, page = boss.post("/staff/login", url.Values{"username": {"boss"}, "password": {pw}, "enrol_code": {enrol.Code}})
	ch, secret := challengeField.FindStringSubmatch(page), secretText.FindStringSubmatch(page)
	if ch == nil || secret == nil {
		t.Fatalf("first sign-in:\n%s", page)
	}
	code, _ := staffauth.Code(secret[1], staffauth.Step(e.clock()))
	if status, _, page := boss.post("/staff/enrol", url.Values{"challenge": {html.UnescapeString(ch[1])}, "code": {code}}); status != 200 {
		t.Fatalf("enrolment: %d\n%s", status, page)
	}
	boss.get("/staff/step-up?next=/staff/accounts")
	status, _, page = boss.post("/staff/step-up?lang=en", url.Values{"code": {"000000"}, "next": {"/staff/accounts"}})
	if status != 401 || !strings.Contains(page, `action="/staff/step-up"`) || !strings.Contains(page, `class="field-error" id="code-error"`) ||
		!strings.Contains(page, `name="next" value="/staff/accounts"`) {
		t.Fatalf("a wrong step-up code: %d\n%s", status, page)
	}
}

// TestDeskAndRoomFormsKeepTheirPage: the desk's look-up without a purpose,
// its binding form with a wrong ID number, a call with nobody waiting and
// an extra slot without a reason show their page again with the reason,
// in the page's language, what was typed kept.
func TestDeskAndRoomFormsKeepTheirPage(t *testing.T) {
	e := newEnv(t)
	desk := e.staffBrowser(t, e.internal, "desk")
	desk.get("/staff/desk")
	status, _, page := desk.post("/staff/desk?lang=vi", url.Values{"id_type": {"cn_resident"}, "id_number": {testID}, "reason": {""}})
	if status < 400 || status >= 500 || !strings.Contains(page, `value="`+testID+`"`) || !strings.Contains(page, `<option value="cn_resident" selected>`) ||
		!strings.Contains(page, `<p class="field-error" id="reason-error" role="alert">Hãy chọn mục đích tra cứu.</p>`) {
		t.Errorf("a look-up without a purpose: %d\n%s", status, page)
	}
	bad := testID[:17] + map[bool]string{true: "1", false: "2"}[testID[17] != '1']
	desk.get("/staff/desk")
	status, _, page = desk.post("/staff/desk/bind?lang=zh-CN", url.Values{"account_phone": {"13900139123"}, "name": {"赵六"}, "id_type": {"cn_resident"},
		"id_number": {bad}, "reason": {"identity_check"}})
	if status < 400 || status >= 500 || !strings.Contains(page, `value="赵六"`) || !strings.Contains(page, `value="13900139123"`) ||
		!strings.Contains(page, `value="`+bad+`"`) || !strings.Contains(page, "身份证号") {
		t.Errorf("a desk binding with a wrong ID number: %d\n%s", status, page)
	}

	doctor := e.staffBrowser(t, e.internal, "doctor")
	doctor.get("/staff/sessions/1")
	status, _, page = doctor.post("/staff/sessions/1/call-next?lang=en", url.Values{})
	if status < 400 || status >= 500 || !strings.Contains(page, `class="form-error" id="form-error" role="alert"`) || !strings.Contains(page, `action="/staff/sessions/1/call-next"`) {
		t.Errorf("calling with nobody waiting: %d\n%s", status, page)
	}
	admin := e.staffBrowser(t, e.internal, "admin")
	admin.get("/staff/admin/sessions/1")
	status, _, page = admin.post("/staff/sessions/1/extra-slot", url.Values{"reason": {""}, "back": {"admin"}})
	if status < 400 || status >= 500 || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, `action="/staff/sessions/1/extra-slot"`) {
		t.Errorf("an extra slot without a reason: %d\n%s", status, page)
	}
}

// TestStaffEnrolKeepsItsPage: a wrong code at the first sign-in's
// enrolment shows the enrolment page again, in the page's language, the
// reason at the code field and the same key (the app has scanned it), which
// then confirms; an enrolment that has expired shows the page again with
// the reason at the field and a way back to the password, no key.
func TestStaffEnrolKeepsItsPage(t *testing.T) {
	e := newEnv(t)
	const pw = "lantern orbit pickle fjord"
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}, pw); err != nil {
		t.Fatal(err)
	}
	enrol, err := e.svc.ResetStaffMFA(ctx, app.System, staffIDOf(t, e.svc, "boss"))
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t, e.internal)
	b.get("/staff/login")
	_, _, page := b.post("/staff/login", url.Values{"username": {"boss"}, "password": {pw}, "enrol_code": {enrol.Code}})
	ch, secret := challengeField.FindStringSubmatch(page), secretText.FindStringSubmatch(page)
	if ch == nil || secret == nil {
		t.Fatalf("first sign-in:\n%s", page)
	}
	right := func() string { c, _ := staffauth.Code(secret[1], staffauth.Step(e.clock())); return c }
	wrong := []byte(right())
	wrong[5] = '0' + (wrong[5]-'0'+1)%10
	atField := func(page string) bool {
		return strings.Contains(page, `action="/staff/enrol"`) && strings.Contains(page, `aria-describedby="code-error"`) &&
			strings.Contains(page, `class="field-error" id="code-error"`)
	}
	for _, c := range []struct{ lang, says string }{
		{"vi", "Sai tên đăng nhập, mật khẩu hoặc mã"},
		{"zh-CN", "用户名、密码或验证码错误"},
	} {
		status, _, page := b.post("/staff/enrol?lang="+c.lang, url.Values{"challenge": {html.UnescapeString(ch[1])}, "code": {string(wrong)}})
		again := secretText.FindStringSubmatch(page)
		if status != http.StatusUnauthorized || !atField(page) || !strings.Contains(page, `<html lang="`+c.lang+`">`) ||
			!strings.Contains(page, c.says) || again == nil || again[1] != secret[1] || !strings.Contains(page, `<svg class="qr"`) {
			t.Fatalf("a wrong enrolment code (%s): %d\n%s", c.lang, status, page)
		}
	}
	status, _, page := b.post("/staff/enrol", url.Values{"challenge": {html.UnescapeString(ch[1])}, "code": {right()}})
	if codes := recoveryItem.FindAllStringSubmatch(page, -1); status != 200 || len(codes) != 10 {
		t.Fatalf("the right code after wrong ones: %d, %d recovery codes\n%s", status, len(codes), page)
	}

	// An enrolment whose sign-in has expired.
	enrol, err = e.svc.ResetStaffMFA(ctx, app.System, staffIDOf(t, e.svc, "boss"))
	if err != nil {
		t.Fatal(err)
	}
	late := e.browser(t, e.internal)
	late.get("/staff/login")
	_, _, page = late.post("/staff/login", url.Values{"username": {"boss"}, "password": {pw}, "enrol_code": {enrol.Code}})
	if ch, secret = challengeField.FindStringSubmatch(page), secretText.FindStringSubmatch(page); ch == nil || secret == nil {
		t.Fatalf("first sign-in after the reset:\n%s", page)
	}
	e.advance(time.Hour)
	status, _, page = late.post("/staff/enrol?lang=vi", url.Values{"challenge": {html.UnescapeString(ch[1])}, "code": {right()}})
	if status != http.StatusUnauthorized || !atField(page) || !strings.Contains(page, "Phiên đăng nhập này đã hết hạn") ||
		!strings.Contains(page, `href="/staff/login"`) || secretText.MatchString(page) || strings.Contains(page, `<svg class="qr"`) {
		t.Fatalf("an expired enrolment: %d\n%s", status, page)
	}
}
