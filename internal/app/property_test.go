package app_test

import (
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// TestReleaseProperties runs thousands of random schedules of draw entries,
// draws, bookings, payments, cancellations, expiries, waitlist joins and
// leaves over a draw session and a first-come session of one doctor, and
// checks after every step that no slot is held twice, that no patient
// breaks the limits, and that no general slot stands free while someone
// waits for it; and at the end of each schedule that every waitlist offer
// went to the oldest entry still waiting.
func TestReleaseProperties(t *testing.T) {
	schedules, steps := 1500, 30
	if testing.Short() {
		schedules = 300
	}
	svc, c, _, _ := openServiceTB(t, t.TempDir(), "NORMAL")
	serial, phone := new(int), 0
	done := map[string]int{} // successful steps by kind, to show the schedules did something
	for n := range schedules {
		rnd := mrand.New(mrand.NewPCG(uint64(n), 99))
		c.now = releaseAt.Add(-10 * time.Minute)
		w := newWorld(t, svc, c, fmt.Sprintf("P%d", n), drawRule(fmt.Sprintf("P%d", n)))
		w.serial = serial
		svc.Release.Rules[0].Window = fairslot.Duration(20 * time.Minute)
		drawn := w.session(t, day, fairslot.Morning, 3)
		svc.Release.Rules = nil // the afternoon is first come
		firstCome := w.session(t, day, fairslot.Afternoon, 3)
		sessions := []fairslot.Session{drawn, firstCome}
		type acct struct {
			a        app.Actor
			patients []int64
		}
		var accts []acct
		for range 4 {
			phone++
			a, ps := w.account(t, fmt.Sprintf("132%08d", phone), 2)
			accts = append(accts, acct{a, ps})
		}
		var log []string
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("schedule %d after %v: %s", n, log, fmt.Sprintf(format, args...))
		}
		for range steps {
			c.Add(time.Duration(rnd.IntN(8)) * time.Minute)
			x := accts[rnd.IntN(len(accts))]
			p := x.patients[rnd.IntN(2)]
			sess := sessions[rnd.IntN(2)]
			var err error
			switch op := rnd.IntN(9); op {
			case 0, 1:
				_, err = svc.Hold(ctx, x.a, app.HoldInput{SessionID: sess.ID, PatientID: p})
				log = append(log, fmt.Sprintf("hold(%d,%d)", x.a.ID, sess.ID))
			case 2:
				_, err = svc.EnterDraw(ctx, x.a, app.EntryInput{SessionID: drawn.ID, PatientID: p})
				log = append(log, fmt.Sprintf("enter(%d)", x.a.ID))
			case 3, 4:
				bs, _ := svc.Bookings(ctx, x.a)
				if len(bs) > 0 {
					b := bs[rnd.IntN(len(bs))]
					if op == 3 {
						_, err = svc.Pay(ctx, x.a, b.ID, fmt.Sprint("k", b.ID))
						log = append(log, fmt.Sprintf("pay(%d)", b.ID))
					} else {
						_, err = svc.Cancel(ctx, x.a, b.ID)
						log = append(log, fmt.Sprintf("cancel(%d)", b.ID))
					}
				}
			case 5:
				_, err = svc.JoinWaitlist(ctx, x.a, app.WaitInput{SessionID: sess.ID, PatientID: p, AnySession: rnd.IntN(3) == 0})
				log = append(log, fmt.Sprintf("join(%d,%d)", x.a.ID, sess.ID))
			case 6:
				ws, _ := svc.Waitlists(ctx, x.a)
				for _, e := range ws {
					if e.Open() {
						_, err = svc.LeaveWaitlist(ctx, x.a, e.ID)
						log = append(log, "leave")
						break
					}
				}
			default:
				err = svc.Sweep(ctx)
				log = append(log, "sweep")
			}
			if err != nil && fairslot.ErrorKind(err) == fairslot.Internal {
				fail("internal error: %v", err)
			}
			if err == nil && len(log) > 0 {
				k := log[len(log)-1]
				done[k[:min(len(k), 4)]]++
			}
			checkStep(t, svc, w, sessions, c.Now(), fail)
		}
		done["offers"] += checkOffers(t, svc, sessions, fail)
	}
	t.Logf("successful steps by kind over %d schedules: %v", schedules, done)
	for _, k := range []string{"hold", "ente", "pay(", "canc", "join", "swee", "offers"} {
		if done[k] == 0 {
			t.Errorf("no successful %q step: the schedules do not exercise it", k)
		}
	}
}

// checkStep checks the invariants that hold after every step.
func checkStep(t *testing.T, svc *app.Service, w *world, sessions []fairslot.Session, now time.Time, fail func(string, ...any)) {
	storagetest.CheckNoDoubles(t, svc.Store, sessions[0].ID, sessions[1].ID)
	err := svc.Store.View(ctx, func(tx storage.Tx) error {
		perPatient := map[int64]int{}
		waiting, err := tx.Waitlist(ctx, w.doctor.ID, day)
		if err != nil {
			return err
		}
		for _, sess := range sessions {
			bs, err := tx.SessionBookings(ctx, sess.ID)
			if err != nil {
				return err
			}
			taken := map[int64]bool{}
			for _, b := range bs {
				if b.Status.HoldsSlot() {
					taken[b.SlotID] = true
					if b.Status != fairslot.Completed {
						perPatient[b.PatientID]++
					}
				}
			}
			rel, err := tx.Release(ctx, sess.ID)
			if err != nil {
				return err
			}
			applies := false
			for _, e := range waiting {
				applies = applies || e.SessionID == 0 || e.SessionID == sess.ID
			}
			if !applies || (rel.Mode == fairslot.Draw && rel.Drawn.IsZero()) {
				continue
			}
			for i := 1; i <= 3; i++ {
				free := true
				for _, b := range bs {
					if b.Status.HoldsSlot() {
						sl, _ := tx.Slot(ctx, b.SlotID)
						if sl.Number == i {
							free = false
						}
					}
				}
				if free {
					fail("session %d slot %d is free while %d wait", sess.ID, i, len(waiting))
				}
			}
		}
		for p, n := range perPatient {
			if n > 1 { // one department, one day: the per-department limit is 1
				fail("patient %d holds %d places in one department on one day", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkOffers checks that every offer went to the oldest waiting entry: an
// older entry that could take the same session was closed no later.
func checkOffers(t *testing.T, svc *app.Service, sessions []fairslot.Session, fail func(string, ...any)) (offers int) {
	err := svc.Store.View(ctx, func(tx storage.Tx) error {
		var all []fairslot.WaitlistEntry
		seen := map[int64]bool{}
		for _, sess := range sessions {
			bs, err := tx.SessionBookings(ctx, sess.ID)
			if err != nil {
				return err
			}
			for _, b := range bs {
				if b.AccountID == 0 || seen[b.AccountID] {
					continue
				}
				seen[b.AccountID] = true
				ws, err := tx.WaitlistOf(ctx, b.AccountID)
				if err != nil {
					return err
				}
				all = append(all, ws...)
			}
		}
		for _, e := range all {
			if e.Outcome != "offered" {
				continue
			}
			offers++
			b, err := tx.Booking(ctx, e.BookingID)
			if err != nil {
				return err
			}
			for _, f := range all {
				if f.ID < e.ID && f.Date == e.Date && f.DoctorID == e.DoctorID && (f.SessionID == 0 || f.SessionID == b.SessionID) &&
					(f.Open() || f.ClosedAt.After(e.ClosedAt)) {
					fail("waitlist entry %d was offered session %d while older entry %d still waited", e.ID, b.SessionID, f.ID)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return offers
}
