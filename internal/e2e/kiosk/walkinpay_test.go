package kiosk

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
	"github.com/fairslot/fairslot/internal/sqlite"
)

// TestBrowserKioskWalkInPay drives a kiosk walk-in into a session with a
// fee (issue 14 item 1) in headless Chromium, in Vietnamese at 1280×800: a
// patient on record (bound on a phone under the name on their ID) registers
// at the kiosk, which holds the booking and shows its pay page with the
// amount; the patient taps pay twice at once, and the same form is sent
// twice more afterwards (the back button resending it); the provider is
// asked once — the store holds one payment for the booking, settled, of
// its fee, and the audit log one payment started and the booking paid once; the
// patient checks in and gets a ticket; then the pay and reprint forms and a
// wrong code's error page. Each screen is photographed and
// checked with axe-core and for untranslated text, and every link on them
// leads to a kiosk page.
func TestBrowserKioskWalkInPay(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	dir := t.TempDir()
	s := e2e.StartServer(t, e2e.Binary(t), dir, nil)
	b := newRun(t, s)
	const lang, name = "vi", "欧阳娜娜"
	id := e2e.ResidentID(950)
	e2e.Bound(t, s, "13700009501", id) // on record as name

	k := e2e.Tab(t, browser, 1280, 800, false)
	b.kioskLogin(t, k, lang)
	links := map[string]bool{}
	screen := func(page string) {
		t.Helper()
		b.Page(t, k, lang, "kiosk-walkinpay-"+page, false)
		for _, h := range e2e.Value(t, k, "links", chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href]")].map(a => a.href)`)) {
			links[h] = true
		}
		for _, action := range e2e.Value(t, k, "forms", chromedp.Evaluate[[]string](`[...document.forms].map(f => f.action)`)) {
			if u, err := url.Parse(action); err != nil || (u.Path != "/lang" && !kioskURL(s.URL, action)) {
				t.Errorf("%s: a form posts to %s, outside the kiosk", page, action)
			}
		}
	}
	screen("start")
	e2e.Do(t, k, "the walk-in form", e2e.Click(`a[href="/kiosk/walk-in"]`, "body.page-walkin"))
	if e2e.Value(t, k, "sessions", chromedp.Evaluate[int](`document.querySelectorAll("#session_id option").length`)) == 0 {
		t.Skip("no session open for walk-ins now (the fever clinic's ends at midnight)")
	}
	screen("form")
	e2e.Do(t, k, "register as a walk-in", chromedp.SendKeys(chromedp.CSS("#name"), name), chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"),
		chromedp.SendKeys(chromedp.CSS("#id_number"), id), e2e.Click(`form[action="/kiosk/walk-in"] button.primary`, "body.page-kioskpay .fee"))
	fee := e2e.Value(t, k, "the amount", chromedp.Text(chromedp.CSS(".fee")))
	if !strings.Contains(fee, "¥") || strings.Trim(fee, "¥ 0.,") == "" {
		t.Errorf("the pay page shows the amount %q, want a fee with its currency", fee)
	}
	if e2e.Value(t, k, "a check-in form", chromedp.Evaluate[bool](`!!document.querySelector('form[action="/kiosk/check-in"]')`)) {
		t.Error("the unpaid walk-in's page offers check-in before paying")
	}
	form := e2e.Value(t, k, "the pay form", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(new FormData(document.querySelector('form[action="/kiosk/pay/confirm"]')))`))
	if form["code"] == "" || form["key"] == "" || form["id_last4"] != id[len(id)-4:] {
		t.Fatalf("the pay form sends %v; want the booking's code, a key and the ID number's last four", form)
	}
	screen("pay")
	// A double tap: two clicks on the pay button before the page goes.
	e2e.Do(t, k, "tap pay twice", doubleTap(`form[action="/kiosk/pay/confirm"] button`, "body.page-kioskpay .status"))
	screen("paid")
	// The same form sent again, twice at once (the back button resending
	// it, a tap the browser did send): one charge all the same.
	for _, status := range e2e.Value(t, k, "pay again", chromedp.Evaluate[[]string](fmt.Sprintf(`(async () => {
		const body = () => new URLSearchParams(%s);
		const rs = await Promise.all([1, 2].map(() => fetch("/kiosk/pay/confirm", {method: "POST", body: body()})));
		return Promise.all(rs.map(async r => r.status + " " + (await r.text()).includes('action="/kiosk/check-in"')));
	})()`, jsonObject(form)), chromedp.EvalAwaitPromise)) {
		if status != "200 true" {
			t.Errorf("the pay form sent again answers %s; want 200 and the paid page", status)
		}
	}
	charges := payments(t, dir, form["code"])
	if len(charges) != 1 || charges[0].status != "settled" || charges[0].cents != charges[0].fee || charges[0].fee <= 0 {
		t.Errorf("the booking's payments are %+v; want one, settled, of its fee", charges)
	}
	if n := audited(t, dir, form["code"], "payment.start"); n != 1 {
		t.Errorf("the audit log records %d payments started for the booking, want 1", n)
	}
	if n := audited(t, dir, form["code"], "booking.pay"); n != 1 {
		t.Errorf("the audit log records the booking paid %d times, want once", n)
	}
	e2e.Do(t, k, "check in", e2e.Click(`form[action="/kiosk/check-in"] button`, "body.page-ticket p.ticket"))
	if ticket := e2e.Value(t, k, "the ticket", chromedp.Text(chromedp.CSS("p.ticket"))); strings.TrimSpace(ticket) == "" {
		t.Error("the ticket has no number")
	}
	screen("ticket")
	if got := payments(t, dir, form["code"]); len(got) != 1 || got[0].booking != "checked_in" {
		t.Errorf("after check-in the booking's payments are %+v; want one, the booking checked in", got)
	}
	// The kiosk's other screens in Vietnamese (TestBrowserKiosk runs in
	// Chinese and English): the pay and reprint forms, and the error page
	// of a wrong code.
	e2e.Do(t, k, "the pay form", chromedp.Navigate(s.URL+"/kiosk/pay"), chromedp.WaitVisible(chromedp.CSS("body.page-kioskproof #code")))
	screen("pay-find")
	e2e.Do(t, k, "the reprint form", chromedp.Navigate(s.URL+"/kiosk/reprint"), chromedp.WaitVisible(chromedp.CSS("body.page-kioskproof #code")))
	screen("reprint")
	e2e.Do(t, k, "a wrong code", chromedp.SendKeys(chromedp.CSS("#code"), "ZZZZZZZZ"), chromedp.SendKeys(chromedp.CSS("#id_last4"), "0000"),
		e2e.Click(`form[action="/kiosk/reprint"] button.primary`, `body.page-error, body.page-kioskproof [aria-invalid="true"]`))
	screen("error")
	for _, l := range slices.Sorted(func(yield func(string) bool) {
		for l := range links {
			if !yield(l) {
				return
			}
		}
	}) {
		b.onKioskPage(t, k, "the link "+l, l)
	}
}

// doubleTap clicks sel twice 50 ms apart, as a double tap does, and waits
// for the page after it to be loaded and to hold want. Chromium sends the
// form once for it (a probe that paid each request under a key of its own
// still showed the paid page): the resends after it are what reach the
// server twice.
func doubleTap(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.__leaving = true; { const b = document.querySelector(%q); b.click(); setTimeout(() => b.click(), 50); }`, sel))(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		check := chromedp.Evaluate[bool](fmt.Sprintf(`!window.__leaving && document.readyState === "complete" && !!document.querySelector(%q)`, want))
		for ctx.Err() == nil {
			// A page being replaced answers with an error: not yet.
			if ok, err := check(ctx, tg); err == nil && ok {
				return chromedp.Void{}, nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		return chromedp.Void{}, fmt.Errorf("after tapping %s twice, waited until the test's deadline for a page with %s: %w", sel, want, ctx.Err())
	}
}

// jsonObject writes m as a JavaScript object literal.
func jsonObject(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// payment is a payment row of a booking, with the booking's fee and status.
type payment struct {
	status     string
	cents, fee int64
	booking    string
}

// store opens the server's SQLite database (under dir, as StartServer laid
// it out) to read what the provider was asked: every charge is a payment
// row written before the provider is called.
func store(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "data", sqlite.FileName)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// payments returns the payments of the booking with code.
func payments(t *testing.T, dir, code string) []payment {
	t.Helper()
	rows, err := store(t, dir).Query(`SELECT p.status, p.amount_cents, b.fee_cents, b.status FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE b.code = ?`, code)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []payment
	for rows.Next() {
		var p payment
		if err := rows.Scan(&p.status, &p.cents, &p.fee, &p.booking); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// audited counts the audit records of action about the booking with code.
func audited(t *testing.T, dir, code, action string) int {
	t.Helper()
	var n int
	err := store(t, dir).QueryRow(`SELECT count(*) FROM audit_events WHERE action = ? AND subject = 'booking:' || (SELECT id FROM bookings WHERE code = ?)`, action, code).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
