// Package payment holds what fairslot knows of payment providers — the
// state of a charge as a provider reports it — and Sandbox, a provider that
// moves no money, for demos and tests. It never sees personal data, and the
// sandbox must never be used for real payments.
package payment

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
}
