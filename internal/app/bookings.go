package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// BookingView is a booking as its patient or staff see it, personal data
// masked.
type BookingView struct {
	fairslot.Booking
	Patient     fairslot.Patient `json:"patient"`
	Department  string           `json:"department"`
	Doctor      string           `json:"doctor"`
	Room        string           `json:"room"`
	WindowStart time.Time        `json:"window_start"`
	WindowEnd   time.Time        `json:"window_end"`
	Ticket      string           `json:"ticket,omitempty"`
	// Turn is the patient's place in the calling order once checked in (1:
	// called next), as the room's screen shows it.
	Turn int `json:"turn,omitempty"`
}

// StatusKey is the catalogue key of the booking's status as its patient
// reads it: a booking the hospital cancelled (its session) says so.
func (v BookingView) StatusKey() string {
	if v.Status == fairslot.Cancelled && v.CancelledBy == fairslot.CancelledByHospital {
		return "status.cancelled_hospital"
	}
	return "status." + string(v.Status)
}

func (s *Service) bookingView(ctx context.Context, tx storage.Tx, b fairslot.Booking) (BookingView, error) {
	v := BookingView{Booking: b}
	sess, err := tx.Session(ctx, b.SessionID)
	if err != nil {
		return v, err
	}
	doc, err := tx.Doctor(ctx, sess.DoctorID)
	if err != nil {
		return v, err
	}
	v.Doctor, v.Room = doc.Name, sess.Room
	dept, err := tx.Department(ctx, b.DepartmentID)
	if err != nil {
		return v, err
	}
	v.Department = dept.Name
	rec, err := tx.Patient(ctx, b.PatientID)
	if err != nil {
		return v, err
	}
	if v.Patient, err = s.maskedPatient(rec); err != nil {
		return v, err
	}
	slot, err := tx.Slot(ctx, b.SlotID)
	if err != nil {
		return v, err
	}
	v.WindowStart, v.WindowEnd = slot.Start, slot.End
	if k, err := tx.Ticket(ctx, b.ID); err == nil {
		v.Ticket = k.Label()
	} else if fairslot.ErrorKind(err) != fairslot.NotFound {
		return v, err
	}
	if b.Status == fairslot.CheckedIn {
		q, err := tx.Queue(ctx, b.SessionID)
		if err != nil {
			return v, err
		}
		turn, err := s.turns(ctx, tx, b.SessionID, q)
		if err != nil {
			return v, err
		}
		v.Turn = turn[b.ID]
	}
	return v, nil
}

// HoldInput asks for a place in a session for a bound patient.
type HoldInput struct {
	SessionID   int64     `json:"session_id"`
	PatientID   int64     `json:"patient_id"`
	WindowStart time.Time `json:"window_start,omitzero"` // zero: the first free window
	RequestKey  string    `json:"-"`                     // Idempotency-Key: a replay returns the same booking
}

// Hold takes a place for a patient as an unpaid hold that expires. The
// limits are checked by the rules for a clear message and enforced again by
// the database in the same transaction. A session released by draw can be
// held only after its draw; a re-booking soon after a cancellation in the
// session is refused or recorded as a risk event (kept even when refused).
func (s *Service) Hold(ctx context.Context, a Actor, in HoldInput) (BookingView, error) {
	if err := s.requireAccount(a); err != nil {
		return BookingView{}, err
	}
	if len(in.RequestKey) > 128 {
		return BookingView{}, fairslot.Errorf(fairslot.Invalid, "Idempotency-Key must be at most 128 characters")
	}
	now := s.now()
	var id int64
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		if in.RequestKey != "" {
			b, err := tx.BookingByRequestKey(ctx, a.ID, in.RequestKey)
			if err == nil {
				if b.SessionID != in.SessionID || b.PatientID != in.PatientID {
					return nil, fairslot.Errorf(fairslot.Conflict, "this Idempotency-Key was used for a different booking request")
				}
				id = b.ID
				return nil, nil
			}
			if fairslot.ErrorKind(err) != fairslot.NotFound {
				return nil, err
			}
		}
		if err := s.requireConsent(ctx, tx, a); err != nil { // rights.go
			return nil, err
		}
		if ok, err := tx.Bound(ctx, a.ID, in.PatientID); err != nil || !ok {
			return nil, firstErr(err, fairslot.E(fairslot.NotFound, "error.patient.not_yours", "no such patient on your account").On("patient_id"))
		}
		sess, err := tx.Session(ctx, in.SessionID)
		if err != nil {
			return nil, err
		}
		if err := s.checkOnline(ctx, tx, sess, now); err != nil {
			return nil, err
		}
		// An account held for review or blocked takes no place first come
		// (risk.go): whichever door it comes through — the app, the API,
		// a FHIR client's $hold — it ends here.
		if _, refuse, err := riskGate(ctx, tx, a.ID, false); refuse != nil || err != nil {
			return refuse, err
		}
		if err := s.referralGate(ctx, tx, in.PatientID, sess, now); err != nil { // referral.go
			return nil, err
		}
		if refuse, err := s.checkRebook(ctx, tx, a, sess, "booking.hold", now); refuse != nil || err != nil {
			return refuse, err
		}
		if err := s.expire(ctx, tx, sess.ID, now); err != nil {
			return nil, err
		}
		b := fairslot.Booking{PatientID: in.PatientID, AccountID: a.ID, Channel: fairslot.Online, Status: fairslot.Held,
			HeldUntil: s.Policy.HoldExpiry(now, sess), RequestKey: in.RequestKey}
		var slot fairslot.Slot
		err = tx.Savepoint(ctx, func() (err error) {
			slot, err = s.place(ctx, tx, &b, sess, storage.SlotQuery{WindowStart: in.WindowStart}, now)
			return err
		})
		if refusal(err) {
			return err, nil // keep the expiries and risk events this request recorded
		} else if err != nil {
			return nil, err
		}
		if err := s.record(ctx, tx, a, "booking.hold", fmt.Sprintf("booking:%d", b.ID),
			map[string]string{"session": fmt.Sprint(sess.ID), "slot": fmt.Sprint(slot.Number), "patient": fmt.Sprint(in.PatientID)}); err != nil {
			return nil, err
		}
		if err := s.bookRisk(ctx, tx, a, storage.RiskBook, sess, in.PatientID, nil); err != nil {
			return nil, err
		}
		id = b.ID
		return nil, nil
	})
	if err != nil {
		return BookingView{}, err
	}
	return s.view(ctx, id)
}

// view reads a booking's view after the write that changed it has
// committed: building it (joins, decrypting the patient) happens on the read
// pool, not in the write transaction that every writer waits for.
func (s *Service) view(ctx context.Context, id int64) (v BookingView, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		b, err := tx.Booking(ctx, id)
		if err != nil {
			return err
		}
		v, err = s.bookingView(ctx, tx, b)
		return err
	})
	return v, err
}

// place takes a free slot of sess as q asks (its session and time are
// filled in here) for booking b, whose patient, account, channel and status
// are set, through take. Callers expire the session's lapsed holds first, so
// that their slots go to the waitlist, not to this booking.
func (s *Service) place(ctx context.Context, tx storage.Tx, b *fairslot.Booking, sess fairslot.Session, q storage.SlotQuery, now time.Time) (fairslot.Slot, error) {
	// The slot first: on PostgreSQL that takes the session's lock before the
	// patient's, the order every path keeps, so two transactions never wait
	// on each other.
	q.SessionID, q.Now = sess.ID, now
	slot, err := tx.FreeSlot(ctx, q)
	if err != nil {
		return slot, err
	}
	return slot, s.take(ctx, tx, b, sess, slot, now)
}

// take books slot of sess for b: the patient's limits are checked by the
// rules and enforced again by the conditional insert. An online booking also
// needs a binding old enough and an account not paused for cancelling; an
// on-site one is not bound by the online suspensions.
func (s *Service) take(ctx context.Context, tx storage.Tx, b *fairslot.Booking, sess fairslot.Session, slot fairslot.Slot, now time.Time) error {
	if err := s.eligible(ctx, tx, b, sess, now); err != nil {
		return err
	}
	b.Code, b.SlotID, b.SessionID, b.DepartmentID, b.Date = newCode(), slot.ID, sess.ID, sess.DepartmentID, sess.Date
	b.FeeCents, b.CreatedAt, b.UpdatedAt = sess.FeeCents, now, now
	return tx.InsertBooking(ctx, b, storage.Limits{PerDepartmentPerDay: s.Policy.MaxPerDepartmentPerDay,
		PerDay: s.Policy.MaxPerDay, Active: s.Policy.MaxActive, Today: now.Format(time.DateOnly)})
}

// eligible checks by the booking rules whether b's patient may take a place
// in sess at now: the same rules for a booking, a draw entry, a waitlist
// entry and an offer.
func (s *Service) eligible(ctx context.Context, tx storage.Tx, b *fairslot.Booking, sess fairslot.Session, now time.Time) error {
	h, err := tx.PatientHistory(ctx, storage.HistoryQuery{PatientID: b.PatientID, DepartmentID: sess.DepartmentID, AccountID: b.AccountID,
		Date: sess.Date, Today: now.Format(time.DateOnly), Since: now.Add(-s.historySpan())})
	if err != nil {
		return err
	}
	if b.Channel == fairslot.OnSite {
		h.NoShows, h.Cancels, h.AccountCancels = nil, nil, nil
	} else if s.Policy.MinBindingAge > 0 {
		bd, err := tx.Binding(ctx, b.AccountID, b.PatientID)
		if err != nil {
			return err
		}
		h.BoundAt = bd.CreatedAt
	}
	return s.Policy.CheckBooking(now, h)
}

// historySpan is how far back no-shows and cancellations matter.
func (s *Service) historySpan() time.Duration {
	return max(time.Duration(s.Policy.NoShowWindow)+time.Duration(s.Policy.NoShowSuspension), time.Duration(s.Policy.CancelWindow))
}

// expire moves lapsed holds to expired (in one session, or all with 0) and
// records each.
func (s *Service) expire(ctx context.Context, tx storage.Tx, sessionID int64, now time.Time) error {
	ids, err := tx.ExpireHolds(ctx, sessionID, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.record(ctx, tx, System, "booking.expire", fmt.Sprintf("booking:%d", id), nil); err != nil {
			return err
		}
		b, err := tx.Booking(ctx, id)
		if err != nil {
			return err
		}
		if err := s.freed(ctx, tx, b, now); err != nil {
			return err
		}
	}
	return nil
}

// ownBooking reads a booking of the caller's account; another account's
// booking is reported as not found, so ids cannot be probed.
func ownBooking(ctx context.Context, tx storage.Tx, a Actor, id int64) (fairslot.Booking, error) {
	b, err := tx.Booking(ctx, id)
	if err == nil && b.AccountID != a.ID {
		return b, fairslot.E(fairslot.NotFound, "error.booking.not_found", "booking not found")
	}
	return b, err
}

// Cancel cancels the caller's booking. Its payment — settled, or pending
// while a payment is under way — is marked refunding in the same
// transaction, then refunded; a refund that fails is retried by the sweep.
func (s *Service) Cancel(ctx context.Context, a Actor, bookingID int64) (BookingView, error) {
	if err := s.requireAccount(a); err != nil {
		return BookingView{}, err
	}
	now := s.now()
	var refund storage.Payment // the payment to refund
	cancel := func(tx storage.Tx) error {
		refund = storage.Payment{}
		b, err := ownBooking(ctx, tx, a, bookingID)
		if err != nil {
			return err
		}
		sess, err := tx.Session(ctx, b.SessionID)
		if err != nil {
			return err
		}
		if err := s.Policy.CheckCancel(now, b, sess); err != nil {
			return err
		}
		if err := tx.MoveBooking(ctx, b.ID, b.Status, fairslot.Cancelled, storage.Move{At: now, MissedCalls: -1, CancelledBy: "patient"}); err != nil {
			return raced(err)
		}
		if b.Status == fairslot.Confirmed || b.Status == fairslot.Held {
			p, err := tx.PaymentOf(ctx, b.ID)
			switch {
			case err == nil:
				if err := s.beginRefund(ctx, tx, a, p, "", "booking cancelled"); err != nil {
					return raced(err)
				}
				refund = p
			case b.Status == fairslot.Confirmed || fairslot.ErrorKind(err) != fairslot.NotFound:
				return err // a confirmed booking always has its payment
			}
		}
		if err := s.record(ctx, tx, a, "booking.cancel", fmt.Sprintf("booking:%d", b.ID), map[string]string{"was": string(b.Status)}); err != nil {
			return err
		}
		if err := tx.InsertCancellation(ctx, sess.ID, release.Cancellation{AccountID: a.ID, Device: s.clientHash("device", a.Device),
			Addr: s.clientHash("addr", a.Addr), At: now}); err != nil {
			return err
		}
		if err := s.cancelRisk(ctx, tx, a, sess, b, now); err != nil {
			return err
		}
		return s.freed(ctx, tx, b, now)
	}
	// A payment settling or the sweep moving its payment at this moment
	// (PostgreSQL): read the booking again and cancel what it has become.
	err := s.Store.Update(ctx, cancel)
	for try := 0; errors.Is(err, errRaced) && try < 2; try++ {
		err = s.Store.Update(ctx, cancel)
	}
	if err != nil {
		return BookingView{}, err
	}
	s.nudgeRisk()
	s.wakeOutbox() // a waitlist offer the freed place made
	if refund.Key != "" {
		// The cancellation stands whatever the provider says; a refund that
		// fails stays refunding for the sweep. The client going away must
		// not cut it short.
		s.refund(context.WithoutCancel(ctx), a, refund)
	}
	return s.view(ctx, bookingID)
}

// Booking returns one of the caller's bookings.
func (s *Service) Booking(ctx context.Context, a Actor, id int64) (v BookingView, err error) {
	if err := s.requireAccount(a); err != nil {
		return v, err
	}
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		b, err := ownBooking(ctx, tx, a, id)
		if err != nil {
			return err
		}
		v, err = s.bookingView(ctx, tx, b)
		return err
	})
	return v, err
}

// Bookings lists the caller's bookings by date: those to come, the soonest
// first, then those past, the latest first.
func (s *Service) Bookings(ctx context.Context, a Actor) (out []BookingView, err error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		bs, err := tx.BookingsOf(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, b := range bs {
			v, err := s.bookingView(ctx, tx, b)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		sortByTime(out, s.now())
		return nil
	})
	return out, err
}
