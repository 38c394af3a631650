package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// Sandbox is an in-memory provider that settles every charge at once,
// idempotent by key, and honest about what it holds: a key that was
// refunded stays refunded (a charge under it again takes nothing and says
// so), a refund of a key never charged closes it, and Status reports
// without changing anything. Its ledger lives as long as the process.
type Sandbox struct {
	// Decline, when set, is asked before a new charge is taken; true
	// declines it (the key then stays declined), as a card might be.
	Decline func(key string, amountCents int64) bool

	mu      sync.Mutex
	charges map[string]Charge
}

func NewSandbox() *Sandbox { return &Sandbox{charges: map[string]Charge{}} }

func (s *Sandbox) Name() string { return "sandbox" }

// Charge takes amount under key once, for no payer the sandbox knows of
// (ChargeFor names one). The same key again takes nothing and reports what
// the key holds (charged, refunded or declined); the same key with another
// amount while charged is refused as a caller's mistake.
func (s *Sandbox) Charge(ctx context.Context, key string, amount int64, reference string) (Charge, error) {
	return s.ChargeFor(ctx, key, amount, reference, "")
}

// ChargeFor is Charge for payer, the payer's account the pay request named
// (the sandbox stands in for the wallet app that would authenticate it):
// the charge reports it as its Payer. A key already charged keeps the
// payer it was first charged for. A payer CheckPayer refuses is refused.
func (s *Sandbox) ChargeFor(_ context.Context, key string, amount int64, reference, payer string) (Charge, error) {
	if payer != "" {
		if err := CheckPayer(payer); err != nil {
			return Charge{}, fmt.Errorf("sandbox: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.charges[key]; ok {
		if c.State == Charged && c.AmountCents != amount {
			return Charge{}, fmt.Errorf("sandbox: key %q reused with another amount", key)
		}
		return c, nil
	}
	if s.Decline != nil && s.Decline(key, amount) {
		c := Charge{State: Declined, AmountCents: amount, Payer: payer}
		s.charges[key] = c
		return c, nil
	}
	sum := sha256.Sum256([]byte(key + "\x00" + reference))
	c := Charge{State: Charged, Ref: "sbx_" + hex.EncodeToString(sum[:8]), AmountCents: amount, Payer: payer}
	s.charges[key] = c
	return c, nil
}

// Refund returns what was taken under key and closes the key: a charge
// under it later takes nothing and reports Refunded. Refunding twice, or a
// key never charged, is not an error; a declined key stays declined.
func (s *Sandbox) Refund(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.charges[key]
	switch c.State {
	case Declined, Refunded:
		return nil
	case "":
		c = Charge{} // closed unused: nothing was taken
	}
	c.State = Refunded
	s.charges[key] = c
	return nil
}

// Status reports what key holds: None when nothing was ever asked of it.
func (s *Sandbox) Status(_ context.Context, key string) (Charge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.charges[key]; ok {
		return c, nil
	}
	return Charge{State: None}, nil
}

// Refunded reports whether key is refunded (or was closed unused).
func (s *Sandbox) Refunded(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges[key].State == Refunded
}

// Held returns the money the sandbox keeps, by key: every charge taken and
// not refunded.
func (s *Sandbox) Held() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := map[string]int64{}
	for k, c := range s.charges {
		if c.State == Charged {
			held[k] = c.AmountCents
		}
	}
	return held
}
