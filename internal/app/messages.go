package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Messages written for a patient by what others do — a waitlist offer when
// someone cancels, a draw's result when its job runs — long after their own
// request: to the account's phone, in the language the account last used
// the pages in, with no personal data beyond the patient's masked name.

// SetLanguage records the page language of the caller's account, which its
// later messages are written in; a language messages are not written in is
// ignored (they go out in English).
func (s *Service) SetLanguage(ctx context.Context, a Actor, lang string) error {
	if err := s.requireAccount(a); err != nil {
		return err
	}
	if !slices.Contains(notify.Languages, lang) {
		return nil
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.SetAccountLanguage(ctx, a.ID, lang, s.now())
	})
}

// heldMessage is a message about a held booking (or its session) for a
// patient: the session's doctor, department, date and the window, the
// masked name, and when to pay by (zero: none).
func (s *Service) heldMessage(ctx context.Context, tx storage.Tx, key string, sess fairslot.Session, slot fairslot.Slot, patientID int64, payBy time.Time, extra map[string]string) (notify.Body, error) {
	b := notify.Body{Key: key, Params: map[string]string{"date": sess.Date}}
	name, err := s.patientName(ctx, tx, patientID)
	if err != nil {
		return b, err
	}
	l, err := s.sessionLabel(ctx, tx, sess.ID, sess.DoctorID, sess.Date, s.now())
	if err != nil {
		return b, err
	}
	b.Params["name"], b.Params["doctor"], b.Params["department"] = name, l.Doctor, l.Department
	if slot.ID != 0 {
		b.Params["time"] = s.window(slot.Start, slot.End)
	}
	if !payBy.IsZero() {
		b.Params["pay_by"] = payBy.In(s.Location).Format("2006-01-02 15:04")
	}
	for k, v := range extra {
		b.Params[k] = v
	}
	return b, nil
}

// tellAccount writes b to the account's phone in the outbox, in tx, in the
// account's language. The dispatcher sends it once tx commits (it polls,
// and is woken after the draws and cancellations that make such messages).
func (s *Service) tellAccount(ctx context.Context, tx storage.Tx, accountID int64, b notify.Body) error {
	return s.tellAccountOnce(ctx, tx, accountID, b, "")
}

// tellAccountOnce is tellAccount with the outbox's dedupe key: a message
// with a key already in the outbox is not written again ("": none).
func (s *Service) tellAccountOnce(ctx context.Context, tx storage.Tx, accountID int64, b notify.Body, dedupeKey string) error {
	if accountID == 0 {
		return nil // a walk-in has no account to tell
	}
	acc, err := tx.Account(ctx, accountID)
	if err != nil {
		return err
	}
	phone, err := s.Vault.Open(vault.Field{Table: "accounts", Row: acc.Ref, Column: "phone"}, acc.PhoneSealed)
	if err != nil {
		return err
	}
	if b.Lang, err = tx.AccountLanguage(ctx, accountID); err != nil {
		return err
	}
	if _, err := b.Text(); err != nil {
		return fmt.Errorf("message %s: %w", b.Key, err) // a missing parameter is a bug: never an unreadable message
	}
	return s.enqueueOnce(ctx, tx, phone, b, dedupeKey)
}

// wakeOutbox tells the dispatcher a transaction committed messages.
func (s *Service) wakeOutbox() {
	if s.Outbox != nil {
		s.Outbox.Wake()
	}
}

// tellDrawResult writes an entry's draw result to its account: a win with
// its place and payment deadline, a loss (the patient is now on the
// waitlist), or a refusal by the booking rules.
func (s *Service) tellDrawResult(ctx context.Context, tx storage.Tx, sess fairslot.Session, e fairslot.Entry, of int, slot fairslot.Slot, payBy time.Time) error {
	key := map[fairslot.Outcome]string{fairslot.Won: notify.KeyDrawWon, fairslot.Lost: notify.KeyDrawLost, fairslot.Skipped: notify.KeyDrawSkipped}[e.Outcome]
	if key == "" {
		return fmt.Errorf("draw result %q has no message", e.Outcome)
	}
	if e.Outcome != fairslot.Won {
		slot, payBy = fairslot.Slot{}, time.Time{}
	}
	b, err := s.heldMessage(ctx, tx, key, sess, slot, e.PatientID, payBy, map[string]string{"rank": fmt.Sprint(e.Rank), "of": fmt.Sprint(of)})
	if err != nil {
		return err
	}
	return s.tellAccount(ctx, tx, e.AccountID, b)
}

// tellConfirmed writes "booking confirmed" to a booking's account, in the
// transaction that confirms it (settle moves it from held once: a replayed
// payment finds it settled and writes nothing).
func (s *Service) tellConfirmed(ctx context.Context, tx storage.Tx, b fairslot.Booking) error {
	if b.AccountID == 0 {
		return nil
	}
	m, err := s.bookingMessage(ctx, tx, notify.KeyBookingConfirmed, b, time.Time{})
	if err != nil {
		return err
	}
	return s.tellAccount(ctx, tx, b.AccountID, m)
}

// bookingMessage is heldMessage for a booking: its session and slot.
func (s *Service) bookingMessage(ctx context.Context, tx storage.Tx, key string, b fairslot.Booking, payBy time.Time) (notify.Body, error) {
	sess, err := tx.Session(ctx, b.SessionID)
	if err != nil {
		return notify.Body{}, err
	}
	slot, err := tx.Slot(ctx, b.SlotID)
	if err != nil {
		return notify.Body{}, err
	}
	return s.heldMessage(ctx, tx, key, sess, slot, b.PatientID, payBy, nil)
}
