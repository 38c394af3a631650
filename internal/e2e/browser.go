package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Chromium starts a headless Chromium for the test (Debian's, never one a
// tool downloads), or skips the test saying why — outside CI.
//
// Browser tests run side by side (t.Parallel, up to go test -parallel,
// GOMAXPROCS by default): they spend their time waiting on a server and
// a browser, and one after another they took most of a package's
// ten-minute go test deadline.
func Chromium(t *testing.T) context.Context {
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
	browser, cancel = context.WithDeadline(browser, HangGuard(t))
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// Tab opens a tab in a browser context of its own (its own cookies), with
// the viewport of the device it plays.
func Tab(t *testing.T, browser context.Context, width, height int64, mobile bool) context.Context {
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

// Click clicks what navigates to another page and waits for that page to
// be loaded and to hold want: a marker on the old page tells them apart.
func Click(sel, want string) chromedp.Action[chromedp.Void] {
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

// Do runs the steps in the tab ctx, failing the test with what it was
// doing and the page's text when one fails.
func Do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// Value runs a in the tab ctx and returns its result, failing the test
// with what it was reading when it fails.
func Value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// InitScript runs script in every document the tab opens, before the page's own.
func InitScript(t *testing.T, ctx context.Context, script string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
		t.Fatal(err)
	}
}

// WaitPage reloads url until it shows sel (a release opening, a place
// filling), until the test's hang guard.
func WaitPage(t *testing.T, ctx context.Context, url, sel, what string) {
	t.Helper()
	for deadline := HangGuard(t); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		Do(t, ctx, what, chromedp.Navigate(url))
		if Value(t, ctx, what, chromedp.Evaluate[bool](`!!document.querySelector(`+strconv.Quote(sel)+`)`)) {
			return
		}
	}
	t.Fatalf("waited until the test's deadline for %s", what)
}

// PastConsent accepts the privacy notice when a first login landed on it,
// and waits for /me.
func PastConsent(t *testing.T, ctx context.Context) {
	t.Helper()
	if Value(t, ctx, "the page after logging in", chromedp.Evaluate[bool](`!!document.querySelector("body.page-consent")`)) {
		Do(t, ctx, "accept the privacy notice", Click(`#accept`, "body.page-me"))
	}
}

// TestOut is the folder the browser tests write their screenshots (its
// screenshots/) and page weights to: testout/ at the repository's root,
// or $FAIRSLOT_TEST_OUT.
func TestOut(t *testing.T) string {
	out := os.Getenv("FAIRSLOT_TEST_OUT")
	if out == "" {
		out = RootPath(t, "testout")
	}
	if err := os.MkdirAll(filepath.Join(out, "screenshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// ReadCatalogue reads the pages' translation catalogue: language → key → text.
func ReadCatalogue(t *testing.T) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, lang := range []string{"en", "vi", "zh-CN"} {
		raw, err := os.ReadFile(RootPath(t, "internal", "web", "i18n", lang+".json"))
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

// Run drives the pages of a server for a test: it logs tabs in and checks
// the pages they open.
type Run struct {
	S       *Server
	Cat     map[string]map[string]string // language → key → text
	Shots   string                       // the folder of the screenshots
	weights *weights
}

// weights are the pages' weights Page found, by name: the heaviest.
type weights struct {
	mu sync.Mutex
	m  map[string]int // page → bytes of HTML+CSS+JS
}

// NewRun drives the pages of the server s for the test t.
func NewRun(t *testing.T, s *Server) *Run {
	return &Run{S: s, Cat: ReadCatalogue(t), Shots: filepath.Join(TestOut(t), "screenshots"), weights: &weights{m: map[string]int{}}}
}

// For drives the pages of another server s, adding to b's weights: one
// test's runs on several servers side by side.
func (b *Run) For(s *Server) *Run {
	return &Run{S: s, Cat: b.Cat, Shots: b.Shots, weights: b.weights}
}

// Weights returns the heaviest weight Page found of each page, by name.
func (b *Run) Weights() map[string]int {
	b.weights.mu.Lock()
	defer b.weights.mu.Unlock()
	return maps.Clone(b.weights.m)
}

// LoginCode waits for the code sent to phone in the server's log.
func (b *Run) LoginCode(t *testing.T, phone string) string {
	t.Helper()
	return b.S.LoginCode(t, phone)
}

// StaffLogin logs a staff tab in, in lang.
func (b *Run) StaffLogin(t *testing.T, ctx context.Context, lang, user string) {
	t.Helper()
	b.StaffLoginTo(t, ctx, lang, user, "body.page-console")
}

// StaffLoginTo logs a tab in as the demo's user, in lang, and waits for the
// page it lands on to hold want. The server checks one sign-in per
// username at a time and refuses another meanwhile ("being checked, try
// again in a moment"): tabs of parallel tests signing in as the same demo
// user try again, as a person would, until the test's hang guard.
func (b *Run) StaffLoginTo(t *testing.T, ctx context.Context, lang, user, want string) {
	t.Helper()
	for {
		Do(t, ctx, "staff login", chromedp.Navigate(b.S.URL+"/staff/login"),
			Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #username`),
			chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), "fairslot-demo"),
			Click(`form[action="/staff/login"] button`, want+", body.page-stafflogin .field-error, body.page-stafflogin .form-error"))
		refusal := Value(t, ctx, "the sign-in's refusal", chromedp.Evaluate[string](
			`document.querySelector("body.page-stafflogin") ? [...document.querySelectorAll(".field-error, .form-error")].map(e => e.textContent).join(" ") : ""`))
		if refusal == "" {
			return
		}
		if busy := b.Cat[lang]["error.staff.checking"]; busy == "" || !strings.Contains(refusal, busy) || time.Now().After(HangGuard(t)) {
			t.Fatalf("staff login as %s refused: %s", user, refusal)
		}
		time.Sleep(100 * time.Millisecond) // the other sign-in's check takes milliseconds
	}
}

// PatientPhone opens a phone-sized tab, logs phone in from the login page
// in lang, accepts the privacy notice and adds the patient name with the
// resident ID number id; it returns the tab, on /me.
func (b *Run) PatientPhone(t *testing.T, browser context.Context, lang, phone, name, id string) context.Context {
	t.Helper()
	ctx := Tab(t, browser, 390, 844, true)
	Do(t, ctx, lang+": open the login page", chromedp.Navigate(b.S.URL+"/login"),
		Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #phone`))
	Do(t, ctx, lang+": ask for a code", chromedp.SendKeys(chromedp.CSS("#phone"), phone), Click(`form[action="/login/code"] button`, "#code"))
	Do(t, ctx, lang+": log in", chromedp.SendKeys(chromedp.CSS("#code"), b.LoginCode(t, phone)), Click(`form[action="/login"] button`, "body.page-me, body.page-consent"))
	PastConsent(t, ctx)
	Do(t, ctx, lang+": add a patient", chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), id),
		Click(`form[action="/me/patients"] button`, "body.page-me"))
	return ctx
}

// Page checks the open page for untranslated strings and with axe-core,
// saves its screenshot and weighs it (the HTML as the browser holds it,
// and the scripts and styles it loads); a patient page must weigh under
// 100 KB.
func (b *Run) Page(t *testing.T, ctx context.Context, lang, name string, patient bool) {
	t.Helper()
	text := Value(t, ctx, "page text", chromedp.Evaluate[string](
		`document.title + "\n" + document.body.innerText + "\n" + [...document.querySelectorAll("[aria-label],[data-wait],[data-offline]")].map(e => e.getAttribute("aria-label") || e.getAttribute("data-wait") || e.getAttribute("data-offline")).join("\n")`))
	// Data marked translate="no" (a staff member's name, a username) is
	// not the page's text: "Security officer" may be someone's name.
	for _, data := range Value(t, ctx, "untranslatable data", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[translate="no"]')].map(e => e.innerText)`)) {
		if data != "" {
			text = strings.ReplaceAll(text, data, "")
		}
	}
	for key, en := range b.Cat["en"] {
		if strings.Contains(text, key) {
			t.Errorf("%s (%s): the catalogue key %q shows untranslated", name, lang, key)
		}
		if lang != "en" && len(en) >= 8 && !strings.Contains(en, "%") && !strings.Contains(b.Cat[lang][key], en) && strings.Contains(text, en) {
			t.Errorf("%s (%s): English text %q shows untranslated", name, lang, en)
		}
	}
	if got := Value(t, ctx, "lang", chromedp.Evaluate[string]("document.documentElement.lang")); got != lang {
		t.Errorf("%s: <html lang=%q>, want %q", name, got, lang)
	}
	png := Value(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.Shots, lang+"-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	weight := Value(t, ctx, "weight", chromedp.Evaluate[int](`(async () => {
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
	b.weights.mu.Lock()
	b.weights.m[name] = max(b.weights.m[name], weight)
	b.weights.mu.Unlock()
	AxeCheck(t, ctx, lang+" "+name)
}
