package journey

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
)

// TestBrowserJourney drives the pages in headless Chromium, once per
// language: a patient on a phone-sized screen logs in, adds a patient,
// books and pays (solving the front door's challenge in the page), follows
// the cancel link with a plain GET (nothing changes); a kiosk checks the
// booking in from its code; the doctor calls it; the display board, open in
// another tab, shows the call. Every page is checked for untranslated
// strings, photographed and weighed; the screenshots and weights go to the
// test output folder (testout/, or $FAIRSLOT_TEST_OUT).
//
// Each language's journey has a server of its own and runs beside the
// others (one after another they took 480 s of a loaded 2-core machine,
// most of go test's ten minutes for a package).
func TestBrowserJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	all := &run{Run: e2e.NewRun(t, nil), board: &latencies{}}
	// After the languages' subtests, which run in parallel.
	t.Cleanup(func() { all.writeWeights(t, filepath.Join(e2e.TestOut(t), "page-weights.txt")) })
	for i, lang := range []string{"en", "vi", "zh-CN"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			s := e2e.StartServer(t, e2e.Binary(t), t.TempDir(), nil)
			b := &run{Run: all.For(s), board: all.board}
			b.journey(t, browser, lang, i)
		})
	}
}

func (b *run) journey(t *testing.T, browser context.Context, lang string, n int) {
	phone := fmt.Sprintf("1390000000%d", n+1)
	id := e2e.ResidentID(900 + n)
	phoneTab := e2e.Tab(t, browser, 390, 844, true)

	// Log in with a one-time code, in the chosen language.
	e2e.Do(t, phoneTab, "open the login page", chromedp.Navigate(b.S.URL+"/login"),
		e2e.Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #phone`))
	b.Page(t, phoneTab, lang, "portal-login", true)
	e2e.Do(t, phoneTab, "ask for a code", chromedp.SendKeys(chromedp.CSS("#phone"), phone),
		e2e.Click(`form[action="/login/code"] button`, "#code"))
	e2e.Do(t, phoneTab, "log in", chromedp.SendKeys(chromedp.CSS("#code"), b.LoginCode(t, phone)),
		e2e.Click(`form[action="/login"] button`, "body.page-consent"))
	// The first login asks for the privacy notice's consent, before any ID
	// number is given.
	b.Page(t, phoneTab, lang, "portal-consent", true)
	e2e.Do(t, phoneTab, "accept the privacy notice", e2e.Click(`#accept`, "body.page-me"))

	// Add a patient.
	e2e.Do(t, phoneTab, "add a patient", chromedp.SendKeys(chromedp.CSS("#name"), "王小"+[]string{"一", "二", "三"}[n]),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), id),
		e2e.Click(`form[action="/me/patients"] button`, "body.page-me"))
	if text := e2e.Value(t, phoneTab, "patients", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "王*") {
		t.Fatalf("the added patient is not listed, masked:\n%s", text)
	}
	b.Page(t, phoneTab, lang, "portal-me", true)

	// Browse: departments, the fever clinic, its first session open now.
	e2e.Do(t, phoneTab, "home", chromedp.Navigate(b.S.URL+"/"), chromedp.WaitVisible(chromedp.CSS("body.page-home")))
	b.Page(t, phoneTab, lang, "portal-home", true)
	e2e.Do(t, phoneTab, "department", e2e.Click(`a[href="/departments/1"]`, "body.page-department"))
	b.Page(t, phoneTab, lang, "portal-department", true)
	sessions := e2e.Value(t, phoneTab, "session links", chromedp.Evaluate[[]string](`[...document.querySelectorAll('a.row[href^="/sessions/"]')].map(a => a.getAttribute("href"))`))
	session := ""
	for _, href := range sessions {
		e2e.Do(t, phoneTab, "session", chromedp.Navigate(b.S.URL+href), chromedp.WaitVisible(chromedp.CSS("body.page-session")))
		if e2e.Value(t, phoneTab, "book form", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/book"]')`)) {
			session = strings.TrimPrefix(href, "/sessions/")
			break
		}
	}
	if session == "" {
		t.Fatalf("no session of the fever clinic can be booked now (%d looked at)", len(sessions))
	}
	b.Page(t, phoneTab, lang, "portal-session", true)

	// The front door asks a booking form for a solved challenge: sent bare
	// it is refused...
	if status := e2e.Value(t, phoneTab, "a booking without a challenge", chromedp.Evaluate[int](`(async () => {
		const form = document.querySelector('form[action$="/book"]');
		const r = await fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))});
		return r.status;
	})()`, chromedp.EvalAwaitPromise)); status != 428 {
		t.Fatalf("a booking form sent without solving the challenge: %d, want 428", status)
	}
	// ...so the page solves it before sending the form.
	e2e.Do(t, phoneTab, "book", e2e.Click(`form[action$="/book"] button`, "body.page-booking"))
	b.Page(t, phoneTab, lang, "portal-booking-held", true)
	e2e.Do(t, phoneTab, "pay", e2e.Click(`form[action$="/pay"] button`, "body.page-booking .code"))
	b.Page(t, phoneTab, lang, "portal-booking", true)
	bookingURL := e2e.Value(t, phoneTab, "booking URL", chromedp.Location())
	code := e2e.Value(t, phoneTab, "booking code", chromedp.Text(chromedp.CSS("dd.code")))
	paid := e2e.Value(t, phoneTab, "status", chromedp.Text(chromedp.CSS(".status")))
	if want := b.Cat[lang]["status.confirmed"]; paid != want {
		t.Fatalf("after paying the status reads %q, want %q", paid, want)
	}
	if !e2e.Value(t, phoneTab, "QR code", chromedp.Evaluate[bool](`!!document.querySelector("svg.qr path")`)) {
		t.Error("the booking page has no QR code")
	}
	// Closing the account is refused while the booking is active, listing it.
	e2e.Do(t, phoneTab, "close the account, refused", chromedp.Navigate(b.S.URL+"/account/close"), chromedp.WaitVisible(chromedp.CSS("body.page-closeaccount")))
	if blocked := e2e.Value(t, phoneTab, "what blocks closing", chromedp.Evaluate[bool](
		`!document.querySelector("#close-account") && !!document.querySelector('a[href$="/cancel"]')`)); !blocked {
		t.Fatal("the close-account page offers to close with a booking active, or does not list it")
	}
	b.Page(t, phoneTab, lang, "portal-close-blocked", true)

	// The cancel link is a confirmation page: a plain GET changes nothing.
	e2e.Do(t, phoneTab, "cancel link", chromedp.Navigate(bookingURL+"/cancel"), chromedp.WaitVisible(chromedp.CSS("body.page-cancel")))
	b.Page(t, phoneTab, lang, "portal-cancel-confirm", true)
	e2e.Do(t, phoneTab, "back to the booking", chromedp.Navigate(bookingURL), chromedp.WaitVisible(chromedp.CSS("body.page-booking")))
	if after := e2e.Value(t, phoneTab, "status", chromedp.Text(chromedp.CSS(".status"))); after != paid {
		t.Fatalf("after a GET of the cancel link the booking reads %q, was %q", after, paid)
	}

	// The display board, open before the call.
	boardTab := e2e.Tab(t, browser, 1920, 1080, false)
	e2e.Do(t, boardTab, "board", chromedp.Navigate(b.S.URL+"/board/1?lang="+lang), chromedp.WaitVisible(chromedp.CSS("body.page-board")))

	// The kiosk checks the booking in from its code.
	kiosk := e2e.Tab(t, browser, 1280, 800, false)
	b.StaffLogin(t, kiosk, lang, "desk")
	e2e.Do(t, kiosk, "kiosk", chromedp.Navigate(b.S.URL+"/kiosk"), chromedp.WaitVisible(chromedp.CSS("body.page-kiosk #code")))
	b.Page(t, kiosk, lang, "kiosk", false)
	e2e.Do(t, kiosk, "check in", chromedp.SendKeys(chromedp.CSS("#code"), strings.ToLower(code)),
		chromedp.SendKeys(chromedp.CSS("#id_last4"), id[len(id)-4:]),
		e2e.Click(`form[action="/kiosk/check-in"] button.primary`, "body.page-ticket .ticket"))
	ticket := e2e.Value(t, kiosk, "ticket", chromedp.Text(chromedp.CSS("p.ticket")))
	b.Page(t, kiosk, lang, "kiosk-ticket", false)

	// The patient's page shows their place in the queue.
	e2e.Do(t, phoneTab, "booking in the queue", chromedp.Navigate(bookingURL), chromedp.WaitVisible(chromedp.CSS("body.page-booking .turn")))
	b.Page(t, phoneTab, lang, "portal-booking-queued", true)

	// The doctor calls; the board shows it without a reload.
	doctor := e2e.Tab(t, browser, 1280, 800, false)
	b.StaffLogin(t, doctor, lang, "doctor")
	e2e.Do(t, doctor, "room", chromedp.Navigate(b.S.URL+"/staff/sessions/"+session), chromedp.WaitVisible(chromedp.CSS("body.page-room")))
	e2e.Do(t, boardTab, "mark the board page", chromedp.Evaluate[chromedp.Void]("window.__notReloaded = true"))
	e2e.Do(t, phoneTab, "mark the queued booking page", chromedp.Evaluate[chromedp.Void]("window.__notReloaded = true"))
	for i := 0; ; i++ {
		// Earlier journeys' patients may still wait in this session: call
		// and complete them until this one is called.
		if i == 10 {
			t.Fatalf("ticket %s was not called in 10 calls", ticket)
		}
		start := time.Now()
		e2e.Do(t, doctor, "call next", e2e.Click(`form[action$="/call-next"] button`, "body.page-room .called .ticket"))
		called := e2e.Value(t, doctor, "called", chromedp.Text(chromedp.CSS(".called .ticket")))
		if strings.HasPrefix(called, ticket) {
			e2e.Value(t, boardTab, "the board shows the call", chromedp.Poll[bool](
				fmt.Sprintf(`(document.querySelector("#calls td.ticket") || {}).textContent === %q && window.__notReloaded === true`, ticket),
				chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
			// The patient's page, open since check-in, says so without a
			// reload (server-sent events, no meta refresh).
			calledText, _, _ := strings.Cut(b.Cat[lang]["booking.called"], "%s")
			e2e.Value(t, phoneTab, "the patient's page shows the call", chromedp.Poll[bool](
				fmt.Sprintf(`(document.querySelector(".turn") || {textContent: ""}).textContent.startsWith(%q) && window.__notReloaded === true`, calledText),
				chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(time.Until(e2e.HangGuard(t)))))
			b.board.add(fmt.Sprintf("%s: %v", lang, time.Since(start).Round(time.Millisecond)))
			t.Logf("the board showed ticket %s %v after the doctor's click (page round trip included)", ticket, time.Since(start).Round(time.Millisecond))
			break
		}
		e2e.Do(t, doctor, "complete an earlier patient", e2e.Click(`form[action$="/complete"] button`, "body.page-room"))
	}
	b.Page(t, doctor, lang, "staff-room", false)
	b.Page(t, boardTab, lang, "board", false)
	e2e.Do(t, doctor, "complete", e2e.Click(`form[action$="/complete"] button`, "body.page-room"))

	// The patient's rights: remove a family member, then close the account
	// (the booking is completed: nothing blocks it any more).
	e2e.Do(t, phoneTab, "add a second patient", chromedp.Navigate(b.S.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me #rights")),
		chromedp.SendKeys(chromedp.CSS("#name"), "赵小"+[]string{"一", "二", "三"}[n]),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), e2e.ResidentID(950+n)),
		e2e.Click(`form[action="/me/patients"] button`, "body.page-me"))
	b.Page(t, phoneTab, lang, "portal-me-rights", true)
	removals := e2e.Value(t, phoneTab, "remove buttons", chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/remove"]').length`))
	if removals != 2 {
		t.Fatalf("%d remove buttons on /me, want 2 (one per family member)", removals)
	}
	e2e.Do(t, phoneTab, "remove the second patient", e2e.Click(`#rights li:last-child form[action$="/remove"] button`, "body.page-rightsdone"))
	if text := e2e.Value(t, phoneTab, "removal", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "赵*") {
		t.Fatalf("the removal page does not say who was removed:\n%s", text)
	}
	b.Page(t, phoneTab, lang, "portal-removed", true)
	e2e.Do(t, phoneTab, "close the account", chromedp.Navigate(b.S.URL+"/account/close"), chromedp.WaitVisible(chromedp.CSS("body.page-closeaccount #close-account")))
	b.Page(t, phoneTab, lang, "portal-close", true)
	e2e.Do(t, phoneTab, "confirm closing", e2e.Click(`#close-account`, "body.page-rightsdone"))
	b.Page(t, phoneTab, lang, "portal-closed", true)
	e2e.Do(t, phoneTab, "logged out", chromedp.Navigate(b.S.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-login")))

	// The rest of the staff console, for the screenshots and the
	// translation check: the desk's pages by the desk, which may use
	// their forms (a doctor is refused them).
	for _, p := range []struct {
		tab        context.Context
		path, name string
	}{{doctor, "/staff", "console"}, {kiosk, "/staff/desk", "desk"}, {kiosk, "/kiosk/walk-in", "walkin"}, {doctor, "/staff/admin", "admin"}} {
		e2e.Do(t, p.tab, p.name, chromedp.Navigate(b.S.URL+p.path), chromedp.WaitVisible(chromedp.CSS("body.page-"+p.name)))
		b.Page(t, p.tab, lang, "staff-"+p.name, false)
	}
}

// writeWeights writes the pages' weights and the board's latencies to path.
func (b *run) writeWeights(t *testing.T, path string) {
	weights := b.Weights()
	var names []string
	for n := range weights {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString("page\tbytes (HTML+CSS+JS, uncompressed, heaviest of the three languages)\n")
	for _, n := range names {
		fmt.Fprintf(&sb, "%s\t%d\n", n, weights[n])
	}
	fmt.Fprintf(&sb, "# board update after the doctor's click: %s\n", strings.Join(b.board.sorted(), ", "))
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("page weights (%s):\n%s", path, sb.String())
}
