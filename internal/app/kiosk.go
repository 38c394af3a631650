package app

import (
	"context"
	"fmt"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// The kiosk's self-service (issue 14): a patient proves a booking as
// check-in asks — its code and the last four characters of the ID number,
// or the whole number as the ID card reader types it — and then pays it or
// reprints its ticket. A failed proof is recorded before it is refused, as
// at check-in; the pages limit how often a kiosk may try.

// KioskBooking shows a booking proven by its code and the patient's ID
// number (masked, with its fee): what the kiosk asks the patient to pay.
func (s *Service) KioskBooking(ctx context.Context, a Actor, code, idProof string) (BookingView, error) {
	var v BookingView
	if err := s.requireStaff(a, fairslot.ActCheckIn); err != nil {
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
// charges nothing more.
func (s *Service) KioskPay(ctx context.Context, a Actor, code, idProof, key string) (BookingView, error) {
	if key == "" || len(key) > 64 {
		return BookingView{}, fairslot.E(fairslot.Invalid, "error.form.expired", "the payment form has no key; show it again")
	}
	v, err := s.KioskBooking(ctx, a, code, idProof)
	if err != nil {
		return v, err
	}
	// Keys are the device's own, apart from the accounts' ("12:…").
	return s.pay(ctx, a, v.ID, fmt.Sprintf("staff%d:%s", a.ID, key))
}

// Reprint gives a checked-in booking's ticket again, proven as check-in
// proves it, and records that it was printed again.
func (s *Service) Reprint(ctx context.Context, a Actor, code, idProof string) (CheckInResult, error) {
	var r CheckInResult
	if err := s.requireStaff(a, fairslot.ActCheckIn); err != nil {
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
