package admin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
	"github.com/fairslot/fairslot/internal/staffauth"
)

// staffPages checks, in lang, the staff pages around the admin's (issue 14:
// axe-core on every staff page; issue 12's accounts and security pages):
// the sign-in page and a refused sign-in, the accounts page with a refused
// and an accepted new account (its enrolment code), the new account's
// enrolment (QR code, a wrong code refused, the recovery codes) and its
// second-factor page, the step-up page and a refused code, the security
// page, the downtime kit's import form and print view, the boards' list,
// and the desk's look-up (found; an ID number without a reason, refused) and the reveal form and its
// answer for a held booking. admin is the admin's logged-in tab; n tells
// the languages' accounts and patients apart.
func (b *run) staffPages(t *testing.T, browser, admin context.Context, lang string, n int) {
	t.Helper()
	s := b.S
	page := func(ctx context.Context, name string) { t.Helper(); b.adminPage(t, ctx, lang, "staff-"+name) }
	refused := `[aria-invalid="true"], .form-error`
	// submit clicks sel and waits for a page with want; an error page
	// instead fails the test with its text, at once.
	submit := func(ctx context.Context, what, sel, want string, before ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		e2e.Do(t, ctx, what, append(before, e2e.Click(sel, want+", body.page-error"))...)
		if e2e.Value(t, ctx, "an error page", chromedp.Evaluate[bool](`!!document.querySelector("body.page-error")`)) {
			t.Fatalf("%s: an error page instead of %s:\n%s", what, want, e2e.Value(t, ctx, "its text", chromedp.Text(chromedp.CSS("main"))))
		}
	}

	// Signing in: the form, and an unknown account refused beside it.
	anon := e2e.Tab(t, browser, 1280, 900, false)
	e2e.Do(t, anon, "the sign-in page", chromedp.Navigate(s.URL+"/staff/login"),
		e2e.Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #username`))
	page(anon, "login")
	submit(anon, "an unknown account", `form[action="/staff/login"] button`, "body.page-stafflogin "+refused, chromedp.SendKeys(chromedp.CSS("#username"), "nobody-"+lang), chromedp.SendKeys(chromedp.CSS("#password"), "not-a-password"))
	page(anon, "login-refused")

	// The read-only and form pages an admin opens from the console.
	for _, p := range []struct{ path, name string }{
		{"/staff/accounts", "staffaccounts"}, {"/staff/security", "security"}, {"/staff/kit/import", "kitimport"},
		{"/board", "boards"}, {"/staff/step-up?next=/staff/accounts", "stepup"}, // the step-up form stays open for its refusal
	} {
		e2e.Do(t, admin, p.name, chromedp.Navigate(s.URL+p.path), chromedp.WaitVisible(chromedp.CSS("body.page-"+p.name)))
		page(admin, p.name)
	}
	submit(admin, "a wrong step-up code", `form[action="/staff/step-up"] button`, "body.page-stepup "+refused, chromedp.SendKeys(chromedp.CSS("#code"), "000000"))
	page(admin, "stepup-refused")
	// The kit's print view is a page of its own (its own style, no script).
	e2e.Do(t, admin, "the kit's print view", chromedp.Navigate(s.URL+"/staff/kit/1"), chromedp.WaitReady(chromedp.CSS("body")))
	b.Page(t, admin, lang, "staff-kit-print", false)

	// A new account: refused (the browser's own checks off, the server's
	// shown), then added, its enrolment code shown once.
	user := "axe-" + strings.ToLower(lang)
	submit(admin, "the accounts page", `form[action="/staff/accounts"] button`, "body.page-staffaccounts "+refused, chromedp.Navigate(s.URL+"/staff/accounts"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/staff/accounts"]').noValidate = true`),
		chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#name"), "Axe "+lang),
		chromedp.SetValue(chromedp.CSS("#role"), "nurse"), chromedp.SendKeys(chromedp.CSS("#password"), "short"))
	page(admin, "staffaccounts-refused")
	const password = "fairslot-browser-1"
	submit(admin, "add the account", `form[action="/staff/accounts"] button`, "body.page-staffenrolcode .enrol-code", chromedp.SetValue(chromedp.CSS("#username"), user), chromedp.SetValue(chromedp.CSS("#name"), "Axe "+lang),
		chromedp.SetValue(chromedp.CSS("#role"), "nurse"), chromedp.SetValue(chromedp.CSS("#password"), password))
	enrol := e2e.Value(t, admin, "the enrolment code", chromedp.Text(chromedp.CSS(".enrol-code")))
	page(admin, "staffenrolcode")

	// Its first sign-in: the enrolment with its QR code, a wrong code
	// refused, the recovery codes; then the second factor asked next time.
	nurse := e2e.Tab(t, browser, 1280, 900, false)
	signIn := func(enrolCode, want string) {
		t.Helper()
		submit(nurse, "sign in as "+user, `form[action="/staff/login"] button`, want, chromedp.Navigate(s.URL+"/staff/login"),
			e2e.Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #username`),
			chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
			chromedp.SendKeys(chromedp.CSS("#enrol_code"), enrolCode))
	}
	signIn(enrol, "body.page-stafffactor form[action='/staff/enrol'] #code")
	page(nurse, "enrol")
	secret := e2e.Value(t, nurse, "the secret", chromedp.Text(chromedp.CSS("section.card code")))
	submit(nurse, "a wrong enrolment code", `form[action="/staff/enrol"] button`, "body.page-stafffactor "+refused, chromedp.SendKeys(chromedp.CSS("#code"), "000000"))
	page(nurse, "enrol-refused")
	submit(nurse, "the right code", `form[action="/staff/enrol"] button`, "body.page-staffcodes ol.codes", chromedp.SetValue(chromedp.CSS("#code"), totp(t, secret, time.Now())))
	page(nurse, "recovery-codes")
	signIn("", "body.page-stafffactor form[action='/staff/login/factor'] #code")
	page(nurse, "factor")
	submit(nurse, "a wrong code", `form[action="/staff/login/factor"] button`, "body.page-stafffactor "+refused, chromedp.SendKeys(chromedp.CSS("#code"), "000000"))
	page(nurse, "factor-refused")

	// The desk's look-up of a held booking, an unknown code refused, and
	// the reveal form with its answer.
	id := e2e.ResidentID(930 + n)
	_, booking, code := e2e.HeldBooking(t, s, fmt.Sprintf("1370009300%d", n), id)
	submit(admin, "look a code up", `form[action="/staff/desk"] button.primary`, "body.page-desk details.reveal", chromedp.Navigate(s.URL+"/staff/desk"), chromedp.WaitVisible(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), code))
	page(admin, "desk-found")
	submit(admin, "an ID number without a reason", `form[action="/staff/desk"] button.primary`, "body.page-desk "+refused, chromedp.Evaluate[chromedp.Void](`document.querySelector("#code").value = ""`),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), id))
	page(admin, "desk-refused")
	e2e.Do(t, admin, "the reveal form", chromedp.Navigate(fmt.Sprintf("%s/staff/reveal?booking_id=%d&back=/staff/desk", s.URL, booking)),
		chromedp.WaitVisible(chromedp.CSS("body.page-reveal #reason")))
	page(admin, "reveal")
	submit(admin, "reveal the ID number", `form[action="/staff/reveal"] button`, "body.page-reveal .revealed-value", chromedp.Evaluate[chromedp.Void](`document.querySelector("#field").selectedIndex = 0`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#reason").selectedIndex = 1`))
	if got := e2e.Value(t, admin, "the revealed value", chromedp.Text(chromedp.CSS(".revealed-value"))); got != id {
		t.Errorf("the reveal shows %q, want the ID number %s", got, id)
	}
	page(admin, "revealed")
}

// totp is the code the new account's authenticator app would show at
// time at, for the secret its enrolment page shows (in groups).
func totp(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := staffauth.Code(strings.ReplaceAll(secret, " ", ""), staffauth.Step(at))
	if err != nil {
		t.Fatalf("the enrolment's secret %q: %v", secret, err)
	}
	return code
}
