package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// intent is a pending payment of booking b under key.
func intent(key string, b *fairslot.Booking, at time.Time) storage.Payment {
	return storage.Payment{Key: key, BookingID: b.ID, AmountCents: b.FeeCents, Provider: "sandbox", Status: storage.PaymentPending, CreatedAt: at}
}

func insertPayment(s storage.Store, p storage.Payment) error {
	return s.Update(ctx, func(tx storage.Tx) error { return tx.InsertPayment(ctx, p) })
}

func movePayment(s storage.Store, key string, from, to storage.PaymentStatus, m storage.PaymentMove) error {
	return s.Update(ctx, func(tx storage.Tx) error { return tx.MovePayment(ctx, key, from, to, m) })
}

func readPayment(t *testing.T, s storage.Store, key string) (p storage.Payment) {
	t.Helper()
	if err := s.View(ctx, func(tx storage.Tx) (err error) { p, err = tx.Payment(ctx, key); return err }); err != nil {
		t.Fatalf("Payment(%q): %v", key, err)
	}
	return p
}

// settle confirms booking b and settles its payment key in one transaction,
// as a payment does.
func settle(s storage.Store, b *fairslot.Booking, key, ref string) error {
	return s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.MoveBooking(ctx, b.ID, fairslot.Held, fairslot.Confirmed, storage.Move{At: base, MissedCalls: -1}); err != nil {
			return err
		}
		return tx.MovePayment(ctx, key, storage.PaymentPending, storage.PaymentSettled, storage.PaymentMove{At: base, ProviderRef: ref})
	})
}

// testPayments: keys are unique, a booking has one live payment, and only a
// confirmed booking takes a settled one.
func testPayments(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 3)
	b1, b2 := newBooking(f, f.slots[0], ps[0].ID, fairslot.Held), newBooking(f, f.slots[1], ps[1].ID, fairslot.Held)
	desk := newBooking(f, f.slots[2], ps[2].ID, fairslot.Confirmed)
	for _, b := range []*fairslot.Booking{b1, b2, desk} {
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
	}
	if err := insertPayment(s, intent("p1", b1, base)); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "a second live payment for a booking", insertPayment(s, intent("p2", b1, base)), fairslot.Conflict)
	wantKind(t, "a key reused for another booking", insertPayment(s, intent("p1", b2, base)), fairslot.Conflict)
	settledHeld := intent("p3", b2, base)
	settledHeld.Status = storage.PaymentSettled
	wantKind(t, "a settled payment onto a held booking", insertPayment(s, settledHeld), fairslot.Conflict)
	refunded := intent("p4", b2, base)
	refunded.Status = storage.PaymentRefunded
	wantKind(t, "a payment inserted refunded", insertPayment(s, refunded), fairslot.Conflict)
	paidAtDesk := intent("desk:1", desk, base)
	paidAtDesk.Status, paidAtDesk.Provider, paidAtDesk.ProviderRef = storage.PaymentSettled, "desk", desk.Code
	if err := insertPayment(s, paidAtDesk); err != nil {
		t.Errorf("a settled payment onto a confirmed booking (the desk): %v", err)
	}

	p := readPayment(t, s, "p1")
	want := storage.Payment{Key: "p1", BookingID: b1.ID, AmountCents: 5000, Provider: "sandbox", Status: storage.PaymentPending}
	if p.Key != want.Key || p.BookingID != want.BookingID || p.AmountCents != want.AmountCents || p.Provider != want.Provider ||
		p.Status != want.Status || p.ProviderRef != "" || p.Attempts != 0 || !p.CreatedAt.Equal(base) || !p.UpdatedAt.Equal(base) {
		t.Errorf("Payment = %+v; want %+v created and updated at %v", p, want, base)
	}
	s.View(ctx, func(tx storage.Tx) error {
		if p, err := tx.PaymentOf(ctx, b1.ID); err != nil || p.Key != "p1" {
			t.Errorf("PaymentOf = %+v, %v; want the pending p1", p, err)
		}
		if _, err := tx.PaymentOf(ctx, b2.ID); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("PaymentOf a booking without a payment: %v, want not found", err)
		}
		if _, err := tx.Payment(ctx, "nope"); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("Payment of an unknown key: %v, want not found", err)
		}
		return nil
	})
}

// testPaymentLifecycle: only the lifecycle's transitions, conditional on
// the status, a payment settles only a confirmed booking, its reference is
// set once, and a refunded payment frees its booking for another key.
func testPaymentLifecycle(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 2)
	b1, b2 := newBooking(f, f.slots[0], ps[0].ID, fairslot.Held), newBooking(f, f.slots[1], ps[1].ID, fairslot.Held)
	for _, b := range []*fairslot.Booking{b1, b2} {
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
	}
	at := base.Add(time.Minute)
	if err := insertPayment(s, intent("k1", b1, base)); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "settling onto a held booking",
		movePayment(s, "k1", storage.PaymentPending, storage.PaymentSettled, storage.PaymentMove{At: at, ProviderRef: "r1"}), fairslot.Conflict)
	wantKind(t, "a move from a status the payment is not in",
		movePayment(s, "k1", storage.PaymentSettled, storage.PaymentRefunding, storage.PaymentMove{At: at}), fairslot.Conflict)
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.PaymentAttempt(ctx, "k1", at) }); err != nil {
		t.Fatal(err)
	}
	if p := readPayment(t, s, "k1"); p.Attempts != 1 || !p.UpdatedAt.Equal(at) || p.Status != storage.PaymentPending {
		t.Errorf("after an attempt: %+v; want 1 attempt, updated at %v, still pending", p, at)
	}
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.PaymentAttempt(ctx, "nope", at) })
	wantKind(t, "an attempt at an unknown payment", err, fairslot.NotFound)
	if err := settle(s, b1, "k1", "r1"); err != nil {
		t.Fatalf("settling with the booking's confirmation: %v", err)
	}
	p := readPayment(t, s, "k1")
	if p.Status != storage.PaymentSettled || p.ProviderRef != "r1" || p.Attempts != 0 || !p.UpdatedAt.Equal(base) {
		t.Errorf("settled payment = %+v; want settled, ref r1, attempts reset, updated at %v", p, base)
	}
	for _, tr := range []struct{ from, to storage.PaymentStatus }{
		{storage.PaymentSettled, storage.PaymentPending},
		{storage.PaymentSettled, storage.PaymentRefunded}, // a refund is always recorded as begun first
		{storage.PaymentSettled, storage.PaymentDeclined},
	} {
		wantKind(t, fmt.Sprintf("%s → %s", tr.from, tr.to), movePayment(s, "k1", tr.from, tr.to, storage.PaymentMove{At: at}), fairslot.Conflict)
	}
	wantKind(t, "changing the provider's reference",
		movePayment(s, "k1", storage.PaymentSettled, storage.PaymentRefunding, storage.PaymentMove{At: at, ProviderRef: "other"}), fairslot.Conflict)
	if err := movePayment(s, "k1", storage.PaymentSettled, storage.PaymentRefunding, storage.PaymentMove{At: at}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "refunding → settled", movePayment(s, "k1", storage.PaymentRefunding, storage.PaymentSettled, storage.PaymentMove{At: at}), fairslot.Conflict)
	if err := movePayment(s, "k1", storage.PaymentRefunding, storage.PaymentRefunded, storage.PaymentMove{At: at}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []storage.PaymentStatus{storage.PaymentPending, storage.PaymentSettled, storage.PaymentRefunding} {
		wantKind(t, "refunded → "+string(to), movePayment(s, "k1", storage.PaymentRefunded, to, storage.PaymentMove{At: at}), fairslot.Conflict)
	}
	if p := readPayment(t, s, "k1"); p.Status != storage.PaymentRefunded || p.ProviderRef != "r1" {
		t.Errorf("refunded payment = %+v; want refunded, keeping ref r1", p)
	}
	s.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.PaymentOf(ctx, b1.ID); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("PaymentOf a booking whose payment was refunded: %v, want not found", err)
		}
		return nil
	})

	// A pending payment the provider declined, or reports refunded, frees
	// the booking for a new key; so does one refunded through refunding.
	for i, to := range []storage.PaymentStatus{storage.PaymentDeclined, storage.PaymentRefunded, storage.PaymentRefunding} {
		key := fmt.Sprint("b2-", i)
		if err := insertPayment(s, intent(key, b2, base)); err != nil {
			t.Fatalf("intent %s after a %s one: %v", key, to, err)
		}
		if err := movePayment(s, key, storage.PaymentPending, to, storage.PaymentMove{At: at}); err != nil {
			t.Errorf("pending → %s: %v", to, err)
		}
	}
	if err := insertPayment(s, intent("b2-last", b2, base)); err != nil {
		t.Fatal(err)
	}
	if err := settle(s, b2, "b2-last", "r2"); err != nil {
		t.Errorf("settling the last of several keys: %v", err)
	}
	wantKind(t, "a new intent for a paid booking", insertPayment(s, intent("b2-more", b2, base)), fairslot.Conflict)
}

// testDuePayments: the sweep sees pending and refunding payments of its
// provider not touched since before, longest-waiting first, up to limit.
func testDuePayments(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 8)
	ps := newPatients(t, s, 6)
	var bs []*fairslot.Booking
	for i, p := range ps {
		b := newBooking(f, f.slots[i], p.ID, fairslot.Held)
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	// k0 pending at +3m, k1 pending at +1m, k2 refunding at +2m, k3 settled,
	// k4 another provider's pending, k5 pending at +10m (not yet due).
	mins := func(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }
	for i, at := range []time.Time{mins(3), mins(1), base, base, mins(1), mins(10)} {
		p := intent(fmt.Sprint("k", i), bs[i], at)
		if i == 4 {
			p.Provider = "other"
		}
		if err := insertPayment(s, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := movePayment(s, "k2", storage.PaymentPending, storage.PaymentRefunding, storage.PaymentMove{At: mins(2)}); err != nil {
		t.Fatal(err)
	}
	if err := settle(s, bs[3], "k3", "r3"); err != nil {
		t.Fatal(err)
	}
	due := func(before time.Time, limit int) (keys []string) {
		t.Helper()
		err := s.View(ctx, func(tx storage.Tx) error {
			ps, err := tx.DuePayments(ctx, "sandbox", before, limit)
			for _, p := range ps {
				keys = append(keys, p.Key)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	if got, want := fmt.Sprint(due(mins(5), 10)), "[k1 k2 k0]"; got != want {
		t.Errorf("DuePayments(+5m) = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(due(mins(5), 2)), "[k1 k2]"; got != want {
		t.Errorf("DuePayments(+5m, limit 2) = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(due(mins(2), 10)), "[k1 k2]"; got != want {
		t.Errorf("DuePayments(+2m) = %s, want %s (at the instant counts)", got, want)
	}
	// An attempt puts a payment at the back of the line.
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.PaymentAttempt(ctx, "k1", mins(4)) }); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(due(mins(5), 10)), "[k2 k0 k1]"; got != want {
		t.Errorf("DuePayments after an attempt at k1 = %s, want %s", got, want)
	}
}

// testConcurrentPayments: writers racing for one booking's payment never
// leave two live payments, and of a settle and a refund racing for one
// payment exactly one wins, the booking following the winner.
func testConcurrentPayments(t *testing.T, s storage.Store) {
	const rounds, keys = 8, 12
	f := newFixture(t, s, rounds)
	ps := newPatients(t, s, rounds)
	for r := 0; r < rounds; r++ {
		b := newBooking(f, f.slots[r], ps[r].ID, fairslot.Held)
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, keys)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = insertPayment(s, intent(fmt.Sprintf("r%d-k%d", r, i), b, base))
			}()
		}
		wg.Wait()
		var won string
		for i, err := range errs {
			switch {
			case err == nil && won != "":
				t.Fatalf("round %d: two live intents for one booking: %s and key %d", r, won, i)
			case err == nil:
				won = fmt.Sprintf("r%d-k%d", r, i)
			case fairslot.ErrorKind(err) != fairslot.Conflict && fairslot.ErrorKind(err) != fairslot.Unavailable:
				t.Errorf("round %d: a losing intent failed with %v, want a conflict", r, err)
			}
		}
		if won == "" {
			t.Fatalf("round %d: no intent was stored", r)
		}
		var settleErr, refundErr error
		wg.Add(2)
		go func() { defer wg.Done(); settleErr = settle(s, b, won, "ref") }()
		go func() {
			defer wg.Done()
			refundErr = movePayment(s, won, storage.PaymentPending, storage.PaymentRefunding, storage.PaymentMove{At: base})
		}()
		wg.Wait()
		if (settleErr == nil) == (refundErr == nil) {
			t.Fatalf("round %d: settle = %v, refund = %v; want exactly one to win", r, settleErr, refundErr)
		}
		p := readPayment(t, s, won)
		var got fairslot.Booking
		s.View(ctx, func(tx storage.Tx) (err error) { got, err = tx.Booking(ctx, b.ID); return err })
		if settleErr == nil && (p.Status != storage.PaymentSettled || got.Status != fairslot.Confirmed) ||
			refundErr == nil && (p.Status != storage.PaymentRefunding || got.Status != fairslot.Held) {
			t.Errorf("round %d: settle %v, refund %v left the payment %s and the booking %s", r, settleErr, refundErr, p.Status, got.Status)
		}
	}
}
