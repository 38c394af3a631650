package app

import (
	"context"
	"errors"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

// Reminders (issue 13 item 3), written by the sweep into the outbox, each
// at most once per booking whatever the restarts, nodes or overlapping
// sweeps: every reminder's outbox row has a dedupe key the database keeps
// unique (storage.PayReminderKey, DayReminderKey), and the queries that
// find what is due skip the bookings whose key is written.
//
// The payment reminder is for a place the system held for a patient who
// was not looking at a screen — a waitlist offer or a draw win, each with
// its own message and deadline (30 minutes by default) — shortly before
// the deadline. Not for a hold the patient made: they are on the payment
// page with its count-down, and an SMS for every abandoned hold (bots
// hold and drop by the thousand) would spend the hospital's messages on
// nobody.
// Nor for an offer made with less than the lead left: its offer message,
// just sent, says the deadline.
//
// The day-before reminder is for a confirmed booking, from DayBeforeAt
// (hospital time) the day before its session until that day ends: a
// sweep that missed the evening (the server was down) sends it late, but
// never after midnight. A booking confirmed at or after DayBeforeAt gets
// none: its confirmation, minutes old, says the same doctor, date and
// time, and a second message at once (often late at night) is noise.

// ReminderPolicy says when reminders go out; the zero value uses the
// defaults.
type ReminderPolicy struct {
	// PayBefore: how long before a waitlist offer's or draw win's payment
	// deadline its reminder goes out (0: 10 minutes).
	PayBefore time.Duration
	// DayBeforeAt: the hospital's local time, the day before a session,
	// from which its confirmed bookings are reminded (0: 18:00).
	DayBeforeAt fairslot.TimeOfDay
}

// DefaultReminders is the reminders' default policy.
func DefaultReminders() ReminderPolicy {
	return ReminderPolicy{PayBefore: 10 * time.Minute, DayBeforeAt: 18 * 60}
}

func (p ReminderPolicy) orDefaults() ReminderPolicy {
	d := DefaultReminders()
	if p.PayBefore <= 0 {
		p.PayBefore = d.PayBefore
	}
	if p.DayBeforeAt <= 0 {
		p.DayBeforeAt = d.DayBeforeAt
	}
	return p
}

// reminderBatch is how many reminders one transaction writes; a sweep
// writes at most maxReminderBatches of each kind, the next sweep the rest.
const reminderBatch, maxReminderBatches = 200, 25

// SendReminders writes the reminders due at now into the outbox. The sweep
// calls it after expiring lapsed holds, so a lapsed one is not reminded.
func (s *Service) SendReminders(ctx context.Context) error {
	now, p := s.now(), s.Reminders.orDefaults()
	err := s.remind(ctx, notify.KeyPayReminder, storage.PayReminderKey, func(tx storage.Tx) ([]fairslot.Booking, error) {
		return tx.PayReminders(ctx, now, p.PayBefore, reminderBatch)
	})
	if from := p.DayBeforeAt.On(now, s.Location); !now.Before(from) {
		tomorrow := now.In(s.Location).AddDate(0, 0, 1).Format(time.DateOnly)
		err = errors.Join(err, s.remind(ctx, notify.KeyDayReminder, storage.DayReminderKey, func(tx storage.Tx) ([]fairslot.Booking, error) {
			return tx.DayReminders(ctx, tomorrow, from, reminderBatch)
		}))
	}
	return err
}

// remind writes key's message to the account of each booking find lists,
// under the booking's dedupe key, a batch per transaction, until find
// lists less than a batch. A booking whose message cannot be written is
// logged and left for the next sweep, so it holds back no one else's.
func (s *Service) remind(ctx context.Context, key string, dedupeKey func(int64) string, find func(storage.Tx) ([]fairslot.Booking, error)) error {
	for range maxReminderBatches {
		n, written := 0, 0
		err := s.Store.Update(ctx, func(tx storage.Tx) error {
			bs, err := find(tx)
			n, written = len(bs), 0
			for _, b := range bs {
				if err != nil {
					return err
				}
				var payBy time.Time
				if key == notify.KeyPayReminder {
					payBy = b.HeldUntil
				}
				err = tx.Savepoint(ctx, func() error {
					m, err := s.bookingMessage(ctx, tx, key, b, payBy)
					if err != nil {
						return err
					}
					return s.tellAccountOnce(ctx, tx, b.AccountID, m, dedupeKey(b.ID))
				})
				if err == nil {
					written++
				} else if ctx.Err() == nil && fairslot.ErrorKind(err) != fairslot.Unavailable {
					s.Log.Error("a reminder cannot be written; the next sweep tries again", "message", key, "booking", b.ID, "err", err)
					err = nil
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		if written > 0 {
			s.wakeOutbox()
		}
		if n < reminderBatch || written == 0 {
			return nil
		}
	}
	return nil
}
