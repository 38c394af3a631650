package payment_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/payment"
)

var ctx = context.Background()

// TestSandboxIsHonest: a charge is taken once per key; a refunded key stays
// refunded and a charge under it again takes nothing and says so; a refund
// of a key never charged closes it; a declined key stays declined; Status
// changes nothing.
func TestSandboxIsHonest(t *testing.T) {
	s := payment.NewSandbox()
	s.Decline = func(key string, _ int64) bool { return key == "declined" }
	check := func(what string, got payment.Charge, err error, want payment.State) {
		t.Helper()
		if err != nil || got.State != want {
			t.Errorf("%s = %+v, %v; want %s", what, got, err, want)
		}
	}

	c, err := s.Status(ctx, "k")
	check("Status of an unknown key", c, err, payment.None)
	first, err := s.Charge(ctx, "k", 5000, "CODE")
	check("Charge", first, err, payment.Charged)
	if first.Ref == "" || first.AmountCents != 5000 {
		t.Errorf("Charge = %+v; want a reference and the amount", first)
	}
	again, err := s.Charge(ctx, "k", 5000, "CODE")
	if err != nil || again != first {
		t.Errorf("Charge again = %+v, %v; want the same charge %+v", again, err, first)
	}
	if _, err := s.Charge(ctx, "k", 6000, "CODE"); err == nil {
		t.Error("a key reused with another amount was accepted")
	}
	if held := s.Held(); len(held) != 1 || held["k"] != 5000 {
		t.Errorf("Held = %v; want 5000 under k once", held)
	}

	if err := s.Refund(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Refund(ctx, "k"); err != nil {
		t.Errorf("refunding twice: %v", err)
	}
	c, err = s.Charge(ctx, "k", 5000, "CODE")
	check("Charge of a refunded key", c, err, payment.Refunded)
	if c.Ref != first.Ref || !s.Refunded("k") || len(s.Held()) != 0 {
		t.Errorf("after the refund: %+v, refunded %v, held %v; want the charge refunded, nothing held", c, s.Refunded("k"), s.Held())
	}

	// A key closed before its charge arrives takes nothing.
	if err := s.Refund(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	c, err = s.Charge(ctx, "late", 5000, "CODE")
	check("Charge of a key closed unused", c, err, payment.Refunded)
	if len(s.Held()) != 0 {
		t.Errorf("a closed key took money: %v", s.Held())
	}

	c, err = s.Charge(ctx, "declined", 5000, "CODE")
	check("a declined charge", c, err, payment.Declined)
	s.Decline = nil
	c, err = s.Charge(ctx, "declined", 5000, "CODE")
	check("a declined key charged again", c, err, payment.Declined)
	if err := s.Refund(ctx, "declined"); err != nil {
		t.Errorf("refunding a declined key: %v", err)
	}
	c, err = s.Status(ctx, "declined")
	check("Status of a declined key after a refund", c, err, payment.Declined)
	if len(s.Held()) != 0 {
		t.Errorf("Held = %v; want nothing", s.Held())
	}
}

// TestSandboxNamesThePayer: a charge reports the payer the pay request
// named (the sandbox stands in for the wallet), and none when none was
// named; the key keeps its first payer through a retry naming another, a
// refund and Status; a payer no wallet gives is refused and takes nothing.
func TestSandboxNamesThePayer(t *testing.T) {
	s := payment.NewSandbox()
	var _ payment.WalletStandIn = s
	c, err := s.ChargeFor(ctx, "k", 5000, "CODE", "wx-buyer-1")
	if err != nil || c.State != payment.Charged || c.Payer != "wx-buyer-1" {
		t.Fatalf("ChargeFor = %+v, %v; want charged for wx-buyer-1", c, err)
	}
	if c, err := s.ChargeFor(ctx, "k", 5000, "CODE", "wx-buyer-2"); err != nil || c.Payer != "wx-buyer-1" {
		t.Errorf("a retry naming another payer = %+v, %v; want the first payer kept", c, err)
	}
	if c, err := s.Charge(ctx, "plain", 5000, "CODE"); err != nil || c.Payer != "" {
		t.Errorf("Charge without a payer = %+v, %v; want no payer", c, err)
	}
	if err := s.Refund(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Status(ctx, "k"); err != nil || c.State != payment.Refunded || c.Payer != "wx-buyer-1" {
		t.Errorf("Status after the refund = %+v, %v; want refunded, still wx-buyer-1's", c, err)
	}
	for _, bad := range []string{strings.Repeat("p", payment.PayerMax+1), "a\nb", "a\x00b", "a b", "\x1b[31m", "\xff\xfe", "a\u2028b", "\u202ewx", "w\u200dx"} {
		if _, err := s.ChargeFor(ctx, "bad", 5000, "CODE", bad); err == nil {
			t.Errorf("ChargeFor with payer %q was accepted", bad)
		}
	}
	if c, _ := s.Status(ctx, "bad"); c.State != payment.None {
		t.Errorf("a refused payer left the key %s", c.State)
	}
	if err := payment.CheckPayer(strings.Repeat("p", payment.PayerMax)); err != nil {
		t.Errorf("a payer of %d bytes: %v", payment.PayerMax, err)
	}
	if err := payment.CheckPayer("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"); err != nil {
		t.Errorf("an openid: %v", err)
	}
}
