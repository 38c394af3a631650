package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// What a patient's own page (/me) says about each thing it lists: which
// doctor, department, date and time a draw entry or a waitlist place is
// for, whose it is, and what happens next — not a session number and a
// hash.

// SessionLabel names a session (or, for a waitlist place for any session of
// a doctor on a date, the doctor and date alone) as a patient reads it.
type SessionLabel struct {
	SessionID  int64           `json:"session_id,omitempty"`
	Doctor     string          `json:"doctor"`
	Department string          `json:"department"`
	Date       string          `json:"date"`
	Period     fairslot.Period `json:"period,omitempty"`
	Start      time.Time       `json:"start,omitzero"`
	End        time.Time       `json:"end,omitzero"`
	Room       string          `json:"room,omitempty"`
	// Ended: the session (or, without one, the date) is over.
	Ended bool `json:"ended"`
	// Cancelled: the hospital cancelled the session.
	Cancelled bool `json:"cancelled,omitempty"`
}

// sessionLabel reads a session's label; sessionID 0 labels the doctor and
// date alone.
func (s *Service) sessionLabel(ctx context.Context, tx storage.Tx, sessionID, doctorID int64, date string, now time.Time) (SessionLabel, error) {
	l := SessionLabel{SessionID: sessionID, Date: date}
	if sessionID != 0 {
		sess, err := tx.Session(ctx, sessionID)
		if err != nil {
			return l, err
		}
		doctorID, l.Date, l.Period, l.Start, l.End, l.Room = sess.DoctorID, sess.Date, sess.Period, sess.Start, sess.End, sess.Room
		l.Ended, l.Cancelled = !now.Before(sess.End), sess.Cancelled()
	} else if day, err := time.ParseInLocation(time.DateOnly, date, s.Location); err == nil {
		l.Ended = !now.Before(day.AddDate(0, 0, 1))
	}
	doc, err := tx.Doctor(ctx, doctorID)
	if err != nil {
		return l, err
	}
	dept, err := tx.Department(ctx, doc.DepartmentID)
	if err != nil {
		return l, err
	}
	l.Doctor, l.Department = doc.Name, dept.Name
	return l, nil
}

// patientName is a patient's masked name.
func (s *Service) patientName(ctx context.Context, tx storage.Tx, patientID int64) (string, error) {
	rec, err := tx.Patient(ctx, patientID)
	if err != nil {
		return "", err
	}
	p, err := s.maskedPatient(rec)
	return p.Name, err
}

// describeEntry adds what the patient reads to an entry's view.
func (s *Service) describeEntry(ctx context.Context, tx storage.Tx, v *EntryView, rel fairslot.Release, now time.Time) error {
	sess, err := tx.Session(ctx, v.SessionID)
	if err != nil {
		return err
	}
	if v.Session, err = s.sessionLabel(ctx, tx, sess.ID, sess.DoctorID, sess.Date, now); err != nil {
		return err
	}
	v.ResultAt = rel.EntryCloses
	if v.Patient, err = s.patientName(ctx, tx, v.PatientID); err != nil {
		return err
	}
	if v.BookingID != 0 {
		b, err := tx.Booking(ctx, v.BookingID)
		if err != nil {
			return err
		}
		v.Offer = offerOf(b, now)
	}
	return nil
}

// Offer is a held booking made for the patient (a draw win or a waitlist
// offer): pay it by PayBy or it passes on.
type Offer struct {
	BookingID int64           `json:"booking_id"`
	Status    fairslot.Status `json:"status"`
	PayBy     time.Time       `json:"pay_by,omitzero"`
	FeeCents  int64           `json:"fee_cents"`
	// Payable: still held and before its deadline.
	Payable bool `json:"payable"`
}

func offerOf(b fairslot.Booking, now time.Time) *Offer {
	o := &Offer{BookingID: b.ID, Status: b.Status, FeeCents: b.FeeCents}
	if b.Status == fairslot.Held {
		o.PayBy, o.Payable = b.HeldUntil, now.Before(b.HeldUntil)
	}
	return o
}

// describeWait adds what the patient reads to a waitlist place's view.
func (s *Service) describeWait(ctx context.Context, tx storage.Tx, v *WaitView, now time.Time) error {
	var err error
	if v.Session, err = s.sessionLabel(ctx, tx, v.SessionID, v.DoctorID, v.Date, now); err != nil {
		return err
	}
	if v.Patient, err = s.patientName(ctx, tx, v.PatientID); err != nil {
		return err
	}
	if v.BookingID != 0 {
		b, err := tx.Booking(ctx, v.BookingID)
		if err != nil {
			return err
		}
		v.Offer = offerOf(b, now)
		if v.Session.SessionID == 0 { // offered in one of the doctor's sessions that day
			if v.Session, err = s.sessionLabel(ctx, tx, b.SessionID, v.DoctorID, v.Date, now); err != nil {
				return err
			}
		}
	}
	switch {
	case v.Open():
		v.State = "waiting"
	case strings.HasPrefix(v.Outcome, "skipped"):
		v.State = "skipped" // the reason is the rules' text, kept in Outcome
	case v.Outcome == "offered" || v.Outcome == "left" || v.Outcome == waitlistCancelled:
		v.State = v.Outcome
	default:
		v.State = "closed"
	}
	return nil
}

// sortByTime orders bookings by date: those still to come first, the
// soonest first, then those whose time window ended, the latest first.
func sortByTime(bs []BookingView, now time.Time) {
	slices.SortStableFunc(bs, func(x, y BookingView) int {
		xPast, yPast := !now.Before(x.WindowEnd), !now.Before(y.WindowEnd)
		switch {
		case xPast != yPast && xPast:
			return 1
		case xPast != yPast:
			return -1
		case xPast:
			return y.WindowStart.Compare(x.WindowStart)
		}
		return x.WindowStart.Compare(y.WindowStart)
	})
}
