// Package payment holds payment providers. Sandbox settles every charge at
// once without moving money, for demos and tests; it must never be used for
// real payments.
package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// Sandbox is an in-memory provider, idempotent by key.
type Sandbox struct {
	mu      sync.Mutex
	charges map[string]charge
}

type charge struct {
	amount   int64
	ref      string
	refunded bool
}

func NewSandbox() *Sandbox { return &Sandbox{charges: map[string]charge{}} }

func (s *Sandbox) Name() string { return "sandbox" }

// Charge settles a charge; the same key again returns the same reference,
// and the same key with another amount is refused.
func (s *Sandbox) Charge(_ context.Context, key string, amount int64, reference string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.charges[key]; ok {
		if c.amount != amount {
			return "", fmt.Errorf("sandbox: key %q reused with another amount", key)
		}
		return c.ref, nil
	}
	sum := sha256.Sum256([]byte(key + "\x00" + reference))
	c := charge{amount: amount, ref: "sbx_" + hex.EncodeToString(sum[:8])}
	s.charges[key] = c
	return c.ref, nil
}

// Refund marks a charge refunded; refunding twice is not an error.
func (s *Sandbox) Refund(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.charges[key]
	if !ok {
		return fmt.Errorf("sandbox: no charge with key %q", key)
	}
	c.refunded = true
	s.charges[key] = c
	return nil
}

// Refunded reports whether the charge with key was refunded.
func (s *Sandbox) Refunded(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges[key].refunded
}
