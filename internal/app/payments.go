package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/storage"
)

// How a payment stays consistent whatever fails where.
//
// Pay records the payment's intent (pending, with its amount and key)
// before it asks the provider; asks the provider; and then, in one
// transaction, settles the payment and confirms the booking — or, when the
// booking can no longer take the money, marks the payment refunding and
// refunds it. Every step is a conditional write from the status it expects,
// so a retry, a concurrent request, a cancellation and the sweep may
// interleave anywhere and exactly one of them makes each transition. A step
// cut short — a lost answer, a failed commit, a crash, a failed refund —
// leaves a pending or refunding row: the same key's retry resumes it, and
// the sweep reconciles it after PaymentGrace by asking the provider what it
// holds. The provider's Refund closes a key, so a charge still on its way
// when the sweep gives up on it takes nothing; a charge the provider reports
// refunded is never settled. So a booking is confirmed exactly when one
// charge for it is settled and kept, and money taken for a booking that was
// not confirmed goes back.

var (
	errPaymentInProgress = &fairslot.Error{Kind: fairslot.Conflict, RetryAfter: 5 * time.Second, Key: "error.pay.processing",
		Message: "the payment is being processed; retry in a few seconds with the same Idempotency-Key"}
	errOtherPaymentInProgress = &fairslot.Error{Kind: fairslot.Conflict, RetryAfter: 5 * time.Second, Key: "error.pay.processing",
		Message: "another payment for this booking is being processed; retry in a few seconds"}
	errPaymentRefunded = &fairslot.Error{Kind: fairslot.Gone, Key: "error.pay.refunded",
		Message: "this payment was refunded; pay again with a new Idempotency-Key"}
	errPaymentDeclined = &fairslot.Error{Kind: fairslot.Conflict, Key: "error.pay.declined",
		Message: "the payment was declined; pay again with a new Idempotency-Key"}
)

// refundNote is a refusal to take a payment whose money is being returned:
// the refusal's own message, saying so.
func refundNote(err error) error {
	return &fairslot.Error{Kind: fairslot.ErrorKind(err), Message: fairslot.ErrorMessage(err) + "; the payment is being refunded",
		Key: "error.pay.refunding"}
}

// errRaced marks a conditional write that another writer got to first: the
// step reads again and is redone. On SQLite a write transaction sees no
// other writer; on PostgreSQL (READ COMMITTED) each statement sees what
// committed before it, so a payment read pending may be settled by the time
// its booking is read, and the conditional write that follows is what
// catches it.
var errRaced = errors.New("raced")

// providerError is a call to the payment provider whose outcome is unknown.
type providerError struct{ err error }

func (e providerError) Error() string { return "payment provider: " + e.err.Error() }
func (e providerError) Unwrap() error { return e.err }

func (s *Service) paymentTimeout() time.Duration {
	if s.PaymentTimeout > 0 {
		return s.PaymentTimeout
	}
	return 15 * time.Second
}

func (s *Service) paymentGrace() time.Duration {
	if s.PaymentGrace > 0 {
		return s.PaymentGrace
	}
	return 2 * time.Minute
}

// Pay pays a held booking through the payment provider. The key makes it
// idempotent: a retry with it returns the paid booking and charges nothing
// more, or resumes a payment cut short; a key whose payment was refunded or
// declined is spent.
func (s *Service) Pay(ctx context.Context, a Actor, bookingID int64, key string) (BookingView, error) {
	return s.PayAs(ctx, a, bookingID, key, "")
}

// PayAs is Pay with payer, the payer's account at the provider as the pay
// request names it ("" for none): only a provider that stands in for the
// wallet app (the sandbox) may be told one — a real provider authenticates
// its payer and reports it itself, so a payer a client names to it is
// refused, never trusted (namedPayer).
func (s *Service) PayAs(ctx context.Context, a Actor, bookingID int64, key, payer string) (BookingView, error) {
	if err := s.requireAccount(a); err != nil {
		return BookingView{}, err
	}
	if key == "" || len(key) > 128 {
		return BookingView{}, fairslot.Errorf(fairslot.Invalid, "an Idempotency-Key header of 1 to 128 characters is required to pay")
	}
	if err := s.namedPayer(payer); err != nil {
		return BookingView{}, err
	}
	return s.pay(ctx, a, bookingID, fmt.Sprintf("%d:%s", a.ID, key), payer) // keys are the account's own
}

// namedPayer refuses a payer a pay request names ("" names none) to a
// provider that does not stand in for the wallet, or that no wallet gives.
func (s *Service) namedPayer(payer string) error {
	if payer == "" {
		return nil
	}
	if _, ok := s.Payments.(payment.WalletStandIn); !ok {
		return fairslot.E(fairslot.Invalid, "error.pay.payer_named",
			"the payment provider names the payer itself; leave the payer out").On("payer")
	}
	if payment.CheckPayer(payer) != nil {
		return fairslot.E(fairslot.Invalid, "error.pay.payer",
			"the payer must be 1 to %d characters, with no spaces or control characters", payment.PayerMax).On("payer")
	}
	return nil
}

// pay pays booking bookingID under the payment key key, for the payer the
// request named (checked by namedPayer; "" for none) (PayAs, KioskPay).
func (s *Service) pay(ctx context.Context, a Actor, bookingID int64, key, payer string) (BookingView, error) {
	p, code, err := s.startPayment(ctx, a, bookingID, key)
	if err != nil {
		return BookingView{}, err
	}
	if p.Status == storage.PaymentSettled {
		return s.view(ctx, bookingID)
	}
	if p.Status != storage.PaymentPending {
		return BookingView{}, fmt.Errorf("pay: a payment to charge is %q, not pending", p.Status)
	}
	// From here money may move: the client going away must not cut short
	// what follows (each provider call has its own deadline).
	ctx = context.WithoutCancel(ctx)
	c, err := s.charge(ctx, p, code, payer)
	if err != nil {
		s.Log.Warn("payment outcome unknown; the retry or the sweep settles it", "booking", bookingID, "payment", key, "err", err)
		return BookingView{}, errPaymentInProgress
	}
	if err := s.conclude(ctx, a, p, c); err != nil {
		if fairslot.ErrorKind(err) == fairslot.Internal {
			// Money may be taken and not yet settled: the row is still
			// pending, and the retry or the sweep finishes it.
			s.Log.Error("payment charged but not settled; the retry or the sweep settles it", "booking", bookingID, "payment", key, "err", err)
			return BookingView{}, errPaymentInProgress
		}
		return BookingView{}, err
	}
	return s.view(ctx, bookingID)
}

// payingFor is the booking a pays for: an account's own; a kiosk's, the
// one whose code and identity it proved just before (KioskPay).
func payingFor(ctx context.Context, tx storage.Tx, a Actor, id int64) (fairslot.Booking, error) {
	if a.Kind == storage.StaffToken {
		return tx.Booking(ctx, id)
	}
	return ownBooking(ctx, tx, a, id)
}

// checkPayable refuses a booking that cannot take a payment now.
func (s *Service) checkPayable(b fairslot.Booking) error {
	switch {
	case b.Status == fairslot.Confirmed || b.Status == fairslot.CheckedIn || b.Status == fairslot.Called || b.Status == fairslot.Completed:
		return fairslot.E(fairslot.Conflict, "error.pay.paid", "this booking is already paid")
	case b.Status == fairslot.Expired || (b.Status == fairslot.Held && !s.now().Before(b.HeldUntil)):
		return fairslot.E(fairslot.Gone, "error.pay.expired", "the hold expired at %s; book again", b.HeldUntil.Format("15:04")).With(b.HeldUntil)
	case b.Status != fairslot.Held:
		return fairslot.E(fairslot.Conflict, "error.pay.status", "a booking that is %s cannot be paid", b.Status)
	}
	return nil
}

// startPayment records the intent to pay booking bookingID under key, or
// finds the payment key already names: settled (a replay), pending (a
// payment to resume), or spent. It returns the payment and the booking's
// code, the reference the provider is given.
func (s *Service) startPayment(ctx context.Context, a Actor, bookingID int64, key string) (storage.Payment, string, error) {
	for try := 0; ; try++ {
		var p, refund storage.Payment
		var code string
		refuse, err := s.update(ctx, func(tx storage.Tx) (error, error) {
			now := s.now()
			old, err := tx.Payment(ctx, key)
			if err == nil && old.BookingID != bookingID {
				return nil, fairslot.Errorf(fairslot.Conflict, "this Idempotency-Key was used to pay another booking")
			} else if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
				return nil, err
			}
			found := err == nil
			b, err := payingFor(ctx, tx, a, bookingID)
			if err != nil {
				return nil, err
			}
			p, code = old, b.Code
			payable := s.checkPayable(b)
			if found {
				switch old.Status {
				case storage.PaymentSettled:
					return nil, nil
				case storage.PaymentDeclined:
					return errPaymentDeclined, nil
				case storage.PaymentRefunding, storage.PaymentRefunded:
					return firstErr(payable, errPaymentRefunded), nil
				}
				if payable != nil {
					// Pending for a booking that can no longer take it:
					// whatever the provider took goes back.
					if err := s.beginRefund(ctx, tx, a, old, "", fairslot.ErrorMessage(payable)); err != nil {
						return nil, raced(err)
					}
					refund = old
					return refundNote(payable), nil
				}
				// Resume: the sweep's grace runs from this attempt.
				return nil, tx.PaymentAttempt(ctx, key, now)
			}
			if payable != nil {
				return payable, nil
			}
			if _, err := tx.PaymentOf(ctx, b.ID); err == nil {
				return errOtherPaymentInProgress, nil // pending under another key: settled would have confirmed b
			} else if fairslot.ErrorKind(err) != fairslot.NotFound {
				return nil, err
			}
			p = storage.Payment{Key: key, BookingID: b.ID, AmountCents: b.FeeCents, Provider: s.Payments.Name(),
				Status: storage.PaymentPending, CreatedAt: now}
			if err := tx.InsertPayment(ctx, p); err != nil {
				return nil, raced(err)
			}
			return nil, s.record(ctx, tx, a, "payment.start", fmt.Sprintf("booking:%d", b.ID),
				map[string]string{"payment": key, "amount_cents": fmt.Sprint(b.FeeCents), "provider": p.Provider})
		})
		if err == nil && refund.Key != "" {
			s.refund(context.WithoutCancel(ctx), a, refund)
		}
		if errors.Is(err, errRaced) && try < 2 {
			continue
		}
		return p, code, firstErr(err, refuse)
	}
}

// charge asks the provider to take payment p, under its own deadline; a
// provider that stands in for the wallet is told the payer the request
// named, if any (namedPayer refused one to any other provider).
func (s *Service) charge(ctx context.Context, p storage.Payment, reference, payer string) (payment.Charge, error) {
	ctx, cancel := context.WithTimeout(ctx, s.paymentTimeout())
	defer cancel()
	var c payment.Charge
	var err error
	if w, ok := s.Payments.(payment.WalletStandIn); ok && payer != "" {
		c, err = w.ChargeFor(ctx, p.Key, p.AmountCents, reference, payer)
	} else {
		c, err = s.Payments.Charge(ctx, p.Key, p.AmountCents, reference)
	}
	if err == nil && c.State == payment.None {
		err = errors.New("the provider took a charge and reports nothing under its key")
	}
	return c, err
}

// conclude records what the provider answered for pending payment p: a
// charge settles it (or, if the booking cannot take it, refunds it); a
// declined or refunded charge ends it. The error is the user's answer.
func (s *Service) conclude(ctx context.Context, a Actor, p storage.Payment, c payment.Charge) error {
	switch c.State {
	case payment.Charged:
		if c.AmountCents != p.AmountCents {
			s.Log.Error("ALERT: the provider charged another amount; refunding it", "payment", p.Key, "want", p.AmountCents, "charged", c.AmountCents)
			return s.refundPending(ctx, a, p.Key, c.Ref, "the provider charged another amount",
				fairslot.E(fairslot.Conflict, "error.pay.failed", "the payment could not be completed"))
		}
		return s.settle(ctx, a, p.Key, c.Ref, c.Payer)
	case payment.Declined:
		s.end(ctx, a, p.Key, storage.PaymentDeclined, c.Ref)
		return errPaymentDeclined
	case payment.Refunded:
		s.end(ctx, a, p.Key, storage.PaymentRefunded, c.Ref)
		return errPaymentRefunded
	}
	return providerError{fmt.Errorf("unknown charge state %q", c.State)}
}

// settle confirms the booking of pending payment key on the provider's
// charge ref, in one transaction; when the booking can no longer take it
// (the hold expired, it was cancelled), the payment goes to refunding and
// is refunded instead. A payment found settled is a concurrent retry's
// success; one found refunding or refunded is never settled. payer is the
// payer's account the provider reported ("" for none), for the risk event.
func (s *Service) settle(ctx context.Context, a Actor, key, ref, payer string) error {
	for try := 0; ; try++ {
		var refund storage.Payment
		confirmed := false
		refuse, err := s.update(ctx, func(tx storage.Tx) (error, error) {
			confirmed = false
			now := s.now()
			p, err := tx.Payment(ctx, key)
			if err != nil {
				return nil, err
			}
			switch p.Status {
			case storage.PaymentSettled:
				return nil, nil
			case storage.PaymentDeclined:
				return errPaymentDeclined, nil
			case storage.PaymentRefunding, storage.PaymentRefunded:
				// Whoever closed it (a cancellation, the sweep) refunds;
				// refunding again is harmless and covers a charge that
				// landed after their refund.
				refund = p
				return errPaymentRefunded, nil
			}
			b, err := tx.Booking(ctx, p.BookingID)
			if err != nil {
				return nil, err
			}
			if payable := s.checkPayable(b); payable != nil {
				if err := s.beginRefund(ctx, tx, a, p, ref, fairslot.ErrorMessage(payable)); err != nil {
					return nil, raced(err)
				}
				refund = p
				return refundNote(payable), nil
			}
			if err := tx.MoveBooking(ctx, b.ID, fairslot.Held, fairslot.Confirmed, storage.Move{At: now, MissedCalls: -1}); err != nil {
				return nil, raced(err)
			}
			if err := tx.MovePayment(ctx, key, storage.PaymentPending, storage.PaymentSettled, storage.PaymentMove{At: now, ProviderRef: ref}); err != nil {
				return nil, raced(err)
			}
			if err := s.tellConfirmed(ctx, tx, b); err != nil {
				return nil, err
			}
			if err := s.payRisk(ctx, tx, a, b, p.Provider, payer); err != nil {
				return nil, err
			}
			confirmed = true
			return nil, s.record(ctx, tx, a, "booking.pay", fmt.Sprintf("booking:%d", b.ID), map[string]string{"payment": key,
				"amount_cents": fmt.Sprint(p.AmountCents), "provider": p.Provider, "provider_ref": ref})
		})
		if err == nil && refund.Key != "" {
			s.refund(ctx, a, refund)
		}
		if err == nil && confirmed {
			s.wakeOutbox()
		}
		if errors.Is(err, errRaced) && try < 2 {
			continue
		}
		return firstErr(err, refuse)
	}
}

// raced marks a conditional write's conflict as another writer's doing.
func raced(err error) error {
	if fairslot.ErrorKind(err) == fairslot.Conflict {
		return fmt.Errorf("%w: %w", errRaced, err)
	}
	return err
}

// refundPending sends pending payment key to refunding (with the reason)
// and refunds it; refuse is the user's answer.
func (s *Service) refundPending(ctx context.Context, a Actor, key, ref, reason string, refuse error) error {
	var p storage.Payment
	_, err := s.update(ctx, func(tx storage.Tx) (error, error) {
		var err error
		if p, err = tx.Payment(ctx, key); err != nil || p.Status != storage.PaymentPending {
			p.Key = "" // someone else moved it, and refunds it if it must
			return nil, err
		}
		return nil, s.beginRefund(ctx, tx, a, p, ref, reason)
	})
	if err != nil {
		return err
	}
	if p.Key != "" {
		s.refund(ctx, a, p)
	}
	return refuse
}

// end records that the provider ended pending payment key with nothing
// kept: declined or (already) refunded. A payment already moved on by
// someone else is left to them; a failure to record is the sweep's to
// repeat, since the provider will answer it the same.
func (s *Service) end(ctx context.Context, a Actor, key string, to storage.PaymentStatus, ref string) {
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		p, err := tx.Payment(ctx, key)
		if err != nil {
			return err
		}
		if p.Status != storage.PaymentPending && (to != storage.PaymentRefunded || p.Status != storage.PaymentRefunding) {
			return nil
		}
		if err := tx.MovePayment(ctx, key, p.Status, to, storage.PaymentMove{At: s.now(), ProviderRef: ref}); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "payment."+string(to), fmt.Sprintf("booking:%d", p.BookingID), map[string]string{"payment": key})
	})
	if err != nil {
		s.Log.Warn("could not record the end of a payment; the sweep will", "payment", key, "to", to, "err", err)
	}
}

// beginRefund sends payment p (pending or settled) to refunding in tx, with
// its audit record: from then on nothing settles it, and the refund is
// retried until the provider confirms it.
func (s *Service) beginRefund(ctx context.Context, tx storage.Tx, a Actor, p storage.Payment, ref, reason string) error {
	if err := tx.MovePayment(ctx, p.Key, p.Status, storage.PaymentRefunding, storage.PaymentMove{At: s.now(), ProviderRef: ref}); err != nil {
		return err
	}
	return s.record(ctx, tx, a, "payment.refunding", fmt.Sprintf("booking:%d", p.BookingID),
		map[string]string{"payment": p.Key, "was": string(p.Status), "reason": reason})
}

// refund asks the provider to return what was taken under p's key (and to
// close the key), then records it refunded. When the provider fails, p
// stays refunding and the sweep tries again; the error says so.
func (s *Service) refund(ctx context.Context, a Actor, p storage.Payment) error {
	if p.Provider != s.Payments.Name() {
		s.Log.Error("ALERT: a payment through another provider must be refunded by hand", "payment", p.Key, "provider", p.Provider)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.paymentTimeout())
	err := s.Payments.Refund(rctx, p.Key)
	cancel()
	if err != nil {
		s.attempt(ctx, p, "refund", err)
		return providerError{err}
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		cur, err := tx.Payment(ctx, p.Key)
		if err != nil || cur.Status != storage.PaymentRefunding {
			return err // refunded already, or (after a late charge) nothing to record
		}
		if err := tx.MovePayment(ctx, p.Key, storage.PaymentRefunding, storage.PaymentRefunded, storage.PaymentMove{At: s.now()}); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "payment.refunded", fmt.Sprintf("booking:%d", p.BookingID), map[string]string{"payment": p.Key})
	})
	if err != nil {
		s.Log.Warn("refunded, but not recorded; the sweep refunds again and records it", "payment", p.Key, "err", err)
	}
	return err
}

// attempt records a provider call on p that did not conclude, so that the
// sweep turns to the next payment, and raises an alert when one keeps
// failing.
func (s *Service) attempt(ctx context.Context, p storage.Payment, what string, cause error) {
	log := s.Log.Warn
	if p.Attempts+1 >= 5 {
		log = s.Log.Error
		what = "ALERT: " + what + " keeps failing; the sweep goes on trying"
	} else {
		what += " failed; the sweep tries again"
	}
	log(what, "booking", p.BookingID, "payment", p.Key, "attempts", p.Attempts+1, "err", cause)
	if err := s.Store.Update(ctx, func(tx storage.Tx) error { return tx.PaymentAttempt(ctx, p.Key, s.now()) }); err != nil {
		s.Log.Warn("could not record a payment attempt", "payment", p.Key, "err", err)
	}
}

// reconcileBatch bounds the payments one sweep reconciles.
const reconcileBatch = 100

// ReconcilePayments finishes the payments left pending or refunding for
// longer than PaymentGrace — their request's process died, its commit
// failed, its refund failed, or its client never came back. A pending one
// is settled if the provider holds its charge and the booking can still
// take it, and refunded otherwise (a key never charged is closed, so that a
// charge still on its way takes nothing); a refunding one is refunded. It
// stops at the first provider failure, leaving the rest to the next sweep,
// so a provider that is down costs each sweep one deadline at most. The
// sweep calls it, on the one node that holds the job lock.
func (s *Service) ReconcilePayments(ctx context.Context) error {
	var due []storage.Payment
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		due, err = tx.DuePayments(ctx, s.Payments.Name(), s.now().Add(-s.paymentGrace()), reconcileBatch)
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range due {
		if p.Status == storage.PaymentRefunding {
			err = s.refund(ctx, System, p)
		} else {
			err = s.reconcilePending(ctx, p)
		}
		var pe providerError
		switch {
		case err == nil:
		case errors.As(err, &pe):
			return nil // logged; the provider is likely down: the next sweep
		case fairslot.ErrorKind(err) == fairslot.Internal:
			return err
		}
		// A refusal is how a payment ended (refunded, declined): recorded.
	}
	return nil
}

// reconcilePending asks the provider what pending payment p holds and
// finishes it accordingly.
func (s *Service) reconcilePending(ctx context.Context, p storage.Payment) error {
	sctx, cancel := context.WithTimeout(ctx, s.paymentTimeout())
	c, err := s.Payments.Status(sctx, p.Key)
	cancel()
	if err != nil {
		s.attempt(ctx, p, "payment status", err)
		return providerError{err}
	}
	if c.State == payment.None {
		// Never charged — or a charge still on its way, which the refund's
		// closing of the key turns away.
		return s.refundPending(ctx, System, p.Key, "", "not charged within the grace period", nil)
	}
	return s.conclude(ctx, System, p, c)
}
