package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

// outboxed is every pending outbox message of key: its body and its text
// as it would be sent.
func (e *env) outboxed(t *testing.T, key string) (bodies []notify.Body, texts []string) {
	t.Helper()
	return outboxOf(t, e.svc, key)
}

// outboxOf is every pending outbox message of key in svc's store.
func outboxOf(t *testing.T, svc *app.Service, key string) (bodies []notify.Body, texts []string) {
	t.Helper()
	err := svc.Store.View(ctx, func(tx storage.Tx) error {
		due, err := tx.DueOutbox(ctx, svc.Now().AddDate(1, 0, 0), 10000)
		for _, m := range due {
			sealed, err := svc.Vault.Open(vaultField(m.Ref), m.BodySealed)
			if err != nil {
				return err
			}
			var b notify.Body
			if json.Unmarshal([]byte(sealed), &b) != nil || b.Key != key {
				continue
			}
			text, err := notify.Text(sealed)
			if err != nil {
				return err
			}
			bodies, texts = append(bodies, b), append(texts, text)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return bodies, texts
}

// A paid booking is confirmed to its account once, in the account's
// language, with the masked name and neither the full name, the ID number
// nor the booking code; a replayed payment (same key), a second payment
// (new key) and the sweep write no second one.
func TestBookingConfirmedMessage(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	if err := e.svc.SetLanguage(ctx, a, "vi"); err != nil {
		t.Fatal(err)
	}
	p := e.bind(t, a, "张三丰", 1)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID, RequestKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.outboxed(t, notify.KeyBookingConfirmed); len(got) != 0 {
		t.Fatalf("a held booking, not paid, was confirmed by message: %+v", got)
	}
	for range 2 { // the second is a replay of the same payment
		if _, err := e.svc.Pay(ctx, a, b.ID, "pay-1"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.svc.Pay(ctx, a, b.ID, "pay-2")
	wantKind(t, "paying a paid booking again", err, fairslot.Conflict)
	if err := e.svc.ReconcilePayments(ctx); err != nil {
		t.Fatal(err)
	}
	bodies, texts := e.outboxed(t, notify.KeyBookingConfirmed)
	if len(bodies) != 1 {
		t.Fatalf("booking confirmed messages = %d, want 1: %q", len(bodies), texts)
	}
	if bodies[0].Lang != "vi" || !strings.Contains(texts[0], "đã được thanh toán và xác nhận") {
		t.Errorf("the message is not in the account's language (vi): %s %q", bodies[0].Lang, texts[0])
	}
	text := texts[0]
	if !strings.Contains(text, "张*") {
		t.Errorf("the message does not name the patient masked: %q", text)
	}
	for _, secret := range []string{"张三丰", "三丰", residentID(1), residentID(1)[14:], b.Code} {
		if strings.Contains(text, secret) {
			t.Errorf("the message holds %q: %q", secret, text)
		}
	}
	for _, want := range []string{"Dr A", "Dept A", "08:00–08:30"} {
		if !strings.Contains(text, want) {
			t.Errorf("the message lacks %q: %q", want, text)
		}
	}
}

// A payment that comes too late (the hold expired) is refunded, and
// confirms nothing by message.
func TestLatePaymentConfirmsNothing(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345679")
	p := e.bind(t, a, "李四", 2)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID, RequestKey: "k2"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(b.HeldUntil.Sub(e.clock.Now()) + time.Second)
	if _, err := e.svc.Pay(ctx, a, b.ID, "pay-late"); err == nil {
		t.Fatal("a payment after the hold expired confirmed the booking")
	}
	if got, texts := e.outboxed(t, notify.KeyBookingConfirmed); len(got) != 0 {
		t.Errorf("a refused payment wrote a confirmation: %q", texts)
	}
}

// The login code goes out in the language the phone's account last used
// the pages in; for a phone without an account (or an account without a
// language), in the request's language; else in Chinese. A stranger's
// request language never overrides the owner's.
func TestLoginCodeLanguage(t *testing.T) {
	e := newEnv(t)
	lastLang := func(phone string) string {
		t.Helper()
		bodies, _ := e.outboxed(t, notify.KeyLoginCode)
		if len(bodies) == 0 {
			t.Fatal("no login code in the outbox")
		}
		return bodies[len(bodies)-1].Lang
	}
	for i, tt := range []struct{ reqLang, want string }{{"vi", "vi"}, {"en", "en"}, {"", "zh-CN"}, {"fr", "zh-CN"}, {"zh-CN", "zh-CN"}} {
		phone := fmt.Sprintf("1390000000%d", i)
		if err := e.svc.RequestLoginCode(ctx, app.Actor{Lang: tt.reqLang, Device: phone}, phone); err != nil {
			t.Fatal(err)
		}
		if got := lastLang(phone); got != tt.want {
			t.Errorf("a new phone asking in %q: the code in %q, want %q", tt.reqLang, got, tt.want)
		}
	}
	// The account's language wins over the request's.
	const phone = "13912345678"
	a := e.login(t, phone)
	if err := e.svc.SetLanguage(ctx, a, "vi"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.RequestLoginCode(ctx, app.Actor{Lang: "en", Device: "stranger"}, phone); err != nil {
		t.Fatal(err)
	}
	bodies, texts := e.outboxed(t, notify.KeyLoginCode)
	if b := bodies[len(bodies)-1]; b.Lang != "vi" || !strings.HasPrefix(texts[len(texts)-1], "Mã đăng nhập fairslot") {
		t.Errorf("an account that uses vi got its code in %q: %q", b.Lang, texts[len(texts)-1])
	}
}
