package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testCancelSession: a session the hospital cancelled refuses, in the
// database, every new claim on it — booking, draw entry, waitlist place,
// ticket, extra slot — and every move of its bookings towards the clinic,
// whatever the caller checked before; its draw is no longer due; a second
// cancellation is refused; another session is untouched.
func testCancelSession(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 8)
	ps := newPatients(t, s, 4)
	acct := newAccount(t, s).ID
	rel := fairslot.Release{SessionID: f.session.ID, Mode: fairslot.Draw, Opens: base.Add(-time.Hour), EntryCloses: base.Add(-30 * time.Minute),
		Commitment: random(32)}
	update(t, s, func(tx storage.Tx) error { return tx.InsertRelease(ctx, rel, random(60)) })
	confirmed := newBooking(f, f.slots[0], ps[0].ID, fairslot.Held)
	if err := insert(s, confirmed, noLimits); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx storage.Tx) error {
		return tx.MoveBooking(ctx, confirmed.ID, fairslot.Held, fairslot.Confirmed, storage.Move{At: base, MissedCalls: -1})
	})
	confirmed.Status = fairslot.Confirmed
	held := newBooking(f, f.slots[1], ps[1].ID, fairslot.Held)
	if err := insert(s, held, noLimits); err != nil {
		t.Fatal(err)
	}
	// Another session of the same doctor, not cancelled.
	other := *f
	update(t, s, func(tx storage.Tx) error { newSession(t, tx, &other, "2026-12-11", 4); return nil })

	c := storage.SessionCancellation{SessionID: f.session.ID, At: base.Add(time.Minute), Reason: "doctor ill"}
	update(t, s, func(tx storage.Tx) error { return tx.CancelSession(ctx, c) })
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.CancelSession(ctx, c) })
	if !errors.Is(err, storage.ErrSessionCancelled) {
		t.Errorf("cancelling twice: error = %v, want ErrSessionCancelled", err)
	}
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.Session(ctx, f.session.ID)
		if err != nil || !got.CancelledAt.Equal(c.At) || !got.Cancelled() {
			t.Errorf("cancelled session reads back as %+v, %v; want cancelled at %v", got, err, c.At)
		}
		list, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: f.doctor.ID})
		if err != nil || len(list) != 2 || !list[0].Cancelled() || list[1].Cancelled() {
			t.Errorf("Sessions = %+v, %v; want the first cancelled, the second not", list, err)
		}
		return nil
	})

	refused := func(what string, fn func(tx storage.Tx) error) {
		t.Helper()
		err := s.Update(ctx, fn)
		var fe *fairslot.Error
		if !errors.As(err, &fe) || fe.Key != storage.ErrSessionCancelled.Key || fe.Kind != fairslot.Conflict {
			t.Errorf("%s in a cancelled session: error = %v, want %v", what, err, storage.ErrSessionCancelled)
		}
	}
	refused("a booking", func(tx storage.Tx) error {
		return tx.InsertBooking(ctx, newBooking(f, f.slots[2], ps[2].ID, fairslot.Held), noLimits)
	})
	refused("an on-site booking, already confirmed", func(tx storage.Tx) error {
		b := newBooking(f, f.slots[3], ps[3].ID, fairslot.Confirmed)
		b.Channel = fairslot.OnSite
		return tx.InsertBooking(ctx, b, noLimits)
	})
	refused("a draw entry", func(tx storage.Tx) error {
		e := fairslot.Entry{SessionID: f.session.ID, PatientID: ps[2].ID, AccountID: acct, Hash: random(32), CreatedAt: base}
		return tx.InsertEntry(ctx, &e, "2026-12-03", 5)
	})
	refused("a waitlist place", func(tx storage.Tx) error {
		w := fairslot.WaitlistEntry{SessionID: f.session.ID, DoctorID: f.doctor.ID, Date: f.session.Date, PatientID: ps[2].ID, AccountID: acct, CreatedAt: base}
		return tx.JoinWaitlist(ctx, &w)
	})
	refused("a check-in", func(tx storage.Tx) error {
		return tx.MoveBooking(ctx, confirmed.ID, fairslot.Confirmed, fairslot.CheckedIn, storage.Move{At: base, MissedCalls: -1})
	})
	refused("a ticket", func(tx storage.Tx) error {
		return tx.IssueTicket(ctx, &fairslot.Ticket{BookingID: confirmed.ID, SessionID: f.session.ID, IssuedAt: base})
	})
	refused("paying a hold", func(tx storage.Tx) error {
		return tx.MoveBooking(ctx, held.ID, fairslot.Held, fairslot.Confirmed, storage.Move{At: base, MissedCalls: -1})
	})
	refused("an extra slot", func(tx storage.Tx) error {
		return tx.AddSlot(ctx, &fairslot.Slot{SessionID: f.session.ID, Start: f.slots[0].Start, End: f.slots[0].End, Quota: fairslot.QuotaExtra})
	})

	// What the session held can still be ended: cancelled, by the hospital.
	for _, b := range []*fairslot.Booking{confirmed, held} {
		update(t, s, func(tx storage.Tx) error {
			return tx.MoveBooking(ctx, b.ID, b.Status, fairslot.Cancelled, storage.Move{At: c.At, MissedCalls: -1, CancelledBy: fairslot.CancelledByHospital})
		})
	}
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.Booking(ctx, confirmed.ID)
		if err != nil || got.Status != fairslot.Cancelled || got.CancelledBy != fairslot.CancelledByHospital {
			t.Errorf("after the cancellation booking = %+v, %v; want cancelled by %q", got, err, fairslot.CancelledByHospital)
		}
		return nil
	})
	var due []int64
	update(t, s, func(tx storage.Tx) (err error) { due, err = tx.DueDraws(ctx, base); return err })
	if slices.Contains(due, f.session.ID) {
		t.Errorf("DueDraws = %v: a cancelled session's draw is still due", due)
	}

	// The other session still takes bookings.
	if err := insert(s, newBooking(&other, other.slots[0], ps[2].ID, fairslot.Held), noLimits); err != nil {
		t.Errorf("a booking in another session of the doctor: %v", err)
	}
}

// testCancelSessionRace books a session from many writers while it is
// cancelled: every booking that got in is one the cancellation saw (it
// lists them after recording itself), none committed after it.
func testCancelSessionRace(t *testing.T, s storage.Store) {
	const n = 12
	f := newFixture(t, s, n)
	ps := newPatients(t, s, n)
	var seen []int64
	var wg sync.WaitGroup
	booked := make([]int64, n)
	for i := range n {
		wg.Go(func() {
			b := newBooking(f, f.slots[i], ps[i].ID, fairslot.Held)
			if err := insert(s, b, noLimits); err == nil {
				booked[i] = b.ID
			} else if !errors.Is(err, storage.ErrSessionCancelled) && fairslot.ErrorKind(err) != fairslot.Unavailable {
				t.Errorf("booking %d: %v", i, err)
			}
		})
		if i == n/2 {
			wg.Go(func() {
				update(t, s, func(tx storage.Tx) error {
					if err := tx.CancelSession(ctx, storage.SessionCancellation{SessionID: f.session.ID, At: base, Reason: "race"}); err != nil {
						return err
					}
					bs, err := tx.SessionBookings(ctx, f.session.ID)
					seen = seen[:0]
					for _, b := range bs {
						seen = append(seen, b.ID)
					}
					return err
				})
			})
		}
	}
	wg.Wait()
	for _, id := range booked {
		if id != 0 && !slices.Contains(seen, id) {
			t.Errorf("booking %d committed in a cancelled session unseen by its cancellation (saw %v)", id, seen)
		}
	}
}
