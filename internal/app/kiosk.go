package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/storage"
)

// The kiosk's self-service (issue 14): a patient proves a booking as
// check-in asks — its code and the last four characters of the ID number,
// or the whole number as the ID card reader types it — and then pays it or
// reprints its ticket. A failed proof is recorded before it is refused, as
// at check-in, and a kiosk's tries are limited (KioskProofLimits) whichever
// door it uses: its pages or the JSON API's check-in.

// KioskProofLimits bound the proofs (check-in, pay, reprint) a kiosk device
// may try, per kiosk and at one booking code from any kiosk: a person at a
// kiosk cannot guess the last four characters of someone's ID number. A
// patient's visit takes a few (pay, check in, reprint). Staff at a desk are
// not limited: they see the patient. Held per node, as the login codes'
// limits are; the zero value uses the defaults.
type KioskProofLimits struct {
	PerKiosk, PerCode gate.Limit

	once          sync.Once
	kiosks, codes *gate.Memory
}

// errTooManyProofs refuses a kiosk that tried too many proofs.
var errTooManyProofs = &fairslot.Error{Kind: fairslot.Limited, Key: "error.kiosk.too_many", RetryAfter: 30 * time.Second,
	Message: "too many tries at this kiosk; wait a moment, or ask at the desk"}

// try spends one of a kiosk's tries at code; other actors pass.
func (l *KioskProofLimits) try(a Actor, code string, now time.Time) error {
	if a.Role != fairslot.Kiosk {
		return nil
	}
	l.once.Do(func() {
		if l.PerKiosk.Rate <= 0 {
			l.PerKiosk = gate.Limit{Rate: 10, Per: time.Minute, Burst: 20}
		}
		if l.PerCode.Rate <= 0 {
			l.PerCode = gate.Limit{Rate: 5, Per: 10 * time.Minute, Burst: 10}
		}
		l.kiosks, l.codes = gate.NewMemory(l.PerKiosk, 10_000), gate.NewMemory(l.PerCode, 100_000)
	})
	if ok, _ := l.kiosks.Allow(strconv.FormatInt(a.ID, 10), now); !ok {
		return errTooManyProofs
	}
	if ok, _ := l.codes.Allow(strings.ToUpper(strings.TrimSpace(code)), now); !ok {
		return errTooManyProofs
	}
	return nil
}

// KioskBooking shows a booking proven by its code and the patient's ID
// number (masked, with its fee): what the kiosk asks the patient to pay.
func (s *Service) KioskBooking(ctx context.Context, a Actor, code, idProof string) (BookingView, error) {
	var v BookingView
	if err := s.requireStaff(a, fairslot.ActCheckIn); err != nil {
		return v, err
	}
	if err := s.KioskProofs.try(a, code, s.now()); err != nil {
		return v, err
	}
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		b, _, refuse, err := s.proven(ctx, tx, a, code, idProof)
		if refuse != nil || err != nil {
			return refuse, err
		}
		v, err = s.bookingView(ctx, tx, b)
		return nil, err
	})
	return v, err
}

// KioskPay pays a held booking at a kiosk, proven as KioskBooking proves
// it, through the payment provider. The key (the pay form's, one per form
// shown) makes it idempotent: a second tap returns the paid booking and
// charges nothing more. payer is as PayAs takes it ("" for none).
func (s *Service) KioskPay(ctx context.Context, a Actor, code, idProof, key, payer string) (BookingView, error) {
	if key == "" || len(key) > 64 {
		return BookingView{}, fairslot.E(fairslot.Invalid, "error.form.expired", "the payment form has no key; show it again")
	}
	if err := s.namedPayer(payer); err != nil {
		return BookingView{}, err
	}
	v, err := s.KioskBooking(ctx, a, code, idProof)
	if err != nil {
		return v, err
	}
	// Keys are the device's own, apart from the accounts' ("12:…").
	return s.pay(ctx, a, v.ID, fmt.Sprintf("staff%d:%s", a.ID, key), payer)
}

// Reprint gives a checked-in booking's ticket again, proven as check-in
// proves it, and records that it was printed again.
func (s *Service) Reprint(ctx context.Context, a Actor, code, idProof string) (CheckInResult, error) {
	var r CheckInResult
	if err := s.requireStaff(a, fairslot.ActCheckIn); err != nil {
		return r, err
	}
	if err := s.KioskProofs.try(a, code, s.now()); err != nil {
		return r, err
	}
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		b, _, refuse, err := s.proven(ctx, tx, a, code, idProof)
		if refuse != nil || err != nil {
			return refuse, err
		}
		if b.Status != fairslot.CheckedIn && b.Status != fairslot.Called {
			return fairslot.E(fairslot.Conflict, "error.reprint.status", "only a checked-in booking has a ticket to print; this one is %s", b.Status), nil
		}
		if r.Ticket, err = tx.Ticket(ctx, b.ID); err != nil {
			return nil, err
		}
		r.Label = r.Ticket.Label()
		if err := s.record(ctx, tx, a, "ticket.reprint", fmt.Sprintf("booking:%d", b.ID), map[string]string{"ticket": r.Label}); err != nil {
			return nil, err
		}
		if r.Booking, err = s.bookingView(ctx, tx, b); err != nil {
			return nil, err
		}
		// The same ticket as at check-in, with the queue as it is now.
		r.Ahead = max(r.Booking.Turn-1, 0)
		r.Hospital, r.Campus, err = s.site(ctx, tx, b.DepartmentID)
		return nil, err
	})
	return r, err
}
