// Package payment holds what fairslot knows of payment providers — the
// state of a charge as a provider reports it — and Sandbox, a provider that
// moves no money, for demos and tests. It never sees personal data, and the
// sandbox must never be used for real payments.
package payment

import (
	"context"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// State is what a provider holds under an idempotency key.
type State string

const (
	// None: nothing was ever charged under the key (or the request never
	// reached the provider).
	None State = "none"
	// Charged: the money was taken and is kept.
	Charged State = "charged"
	// Refunded: the money was returned, or the key was closed before
	// anything was taken; nothing more will be taken under it.
	Refunded State = "refunded"
	// Declined: the provider refused the charge; nothing was taken, and a
	// charge under the same key again is declined again.
	Declined State = "declined"
)

// Charge is what a provider reports for a key.
type Charge struct {
	State       State
	Ref         string // the provider's reference, once it gave one
	AmountCents int64
	// Payer is the payer's account at the provider — a wallet's buyer id,
	// an openid — as the provider authenticated it; "" when it names none.
	// It is opaque and personal: fairslot keeps only a keyed hash of it.
	Payer string
}

// WalletStandIn is a provider that stands in for the payer's wallet app
// (the Sandbox): no wallet authenticates a payer to it, so it learns the
// payer from the pay request. Only such a provider may be told a payer a
// client names; a real provider authenticates its payer itself and reports
// it in the Charge, and is never given one.
type WalletStandIn interface {
	// ChargeFor is Charge with the payer the pay request named, which the
	// charge then reports; a key already charged keeps the payer it was
	// first charged for.
	ChargeFor(ctx context.Context, key string, amountCents int64, reference, payer string) (Charge, error)
}

// PayerMax bounds a payer's account as a client names it.
const PayerMax = 128

// CheckPayer refuses a payer's account a client named that no wallet
// gives: empty, longer than PayerMax bytes, not UTF-8, or with control,
// format (a bidi override, a zero-width joiner) or space characters (a
// wallet's ids are printable tokens).
func CheckPayer(payer string) error {
	switch {
	case payer == "":
		return errors.New("the payer is empty")
	case len(payer) > PayerMax:
		return fmt.Errorf("the payer is longer than %d bytes", PayerMax)
	case !utf8.ValidString(payer):
		return errors.New("the payer is not UTF-8")
	}
	for _, r := range payer {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return fmt.Errorf("the payer holds the character %q", r)
		}
	}
	return nil
}
