package kiosk

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/fairslot/fairslot/internal/e2e"
)

// kioskPages are the body classes of the pages a kiosk may show.
var kioskPages = []string{"page-kiosk", "page-kioskproof", "page-kioskpay", "page-ticket", "page-walkin", "page-error"}

// TestBrowserKiosk drives a kiosk device in headless Chromium at the two
// screens kiosks have (1080×1920 portrait, 1280×800 landscape): a patient
// who booked on the phone pays the held booking at the kiosk, checks in and
// prints the ticket again (the ID card reader typing the whole ID number).
// Every link on every kiosk page — the error pages, the pay and ticket
// pages among them — leads to a kiosk page; staff and patient addresses
// typed in, and the back button, lead nowhere else; the staff's forms are
// refused to the kiosk's login. Each screen is photographed and checked
// with axe-core. A second server with a one-second idle timeout shows a
// page left alone going back to the start screen, emptied.
func TestBrowserKiosk(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	bin := e2e.Binary(t)
	s := e2e.StartServer(t, bin, t.TempDir(), nil)
	b := newRun(t, s)
	for i, size := range []struct {
		lang          string
		width, height int64
	}{{"zh-CN", 1080, 1920}, {"en", 1280, 800}} {
		t.Run(fmt.Sprintf("%dx%d", size.width, size.height), func(t *testing.T) {
			b.kiosk(t, browser, size.lang, size.width, size.height, i)
		})
	}
	t.Run("idle", func(t *testing.T) {
		s := e2e.StartServer(t, bin, t.TempDir(), []string{"--kiosk-idle", "1s"})
		k := e2e.Tab(t, browser, 1280, 800, false)
		(&run{b.For(s)}).kioskLogin(t, k, "en")
		e2e.Do(t, k, "start typing a code", chromedp.Navigate(s.URL+"/kiosk/pay"), chromedp.WaitVisible(chromedp.CSS("body.page-kioskproof #code")),
			chromedp.SendKeys(chromedp.CSS("#code"), "ABCD"))
		// Left alone, the page goes back to the start, the code gone.
		check := chromedp.Evaluate[bool](`location.pathname === "/kiosk" && document.readyState === "complete" && document.querySelector("#code").value === ""`)
		for {
			// A page being replaced answers with an error: not yet.
			if ok, err := chromedp.Run(k, check); err == nil && ok {
				break
			}
			if time.Now().After(e2e.HangGuard(t)) {
				t.Fatal("waited until the test's deadline for the idle page to go back to the start screen")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// kioskLogin logs a tab in as the demo's kiosk device, in lang: it lands on
// the kiosk's start screen.
func (b *run) kioskLogin(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	b.StaffLoginTo(t, ctx, lang, "kiosk", "body.page-kiosk #code")
}

func (b *run) kiosk(t *testing.T, browser context.Context, lang string, width, height int64, n int) {
	size := fmt.Sprintf("%dx%d", width, height)
	id := e2e.ResidentID(700 + n)
	_, _, code := e2e.HeldBooking(t, b.S, fmt.Sprintf("1370000%04d", n), id)
	k := e2e.Tab(t, browser, width, height, false)
	b.kioskLogin(t, k, lang)
	links := map[string]bool{}
	// screen photographs and checks the page open as the kiosk's screen
	// name and gathers its links, checking its forms post to the kiosk.
	screen := func(name string) {
		t.Helper()
		b.Page(t, k, lang, "kiosk-"+name+"-"+size, false)
		if !e2e.Value(t, k, "the page's class", chromedp.Evaluate[bool](`document.body.hasAttribute("data-idle")`)) {
			t.Errorf("%s: the kiosk's page has no idle timeout", name)
		}
		hrefs := e2e.Value(t, k, "links", chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href]")].map(a => a.href)`))
		for _, h := range hrefs {
			links[h] = true
		}
		for _, action := range e2e.Value(t, k, "forms", chromedp.Evaluate[[]string](`[...document.forms].map(f => f.action)`)) {
			if u, err := url.Parse(action); err != nil || (u.Path != "/lang" && !kioskURL(b.S.URL, action)) {
				t.Errorf("%s: a form posts to %s, outside the kiosk", name, action)
			}
		}
		for _, staff := range []string{`form[action="/staff/logout"]`, `a[href^="/staff"]`, `a[href="/me"]`, `a[href="/login"]`} {
			if e2e.Value(t, k, "staff controls", chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)`, staff))) {
				t.Errorf("%s: the kiosk's page shows %s", name, staff)
			}
		}
	}
	screen("start")
	// A wrong code: the error page.
	e2e.Do(t, k, "a wrong code", chromedp.SendKeys(chromedp.CSS("#code"), "ZZZZZZZZ"), chromedp.SendKeys(chromedp.CSS("#id_last4"), "0000"),
		e2e.Click(`form[action="/kiosk/check-in"] button.primary`, "body.page-error"))
	screen("error")
	// Pay the held booking: the amount with its currency, then the sandbox.
	e2e.Do(t, k, "the pay form", e2e.Click(`a[href="/kiosk"]`, "body.page-kiosk"), e2e.Click(`a[href="/kiosk/pay"]`, "body.page-kioskproof #code"))
	screen("pay-find")
	e2e.Do(t, k, "find the booking to pay", chromedp.SendKeys(chromedp.CSS("#code"), strings.ToLower(code)),
		chromedp.SendKeys(chromedp.CSS("#id_last4"), id[len(id)-4:]),
		e2e.Click(`form[action="/kiosk/pay"] button.primary`, "body.page-kioskpay .fee"))
	if fee := e2e.Value(t, k, "the amount", chromedp.Text(chromedp.CSS(".fee"))); !strings.Contains(fee, "¥") {
		t.Errorf("the pay page shows the amount %q, without its currency", fee)
	}
	screen("pay")
	e2e.Do(t, k, "pay", e2e.Click(`form[action="/kiosk/pay/confirm"] button`, "body.page-kioskpay .status"))
	screen("paid")
	e2e.Do(t, k, "check in", e2e.Click(`form[action="/kiosk/check-in"] button`, "body.page-ticket .ticket"))
	ticket := e2e.Value(t, k, "ticket", chromedp.Text(chromedp.CSS("p.ticket")))
	screen("ticket")
	// Reprint it: the code scanned (a scanner types it and Enter, which
	// moves on to the ID field), then the card reader types the whole ID
	// number and Enter.
	e2e.Do(t, k, "the reprint form", e2e.Click(`a[href="/kiosk"]`, "body.page-kiosk"), e2e.Click(`a[href="/kiosk/reprint"]`, "body.page-kioskproof #code"))
	screen("reprint")
	e2e.Do(t, k, "reprint with the card reader", chromedp.SendKeys(chromedp.CSS("#code"), code+kb.Enter),
		chromedp.WaitReady(chromedp.CSS("#id_last4:focus")), chromedp.SendKeys(chromedp.CSS("#id_last4"), id+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("body.page-ticket p.ticket")))
	if again := e2e.Value(t, k, "reprinted ticket", chromedp.Text(chromedp.CSS("p.ticket"))); again != ticket {
		t.Errorf("the reprinted ticket reads %q, the ticket %q", again, ticket)
	}
	screen("reprinted")
	e2e.Do(t, k, "walk-in", chromedp.Navigate(b.S.URL+"/kiosk/walk-in"), chromedp.WaitVisible(chromedp.CSS("body.page-walkin")))
	screen("walkin")

	// Every link of every kiosk page leads to a kiosk page.
	for _, l := range slices.Sorted(func(yield func(string) bool) {
		for l := range links {
			if !yield(l) {
				return
			}
		}
	}) {
		b.onKioskPage(t, k, "the link "+l, l)
	}
	// The staff's and the patients' addresses, typed in, lead to the start.
	for _, path := range []string{"/staff", "/staff/admin", "/staff/desk", "/staff/accounts", "/staff/reveal", "/staff/security",
		"/staff/kit/import", "/staff/login", "/staff/sessions/1", "/me", "/", "/login", "/departments/1", "/board", "/board/1", "/kiosk/nowhere"} {
		b.onKioskPage(t, k, "typing "+path, b.S.URL+path)
		if loc := e2e.Value(t, k, "location", chromedp.Location()); loc != b.S.URL+"/kiosk" {
			t.Errorf("typing %s leads to %s, want the start screen", path, loc)
		}
	}
	// The staff's forms, posted with the kiosk's login, are refused.
	for _, path := range []string{"/staff/sessions/1/call-next", "/staff/admin/doctors", "/staff/reveal", "/staff/logout", "/logout"} {
		status := e2e.Value(t, k, "post "+path, chromedp.Evaluate[int](fmt.Sprintf(`(async () => {
			const csrf = document.querySelector('input[name="csrf"]').value;
			const r = await fetch(%q, {method: "POST", body: new URLSearchParams({csrf, name: "x", department_id: "1", booking_id: "1", field: "id_number", reason: "identity_check"})});
			return r.status;
		})()`, path), chromedp.EvalAwaitPromise))
		if status != 403 {
			t.Errorf("POST %s with the kiosk's login: %d, want 403", path, status)
		}
	}
	b.onKioskPage(t, k, "the start after the refused logout", b.S.URL+"/kiosk")
	if !e2e.Value(t, k, "still logged in", chromedp.Evaluate[bool](`!!document.querySelector("body.page-kiosk #code")`)) {
		t.Error("the kiosk was logged out")
	}
	// The back button, all the way: kiosk pages, or the browser's own page
	// for a form it will not send again; never a staff or patient page.
	for range 60 {
		h := e2e.Value(t, k, "history", chromedp.NavigationEntries())
		if h.CurrentIndex <= 0 {
			break
		}
		chromedp.Run(k, chromedp.NavigateBack()) // a form's result the browser will not resend fails to load: judged below
		loc := e2e.Value(t, k, "location after back", chromedp.Location())
		if strings.HasPrefix(loc, "chrome-error://") || loc == "about:blank" {
			continue
		}
		b.onKioskPage(t, k, "back to "+loc, "")
	}
}

// kioskURL reports whether u is one of the kiosk's pages on base.
func kioskURL(base, u string) bool {
	rest, ok := strings.CutPrefix(u, base)
	p, err := url.Parse(rest)
	return ok && err == nil && p.Host == "" && (p.Path == "/kiosk" || strings.HasPrefix(p.Path, "/kiosk/"))
}

// onKioskPage opens to (or, if empty, stays) and checks the page shown is
// a kiosk page at a kiosk address.
func (b *run) onKioskPage(t *testing.T, k context.Context, what, to string) {
	t.Helper()
	if to != "" {
		e2e.Do(t, k, what, chromedp.Navigate(to))
	}
	loc := e2e.Value(t, k, "location", chromedp.Location())
	class := e2e.Value(t, k, "page class", chromedp.Evaluate[string](`document.body ? document.body.className : ""`))
	if !kioskURL(b.S.URL, loc) || !slices.Contains(kioskPages, class) {
		t.Errorf("%s: at %s, a %q page — not a kiosk page", what, loc, class)
	}
}
