package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserCancelSession: on the demo's first-come session of two
// places, the English patient books and pays, the Vietnamese one holds the
// other place unpaid, and the Chinese one joins the waitlist. The desk may
// not open the cancel page; an admin sees what cancelling will end (two
// bookings, one paid, one waitlist place), gives a reason and cancels. The
// page says what was done, the refund confirmed; each patient's message
// (the demo's log provider) and /me say so in their language; the
// booking and session pages too; the session takes no new booking.
func TestBrowserCancelSession(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := chromium(t)
	s, _, session := simServer(t, `{"notify": {"provider": "log"}}`, "--sim-opens-in", "3s", "--sim-window", "1m", "--sim-slots", "2")
	b := newBrowserRun(t, s)

	type person struct {
		lang, phone, name string
		tab               context.Context
	}
	var people []person
	for i, lang := range []string{"en", "vi", "zh-CN"} {
		p := person{lang: lang, phone: fmt.Sprintf("1390000020%d", i), name: "周小" + []string{"一", "二", "三"}[i]}
		p.tab = b.patientPhone(t, browser, lang, p.phone, p.name, residentIDForTest(960+i))
		people = append(people, p)
	}
	en, vi, zh := people[0], people[1], people[2]

	// A paid booking, a held one, and a patient waiting.
	waitPage(t, en.tab, s.url+"/sessions/"+session, `form[action$="/book"]`, "en: the session to open")
	do(t, en.tab, "en: book a place", click(`form[action$="/book"] button`, "body.page-booking"))
	paidBooking := value(t, en.tab, "booking URL", chromedp.Location())
	do(t, en.tab, "en: pay", click(`form[action$="/pay"] button`, "body.page-booking .code"))
	if st := value(t, en.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.cat["en"]["status.confirmed"] {
		t.Fatalf("en: the booking after paying reads %q", st)
	}
	waitPage(t, vi.tab, s.url+"/sessions/"+session, `form[action$="/book"]`, "vi: the session's last place")
	do(t, vi.tab, "vi: hold the last place", click(`form[action$="/book"] button`, "body.page-booking"))
	heldBooking := value(t, vi.tab, "booking URL", chromedp.Location())
	waitPage(t, zh.tab, s.url+"/sessions/"+session, `form[action$="/waitlist"]`, "zh-CN: the full session's waitlist form")
	do(t, zh.tab, "zh-CN: join the waitlist", click(`form[action$="/waitlist"] button`, "body.page-me"))

	cancelPage := s.url + "/staff/admin/sessions/" + session + "/cancel"
	desk := tab(t, browser, 1280, 900, false)
	b.staffLogin(t, desk, "en", "desk")
	do(t, desk, "the desk opens the cancel page", chromedp.Navigate(cancelPage), chromedp.WaitVisible(chromedp.CSS("body.page-error")))

	for _, lang := range []string{"zh-CN", "en"} { // the confirm page in two languages; the English admin cancels
		admin := tab(t, browser, 1280, 900, false)
		b.staffLogin(t, admin, lang, "admin")
		do(t, admin, lang+": the session's admin page links to the cancel page", chromedp.Navigate(s.url+"/staff/admin/sessions/"+session),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/staff/admin/sessions/`+session+`/cancel"]`)))
		do(t, admin, lang+": the cancel page", chromedp.Navigate(cancelPage), chromedp.WaitVisible(chromedp.CSS("body.page-sessioncancel #reason")))
		for sel, want := range map[string]string{".bookings": "2", ".waitlist": "1", ".entries": "0"} {
			if got := value(t, admin, sel, chromedp.Text(chromedp.CSS(sel))); got != want {
				t.Errorf("%s: the cancel page's %s reads %q, want %q", lang, sel, got, want)
			}
		}
		if got := value(t, admin, ".paid", chromedp.Text(chromedp.CSS(".paid"))); !strings.HasPrefix(got, "1") || !strings.Contains(got, "100") {
			t.Errorf("%s: the paid bookings read %q; want 1, with the refund of 100", lang, got)
		}
		b.page(t, admin, lang, "admin-session-cancel", false)
		if lang != "en" {
			continue
		}
		do(t, admin, "cancel the session", chromedp.SendKeys(chromedp.CSS("#reason"), "Doctor called in sick"),
			click(`form[action$="/cancel"] button`, "body.page-sessioncancel .told"))
		if got := value(t, admin, ".told", chromedp.Text(chromedp.CSS(".told"))); got != "3" {
			t.Errorf("accounts told = %q, want 3", got)
		}
		if got := value(t, admin, ".refunded", chromedp.Text(chromedp.CSS(".refunded"))); !strings.HasPrefix(got, "1 of 1") {
			t.Errorf("refunds read %q, want 1 of 1 confirmed", got)
		}
		b.page(t, admin, lang, "admin-session-cancelled", false)
		do(t, admin, "the cancel page again", chromedp.Navigate(cancelPage), chromedp.WaitVisible(chromedp.CSS("body.page-error")))
		if got := value(t, admin, "error", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(got, b.cat["en"]["error.session.already_cancelled"]) {
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
		msgs := b.messages(t, tt.p.phone, tt.prefix)
		if len(msgs) == 0 {
			msgs = []string{b.message(t, tt.p.phone, tt.prefix, tt.p.lang+": the cancellation message")}
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
		do(t, p.tab, p.lang+": /me", chromedp.Navigate(s.url+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me")))
		if got := value(t, p.tab, "/me", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(got, b.cat[p.lang]["status.cancelled_hospital"]) {
			t.Errorf("%s: /me does not say the hospital cancelled: %q", p.lang, got)
		}
		b.page(t, p.tab, p.lang, "portal-me-hospital-cancelled", true)
	}
	for _, tt := range []struct {
		p   person
		url string
	}{{en, paidBooking}, {vi, heldBooking}} {
		do(t, tt.p.tab, tt.p.lang+": the booking", chromedp.Navigate(tt.url), chromedp.WaitVisible(chromedp.CSS("body.page-booking .hospitalcancel")))
		if st := value(t, tt.p.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.cat[tt.p.lang]["status.cancelled_hospital"] {
			t.Errorf("%s: the booking reads %q", tt.p.lang, st)
		}
		if value(t, tt.p.tab, "actions", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/pay"], a[href$="/cancel"]')`)) {
			t.Errorf("%s: a booking the hospital cancelled still offers to pay or cancel", tt.p.lang)
		}
	}
	b.page(t, en.tab, "en", "portal-booking-hospital-cancelled", true)
	do(t, zh.tab, "zh-CN: /me", chromedp.Navigate(s.url+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me .wait")))
	if got := value(t, zh.tab, "waitlist", chromedp.Text(chromedp.CSS(".wait"))); !strings.Contains(got, b.cat["zh-CN"]["me.state.cancelled"]) {
		t.Errorf("zh-CN: the waitlist place reads %q", got)
	}
	b.page(t, zh.tab, "zh-CN", "portal-me-waitlist-cancelled", true)
	do(t, zh.tab, "zh-CN: the session", chromedp.Navigate(s.url+"/sessions/"+session), chromedp.WaitVisible(chromedp.CSS("body.page-session .cancelled")))
	if value(t, zh.tab, "forms", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/book"], form[action$="/waitlist"], form[action$="/enter"]')`)) {
		t.Error("zh-CN: the cancelled session still offers a form to book, wait or enter")
	}
	b.page(t, zh.tab, "zh-CN", "portal-session-cancelled", true)
}
