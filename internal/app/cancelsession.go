package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

// The hospital cancels a clinic session (停诊, issue 14 item 5): the doctor
// is ill, the room is needed. Every booking in it is cancelled and its
// payment refunded, the draw entries and waitlist places closed, and each
// affected account told once, in its language, in one transaction; the
// database refuses every new claim on the session from then on (migration
// 0023), whichever door it comes through.

// CancelSessionResult says what cancelling a session does (a preview) or
// did: the admin's page and the API show it.
type CancelSessionResult struct {
	Session    fairslot.Session `json:"session"`
	Doctor     string           `json:"doctor"`
	Department string           `json:"department"`
	// Bookings are the places cancelled (held or paid); Paid those of them
	// with a payment to refund, RefundCents its sum.
	Bookings    int   `json:"bookings"`
	Paid        int   `json:"paid"`
	RefundCents int64 `json:"refund_cents"`
	// Refunded counts the refunds the provider confirmed at once; the rest
	// stay refunding, recorded, and the payment sweep retries them.
	Refunded int `json:"refunded"`
	// Entries are the draw entries of a draw that had not run; Waitlist the
	// waitlist places closed.
	Entries  int `json:"entries"`
	Waitlist int `json:"waitlist"`
	// Told counts the accounts written to (walk-ins have none).
	Told int `json:"told"`
	// Next is the doctor's next session with free places, named in the
	// messages when the hospital offers it (config
	// cancel_offers_next_session); zero otherwise.
	Next fairslot.Session `json:"next,omitzero"`
	Done bool             `json:"done"` // false in a preview
}

// affected is what a session holds that its cancellation ends.
type affected struct {
	bookings []fairslot.Booking
	payments []storage.Payment
	entries  []fairslot.Entry
	waits    []fairslot.WaitlistEntry
}

// CancelSessionPreview says what cancelling a session would do, changing
// nothing: the confirm page's counts.
func (s *Service) CancelSessionPreview(ctx context.Context, a Actor, sessionID int64) (res CancelSessionResult, err error) {
	if err := s.requireStaff(a, fairslot.ActCancelSession); err != nil {
		return res, err
	}
	now := s.now()
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionInScope(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		if err := checkCancellable(sess, now); err != nil {
			return err
		}
		af, err := s.affected(ctx, tx, sess)
		if err != nil {
			return err
		}
		res, err = s.cancelResult(ctx, tx, sess, af, now)
		return err
	})
	return res, err
}

// CancelSession cancels a session for the hospital, with the admin's
// reason (kept in the audit log, never sent to patients). Cancelling it
// again is refused, so nothing is refunded or sent twice; so is a session
// that has started or has patients checked in (the desk and the room deal
// with those in person). Refunds are asked of the provider after the
// transaction commits; one that fails stays refunding for the sweep.
func (s *Service) CancelSession(ctx context.Context, a Actor, sessionID int64, reason string) (CancelSessionResult, error) {
	var res CancelSessionResult
	if err := s.requireStaff(a, fairslot.ActCancelSession); err != nil {
		return res, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return res, fairslot.E(fairslot.Invalid, "error.session.cancel_reason", "give the reason for cancelling the session (at most 500 bytes)").On("reason")
	}
	now := s.now()
	var refunds []storage.Payment
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		refunds = nil
		sess, err := s.sessionInScope(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		if err := checkCancellable(sess, now); err != nil {
			return err
		}
		// The cancellation first: on PostgreSQL it holds the session's lock,
		// so what is read next is everything the session will ever hold.
		err = tx.CancelSession(ctx, storage.SessionCancellation{SessionID: sess.ID, At: now, StaffID: staffID(a), Reason: reason})
		if errors.Is(err, storage.ErrSessionCancelled) {
			return errAlreadyCancelled
		} else if err != nil {
			return err
		}
		sess.CancelledAt = now
		af, err := s.affected(ctx, tx, sess)
		if err != nil {
			return err
		}
		if res, err = s.cancelResult(ctx, tx, sess, af, now); err != nil {
			return err
		}
		for _, b := range af.bookings {
			if err := tx.MoveBooking(ctx, b.ID, b.Status, fairslot.Cancelled,
				storage.Move{At: now, MissedCalls: -1, CancelledBy: fairslot.CancelledByHospital}); err != nil {
				return err
			}
			if err := s.record(ctx, tx, a, "booking.cancel", fmt.Sprintf("booking:%d", b.ID),
				map[string]string{"was": string(b.Status), "by": fairslot.CancelledByHospital, "session": fmt.Sprint(sess.ID)}); err != nil {
				return err
			}
		}
		for _, p := range af.payments {
			if err := s.beginRefund(ctx, tx, a, p, "", "session cancelled by the hospital"); err != nil {
				return err
			}
		}
		refunds = af.payments
		for _, w := range af.waits {
			if err := tx.CloseWaitlist(ctx, w.ID, now, waitlistCancelled, 0); err != nil {
				return err
			}
		}
		told, err := s.tellCancelled(ctx, tx, sess, af, res.Next)
		if err != nil {
			return err
		}
		res.Told, res.Done = told, true
		return s.record(ctx, tx, a, "session.cancel", fmt.Sprintf("session:%d", sess.ID), map[string]string{
			"reason": reason, "bookings": fmt.Sprint(res.Bookings), "paid": fmt.Sprint(res.Paid),
			"refund_cents": fmt.Sprint(res.RefundCents), "entries": fmt.Sprint(res.Entries),
			"waitlist": fmt.Sprint(res.Waitlist), "told": fmt.Sprint(res.Told)})
	})
	if err != nil {
		return CancelSessionResult{}, err
	}
	s.wakeOutbox()
	for _, p := range refunds {
		// The client going away must not cut a refund short; one that fails
		// is already recorded as refunding, for the sweep.
		if s.refund(context.WithoutCancel(ctx), a, p) == nil {
			res.Refunded++
		}
	}
	return res, nil
}

// waitlistCancelled is the outcome of a waitlist place closed because its
// session was cancelled.
const waitlistCancelled = "cancelled"

var errAlreadyCancelled = fairslot.E(fairslot.Conflict, "error.session.already_cancelled", "this session has already been cancelled")

// checkCancellable refuses a session already cancelled or already started.
func checkCancellable(sess fairslot.Session, now time.Time) error {
	switch {
	case sess.Cancelled():
		return errAlreadyCancelled
	case !now.Before(sess.Start):
		return fairslot.E(fairslot.Conflict, "error.session.cancel_started",
			"this session has already started; the clinic must tell the patients waiting in person")
	}
	return nil
}

// staffID is the staff account behind an actor, 0 for any other.
func staffID(a Actor) int64 {
	if a.Kind == storage.StaffToken {
		return a.ID
	}
	return 0
}

// affected lists what sess holds that its cancellation ends: its held and
// paid bookings with their live payments, its draw's entries if the draw
// has not run, and the open waitlist places for it — those for the
// doctor's day too when no other session of the doctor that day stands.
// A patient already checked in refuses the cancellation.
func (s *Service) affected(ctx context.Context, tx storage.Tx, sess fairslot.Session) (af affected, err error) {
	bs, err := tx.SessionBookings(ctx, sess.ID)
	if err != nil {
		return af, err
	}
	for _, b := range bs {
		switch b.Status {
		case fairslot.CheckedIn, fairslot.Called:
			return af, fairslot.E(fairslot.Conflict, "error.session.cancel_checked_in",
				"patients have already checked in to this session; the clinic must tell them in person")
		case fairslot.Held, fairslot.Confirmed:
		default:
			continue
		}
		af.bookings = append(af.bookings, b)
		p, err := tx.PaymentOf(ctx, b.ID)
		if err == nil {
			af.payments = append(af.payments, p)
		} else if fairslot.ErrorKind(err) != fairslot.NotFound {
			return af, err
		}
	}
	rel, err := tx.Release(ctx, sess.ID)
	switch {
	case err == nil && rel.Mode == fairslot.Draw && rel.Drawn.IsZero():
		if af.entries, err = tx.Entries(ctx, sess.ID); err != nil {
			return af, err
		}
	case err != nil && fairslot.ErrorKind(err) != fairslot.NotFound:
		return af, err
	}
	day, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: sess.DoctorID, From: sess.Date, To: sess.Date})
	if err != nil {
		return af, err
	}
	otherThatDay := slices.ContainsFunc(day, func(o fairslot.Session) bool { return o.ID != sess.ID && !o.Cancelled() })
	ws, err := tx.Waitlist(ctx, sess.DoctorID, sess.Date)
	if err != nil {
		return af, err
	}
	for _, w := range ws {
		if w.SessionID == sess.ID || (w.SessionID == 0 && !otherThatDay) {
			af.waits = append(af.waits, w)
		}
	}
	return af, nil
}

// cancelResult counts af and names the doctor's next session when the
// hospital offers it.
func (s *Service) cancelResult(ctx context.Context, tx storage.Tx, sess fairslot.Session, af affected, now time.Time) (CancelSessionResult, error) {
	res := CancelSessionResult{Session: sess, Bookings: len(af.bookings), Paid: len(af.payments), Entries: len(af.entries), Waitlist: len(af.waits)}
	for _, p := range af.payments {
		res.RefundCents += p.AmountCents
	}
	l, err := s.sessionLabel(ctx, tx, sess.ID, sess.DoctorID, sess.Date, now)
	if err != nil {
		return res, err
	}
	res.Doctor, res.Department = l.Doctor, l.Department
	if s.OfferNextSession {
		res.Next, err = s.nextOpenSession(ctx, tx, sess, now)
	}
	return res, err
}

// nextOpenSession is the doctor's first session after sess that stands and
// still has a place to book first come, or none.
func (s *Service) nextOpenSession(ctx context.Context, tx storage.Tx, sess fairslot.Session, now time.Time) (fairslot.Session, error) {
	list, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: sess.DoctorID, From: sess.Date,
		To: now.AddDate(0, 0, s.Policy.AdvanceDays).Format(time.DateOnly)})
	if err != nil {
		return fairslot.Session{}, err
	}
	for _, o := range list {
		if o.ID == sess.ID || o.Cancelled() || !o.Start.After(sess.Start) {
			continue
		}
		ws, err := tx.Windows(ctx, o.ID, now)
		if err != nil {
			return fairslot.Session{}, err
		}
		if slices.ContainsFunc(ws, func(w fairslot.Window) bool { return w.Remaining > 0 }) {
			return o, nil
		}
	}
	return fairslot.Session{}, nil
}

// tellCancelled writes one message to each account af touches, naming
// its patients (masked), whether a payment is refunded, and the next
// session when next is set; it returns how many accounts it wrote to.
func (s *Service) tellCancelled(ctx context.Context, tx storage.Tx, sess fairslot.Session, af affected, next fairslot.Session) (int, error) {
	type letter struct {
		booked, paid bool
		patients     []int64
	}
	letters := map[int64]*letter{}
	var order []int64
	add := func(accountID, patientID int64, booked bool) {
		if accountID == 0 {
			return // a walk-in: the desk tells them
		}
		l := letters[accountID]
		if l == nil {
			l = &letter{}
			letters[accountID] = l
			order = append(order, accountID)
		}
		l.booked = l.booked || booked
		if !slices.Contains(l.patients, patientID) {
			l.patients = append(l.patients, patientID)
		}
	}
	for _, b := range af.bookings {
		add(b.AccountID, b.PatientID, true)
	}
	for _, p := range af.payments {
		for _, b := range af.bookings {
			if b.ID == p.BookingID && b.AccountID != 0 {
				letters[b.AccountID].paid = true
			}
		}
	}
	for _, e := range af.entries {
		add(e.AccountID, e.PatientID, false)
	}
	for _, w := range af.waits {
		add(w.AccountID, w.PatientID, false)
	}
	for _, id := range order {
		l := letters[id]
		names := make([]string, len(l.patients))
		for i, p := range l.patients {
			var err error
			if names[i], err = s.patientName(ctx, tx, p); err != nil {
				return 0, err
			}
		}
		key := notify.KeySessionCancelledWaiting
		if l.booked {
			key = notify.KeySessionCancelled
		}
		extra := map[string]string{"refund": "", "next_date": "", "next_time": ""}
		if l.paid {
			extra["refund"] = "yes"
		}
		if next.ID != 0 {
			extra["next_date"], extra["next_time"] = next.Date, s.window(next.Start, next.End)
		}
		b, err := s.heldMessage(ctx, tx, key, sess, fairslot.Slot{}, l.patients[0], time.Time{}, extra)
		if err != nil {
			return 0, err
		}
		b.Params["name"] = strings.Join(names, ", ")
		b.Params["time"] = s.window(sess.Start, sess.End)
		if err := s.tellAccount(ctx, tx, id, b); err != nil {
			return 0, err
		}
	}
	return len(order), nil
}

// window is a time window as messages write it, in the hospital's zone.
func (s *Service) window(start, end time.Time) string {
	return start.In(s.Location).Format("15:04") + "–" + end.In(s.Location).Format("15:04")
}
