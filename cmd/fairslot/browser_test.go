package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/vault"
)

// TestBrowserJourney drives the pages in headless Chromium, once per
// language: a patient on a phone-sized screen logs in, adds a patient,
// books and pays (solving the front door's challenge in the page), follows
// the cancel link with a plain GET (nothing changes); a kiosk checks the
// booking in from its code; the doctor calls it; the display board, open in
// another tab, shows the call. Every page is checked for untranslated
// strings, photographed and weighed; the screenshots and weights go to the
// test output folder (testout/, or $FAIRSLOT_TEST_OUT).
func TestBrowserJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := chromium(t)
	s := startServer(t, buildBinary(t), t.TempDir(), nil)
	b := newBrowserRun(t, s)
	for i, lang := range []string{"en", "vi", "zh-CN"} {
		t.Run(lang, func(t *testing.T) { b.journey(t, browser, lang, i) })
	}
	b.writeWeights(filepath.Join(testOut(t), "page-weights.txt"))
}

// testOut is the folder the browser tests write their screenshots (its
// screenshots/) and page weights to: testout/, or $FAIRSLOT_TEST_OUT.
func testOut(t *testing.T) string {
	out := os.Getenv("FAIRSLOT_TEST_OUT")
	if out == "" {
		out = filepath.Join("..", "..", "testout")
	}
	if err := os.MkdirAll(filepath.Join(out, "screenshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// newBrowserRun drives the pages of the server s for the test t.
func newBrowserRun(t *testing.T, s *server) *browserRun {
	return &browserRun{t: t, s: s, cat: readCatalogue(t), shots: filepath.Join(testOut(t), "screenshots"), weights: map[string]int{}}
}

type browserRun struct {
	t       *testing.T
	s       *server
	cat     map[string]map[string]string // language → key → text
	shots   string
	mu      sync.Mutex
	weights map[string]int // page → bytes of HTML+CSS+JS
	board   []string       // the board's latency per journey, reported
}

// hangGuard is when a wait in a browser test gives up: the test binary's
// deadline less a minute, so the test says what it was waiting for before
// go test kills it; half an hour from now without one.
func hangGuard(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-time.Minute)
	}
	return time.Now().Add(30 * time.Minute)
}

// tab opens a tab in a browser context of its own (its own cookies), with
// the viewport of the device it plays.
// chromium starts a headless Chromium for the test (Debian's, never one a
// tool downloads), or skips the test saying why — outside CI.
//
// Browser tests run side by side (t.Parallel, up to go test -parallel,
// GOMAXPROCS by default): they spend their time waiting on a server and
// a browser, and one after another they took most of this package's
// ten-minute go test deadline.
func chromium(t *testing.T) context.Context {
	t.Helper()
	t.Parallel()
	bin := os.Getenv("FAIRSLOT_CHROMIUM")
	if bin == "" {
		bin, _ = exec.LookPath("chromium")
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must install Chromium (apt-get install chromium) for the browser tests")
		}
		t.Skip("browser tests skipped: no chromium on PATH (apt-get install chromium, or set FAIRSLOT_CHROMIUM)")
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(bin), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancel)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// A bound on a hung browser, not a speed target: the test binary's own
	// deadline (go test -timeout) less a minute to report what hung, not a
	// fixed time a loaded machine can miss (335 s once, against 5 min).
	browser, cancel = context.WithDeadline(browser, hangGuard(t))
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// TestBoardReconnectsAfterRefusal: a board whose stream is refused (its
// pool full) says it is offline and, once there is room, streams again by
// itself — a browser's EventSource gives up for good after a refusal, so
// the page must open a new one.
func TestBoardReconnectsAfterRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := chromium(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "fairslot.json")
	// One stream at a time on the demo's only listener.
	if err := os.WriteFile(config, []byte(`{"front_door": {"public_streams": {"max": 1, "per_prefix": 16, "per_device": 2, "per_token": 4}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, buildBinary(t), dir, []string{"--config", config})
	holder, stop := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(holder, "GET", s.url+"/api/v1/display/departments/1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the stream that fills the pool: %v %v", resp, err)
	}
	defer resp.Body.Close()
	ctx := tab(t, browser, 1280, 800, false)
	do(t, ctx, "open the board", chromedp.Navigate(s.url+"/board/1?lang=en"))
	status := chromedp.Evaluate[string](`document.getElementById("status").textContent`)
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := hangGuard(t); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if st := value(t, ctx, "read the board's status", status); ok(st) {
				return
			}
		}
		t.Fatalf("the board never %s: its status is %q", what, value(t, ctx, "read the board's status", status))
	}
	waitFor("said it was offline while its stream was refused", func(st string) bool { return st != "" })
	stop() // the pool has room again
	waitFor("streamed again once there was room", func(st string) bool { return st == "" })
}

func tab(t *testing.T, browser context.Context, width, height int64, mobile bool) context.Context {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// click clicks what navigates to another page and waits for that page to
// be loaded and to hold want: a marker on the old page tells them apart.
func click(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Evaluate[chromedp.Void]("window.__leaving = true")(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		if _, err := chromedp.Click(chromedp.CSS(sel))(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		// Evaluated again and again from here: a page being replaced
		// answers with an error, which only means "not yet".
		// Until the browser's hang guard ends ctx: a loaded machine is
		// slow, not wrong.
		check := chromedp.Evaluate[bool](fmt.Sprintf(`!window.__leaving && document.readyState === "complete" && !!document.querySelector(%q)`, want))
		for ctx.Err() == nil {
			if ok, err := check(ctx, tg); err == nil && ok {
				return chromedp.Void{}, nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		return chromedp.Void{}, fmt.Errorf("after clicking %s, waited until the test's deadline for a page with %s: %w", sel, want, ctx.Err())
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browserRun) journey(t *testing.T, browser context.Context, lang string, n int) {
	phone := fmt.Sprintf("1390000000%d", n+1)
	id := residentIDForTest(900 + n)
	phoneTab := tab(t, browser, 390, 844, true)

	// Log in with a one-time code, in the chosen language.
	do(t, phoneTab, "open the login page", chromedp.Navigate(b.s.url+"/login"),
		click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #phone`))
	b.page(t, phoneTab, lang, "portal-login", true)
	do(t, phoneTab, "ask for a code", chromedp.SendKeys(chromedp.CSS("#phone"), phone),
		click(`form[action="/login/code"] button`, "#code"))
	do(t, phoneTab, "log in", chromedp.SendKeys(chromedp.CSS("#code"), b.loginCode(t, phone)),
		click(`form[action="/login"] button`, "body.page-consent"))
	// The first login asks for the privacy notice's consent, before any ID
	// number is given.
	b.page(t, phoneTab, lang, "portal-consent", true)
	do(t, phoneTab, "accept the privacy notice", click(`#accept`, "body.page-me"))

	// Add a patient.
	do(t, phoneTab, "add a patient", chromedp.SendKeys(chromedp.CSS("#name"), "王小"+[]string{"一", "二", "三"}[n]),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), id),
		click(`form[action="/me/patients"] button`, "body.page-me"))
	if text := value(t, phoneTab, "patients", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "王*") {
		t.Fatalf("the added patient is not listed, masked:\n%s", text)
	}
	b.page(t, phoneTab, lang, "portal-me", true)

	// Browse: departments, the fever clinic, its first session open now.
	do(t, phoneTab, "home", chromedp.Navigate(b.s.url+"/"), chromedp.WaitVisible(chromedp.CSS("body.page-home")))
	b.page(t, phoneTab, lang, "portal-home", true)
	do(t, phoneTab, "department", click(`a[href="/departments/1"]`, "body.page-department"))
	b.page(t, phoneTab, lang, "portal-department", true)
	sessions := value(t, phoneTab, "session links", chromedp.Evaluate[[]string](`[...document.querySelectorAll('a.row[href^="/sessions/"]')].map(a => a.getAttribute("href"))`))
	session := ""
	for _, href := range sessions {
		do(t, phoneTab, "session", chromedp.Navigate(b.s.url+href), chromedp.WaitVisible(chromedp.CSS("body.page-session")))
		if value(t, phoneTab, "book form", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/book"]')`)) {
			session = strings.TrimPrefix(href, "/sessions/")
			break
		}
	}
	if session == "" {
		t.Fatalf("no session of the fever clinic can be booked now (%d looked at)", len(sessions))
	}
	b.page(t, phoneTab, lang, "portal-session", true)

	// The front door asks a booking form for a solved challenge: sent bare
	// it is refused...
	if status := value(t, phoneTab, "a booking without a challenge", chromedp.Evaluate[int](`(async () => {
		const form = document.querySelector('form[action$="/book"]');
		const r = await fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))});
		return r.status;
	})()`, chromedp.EvalAwaitPromise)); status != 428 {
		t.Fatalf("a booking form sent without solving the challenge: %d, want 428", status)
	}
	// ...so the page solves it before sending the form.
	do(t, phoneTab, "book", click(`form[action$="/book"] button`, "body.page-booking"))
	b.page(t, phoneTab, lang, "portal-booking-held", true)
	do(t, phoneTab, "pay", click(`form[action$="/pay"] button`, "body.page-booking .code"))
	b.page(t, phoneTab, lang, "portal-booking", true)
	bookingURL := value(t, phoneTab, "booking URL", chromedp.Location())
	code := value(t, phoneTab, "booking code", chromedp.Text(chromedp.CSS("dd.code")))
	paid := value(t, phoneTab, "status", chromedp.Text(chromedp.CSS(".status")))
	if want := b.cat[lang]["status.confirmed"]; paid != want {
		t.Fatalf("after paying the status reads %q, want %q", paid, want)
	}
	if !value(t, phoneTab, "QR code", chromedp.Evaluate[bool](`!!document.querySelector("svg.qr path")`)) {
		t.Error("the booking page has no QR code")
	}
	// Closing the account is refused while the booking is active, listing it.
	do(t, phoneTab, "close the account, refused", chromedp.Navigate(b.s.url+"/account/close"), chromedp.WaitVisible(chromedp.CSS("body.page-closeaccount")))
	if blocked := value(t, phoneTab, "what blocks closing", chromedp.Evaluate[bool](
		`!document.querySelector("#close-account") && !!document.querySelector('a[href$="/cancel"]')`)); !blocked {
		t.Fatal("the close-account page offers to close with a booking active, or does not list it")
	}
	b.page(t, phoneTab, lang, "portal-close-blocked", true)

	// The cancel link is a confirmation page: a plain GET changes nothing.
	do(t, phoneTab, "cancel link", chromedp.Navigate(bookingURL+"/cancel"), chromedp.WaitVisible(chromedp.CSS("body.page-cancel")))
	b.page(t, phoneTab, lang, "portal-cancel-confirm", true)
	do(t, phoneTab, "back to the booking", chromedp.Navigate(bookingURL), chromedp.WaitVisible(chromedp.CSS("body.page-booking")))
	if after := value(t, phoneTab, "status", chromedp.Text(chromedp.CSS(".status"))); after != paid {
		t.Fatalf("after a GET of the cancel link the booking reads %q, was %q", after, paid)
	}

	// The display board, open before the call.
	boardTab := tab(t, browser, 1920, 1080, false)
	do(t, boardTab, "board", chromedp.Navigate(b.s.url+"/board/1?lang="+lang), chromedp.WaitVisible(chromedp.CSS("body.page-board")))

	// The kiosk checks the booking in from its code.
	kiosk := tab(t, browser, 1280, 800, false)
	b.staffLogin(t, kiosk, lang, "desk")
	do(t, kiosk, "kiosk", chromedp.Navigate(b.s.url+"/kiosk"), chromedp.WaitVisible(chromedp.CSS("body.page-kiosk #code")))
	b.page(t, kiosk, lang, "kiosk", false)
	do(t, kiosk, "check in", chromedp.SendKeys(chromedp.CSS("#code"), strings.ToLower(code)),
		chromedp.SendKeys(chromedp.CSS("#id_last4"), id[len(id)-4:]),
		click(`form[action="/kiosk/check-in"] button.primary`, "body.page-ticket .ticket"))
	ticket := value(t, kiosk, "ticket", chromedp.Text(chromedp.CSS("p.ticket")))
	b.page(t, kiosk, lang, "kiosk-ticket", false)

	// The patient's page shows their place in the queue.
	do(t, phoneTab, "booking in the queue", chromedp.Navigate(bookingURL), chromedp.WaitVisible(chromedp.CSS("body.page-booking .turn")))
	b.page(t, phoneTab, lang, "portal-booking-queued", true)

	// The doctor calls; the board shows it without a reload.
	doctor := tab(t, browser, 1280, 800, false)
	b.staffLogin(t, doctor, lang, "doctor")
	do(t, doctor, "room", chromedp.Navigate(b.s.url+"/staff/sessions/"+session), chromedp.WaitVisible(chromedp.CSS("body.page-room")))
	do(t, boardTab, "mark the board page", chromedp.Evaluate[chromedp.Void]("window.__notReloaded = true"))
	do(t, phoneTab, "mark the queued booking page", chromedp.Evaluate[chromedp.Void]("window.__notReloaded = true"))
	for i := 0; ; i++ {
		// Earlier journeys' patients may still wait in this session: call
		// and complete them until this one is called.
		if i == 10 {
			t.Fatalf("ticket %s was not called in 10 calls", ticket)
		}
		start := time.Now()
		do(t, doctor, "call next", click(`form[action$="/call-next"] button`, "body.page-room .called .ticket"))
		called := value(t, doctor, "called", chromedp.Text(chromedp.CSS(".called .ticket")))
		if strings.HasPrefix(called, ticket) {
			value(t, boardTab, "the board shows the call", chromedp.Poll[bool](
				fmt.Sprintf(`(document.querySelector("#calls td.ticket") || {}).textContent === %q && window.__notReloaded === true`, ticket),
				chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
			// The patient's page, open since check-in, says so without a
			// reload (server-sent events, no meta refresh).
			calledText, _, _ := strings.Cut(b.cat[lang]["booking.called"], "%s")
			value(t, phoneTab, "the patient's page shows the call", chromedp.Poll[bool](
				fmt.Sprintf(`(document.querySelector(".turn") || {textContent: ""}).textContent.startsWith(%q) && window.__notReloaded === true`, calledText),
				chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(time.Until(hangGuard(t)))))
			b.board = append(b.board, fmt.Sprintf("%s: %v", lang, time.Since(start).Round(time.Millisecond)))
			t.Logf("the board showed ticket %s %v after the doctor's click (page round trip included)", ticket, time.Since(start).Round(time.Millisecond))
			break
		}
		do(t, doctor, "complete an earlier patient", click(`form[action$="/complete"] button`, "body.page-room"))
	}
	b.page(t, doctor, lang, "staff-room", false)
	b.page(t, boardTab, lang, "board", false)
	do(t, doctor, "complete", click(`form[action$="/complete"] button`, "body.page-room"))

	// The patient's rights: remove a family member, then close the account
	// (the booking is completed: nothing blocks it any more).
	do(t, phoneTab, "add a second patient", chromedp.Navigate(b.s.url+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me #rights")),
		chromedp.SendKeys(chromedp.CSS("#name"), "赵小"+[]string{"一", "二", "三"}[n]),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), residentIDForTest(950+n)),
		click(`form[action="/me/patients"] button`, "body.page-me"))
	b.page(t, phoneTab, lang, "portal-me-rights", true)
	removals := value(t, phoneTab, "remove buttons", chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/remove"]').length`))
	if removals != 2 {
		t.Fatalf("%d remove buttons on /me, want 2 (one per family member)", removals)
	}
	do(t, phoneTab, "remove the second patient", click(`#rights li:last-child form[action$="/remove"] button`, "body.page-rightsdone"))
	if text := value(t, phoneTab, "removal", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "赵*") {
		t.Fatalf("the removal page does not say who was removed:\n%s", text)
	}
	b.page(t, phoneTab, lang, "portal-removed", true)
	do(t, phoneTab, "close the account", chromedp.Navigate(b.s.url+"/account/close"), chromedp.WaitVisible(chromedp.CSS("body.page-closeaccount #close-account")))
	b.page(t, phoneTab, lang, "portal-close", true)
	do(t, phoneTab, "confirm closing", click(`#close-account`, "body.page-rightsdone"))
	b.page(t, phoneTab, lang, "portal-closed", true)
	do(t, phoneTab, "logged out", chromedp.Navigate(b.s.url+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-login")))

	// The rest of the staff console, for the screenshots and the
	// translation check.
	for _, p := range []struct{ path, name string }{{"/staff", "console"}, {"/staff/desk", "desk"}, {"/kiosk/walk-in", "walkin"}, {"/staff/admin", "admin"}} {
		do(t, doctor, p.name, chromedp.Navigate(b.s.url+p.path), chromedp.WaitVisible(chromedp.CSS("body.page-"+p.name)))
		b.page(t, doctor, lang, "staff-"+p.name, false)
	}
}

// pastConsent accepts the privacy notice when a first login landed on it,
// and waits for /me.
func pastConsent(t *testing.T, ctx context.Context) {
	t.Helper()
	if value(t, ctx, "the page after logging in", chromedp.Evaluate[bool](`!!document.querySelector("body.page-consent")`)) {
		do(t, ctx, "accept the privacy notice", click(`#accept`, "body.page-me"))
	}
}

// staffLogin logs a staff tab in, in the journey's language.
func (b *browserRun) staffLogin(t *testing.T, ctx context.Context, lang, user string) {
	do(t, ctx, "staff login", chromedp.Navigate(b.s.url+"/staff/login"),
		click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #username`),
		chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), "fairslot-demo"),
		click(`form[action="/staff/login"] button`, "body.page-console"))
}

// loginCode reads the demo server's log for the code sent to phone.
func (b *browserRun) loginCode(t *testing.T, phone string) string {
	masked := vault.MaskPhone(phone)
	re := regexp.MustCompile(`to=` + regexp.QuoteMeta(masked) + ` text="` + loginCodeText)
	for deadline := hangGuard(t); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindAllStringSubmatch(b.s.log(), -1); m != nil {
			return m[len(m)-1][1]
		}
	}
	t.Fatalf("waited until the test's deadline for the login code sent to %s in the server's log", masked)
	return ""
}

// page checks the open page for untranslated strings and with axe-core,
// saves its screenshot and weighs it (the HTML as the browser holds it, and the scripts and
// styles it loads).
func (b *browserRun) page(t *testing.T, ctx context.Context, lang, name string, patient bool) {
	t.Helper()
	text := value(t, ctx, "page text", chromedp.Evaluate[string](
		`document.title + "\n" + document.body.innerText + "\n" + [...document.querySelectorAll("[aria-label],[data-wait],[data-offline]")].map(e => e.getAttribute("aria-label") || e.getAttribute("data-wait") || e.getAttribute("data-offline")).join("\n")`))
	for key, en := range b.cat["en"] {
		if strings.Contains(text, key) {
			t.Errorf("%s (%s): the catalogue key %q shows untranslated", name, lang, key)
		}
		if lang != "en" && len(en) >= 8 && !strings.Contains(en, "%") && !strings.Contains(b.cat[lang][key], en) && strings.Contains(text, en) {
			t.Errorf("%s (%s): English text %q shows untranslated", name, lang, en)
		}
	}
	if got := value(t, ctx, "lang", chromedp.Evaluate[string]("document.documentElement.lang")); got != lang {
		t.Errorf("%s: <html lang=%q>, want %q", name, got, lang)
	}
	png := value(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, lang+"-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	weight := value(t, ctx, "weight", chromedp.Evaluate[int](`(async () => {
		const enc = new TextEncoder();
		let n = enc.encode("<!doctype html>\n" + document.documentElement.outerHTML).length;
		for (const el of document.querySelectorAll("script[src], link[rel=stylesheet]")) {
			const r = await fetch(el.src || el.href);
			n += (await r.arrayBuffer()).byteLength;
		}
		return n;
	})()`, chromedp.EvalAwaitPromise))
	if patient && weight >= 100*1024 {
		t.Errorf("%s (%s) weighs %d bytes of HTML, CSS and JS; every patient page must stay under 100 KB", name, lang, weight)
	}
	b.mu.Lock()
	b.weights[name] = max(b.weights[name], weight)
	b.mu.Unlock()
	axeCheck(t, ctx, lang+" "+name)
}

func (b *browserRun) writeWeights(path string) {
	var names []string
	for n := range b.weights {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString("page\tbytes (HTML+CSS+JS, uncompressed, heaviest of the three languages)\n")
	for _, n := range names {
		fmt.Fprintf(&sb, "%s\t%d\n", n, b.weights[n])
	}
	fmt.Fprintf(&sb, "# board update after the doctor's click: %s\n", strings.Join(b.board, ", "))
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.t.Error(err)
	}
	b.t.Logf("page weights (%s):\n%s", path, sb.String())
}

// readCatalogue reads the pages' translation catalogue.
func readCatalogue(t *testing.T) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, lang := range []string{"en", "vi", "zh-CN"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "web", "i18n", lang+".json"))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		out[lang] = m
	}
	return out
}

// residentIDForTest is a made-up resident ID number with a valid check digit.
func residentIDForTest(n int) string {
	first := fmt.Sprintf("11010519800101%03d", n%1000)
	return first + string(fairslot.ResidentCheckDigit(first))
}
