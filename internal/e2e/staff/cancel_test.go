package staff

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
)

// TestBrowserCancelSession: on the demo's first-come session of two
// places, the English patient books and pays, the Vietnamese one holds the
// other place unpaid, and the Chinese one joins the waitlist. The desk may
// not open the cancel page; an admin sees what cancelling will end (two
// bookings, one paid, one waitlist place; in each language, a cancel
// without a reason refused), gives a reason and cancels. The
// page says what was done, the refund confirmed; each patient's message
// (the demo's log provider) and /me say so in their language; the
// booking and session pages too; the session takes no new booking.
func TestBrowserCancelSession(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	s, _, session := e2e.SimServer(t, `{"notify": {"provider": "log"}}`, "--sim-opens-in", "3s", "--sim-window", "1m", "--sim-slots", "2")
	b := newRun(t, s)

	type person struct {
		lang, phone, name string
		tab               context.Context
	}
	var people []person
	for i, lang := range []string{"en", "vi", "zh-CN"} {
		p := person{lang: lang, phone: fmt.Sprintf("1390000020%d", i), name: "周小" + []string{"一", "二", "三"}[i]}
		p.tab = b.PatientPhone(t, browser, lang, p.phone, p.name, e2e.ResidentID(960+i))
		people = append(people, p)
	}
	en, vi, zh := people[0], people[1], people[2]

	// A paid booking, a held one, and a patient waiting.
	e2e.WaitPage(t, en.tab, s.URL+"/sessions/"+session, `form[action$="/book"]`, "en: the session to open")
	e2e.Do(t, en.tab, "en: book a place", e2e.Click(`form[action$="/book"] button`, "body.page-booking"))
	paidBooking := e2e.Value(t, en.tab, "booking URL", chromedp.Location())
	e2e.Do(t, en.tab, "en: pay", e2e.Click(`form[action$="/pay"] button`, "body.page-booking .code"))
	if st := e2e.Value(t, en.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.Cat["en"]["status.confirmed"] {
		t.Fatalf("en: the booking after paying reads %q", st)
	}
	e2e.WaitPage(t, vi.tab, s.URL+"/sessions/"+session, `form[action$="/book"]`, "vi: the session's last place")
	e2e.Do(t, vi.tab, "vi: hold the last place", e2e.Click(`form[action$="/book"] button`, "body.page-booking"))
	heldBooking := e2e.Value(t, vi.tab, "booking URL", chromedp.Location())
	e2e.WaitPage(t, zh.tab, s.URL+"/sessions/"+session, `form[action$="/waitlist"]`, "zh-CN: the full session's waitlist form")
	e2e.Do(t, zh.tab, "zh-CN: join the waitlist", e2e.Click(`form[action$="/waitlist"] button`, "body.page-me"))

	cancelPage := s.URL + "/staff/admin/sessions/" + session + "/cancel"
	desk := e2e.Tab(t, browser, 1280, 900, false)
	b.StaffLogin(t, desk, "en", "desk")
	e2e.Do(t, desk, "the desk opens the cancel page", chromedp.Navigate(cancelPage), chromedp.WaitVisible(chromedp.CSS("body.page-error")))

	for _, lang := range []string{"zh-CN", "vi", "en"} { // the confirm page in each language; the English admin cancels
		admin := e2e.Tab(t, browser, 1280, 900, false)
		b.StaffLogin(t, admin, lang, "admin")
		e2e.Do(t, admin, lang+": the session's admin page links to the cancel page", chromedp.Navigate(s.URL+"/staff/admin/sessions/"+session),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/staff/admin/sessions/`+session+`/cancel"]`)))
		e2e.Do(t, admin, lang+": the cancel page", chromedp.Navigate(cancelPage), chromedp.WaitVisible(chromedp.CSS("body.page-sessioncancel #reason")))
		for sel, want := range map[string]string{".bookings": "2", ".waitlist": "1", ".entries": "0"} {
			if got := e2e.Value(t, admin, sel, chromedp.Text(chromedp.CSS(sel))); got != want {
				t.Errorf("%s: the cancel page's %s reads %q, want %q", lang, sel, got, want)
			}
		}
		if got := e2e.Value(t, admin, ".paid", chromedp.Text(chromedp.CSS(".paid"))); !strings.HasPrefix(got, "1") || !strings.Contains(got, "100") {
			t.Errorf("%s: the paid bookings read %q; want 1, with the refund of 100", lang, got)
		}
		b.Page(t, admin, lang, "admin-session-cancel", false)
		// Without a reason (the browser's own check off): refused beside
		// the field, nothing cancelled.
		e2e.Do(t, admin, lang+": cancel without a reason", chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action$="/cancel"]').noValidate = true`),
			e2e.Click(`form[action$="/cancel"] button`, `body.page-sessioncancel #reason[aria-invalid="true"], body.page-error`))
		if e2e.Value(t, admin, "the refusal", chromedp.Evaluate[bool](`!!document.querySelector("body.page-error")`)) {
			t.Fatalf("%s: cancelling without a reason: %s", lang, e2e.Value(t, admin, "the page", chromedp.Text(chromedp.CSS("main"))))
		}
		b.Page(t, admin, lang, "admin-session-cancel-refused", false)
		if lang != "en" {
			continue
		}
		e2e.Do(t, admin, "cancel the session", chromedp.SendKeys(chromedp.CSS("#reason"), "Doctor called in sick"),
			e2e.Click(`form[action$="/cancel"] button`, "body.page-sessioncancel .told"))
		if got := e2e.Value(t, admin, ".told", chromedp.Text(chromedp.CSS(".told"))); got != "3" {
			t.Errorf("accounts told = %q, want 3", got)
		}
		if got := e2e.Value(t, admin, ".refunded", chromedp.Text(chromedp.CSS(".refunded"))); !strings.HasPrefix(got, "1 of 1") {
			t.Errorf("refunds read %q, want 1 of 1 confirmed", got)
		}
		b.Page(t, admin, lang, "admin-session-cancelled", false)
		e2e.Do(t, admin, "the cancel page again", chromedp.Navigate(cancelPage), chromedp.WaitVisible(chromedp.CSS("body.page-error")))
		if got := e2e.Value(t, admin, "error", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(got, b.Cat["en"]["error.session.already_cancelled"]) {
			t.Errorf("the cancel page of a cancelled session reads %q", got)
		}
	}

	// Each patient is told, in their language, with the masked name only.
	for _, tt := range []struct {
		p        person
		prefix   string
		contains []string
		absent   string
	}{
		{en, "fairslot: the hospital has cancelled", []string{"周*", "refunded in full"}, ""},
		{vi, "fairslot: bệnh viện đã hủy", []string{"周*"}, "hoàn lại"},
		{zh, "fairslot：医院已停诊", []string{"周*", "候补"}, ""},
	} {
		msgs := b.S.Messages(tt.p.phone, tt.prefix)
		if len(msgs) == 0 {
			msgs = []string{b.S.Message(t, tt.p.phone, tt.prefix, tt.p.lang+": the cancellation message")}
		}
		if len(msgs) != 1 {
			t.Errorf("%s: %d cancellation messages, want 1: %q", tt.p.lang, len(msgs), msgs)
		}
		msg := msgs[0]
		for _, w := range tt.contains {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: the message lacks %q: %q", tt.p.lang, w, msg)
			}
		}
		if tt.absent != "" && strings.Contains(msg, tt.absent) {
			t.Errorf("%s: the message holds %q: %q", tt.p.lang, tt.absent, msg)
		}
		if strings.Contains(msg, tt.p.name) || strings.Contains(msg, "sick") {
			t.Errorf("%s: the message holds the full name or the admin's reason: %q", tt.p.lang, msg)
		}
		t.Logf("%s was told: %s", tt.p.lang, msg)
	}

	// Their pages say so.
	for _, p := range []person{en, vi} {
		e2e.Do(t, p.tab, p.lang+": /me", chromedp.Navigate(s.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me")))
		if got := e2e.Value(t, p.tab, "/me", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(got, b.Cat[p.lang]["status.cancelled_hospital"]) {
			t.Errorf("%s: /me does not say the hospital cancelled: %q", p.lang, got)
		}
		b.Page(t, p.tab, p.lang, "portal-me-hospital-cancelled", true)
	}
	for _, tt := range []struct {
		p   person
		url string
	}{{en, paidBooking}, {vi, heldBooking}} {
		e2e.Do(t, tt.p.tab, tt.p.lang+": the booking", chromedp.Navigate(tt.url), chromedp.WaitVisible(chromedp.CSS("body.page-booking .hospitalcancel")))
		if st := e2e.Value(t, tt.p.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.Cat[tt.p.lang]["status.cancelled_hospital"] {
			t.Errorf("%s: the booking reads %q", tt.p.lang, st)
		}
		if e2e.Value(t, tt.p.tab, "actions", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/pay"], a[href$="/cancel"]')`)) {
			t.Errorf("%s: a booking the hospital cancelled still offers to pay or cancel", tt.p.lang)
		}
	}
	b.Page(t, en.tab, "en", "portal-booking-hospital-cancelled", true)
	e2e.Do(t, zh.tab, "zh-CN: /me", chromedp.Navigate(s.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me .wait")))
	if got := e2e.Value(t, zh.tab, "waitlist", chromedp.Text(chromedp.CSS(".wait"))); !strings.Contains(got, b.Cat["zh-CN"]["me.state.cancelled"]) {
		t.Errorf("zh-CN: the waitlist place reads %q", got)
	}
	b.Page(t, zh.tab, "zh-CN", "portal-me-waitlist-cancelled", true)
	e2e.Do(t, zh.tab, "zh-CN: the session", chromedp.Navigate(s.URL+"/sessions/"+session), chromedp.WaitVisible(chromedp.CSS("body.page-session .cancelled")))
	if e2e.Value(t, zh.tab, "forms", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/book"], form[action$="/waitlist"], form[action$="/enter"]')`)) {
		t.Error("zh-CN: the cancelled session still offers a form to book, wait or enter")
	}
	b.Page(t, zh.tab, "zh-CN", "portal-session-cancelled", true)
}
