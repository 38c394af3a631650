package storagetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testBoardTickets checks patients in to two rooms of one department at
// once: every ticket on the department's board is a different label, each
// room numbers its own under its own prefix, and a third room on another
// day starts again at A.
func testBoardTickets(t *testing.T, s storage.Store) {
	const perRoom = 15
	f := newFixture(t, s, perRoom)
	other := *f // a second doctor's session, same department and day
	var later fixture
	update(t, s, func(tx storage.Tx) error {
		other.doctor = fairslot.Doctor{DepartmentID: f.dept.ID, Name: "Dr Wang", Title: fairslot.General}
		if err := tx.CreateDoctor(ctx, &other.doctor); err != nil {
			return err
		}
		newSession(t, tx, &other, f.session.Date, perRoom)
		later = other
		newSession(t, tx, &later, "2026-12-11", 1)
		return nil
	})
	ps := newPatients(t, s, 2*perRoom+1)
	var bs []*fairslot.Booking
	for i, p := range ps {
		fx, slot := f, i/2
		if i%2 == 1 {
			fx = &other
		}
		if i == len(ps)-1 {
			fx, slot = &later, 0
		}
		b := newBooking(fx, fx.slots[slot], p.ID, fairslot.Confirmed)
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	tickets := make([]fairslot.Ticket, len(bs))
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx storage.Tx) error {
				if err := tx.MoveBooking(ctx, b.ID, fairslot.Confirmed, fairslot.CheckedIn, storage.Move{At: base, MissedCalls: -1}); err != nil {
					return err
				}
				tickets[i] = fairslot.Ticket{BookingID: b.ID, SessionID: b.SessionID, IssuedAt: base}
				return tx.IssueTicket(ctx, &tickets[i])
			})
		}()
	}
	wg.Wait()
	labels := map[string]int64{}
	prefixes := map[int64]string{}
	numbers := map[int64][]int{}
	for i, k := range tickets {
		if errs[i] != nil {
			t.Fatalf("check-in %d: %v", i, errs[i])
		}
		if by, ok := labels[k.Label()]; ok && bs[i].Date == f.session.Date {
			t.Errorf("ticket %s issued to bookings %d and %d of one board", k.Label(), by, k.BookingID)
		}
		if bs[i].Date == f.session.Date {
			labels[k.Label()] = k.BookingID
		}
		if p, ok := prefixes[k.SessionID]; ok && p != k.Prefix {
			t.Errorf("session %d issued prefixes %q and %q", k.SessionID, p, k.Prefix)
		}
		prefixes[k.SessionID] = k.Prefix
		numbers[k.SessionID] = append(numbers[k.SessionID], k.Number)
		s.View(ctx, func(tx storage.Tx) error {
			if got, err := tx.Ticket(ctx, k.BookingID); err != nil || got.Label() != k.Label() {
				t.Errorf("Ticket(%d) = %s, %v; want %s", k.BookingID, got.Label(), err, k.Label())
			}
			return nil
		})
	}
	if got := []string{prefixes[f.session.ID], prefixes[other.session.ID], prefixes[later.session.ID]}; !slices.Equal(got, []string{"A", "B", "A"}) &&
		!slices.Equal(got, []string{"B", "A", "A"}) {
		t.Errorf("prefixes of the two rooms and the next day's = %q; want A and B (either way), then A", got)
	}
	for _, id := range []int64{f.session.ID, other.session.ID} {
		got := numbers[id]
		slices.Sort(got)
		want := make([]int, perRoom)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(got, want) {
			t.Errorf("session %d numbers = %v; want 1…%d", id, got, perRoom)
		}
	}
	s.View(ctx, func(tx storage.Tx) error {
		q, err := tx.DepartmentQueue(ctx, f.dept.ID, f.session.Date)
		if err != nil || len(q) != 2*perRoom {
			t.Fatalf("DepartmentQueue = %d entries, %v; want %d", len(q), err, 2*perRoom)
		}
		for i, e := range q {
			if i > 0 && (e.Booking.SessionID < q[i-1].Booking.SessionID ||
				e.Booking.SessionID == q[i-1].Booking.SessionID && e.Ticket.Position < q[i-1].Ticket.Position) {
				t.Errorf("DepartmentQueue entry %d (session %d, position %v) out of order", i, e.Booking.SessionID, e.Ticket.Position)
			}
		}
		return nil
	})
}

// TicketsOfTwoRooms checks one patient in to each of two rooms of one
// department on one day and returns their tickets (A001 and B001): a
// backend's own test then tries to give the second the first's label
// behind the contract's back, which its database must refuse.
func TicketsOfTwoRooms(t *testing.T, s storage.Store) [2]fairslot.Ticket {
	t.Helper()
	f := newFixture(t, s, 1)
	other := *f
	update(t, s, func(tx storage.Tx) error {
		other.doctor = fairslot.Doctor{DepartmentID: f.dept.ID, Name: "Dr Wang", Title: fairslot.General}
		if err := tx.CreateDoctor(ctx, &other.doctor); err != nil {
			return err
		}
		newSession(t, tx, &other, f.session.Date, 1)
		return nil
	})
	ps := newPatients(t, s, 2)
	var out [2]fairslot.Ticket
	for i, fx := range []*fixture{f, &other} {
		b := newBooking(fx, fx.slots[0], ps[i].ID, fairslot.Confirmed)
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
		update(t, s, func(tx storage.Tx) error {
			if err := tx.MoveBooking(ctx, b.ID, fairslot.Confirmed, fairslot.CheckedIn, storage.Move{At: base, MissedCalls: -1}); err != nil {
				return err
			}
			out[i] = fairslot.Ticket{BookingID: b.ID, SessionID: b.SessionID, IssuedAt: base}
			return tx.IssueTicket(ctx, &out[i])
		})
	}
	if out[0].Label() != "A001" || out[1].Label() != "B001" {
		t.Fatalf("tickets of two rooms = %s, %s; want A001, B001", out[0].Label(), out[1].Label())
	}
	return out
}

// testRecalls: a recall is a call again for the board (its time, counted)
// but no turn of the priority interleave.
func testRecalls(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 2)
	ps := newPatients(t, s, 1)
	b := newBooking(f, f.slots[0], ps[0].ID, fairslot.Confirmed)
	if err := insert(s, b, noLimits); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.MoveBooking(ctx, b.ID, fairslot.Confirmed, fairslot.CheckedIn, storage.Move{At: base, MissedCalls: -1}); err != nil {
			return err
		}
		k := fairslot.Ticket{BookingID: b.ID, SessionID: b.SessionID, IssuedAt: base}
		if err := tx.IssueTicket(ctx, &k); err != nil {
			return err
		}
		return tx.MoveBooking(ctx, b.ID, fairslot.CheckedIn, fairslot.Called, storage.Move{At: base, MissedCalls: -1})
	})
	steps := []struct {
		name     string
		do       func(tx storage.Tx) error
		at       time.Duration
		recalls  int
		priority []bool
	}{
		{"called", func(tx storage.Tx) error { return tx.InsertCall(ctx, f.session.ID, b.ID, true, base.Add(time.Minute)) }, time.Minute, 0, []bool{true}},
		{"recalled", func(tx storage.Tx) error { return tx.InsertRecall(ctx, f.session.ID, b.ID, base.Add(2*time.Minute)) }, 2 * time.Minute, 1, []bool{true}},
		{"recalled again", func(tx storage.Tx) error { return tx.InsertRecall(ctx, f.session.ID, b.ID, base.Add(3*time.Minute)) }, 3 * time.Minute, 2, []bool{true}},
		{"called anew", func(tx storage.Tx) error {
			return tx.InsertCall(ctx, f.session.ID, b.ID, false, base.Add(4*time.Minute))
		}, 4 * time.Minute, 0, []bool{true, false}},
	}
	for _, st := range steps {
		update(t, s, st.do)
		s.View(ctx, func(tx storage.Tx) error {
			q, err := tx.DepartmentQueue(ctx, f.dept.ID, f.session.Date)
			if err != nil || len(q) != 1 {
				t.Fatalf("%s: DepartmentQueue = %+v, %v", st.name, q, err)
			}
			if !q[0].CalledAt.Equal(base.Add(st.at)) || q[0].Recalls != st.recalls {
				t.Errorf("%s: called at %v with %d recalls; want %v and %d", st.name, q[0].CalledAt, q[0].Recalls, base.Add(st.at), st.recalls)
			}
			if got, err := tx.RecentCalls(ctx, f.session.ID, 5); !slices.Equal(got, st.priority) {
				t.Errorf("%s: RecentCalls = %v, %v; want %v (recalls are no turn)", st.name, got, err, st.priority)
			}
			return nil
		})
	}
}
