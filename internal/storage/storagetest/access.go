package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testAccess: access records are appended once per key, read back per
// patient and per member of staff by kind and time; the access lock holds
// until unlocked; security events and a login's scope round-trip.
func testAccess(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 2)
	st := fairslot.Staff{Username: "dr", Name: "Dr", Role: fairslot.DoctorRole}
	other := fairslot.Staff{Username: "desk", Name: "Desk", Role: fairslot.Registrar}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.CreateStaff(ctx, &st, "h"); err != nil {
			return err
		}
		return tx.CreateStaff(ctx, &other, "h")
	})
	rec := func(staff, patient int64, kind, key string, at time.Time) storage.AccessRecord {
		return storage.AccessRecord{Ref: fmt.Sprintf("%x", random(8)), At: at, StaffID: staff, Role: "doctor", PatientID: patient,
			SessionID: f.session.ID, Kind: kind, Field: "name", Reason: "clinical_care", Place: "room 101",
			Subject: fmt.Sprintf("patient:%d", patient), Key: key, NoteSealed: random(20)}
	}
	view := rec(st.ID, ps[0].ID, "view", "view:1", base)
	again := rec(st.ID, ps[0].ID, "view", "view:1", base.Add(20*time.Second))
	reveal := rec(st.ID, ps[0].ID, "reveal", "", base.Add(time.Minute))
	miss := rec(st.ID, 0, "lookup", "", base.Add(2*time.Minute))
	miss.SessionID, miss.Subject = 0, "lookup:abc"
	theirs := rec(other.ID, ps[1].ID, "reveal", "", base.Add(time.Minute))
	update(t, s, func(tx storage.Tx) error {
		for _, r := range []*storage.AccessRecord{&view, &reveal, &miss, &theirs} {
			if ok, err := tx.AppendAccess(ctx, r); err != nil || !ok || r.ID == 0 {
				return fmt.Errorf("AppendAccess(%s) = %v, %v, id %d; want stored", r.Kind, ok, err, r.ID)
			}
		}
		if ok, err := tx.AppendAccess(ctx, &again); err != nil || ok {
			return fmt.Errorf("AppendAccess of a key already stored = %v, %v; want false, nil", ok, err)
		}
		return nil
	})
	err := s.View(ctx, func(tx storage.Tx) error {
		seen, err := tx.AccessKeysSeen(ctx, []string{"view:1", "view:2"})
		if err != nil || !seen["view:1"] || seen["view:2"] {
			t.Errorf("AccessKeysSeen = %v, %v; want only view:1", seen, err)
		}
		got, err := tx.AccessesOfPatient(ctx, ps[0].ID, 10)
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].ID != reveal.ID || got[1].ID != view.ID {
			t.Errorf("AccessesOfPatient = %+v; want the reveal then the view", got)
		} else if g := got[1]; !g.At.Equal(view.At) || g.Place != "room 101" || g.Reason != "clinical_care" || g.SessionID != f.session.ID ||
			!bytes.Equal(g.NoteSealed, view.NoteSealed) || g.Key != "view:1" || g.Role != "doctor" || g.StaffID != st.ID {
			t.Errorf("view read back as %+v, stored %+v", g, view)
		}
		counted, err := tx.CountedAccesses(ctx, st.ID, []string{"reveal", "lookup"}, base)
		if err != nil {
			return err
		}
		if len(counted) != 2 || counted[0].ID != reveal.ID || counted[1].ID != miss.ID || counted[1].PatientID != 0 || counted[1].Subject != "lookup:abc" {
			t.Errorf("CountedAccesses = %+v; want the reveal and the missed look-up, not the view nor another's", counted)
		}
		later, err := tx.CountedAccesses(ctx, st.ID, []string{"reveal", "lookup"}, base.Add(90*time.Second))
		if err != nil || len(later) != 1 {
			t.Errorf("CountedAccesses since a later time = %+v, %v; want the missed look-up only", later, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The lock.
	update(t, s, func(tx storage.Tx) error {
		if at, err := tx.StaffAccessLocked(ctx, st.ID); err != nil || !at.IsZero() {
			return fmt.Errorf("a new account: locked at %v, %v; want not locked", at, err)
		}
		if err := tx.LockStaffAccess(ctx, st.ID, base); err != nil {
			return err
		}
		if err := tx.LockStaffAccess(ctx, st.ID, base.Add(time.Hour)); err != nil { // the first lock's time stays
			return err
		}
		if at, err := tx.StaffAccessLocked(ctx, st.ID); err != nil || !at.Equal(base) {
			return fmt.Errorf("locked at %v, %v; want %v", at, err, base)
		}
		if at, _ := tx.StaffAccessLocked(ctx, other.ID); !at.IsZero() {
			return fmt.Errorf("locking one account locked another")
		}
		if err := tx.UnlockStaffAccess(ctx, st.ID); err != nil {
			return err
		}
		if at, err := tx.StaffAccessLocked(ctx, st.ID); err != nil || !at.IsZero() {
			return fmt.Errorf("after unlock: locked at %v, %v", at, err)
		}
		_, err := tx.StaffAccessLocked(ctx, 999999)
		wantKind(t, "lock state of no such staff", err, fairslot.NotFound)
		return nil
	})

	// Security events.
	update(t, s, func(tx storage.Tx) error {
		for i := range 3 {
			e := storage.SecurityEvent{At: base.Add(time.Duration(i) * time.Second), Kind: "access.locked", StaffID: st.ID,
				Detail: map[string]string{"n": fmt.Sprint(i)}}
			if err := tx.AppendSecurityEvent(ctx, &e); err != nil || e.ID == 0 {
				return fmt.Errorf("AppendSecurityEvent = %v, id %d", err, e.ID)
			}
		}
		es, err := tx.SecurityEvents(ctx, 0, 2)
		if err != nil || len(es) != 2 || es[0].Detail["n"] != "0" || !es[1].At.Equal(base.Add(time.Second)) || es[0].StaffID != st.ID {
			return fmt.Errorf("SecurityEvents(0, 2) = %+v, %v", es, err)
		}
		rest, err := tx.SecurityEvents(ctx, es[1].ID, 10)
		if err != nil || len(rest) != 1 || rest[0].Detail["n"] != "2" {
			return fmt.Errorf("SecurityEvents after the second = %+v, %v", rest, err)
		}
		return nil
	})

	// Scope.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.SetStaffScope(ctx, st.ID, f.doctor.ID, f.dept.CampusID, f.dept.ID); err != nil {
			return err
		}
		got, err := tx.Staff(ctx, st.ID)
		if err != nil || got.DoctorID != f.doctor.ID || got.CampusID != f.dept.CampusID || got.DepartmentID != f.dept.ID {
			return fmt.Errorf("Staff after SetStaffScope = %+v, %v", got, err)
		}
		if err := tx.SetStaffScope(ctx, st.ID, 0, 0, 0); err != nil {
			return err
		}
		if got, _ := tx.Staff(ctx, st.ID); got.DoctorID != 0 || got.CampusID != 0 || got.DepartmentID != 0 {
			return fmt.Errorf("scope not cleared: %+v", got)
		}
		wantKind(t, "scope of no such staff", tx.SetStaffScope(ctx, 999999, 0, 0, 0), fairslot.NotFound)
		return nil
	})
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.SetStaffScope(ctx, st.ID, 999999, 0, 0) })
	if err == nil {
		t.Error("a scope naming no doctor record was stored")
	}
}
