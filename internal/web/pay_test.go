package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/payment"
)

// TestPayPageNamesThePayer: the patient's pay form (and the kiosk's) take an
// optional "payer", standing in for the sandbox wallet's answer: a payer
// no wallet gives is refused on the page, in its language, and takes
// nothing; the payer named is the charge's.
func TestPayPageNamesThePayer(t *testing.T) {
	e := newEnv(t)
	sandbox := e.svc.Payments.(*payment.Sandbox)

	// The patient's booking page.
	b := e.browser(t, e.public)
	b.login(e, "13900139002")
	b.get("/me")
	if status, _, body := b.post("/me/patients", url.Values{"name": {"王五"}, "id_type": {"cn_resident"}, "id_number": {testID}}); status != 303 {
		t.Fatalf("add a patient: %d\n%s", status, body)
	}
	_, page := b.get("/sessions/4")
	m := regexp1(`name="patient_id" required><option value="(\d+)"`, page)
	status, loc, body := b.post("/sessions/4/book", url.Values{"patient_id": {m}, "key": {"k1"}})
	if status != 303 {
		t.Fatalf("book: %d\n%s", status, body)
	}
	_, page = b.get(loc + "?lang=en")
	key := regexp1(`name="key" value="([^"]+)"`, page)
	status, _, body = b.post(loc+"/pay", url.Values{"key": {key}, "payer": {"wx\r\nbuyer"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "付款人账号须为1至128个字符") {
		t.Errorf("a payer with control characters: %d\n%s", status, body)
	}
	if len(sandbox.Held()) != 0 {
		t.Fatalf("a refused payer took money: %v", sandbox.Held())
	}
	if status, _, body := b.post(loc+"/pay", url.Values{"key": {key}, "payer": {"wx-buyer-7"}}); status != 303 {
		t.Fatalf("pay naming the payer: %d\n%s", status, body)
	}
	wantPayers(t, sandbox, "wx-buyer-7")
}

// TestKioskPayNamesThePayer: the kiosk's pay form as the patient's.
func TestKioskPayNamesThePayer(t *testing.T) {
	e := newEnv(t)
	sandbox := e.svc.Payments.(*payment.Sandbox)
	held := e.heldBooking(t)
	k := e.kioskLogin(t)
	_, _, page := k.post("/kiosk/pay", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}})
	kkey := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if kkey == nil {
		t.Fatalf("the pay form has no key:\n%s", page)
	}
	confirm := url.Values{"code": {held.Code}, "id_last4": {testID[14:]}, "key": {kkey[1]}, "payer": {strings.Repeat("w", payment.PayerMax+1)}}
	if status, _, page := k.post("/kiosk/pay/confirm", confirm); status != http.StatusBadRequest || !strings.Contains(page, "付款人账号") {
		t.Errorf("a too long payer at the kiosk: %d\n%s", status, page)
	}
	confirm.Set("payer", "wx-kiosk-9")
	if status, _, page := k.post("/kiosk/pay/confirm", confirm); status != 200 || !strings.Contains(page, `action="/kiosk/check-in"`) {
		t.Fatalf("pay at the kiosk naming the payer: %d\n%s", status, page)
	}

	wantPayers(t, sandbox, "wx-kiosk-9")
}

// wantPayers checks that the sandbox holds one charge, for payer.
func wantPayers(t *testing.T, sandbox *payment.Sandbox, payer string) {
	t.Helper()
	var payers []string
	for key := range sandbox.Held() {
		c, _ := sandbox.Status(ctx, key)
		payers = append(payers, c.Payer)
	}
	if len(payers) != 1 || payers[0] != payer {
		t.Errorf("the charges' payers = %q, want one for %s", payers, payer)
	}
}
