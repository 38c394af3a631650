package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/storage"
)

// kioskLogin logs a kiosk device in (the demo's kiosk account): it lands on
// the kiosk's start screen.
func (e *env) kioskLogin(t *testing.T) *browser {
	t.Helper()
	k := e.browser(t, e.internal)
	k.get("/staff/login")
	if status, loc, body := k.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}}); status != 303 || loc != "/kiosk" {
		t.Fatalf("kiosk login: %d %s\n%s", status, loc, body)
	}
	return k
}

// heldBooking books testID's patient into session 1, unpaid.
func (e *env) heldBooking(t *testing.T) app.BookingView {
	t.Helper()
	a := e.actorOf(t, "13912345670")
	if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "zh-CN"); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID})
	if err != nil {
		t.Fatal(err)
	}
	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: 1, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// TestKioskStaysOnItsPages: a kiosk's every page links only to kiosk pages;
// any other page, typed in, sends it to the start screen; any other form —
// the staff's actions, logging out — is refused; and no kiosk page may be
// kept by the browser.
func TestKioskStaysOnItsPages(t *testing.T) {
	e := newEnv(t)
	k := e.kioskLogin(t)
	pages := map[string]string{}
	for _, path := range []string{"/kiosk", "/kiosk/pay", "/kiosk/reprint", "/kiosk/walk-in"} {
		resp, err := k.c.Get(k.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, got)
		}
		status, page := k.get(path)
		if status != 200 {
			t.Fatalf("%s: %d\n%s", path, status, page)
		}
		pages[path] = page
		if !strings.Contains(page, `data-idle="60"`) {
			t.Errorf("%s: no idle timeout of 60 s on the page", path)
		}
	}
	// Error pages: a wrong proof, a refused staff form.
	_, _, pages["check-in refused"] = k.post("/kiosk/check-in", url.Values{"code": {"AAAAAAAA"}, "id_last4": {"1234"}})
	_, _, pages["pay refused"] = k.post("/kiosk/pay", url.Values{"code": {"AAAAAAAA"}, "id_last4": {"1234"}})
	for _, path := range []string{"/staff/sessions/1/call-next", "/staff/admin/doctors", "/staff/reveal", "/staff/logout", "/logout",
		"/staff/desk", "/staff/accounts", "/me/patients"} {
		status, _, page := k.post(path, url.Values{"name": {"x"}, "department_id": {"1"}})
		if status != http.StatusForbidden {
			t.Errorf("POST %s with the kiosk's login: %d, want 403", path, status)
		}
		pages["POST "+path] = page
	}
	for name, page := range pages {
		if out := kioskOnlyLinks(page); len(out) > 0 {
			t.Errorf("%s links outside the kiosk: %v", name, out)
		}
		for _, staff := range []string{"/staff/logout", `action="/logout"`, "/staff/desk"} {
			if strings.Contains(page, staff) {
				t.Errorf("%s shows a staff control %s", name, staff)
			}
		}
	}
	for _, path := range []string{"/staff", "/staff/admin", "/staff/desk", "/staff/accounts", "/staff/reveal", "/staff/security",
		"/staff/kit/import", "/staff/login", "/staff/sessions/1", "/me", "/", "/login", "/departments/1", "/sessions/1",
		"/board", "/board/1", "/kiosk/nothing", "/privacy"} {
		resp, err := k.c.Get(k.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/kiosk" {
			t.Errorf("GET %s with the kiosk's login: %d → %q, want 303 → /kiosk", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// The logout was refused: the kiosk is still logged in.
	if status, page := k.get("/kiosk"); status != 200 || !strings.Contains(page, `action="/kiosk/check-in"`) {
		t.Fatalf("the kiosk after its refused logout: %d\n%s", status, page)
	}
	// Staff keep their pages.
	desk := e.browser(t, e.internal)
	desk.get("/staff/login")
	desk.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	if status, page := desk.get("/staff/desk"); status != 200 || !strings.Contains(page, "/staff/logout") {
		t.Errorf("the desk's own page: %d\n%s", status, page)
	}
}

// TestKioskPaysAndReprints: at the kiosk a patient pays a held booking
// (code and ID proof; the amount shown with its currency; a second tap
// charges nothing more), checks in, and prints the ticket again. A wrong
// proof is refused and recorded; guessing is limited; a reprint is recorded.
func TestKioskPaysAndReprints(t *testing.T) {
	e := newEnv(t)
	held := e.heldBooking(t)
	k := e.kioskLogin(t)
	k.get("/kiosk/pay")
	if status, _, page := k.post("/kiosk/pay", url.Values{"code": {held.Code}, "id_last4": {"0000"}}); status != http.StatusForbidden {
		t.Fatalf("pay with a wrong ID proof: %d\n%s", status, page)
	}
	status, _, page := k.post("/kiosk/pay", url.Values{"code": {strings.ToLower(held.Code)}, "id_last4": {testID[14:]}})
	fee := fmt.Sprintf("¥%d.%02d", held.FeeCents/100, held.FeeCents%100)
	if status != 200 || !strings.Contains(page, `action="/kiosk/pay/confirm"`) || !strings.Contains(strings.Join(strings.Fields(page), ""), fee) {
		t.Fatalf("the pay page does not offer to pay %s: %d\n%s", fee, status, page)
	}
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("the pay form has no key:\n%s", page)
	}
	confirm := url.Values{"code": {held.Code}, "id_last4": {testID[14:]}, "key": {key[1]}}
	for tap := range 2 { // a double tap
		if status, _, page := k.post("/kiosk/pay/confirm", confirm); status != 200 || !strings.Contains(page, `action="/kiosk/check-in"`) {
			t.Fatalf("tap %d on pay: %d\n%s", tap+1, status, page)
		}
	}
	charged := 0
	for key := range e.svc.Payments.(*payment.Sandbox).Held() {
		if strings.HasPrefix(key, "staff") {
			charged++
		}
	}
	if charged != 1 {
		t.Errorf("the kiosk's payment charged %d times, want once", charged)
	}
	if status, _, page := k.post("/kiosk/pay", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}}); status != http.StatusConflict {
		t.Errorf("paying a paid booking again: %d, want 409\n%s", status, page)
	}
	// Nothing to reprint before check-in.
	if status, _, page := k.post("/kiosk/reprint", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}}); status != http.StatusConflict {
		t.Errorf("reprint before check-in: %d, want 409\n%s", status, page)
	}
	// The ID card reader types the whole number.
	status, _, ticket := k.post("/kiosk/check-in", url.Values{"code": {held.Code}, "id_last4": {testID}})
	if status != 200 || !strings.Contains(ticket, `<p class="ticket">A001</p>`) || strings.Contains(ticket, "李四") {
		t.Fatalf("check-in with the card's number: %d\n%s", status, ticket)
	}
	status, _, again := k.post("/kiosk/reprint", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}})
	if status != 200 || !strings.Contains(again, `<p class="ticket">A001</p>`) {
		t.Fatalf("reprint: %d\n%s", status, again)
	}
	// The whole number must be the patient's: one digit off is refused.
	wrong := testID[:10] + map[bool]string{true: "1", false: "2"}[testID[10] != '1'] + testID[11:]
	if status, _, page := k.post("/kiosk/reprint", url.Values{"code": {held.Code}, "id_last4": {wrong}}); status != http.StatusForbidden {
		t.Errorf("reprint with another ID number ending the same: %d, want 403\n%s", status, page)
	}
	counts := map[string]int{}
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		evs, err := tx.AuditEvents(ctx, 0, 10000)
		for _, ev := range evs {
			if ev.Subject == fmt.Sprintf("booking:%d", held.ID) {
				counts[ev.Action]++
			}
		}
		return err
	})
	for action, want := range map[string]int{"booking.identity_mismatch": 2, "booking.pay": 1, "booking.check_in": 1, "ticket.reprint": 1} {
		if counts[action] != want {
			t.Errorf("%d %s records, want %d (all: %v)", counts[action], action, want, counts)
		}
	}
	// Guessing the ID digits of a code is cut off: the code has had 9
	// tries; the 10th passes, the 11th is refused even with the right
	// digits.
	for try, want := range []int{200, http.StatusTooManyRequests} {
		if status, _, page := k.post("/kiosk/reprint", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}}); status != want {
			t.Errorf("try %d at one code: %d, want %d\n%s", try+10, status, want, page)
		}
	}
}

// TestKioskWalkInOffersOpenSessions: the walk-in form offers today's
// sessions that have not ended, and no other.
func TestKioskWalkInOffersOpenSessions(t *testing.T) {
	e := newEnv(t)
	today := e.clock().Format(time.DateOnly)
	ss, err := e.svc.Sessions(ctx, storage.SessionFilter{From: today, To: today})
	if err != nil || len(ss) < 2 {
		t.Fatalf("today's sessions: %d, %v", len(ss), err)
	}
	first := ss[0].End
	for _, s := range ss {
		if s.End.Before(first) {
			first = s.End
		}
	}
	e.advance(first.Sub(e.clock()) + time.Minute)
	k := e.kioskLogin(t)
	_, page := k.get("/kiosk/walk-in")
	open := 0
	for _, s := range ss {
		offered := strings.Contains(page, fmt.Sprintf(`<option value="%d"`, s.ID))
		if ended := !e.clock().Before(s.End); offered == ended {
			t.Errorf("session %d (ends %s, now %s): offered %v", s.ID, s.End.Format("15:04"), e.clock().Format("15:04"), offered)
		} else if offered {
			open++
		}
	}
	if open == 0 {
		t.Fatalf("no session open at %s to offer; the test needs one", e.clock().Format("15:04"))
	}
}

// TestKioskWalkInPaysThroughTheProvider: a walk-in registered at the kiosk
// for a session with a fee is not taken as paid at a desk: the kiosk shows
// the amount and pays it through the payment provider as it pays a held
// booking, once however often it is tapped, and only then checks the
// patient in with a ticket.
func TestKioskWalkInPaysThroughTheProvider(t *testing.T) {
	e := newEnv(t)
	a := e.actorOf(t, "13912345670")
	if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "zh-CN"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID}); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Session(ctx, 1)
	if err != nil || v.FeeCents == 0 {
		t.Fatalf("session 1 has no fee to pay: %+v, %v", v.Session, err)
	}
	sandbox := e.svc.Payments.(*payment.Sandbox)
	charges := func() (n int, cents int64) {
		for key, amount := range sandbox.Held() {
			if strings.HasPrefix(key, "staff") {
				n, cents = n+1, cents+amount
			}
		}
		return n, cents
	}
	k := e.kioskLogin(t)
	k.get("/kiosk/walk-in")
	status, _, page := k.post("/kiosk/walk-in", url.Values{"session_id": {"1"}, "name": {"李四"}, "id_type": {string(fairslot.IDResident)}, "id_number": {testID}})
	fee := fmt.Sprintf("¥%d.%02d", v.FeeCents/100, v.FeeCents%100)
	if status != 200 || !strings.Contains(page, `action="/kiosk/pay/confirm"`) || !strings.Contains(strings.Join(strings.Fields(page), ""), fee) {
		t.Fatalf("the walk-in does not go to paying %s: %d\n%s", fee, status, page)
	}
	if strings.Contains(page, `class="ticket"`) || strings.Contains(page, testID) {
		t.Errorf("the pay page shows a ticket before payment, or the whole ID number:\n%s", page)
	}
	if n, _ := charges(); n != 0 {
		t.Errorf("%d charges before the patient paid", n)
	}
	field := func(name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the pay form has no %s:\n%s", name, page)
		}
		return m[1]
	}
	confirm := url.Values{"code": {field("code")}, "id_last4": {field("id_last4")}, "key": {field("key")}}
	for tap := range 2 {
		if status, _, page := k.post("/kiosk/pay/confirm", confirm); status != 200 || !strings.Contains(page, `action="/kiosk/check-in"`) {
			t.Fatalf("tap %d on pay: %d\n%s", tap+1, status, page)
		}
	}
	if n, cents := charges(); n != 1 || cents != v.FeeCents {
		t.Errorf("the provider charged %d times, %d cents; want once, %d", n, cents, v.FeeCents)
	}
	status, _, ticket := k.post("/kiosk/check-in", url.Values{"code": confirm["code"], "id_last4": confirm["id_last4"]})
	if status != 200 || !strings.Contains(ticket, `class="ticket"`) {
		t.Fatalf("check-in after paying: %d\n%s", status, ticket)
	}
}
