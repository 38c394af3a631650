package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// testRelease: a release is planned once; one entry per patient per draw
// and the account's cap per day, both by the database; a draw finishes
// once; results read back with the entries.
func testRelease(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 3)
	acct := newAccount(t, s).ID
	rel := fairslot.Release{SessionID: f.session.ID, Mode: fairslot.Draw, Opens: base.Add(-time.Hour), EntryCloses: base.Add(-30 * time.Minute),
		Commitment: random(32)}
	update(t, s, func(tx storage.Tx) error { return tx.InsertRelease(ctx, rel, random(60)) })
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.InsertRelease(ctx, rel, random(60)) })
	wantKind(t, "second release", err, fairslot.Conflict)
	err = s.Update(ctx, func(tx storage.Tx) error {
		bad := rel
		bad.SessionID, bad.Commitment = 0, nil
		return tx.InsertRelease(ctx, bad, nil)
	})
	if err == nil {
		t.Error("a draw release without a commitment was stored")
	}

	var entries []fairslot.Entry
	update(t, s, func(tx storage.Tx) error {
		for _, p := range ps[:2] {
			e := fairslot.Entry{SessionID: f.session.ID, PatientID: p.ID, AccountID: acct, Hash: random(32), CreatedAt: base.Add(-time.Hour)}
			if err := tx.InsertEntry(ctx, &e, "2026-12-03", 2); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return nil
	})
	err = s.Update(ctx, func(tx storage.Tx) error {
		e := fairslot.Entry{SessionID: f.session.ID, PatientID: ps[0].ID, AccountID: newAccountTx(t, tx), Hash: random(32), CreatedAt: base}
		return tx.InsertEntry(ctx, &e, "2026-12-03", 5)
	})
	wantKind(t, "a second entry of one patient", err, fairslot.Conflict)
	err = s.Update(ctx, func(tx storage.Tx) error {
		e := fairslot.Entry{SessionID: f.session.ID, PatientID: ps[2].ID, AccountID: acct, Hash: random(32), CreatedAt: base}
		return tx.InsertEntry(ctx, &e, "2026-12-03", 2)
	})
	wantKind(t, "an entry past the account's cap", err, fairslot.Limited)

	var due []int64
	update(t, s, func(tx storage.Tx) (err error) { due, err = tx.DueDraws(ctx, base); return err })
	if !slices.Equal(due, []int64{f.session.ID}) {
		t.Errorf("DueDraws = %v, want [%d]", due, f.session.ID)
	}
	entries[0].Rank, entries[0].Outcome = 2, fairslot.Lost
	entries[1].Rank, entries[1].Outcome, entries[1].Reason = 1, fairslot.Skipped, "a limit"
	update(t, s, func(tx storage.Tx) error {
		return tx.FinishDraw(ctx, f.session.ID, base, []byte(`{"version":1}`), entries)
	})
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.FinishDraw(ctx, f.session.ID, base, []byte(`{}`), nil) })
	wantKind(t, "a second draw", err, fairslot.Conflict)
	update(t, s, func(tx storage.Tx) error {
		got, err := tx.Release(ctx, f.session.ID)
		if err != nil {
			return err
		}
		if !got.Drawn.Equal(base) || got.Mode != fairslot.Draw || !got.EntryCloses.Equal(rel.EntryCloses) {
			t.Errorf("Release = %+v", got)
		}
		es, err := tx.Entries(ctx, f.session.ID)
		if err != nil {
			return err
		}
		if n, err := tx.EntryCount(ctx, f.session.ID); n != 2 || err != nil {
			t.Errorf("EntryCount = %d, %v; want 2", n, err)
		}
		if len(es) != 2 || es[0].Rank != 2 || es[0].Outcome != fairslot.Lost || es[1].Reason != "a limit" {
			t.Errorf("Entries after the draw = %+v", es)
		}
		rec, err := tx.DrawRecord(ctx, f.session.ID)
		if string(rec) != `{"version":1}` {
			t.Errorf("DrawRecord = %s, %v", rec, err)
		}
		if due, _ := tx.DueDraws(ctx, base.Add(time.Hour)); len(due) != 0 {
			t.Errorf("DueDraws after the draw = %v", due)
		}
		return nil
	})
}

func newAccountTx(t *testing.T, tx storage.Tx) int64 {
	a := storage.AccountRecord{Ref: fmt.Sprintf("%x", random(8)), PhoneIndex: random(16), PhoneSealed: random(20), CreatedAt: base}
	if err := tx.CreateAccount(ctx, &a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// testWaitlist: one open place per patient per doctor and date; closing
// happens once; a closed entry frees the patient to join again.
func testWaitlist(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 2)
	ps := newPatients(t, s, 2)
	acct := newAccount(t, s).ID
	join := func(p int64, session int64) (fairslot.WaitlistEntry, error) {
		w := fairslot.WaitlistEntry{SessionID: session, DoctorID: f.doctor.ID, Date: f.session.Date, PatientID: p, AccountID: acct, CreatedAt: base}
		return w, s.Update(ctx, func(tx storage.Tx) error { return tx.JoinWaitlist(ctx, &w) })
	}
	first, err := join(ps[0].ID, f.session.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = join(ps[0].ID, 0)
	wantKind(t, "a second place for the doctor and date", err, fairslot.Conflict)
	second, err := join(ps[1].ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx storage.Tx) error {
		wl, err := tx.Waitlist(ctx, f.doctor.ID, f.session.Date)
		if len(wl) != 2 || wl[0].ID != first.ID || wl[1].SessionID != 0 {
			t.Errorf("Waitlist = %+v, %v; want the two in join order", wl, err)
		}
		return tx.CloseWaitlist(ctx, first.ID, base, "left", 0)
	})
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.CloseWaitlist(ctx, first.ID, base, "offered", 0) })
	wantKind(t, "closing twice", err, fairslot.Conflict)
	if _, err := join(ps[0].ID, f.session.ID); err != nil {
		t.Errorf("joining again after leaving: %v", err)
	}
	update(t, s, func(tx storage.Tx) error {
		w, err := tx.WaitlistEntry(ctx, first.ID)
		if err != nil || w.Open() || w.Outcome != "left" {
			t.Errorf("closed entry = %+v, %v", w, err)
		}
		mine, err := tx.WaitlistOf(ctx, acct)
		if len(mine) != 3 || mine[0].ID < second.ID {
			t.Errorf("WaitlistOf = %d entries, newest first expected; %v", len(mine), err)
		}
		_, err = tx.WaitlistEntry(ctx, 1<<40)
		wantKind(t, "a missing entry", err, fairslot.NotFound)
		return nil
	})
}

// testSlotsAndQuotas: FreeSlot keeps to the quotas asked for and skips
// embargoed slots unless told; AddSlot numbers at the end; Savepoint undoes
// only its own writes; calls and cancellations and risk events read back.
func testSlotsAndQuotas(t *testing.T, s storage.Store) {
	f := &fixture{}
	g := newFixture(t, s, 1)
	f.dept, f.doctor = g.dept, g.doctor
	update(t, s, func(tx storage.Tx) error {
		start := base.Add(24 * time.Hour)
		f.session = fairslot.Session{DoctorID: f.doctor.ID, DepartmentID: f.dept.ID, Date: "2026-12-11", Period: fairslot.Afternoon,
			Start: start, End: start.Add(2 * time.Hour), FeeCents: 100}
		f.slots = []fairslot.Slot{
			{Number: 1, Start: start, End: start.Add(30 * time.Minute), Quota: fairslot.QuotaPriority},
			{Number: 2, Start: start, End: start.Add(30 * time.Minute)},
			{Number: 3, Start: start, End: start.Add(30 * time.Minute)},
		}
		return tx.CreateSession(ctx, &f.session, f.slots)
	})
	free := func(q storage.SlotQuery) int {
		t.Helper()
		q.SessionID, q.Now = f.session.ID, base
		var n int
		err := s.Update(ctx, func(tx storage.Tx) error {
			sl, err := tx.FreeSlot(ctx, q)
			n = sl.Number
			return err
		})
		if fairslot.ErrorKind(err) == fairslot.Conflict {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := free(storage.SlotQuery{}); n != 2 {
		t.Errorf("general FreeSlot = %d, want 2 (1 is reserved)", n)
	}
	if n := free(storage.SlotQuery{Quota: fairslot.QuotaPriority}); n != 1 {
		t.Errorf("priority FreeSlot = %d, want 1", n)
	}
	update(t, s, func(tx storage.Tx) error { return tx.EmbargoSlot(ctx, f.slots[1].ID, base.Add(time.Minute)) })
	if n := free(storage.SlotQuery{}); n != 3 {
		t.Errorf("FreeSlot past an embargo = %d, want 3", n)
	}
	if n := free(storage.SlotQuery{Embargoed: true}); n != 2 {
		t.Errorf("FreeSlot for an offer = %d, want 2 (offers pass embargoes)", n)
	}
	update(t, s, func(tx storage.Tx) error {
		ws, err := tx.Windows(ctx, f.session.ID, base)
		if len(ws) != 1 || ws[0].Capacity != 3 || ws[0].Remaining != 1 {
			t.Errorf("Windows = %+v, %v; want capacity 3, 1 bookable first come", ws, err)
		}
		extra := fairslot.Slot{SessionID: f.session.ID, Start: f.session.End.Add(-30 * time.Minute), End: f.session.End, Quota: fairslot.QuotaExtra}
		if err := tx.AddSlot(ctx, &extra); err != nil {
			return err
		}
		if got, _ := tx.Slot(ctx, extra.ID); extra.Number != 4 || got.Quota != fairslot.QuotaExtra {
			t.Errorf("AddSlot = %+v, read back %+v", extra, got)
		}
		return nil
	})

	ps := newPatients(t, s, 1)
	update(t, s, func(tx storage.Tx) error {
		boom := errors.New("boom")
		err := tx.Savepoint(ctx, func() error {
			b := newBooking(f, f.slots[2], ps[0].ID, fairslot.Confirmed)
			if err := tx.InsertBooking(ctx, b, noLimits); err != nil {
				return err
			}
			b2 := newBooking(f, f.slots[2], ps[0].ID, fairslot.Confirmed)
			if err := tx.InsertBooking(ctx, b2, noLimits); fairslot.ErrorKind(err) != fairslot.Conflict {
				t.Errorf("double insert in a savepoint: %v", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Savepoint = %v, want its function's error", err)
		}
		bs, err := tx.SessionBookings(ctx, f.session.ID)
		if len(bs) != 0 {
			t.Errorf("a failed savepoint left %d bookings", len(bs))
		}
		if err != nil {
			return err
		}
		b := newBooking(f, f.slots[2], ps[0].ID, fairslot.Confirmed)
		b.Priority = "elderly"
		if err := tx.Savepoint(ctx, func() error { return tx.InsertBooking(ctx, b, noLimits) }); err != nil {
			return err
		}
		if got, err := tx.Booking(ctx, b.ID); err != nil || got.Priority != "elderly" {
			t.Errorf("booking after a good savepoint: %+v, %v", got, err)
		}
		for i, p := range []bool{true, false, false, true} {
			if err := tx.InsertCall(ctx, f.session.ID, b.ID, p, base.Add(time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		if got, err := tx.RecentCalls(ctx, f.session.ID, 3); !slices.Equal(got, []bool{false, false, true}) {
			t.Errorf("RecentCalls = %v, %v; want the last 3, oldest first", got, err)
		}
		c := release.Cancellation{AccountID: 9, Device: "d", Addr: "a", At: base}
		if err := tx.InsertCancellation(ctx, f.session.ID, c); err != nil {
			return err
		}
		if got, err := tx.Cancellations(ctx, f.session.ID, base.Add(-time.Minute)); len(got) != 1 || got[0].AccountID != 9 || got[0].Device != "d" || got[0].Addr != "a" || !got[0].At.Equal(base) {
			t.Errorf("Cancellations = %+v, %v", got, err)
		}
		if got, _ := tx.Cancellations(ctx, f.session.ID, base.Add(time.Minute)); len(got) != 0 {
			t.Errorf("Cancellations since later = %+v", got)
		}
		r := storage.RiskEvent{At: base, Kind: "rebook_after_cancel", AccountID: 9, SessionID: f.session.ID, Detail: map[string]string{"same": "device"}}
		if err := tx.AppendRisk(ctx, &r); err != nil {
			return err
		}
		if got, err := tx.RiskEvents(ctx, 0, 10); len(got) != 1 || got[0].Detail["same"] != "device" || !got[0].At.Equal(base) {
			t.Errorf("RiskEvents = %+v, %v", got, err)
		}
		for _, c := range []struct {
			account int64
			since   time.Time
			want    int
		}{{9, base, 1}, {9, base.Add(time.Millisecond), 0}, {8, base.Add(-time.Hour), 0}} {
			if got, err := tx.RiskCount(ctx, c.account, c.since); got != c.want || err != nil {
				t.Errorf("RiskCount(%d, %v) = %d, %v; want %d", c.account, c.since, got, err, c.want)
			}
		}
		return nil
	})
}
