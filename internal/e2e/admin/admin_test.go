package admin

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
)

// TestBrowserAdmin drives the admin pages (issue 14 items 5 and 6) in
// headless Chromium at a 1280 px desktop and a 768 px tablet, once per
// language: each page is photographed (testout/screenshots/LANG-admin-
// WIDTH-PAGE.png), checked with axe-core and for untranslated text, and
// must not overflow the window or any card — a wide list scrolls inside
// its own box. The admin adds a doctor (confirmed on the page it lands on)
// and sends a draw without an entry window (refused beside the field, input
// kept); the desk, which may not change anything, sees the same pages
// without their forms. The staff pages around the admin's — sign-in and
// enrolment, accounts, security, step-up, kit, boards, desk and reveal —
// are checked the same way (staffPages).
func TestBrowserAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	s := e2e.StartServer(t, e2e.Binary(t), t.TempDir(), nil)
	b := newRun(t, s)
	pages := []struct{ path, name string }{
		{"/staff/admin", "admin"},
		{"/staff/admin/doctors", "admindoctors"},
		{"/staff/admin/doctors/4", "admindoctor"},
		{"/staff/admin/sessions?department=2", "adminsessions"},
		{"/staff/admin/sessions/1", "adminsession"},
		{"/staff/admin/rules", "adminrules"},
	}
	for i, lang := range []string{"en", "vi", "zh-CN"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel() // its own tabs and doctor: 290 s one language after another
			for _, width := range []int64{1280, 768} {
				ctx := e2e.Tab(t, browser, width, 1000, false)
				b.StaffLogin(t, ctx, lang, "admin")
				for _, p := range pages {
					e2e.Do(t, ctx, p.name, chromedp.Navigate(s.URL+p.path), chromedp.WaitVisible(chromedp.CSS("body.page-"+p.name)))
					b.adminPage(t, ctx, lang, fmt.Sprintf("admin-%d-%s", width, p.name))
				}
			}
			ctx := e2e.Tab(t, browser, 768, 1000, false)
			b.StaffLogin(t, ctx, lang, "admin")
			// Add a doctor: the page it lands on says so.
			name := fmt.Sprintf("Dr Browser %d", i)
			e2e.Do(t, ctx, "the doctors page", chromedp.Navigate(s.URL+"/staff/admin/doctors"), chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), name),
				e2e.Click(`form[action="/staff/admin/doctors"] button.primary`, "body.page-admindoctor p.done"))
			if got := e2e.Value(t, ctx, "the confirmation", chromedp.Text(chromedp.CSS("p.done"))); !strings.Contains(got, name) {
				t.Errorf("adding a doctor is confirmed with %q, which does not name %s", got, name)
			}
			b.adminPage(t, ctx, lang, "admin-768-doctor-added")
			// A draw without an entry window: refused beside the field.
			e2e.Do(t, ctx, "the rules page", chromedp.Navigate(s.URL+"/staff/admin/rules"), chromedp.WaitVisible(chromedp.CSS("#mode")),
				chromedp.SetValue(chromedp.CSS("#mode"), "draw"), chromedp.SetValue(chromedp.CSS("#window"), "0"),
				chromedp.SetValue(chromedp.CSS("#reserved_priority"), "4"),
				e2e.Click(`form[action="/staff/admin/rules"] button.primary`, "#window-error"))
			if got := e2e.Value(t, ctx, "the kept quota", chromedp.Value(chromedp.CSS("#reserved_priority"))); got != "4" {
				t.Errorf("the refused rule form kept the priority quota as %q, want 4", got)
			}
			b.adminPage(t, ctx, lang, "admin-768-rule-refused")
			b.staffPages(t, browser, ctx, lang, i) // accounts_test.go

			// The desk reads the same pages without a form to change them.
			desk := e2e.Tab(t, browser, 768, 1000, false)
			b.StaffLogin(t, desk, lang, "desk")
			for _, p := range pages {
				e2e.Do(t, desk, p.name, chromedp.Navigate(s.URL+p.path), chromedp.WaitVisible(chromedp.CSS("body.page-"+p.name)))
				if n := e2e.Value(t, desk, "forms", chromedp.Evaluate[int](`document.querySelectorAll('main form[method="post"], main a[href$="/cancel"]').length`)); n != 0 {
					t.Errorf("the desk sees %d forms or cancel links on %s", n, p.path)
				}
			}
			b.adminPage(t, desk, lang, "admin-768-readonly-rules")
		})
	}
}

// adminPage checks an admin page as browserRun.page does (translation,
// axe-core, screenshot, weight) and that nothing overflows the window or a
// card: the admin page was a table wider than its card.
func (b *run) adminPage(t *testing.T, ctx context.Context, lang, name string) {
	t.Helper()
	b.Page(t, ctx, lang, name, false)
	over := e2e.Value(t, ctx, "overflow", chromedp.Evaluate[[]string](`[document.documentElement, ...document.querySelectorAll(".card")]
		.filter(e => e.scrollWidth > e.clientWidth + 1)
		.map(e => (e.className || e.tagName) + ": " + e.scrollWidth + " > " + e.clientWidth)`))
	if len(over) > 0 {
		t.Errorf("%s (%s) overflows: %v", name, lang, over)
	}
}
