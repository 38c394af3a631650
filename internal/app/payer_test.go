package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/riskwatch"
	"github.com/fairslot/fairslot/internal/storage"
)

// sharedPayer is the account's shared-payer reason, if it has one.
func sharedPayer(d risk.Decision) (risk.Reason, bool) {
	i := slices.IndexFunc(d.Score.Reasons, func(r risk.Reason) bool { return r.Signal == risk.SharedPayer })
	if i < 0 {
		return risk.Reason{}, false
	}
	return d.Score.Reasons[i], true
}

// TestRiskPaySharedPayer: six identities on three accounts, each paid by
// one wallet account, make each of the three score the shared payer, with
// its explanation; a family paying for its own three does not, nor does
// the scalper's seventh payment through another provider's id space. The
// pay event carries a keyed hash of (provider, payer), never the payer.
func TestRiskPaySharedPayer(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "GEN") // first come, first served
	m, err := riskwatch.New(svc.Store, riskwatch.Config{Rules: risk.DefaultRules(loc), Policy: risk.DefaultPolicy(), Now: svc.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc.Risk = m
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base, _ := time.ParseInLocation(time.DateOnly, day, loc)
	var sessions []fairslot.Session
	for i := range 3 {
		sessions = append(sessions, w.session(t, base.AddDate(0, 0, i).Format(time.DateOnly), fairslot.Morning, 8))
	}
	var group []app.Actor
	var groupPatients [][]int64
	for i := range 3 {
		a, ids := w.account(t, fmt.Sprintf("1391111%04d", i), 2)
		a.Device, a.Addr = fmt.Sprintf("phone-%d", i), fmt.Sprintf("198.51.%d.0/24", i) // no shared device or prefix
		group, groupPatients = append(group, a), append(groupPatients, ids)
	}
	family, kin := w.account(t, "13922220000", 3)
	family.Device, family.Addr = "family-phone", "203.0.113.0/24"

	// Each day's release, every account books and pays for its next
	// patient: the group through one wallet, the family through its own.
	n := 0
	pay := func(a app.Actor, patients []int64, day int, payer string) {
		t.Helper()
		if day >= len(patients) {
			return
		}
		b, err := svc.Hold(ctx, a, app.HoldInput{SessionID: sessions[day].ID, PatientID: patients[day]})
		if err != nil {
			t.Fatal(err)
		}
		n++
		if v, err := svc.PayAs(ctx, a, b.ID, fmt.Sprint("pay-", n), payer); err != nil || v.Status != fairslot.Confirmed {
			t.Fatalf("PayAs = %+v, %v", v, err)
		}
	}
	for d := range sessions {
		c.now = releaseAt.AddDate(0, 0, d).Add(time.Minute)
		for i, a := range group {
			pay(a, groupPatients[i], d, "wx-scalper-wallet")
		}
		pay(family, kin, d, "wx-family-wallet")
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for i, a := range group {
		r, ok := sharedPayer(m.Decision(a.ID))
		if !ok {
			t.Errorf("group account %d: reasons %v, want the shared payer", i, m.Decision(a.ID).Score.Reasons)
			continue
		}
		if s := r.String(); !strings.Contains(s, "its payer paid for 6 identities") || len(r.Evidence) != 1 || !strings.HasPrefix(r.Evidence[0], "payer ") {
			t.Errorf("group account %d: %q, evidence %v; want its payer paid for 6 identities, the payer masked", i, s, r.Evidence)
		}
	}
	if r, ok := sharedPayer(m.Decision(family.ID)); ok {
		t.Errorf("the family scores %v", r)
	}

	// The events: a keyed hash, one per (provider, payer), the payer nowhere.
	payers := map[int64]string{}
	for _, ev := range riskEvents(t, svc) {
		if ev.Kind != storage.RiskPay {
			continue
		}
		h := ev.Detail["payer"]
		if len(h) < 32 || strings.Contains(h, "wallet") {
			t.Errorf("a pay event's payer = %q, want a keyed hash", h)
		}
		if old, ok := payers[ev.AccountID]; ok && old != h {
			t.Errorf("account %d's payer hash changed: %q, %q", ev.AccountID, old, h)
		}
		payers[ev.AccountID] = h
		if e, ok := riskwatch.Event(ev); !ok || e.Payer != h {
			t.Errorf("the monitor reads payer %q from %v", e.Payer, ev.Detail)
		}
	}
	if payers[group[0].ID] != payers[group[2].ID] || payers[group[0].ID] == payers[family.ID] || len(payers) != 4 {
		t.Errorf("payer hashes by account %v: want the group's alike, the family's apart", payers)
	}
	if want := svc.ClientHash("payer", "sandbox\x00wx-scalper-wallet"); payers[group[0].ID] != want ||
		svc.ClientHash("payer", "othersandbox\x00wx-scalper-wallet") == want {
		t.Error("the payer hash is not keyed by the provider and the payer")
	}
}

// realProvider is a provider that authenticates its payers itself: not a
// wallet stand-in, and it names the payer in every charge.
type realProvider struct{ sb *payment.Sandbox }

func (p realProvider) Name() string { return "wxpay" }
func (p realProvider) Charge(ctx context.Context, key string, amount int64, ref string) (payment.Charge, error) {
	return p.sb.ChargeFor(ctx, key, amount, ref, "o-real-openid")
}
func (p realProvider) Refund(ctx context.Context, key string) error { return p.sb.Refund(ctx, key) }
func (p realProvider) Status(ctx context.Context, key string) (payment.Charge, error) {
	return p.sb.Status(ctx, key)
}

// TestPayerNamedByTheRequest: the sandbox takes a payer from the request;
// a real provider is never told one (the request is refused, nothing
// taken) and its own payer reaches the risk event; a payer no wallet
// gives (too long, control characters, spaces) is refused with its key,
// and the booking stays held, payable again; a retry naming another payer
// keeps the first.
func TestPayerNamedByTheRequest(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三", 1)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{strings.Repeat("x", payment.PayerMax+1), "wx\r\nX-Evil: 1", "a\x00b", "two words", "\u202ewx"} {
		_, err := e.svc.PayAs(ctx, a, b.ID, "k-bad", bad)
		if wantKind(t, fmt.Sprintf("payer %q", bad), err, fairslot.Invalid); errorKey(err) != "error.pay.payer" {
			t.Errorf("payer %q: key %q, want error.pay.payer", bad, errorKey(err))
		}
	}
	if len(e.pay.Held()) != 0 {
		t.Fatalf("a refused payer took money: %v", e.pay.Held())
	}
	if v, err := e.svc.PayAs(ctx, a, b.ID, "k1", "wx-1"); err != nil || v.Status != fairslot.Confirmed {
		t.Fatalf("PayAs after refusals = %+v, %v", v, err)
	}
	if v, err := e.svc.PayAs(ctx, a, b.ID, "k1", "wx-2"); err != nil || v.Status != fairslot.Confirmed {
		t.Fatalf("a retry naming another payer = %+v, %v", v, err)
	}
	if c, _ := e.pay.Status(ctx, fmt.Sprintf("%d:k1", a.ID)); c.Payer != "wx-1" {
		t.Errorf("the charge's payer = %q, want wx-1 kept", c.Payer)
	}

	// A real provider: a payer the request names is refused, its own kept.
	e.svc.Payments = realProvider{payment.NewSandbox()}
	q := e.bind(t, a, "李四", 2)
	b2, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: q.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.PayAs(ctx, a, b2.ID, "k2", "wx-forged")
	if wantKind(t, "a payer named to a real provider", err, fairslot.Invalid); errorKey(err) != "error.pay.payer_named" {
		t.Errorf("key %q, want error.pay.payer_named", errorKey(err))
	}
	if v, err := e.svc.Pay(ctx, a, b2.ID, "k2"); err != nil || v.Status != fairslot.Confirmed {
		t.Fatalf("Pay through the real provider = %+v, %v", v, err)
	}
	var got []string
	for _, ev := range riskEvents(t, e.svc) {
		if ev.Kind == storage.RiskPay {
			got = append(got, ev.Detail["payer"])
		}
	}
	want := []string{e.svc.ClientHash("payer", "sandbox\x00wx-1"), e.svc.ClientHash("payer", "wxpay\x00o-real-openid")}
	if !slices.Equal(got, want) {
		t.Errorf("the pay events' payers = %q, want %q", got, want)
	}
}

// TestPayerSurvivesALostAnswer: a charge whose answer is lost is settled
// later — by the same key's retry, which names no payer, or by the sweep,
// which asks the provider's Status — and either way the pay event names
// the payer the charge was taken for: the provider reports it, not the
// request that happened to finish the payment.
func TestPayerSurvivesALostAnswer(t *testing.T) {
	for _, by := range []string{"retry", "sweep"} {
		t.Run(by, func(t *testing.T) {
			pe := newPayEnv(t, newLightEnv(t))
			pe.prov.plan("charge", lostAnswer)
			if _, err := pe.svc.PayAs(ctx, pe.a, pe.held.ID, "k", "wx-lost"); fairslot.ErrorKind(err) != fairslot.Conflict {
				t.Fatalf("a lost answer: %v, want the payment in progress", err)
			}
			if by == "retry" {
				if v, err := pe.payKey("k"); err != nil || v.Status != fairslot.Confirmed {
					t.Fatalf("the retry = %+v, %v", v, err)
				}
			} else {
				pe.clock.now = pe.clock.now.Add(grace + time.Second)
				if err := pe.svc.ReconcilePayments(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, ev := range riskEvents(t, pe.svc) {
				if ev.Kind == storage.RiskPay {
					got = append(got, ev.Detail["payer"])
				}
			}
			if want := pe.svc.ClientHash("payer", "sandbox\x00wx-lost"); len(got) != 1 || got[0] != want {
				t.Errorf("the pay events' payers = %q, want one, %s", got, want)
			}
		})
	}
}
