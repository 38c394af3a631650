package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// failMode is how a faultyStore fails a transaction.
type failMode int

const (
	// failBefore: the transaction never starts (the database is unreachable).
	failBefore failMode = iota + 1
	// failCommit: the transaction runs, then its commit fails: nothing is
	// written.
	failCommit
	// failAfterCommit: the commit succeeds, but its answer is lost: the
	// caller is told it failed.
	failAfterCommit
)

var errInjected = errors.New("injected database failure")

// faultyStore wraps a store to fail chosen transactions the ways a real
// database fails. A write transaction's operations are noted (see
// faultyTx), so that a rule can name the transaction it fails by what it
// did — "the one that confirms a booking" — rather than by a count that
// changes with the code.
type faultyStore struct {
	storage.Store
	mu   sync.Mutex
	down bool     // every transaction fails before it starts (a crash, a lost database)
	next failMode // the next write transaction fails so
	when func(ops []string) bool
	mode failMode // how the first write transaction matching when fails
}

// failWhen fails, as mode, the first write transaction whose operations
// match.
func (f *faultyStore) failWhen(match func(ops []string) bool, mode failMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.when, f.mode = match, mode
}

func (f *faultyStore) failNext(mode failMode) { f.mu.Lock(); f.next = mode; f.mu.Unlock() }
func (f *faultyStore) setDown(down bool)      { f.mu.Lock(); f.down = down; f.mu.Unlock() }

// heal drops every planned failure.
func (f *faultyStore) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.next, f.when = false, 0, nil
}

func (f *faultyStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return fmt.Errorf("begin: %w", errInjected)
	}
	return f.Store.View(ctx, fn)
}

func (f *faultyStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	f.mu.Lock()
	mode, down := f.next, f.down
	f.next = 0
	f.mu.Unlock()
	if down || mode == failBefore {
		return fmt.Errorf("begin: %w", errInjected)
	}
	err := f.Store.Update(ctx, func(tx storage.Tx) error {
		ft := &faultyTx{Tx: tx}
		if err := fn(ft); err != nil {
			return err
		}
		f.mu.Lock()
		if mode == 0 && f.when != nil && f.when(ft.ops) {
			mode, f.when = f.mode, nil
		}
		f.mu.Unlock()
		if mode == failCommit {
			return fmt.Errorf("commit: %w", errInjected) // the backend rolls it all back
		}
		return nil
	})
	if err == nil && mode == failAfterCommit {
		return fmt.Errorf("commit: %w", errInjected)
	}
	return err
}

// faultyTx notes the state changes a transaction makes, as "booking
// confirmed" or "payment refunded".
type faultyTx struct {
	storage.Tx
	ops []string
}

func (t *faultyTx) MoveBooking(ctx context.Context, id int64, from, to fairslot.Status, m storage.Move) error {
	err := t.Tx.MoveBooking(ctx, id, from, to, m)
	if err == nil {
		t.ops = append(t.ops, "booking "+string(to))
	}
	return err
}

// did matches a transaction that made the change op.
func did(op string) func([]string) bool {
	return func(ops []string) bool { return slices.Contains(ops, op) }
}

// heldOnFaultyStore is an env whose store fails as told, with a patient's
// account and a held booking of theirs to pay.
func heldOnFaultyStore(t *testing.T) (*env, *faultyStore, app.Actor, app.BookingView) {
	t.Helper()
	e := newEnv(t)
	fs := &faultyStore{Store: e.svc.Store}
	e.svc.Store = fs
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三", 1)
	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	return e, fs, a, held
}

// TestRetryAfterFailedCommit is the scenario (issue 11, item 8):
// the provider charges, the commit that would confirm the booking fails,
// and the patient retries with the same Idempotency-Key. The booking must
// never be confirmed on money the provider has refunded: the retry
// confirms it on the charge it keeps.
func TestRetryAfterFailedCommit(t *testing.T) {
	e, fs, a, held := heldOnFaultyStore(t)
	key := fmt.Sprintf("%d:pay-1", a.ID) // the key as the provider knows it

	fs.failWhen(did("booking confirmed"), failCommit)
	if _, err := e.svc.Pay(ctx, a, held.ID, "pay-1"); err == nil {
		t.Fatal("the payment succeeded though the commit confirming it failed")
	}
	got, err := e.svc.Pay(ctx, a, held.ID, "pay-1")
	b, _ := e.svc.Booking(ctx, a, held.ID)
	if b.Status == fairslot.Confirmed && e.pay.Refunded(key) {
		t.Fatalf("the booking is %s on a charge the provider refunded (the retry returned %v, %v)", b.Status, got.Status, err)
	}
	if err != nil || got.Status != fairslot.Confirmed || e.pay.Refunded(key) {
		t.Errorf("the retry = %v, %v (provider refunded: %v); want the booking confirmed on its kept charge", got.Status, err, e.pay.Refunded(key))
	}
}

// TestLostCommitAnswer: the commit that confirms the booking succeeds, but
// its answer is lost. The booking is confirmed, so its charge must be kept,
// not refunded for a failure that did not happen; a retry with the same key
// returns the confirmed booking.
func TestLostCommitAnswer(t *testing.T) {
	e, fs, a, held := heldOnFaultyStore(t)
	key := fmt.Sprintf("%d:pay-1", a.ID)

	fs.failWhen(did("booking confirmed"), failAfterCommit)
	if _, err := e.svc.Pay(ctx, a, held.ID, "pay-1"); err == nil {
		t.Fatal("the payment reported success though the commit's answer was lost")
	}
	b, _ := e.svc.Booking(ctx, a, held.ID)
	if b.Status != fairslot.Confirmed || e.pay.Refunded(key) {
		t.Fatalf("after a lost commit answer the booking is %s and the provider refunded: %v; want it confirmed on its kept charge", b.Status, e.pay.Refunded(key))
	}
	if got, err := e.svc.Pay(ctx, a, held.ID, "pay-1"); err != nil || got.Status != fairslot.Confirmed {
		t.Errorf("the retry = %v, %v; want the confirmed booking", got.Status, err)
	}
}
