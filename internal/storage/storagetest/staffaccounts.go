package storagetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

func sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// testStaffAccounts: the second factor and state of a staff account and its
// sessions, each change a conditional write the database checks.
func testStaffAccounts(t *testing.T, s storage.Store) {
	var a, b fairslot.Staff
	update(t, s, func(tx storage.Tx) error {
		a = fairslot.Staff{Username: "zed", Name: "Zed", Role: fairslot.Admin}
		b = fairslot.Staff{Username: "amy", Name: "Amy", Role: fairslot.Nurse}
		if err := tx.CreateStaff(ctx, &a, "h1"); err != nil {
			return err
		}
		return tx.CreateStaff(ctx, &b, "h2")
	})
	view := func() (got storage.StaffAuth) {
		t.Helper()
		if err := s.View(ctx, func(tx storage.Tx) (err error) { got, err = tx.StaffAuth(ctx, a.ID); return err }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	err := s.View(ctx, func(tx storage.Tx) error {
		list, err := tx.ListStaff(ctx)
		if err != nil || len(list) != 2 || list[0] != b || list[1] != a {
			t.Errorf("ListStaff = %+v, %v; want amy then zed", list, err)
		}
		_, err = tx.StaffAuth(ctx, 9999)
		wantKind(t, "StaffAuth of nobody", err, fairslot.NotFound)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := view(); got.TOTPSealed != nil || got.TOTPLastStep != 0 || !got.LockedAt.IsZero() || !got.DisabledAt.IsZero() || got.RecoveryLeft != 0 {
		t.Errorf("new account = %+v", got)
	}

	// Password, disable, lock.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.SetStaffPassword(ctx, a.ID, "h3", base); err != nil {
			return err
		}
		if err := tx.SetStaffDisabled(ctx, a.ID, base); err != nil {
			return err
		}
		if err := tx.LockStaff(ctx, a.ID, base.Add(time.Minute)); err != nil {
			return err
		}
		wantKind(t, "second lock", tx.LockStaff(ctx, a.ID, base.Add(2*time.Minute)), fairslot.Conflict)
		wantKind(t, "password of nobody", tx.SetStaffPassword(ctx, 9999, "x", base), fairslot.NotFound)
		_, hash, err := tx.StaffByUsername(ctx, "zed")
		if err != nil || hash != "h3" {
			t.Errorf("password hash = %q, %v", hash, err)
		}
		return nil
	})
	got := view()
	if !got.PasswordChangedAt.Equal(base) || !got.DisabledAt.Equal(base) || !got.LockedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("after password, disable, lock: %+v", got)
	}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.SetStaffDisabled(ctx, a.ID, time.Time{}); err != nil {
			return err
		}
		return tx.UnlockStaff(ctx, a.ID)
	})
	if got := view(); !got.DisabledAt.IsZero() || !got.LockedAt.IsZero() {
		t.Errorf("after enable, unlock: %+v", got)
	}

	// Enrolment: a pending secret is confirmed with a step, once.
	hashes := func(tag string) (out [][]byte) {
		for i := range 10 {
			out = append(out, sum(fmt.Sprint(tag, i)))
		}
		return out
	}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.UseTOTPStep(ctx, a.ID, 5); fairslot.ErrorKind(err) != fairslot.Conflict {
			t.Errorf("UseTOTPStep before enrolment = %v, want Conflict", err)
		}
		if err := tx.SetTOTPPending(ctx, a.ID, []byte("sealed-1")); err != nil {
			return err
		}
		wantKind(t, "confirm without an enrolment code", tx.ConfirmTOTP(ctx, a.ID, []byte("sealed-1"), sum("e1"), 100, hashes("x"), base), fairslot.Conflict)
		if err := tx.SetEnrolCode(ctx, a.ID, sum("e1"), base.Add(time.Hour)); err != nil {
			return err
		}
		wantKind(t, "confirm another pending secret", tx.ConfirmTOTP(ctx, a.ID, []byte("sealed-0"), sum("e1"), 100, hashes("x"), base), fairslot.Conflict)
		return tx.ConfirmTOTP(ctx, a.ID, []byte("sealed-1"), sum("e1"), 100, hashes("a"), base)
	})
	got = view()
	if !bytes.Equal(got.TOTPSealed, []byte("sealed-1")) || got.TOTPPendingSealed != nil || got.TOTPLastStep != 100 || got.RecoveryLeft != 10 ||
		got.EnrolCodeHash != nil || !got.EnrolCodeExpires.IsZero() {
		t.Errorf("after confirm (the enrolment code spent): %+v", got)
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.ConfirmTOTP(ctx, a.ID, []byte("sealed-1"), sum("e1"), 101, hashes("b"), base)
	})
	wantKind(t, "confirm twice", err, fairslot.Conflict)

	// Steps are used once and only forward.
	update(t, s, func(tx storage.Tx) error {
		wantKind(t, "replayed step", tx.UseTOTPStep(ctx, a.ID, 100), fairslot.Conflict)
		wantKind(t, "older step", tx.UseTOTPStep(ctx, a.ID, 99), fairslot.Conflict)
		return tx.UseTOTPStep(ctx, a.ID, 101)
	})
	// Recovery codes: each once, and only one's own.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.UseRecoveryCode(ctx, a.ID, sum("a3"), base); err != nil {
			return err
		}
		wantKind(t, "recovery code twice", tx.UseRecoveryCode(ctx, a.ID, sum("a3"), base), fairslot.Conflict)
		wantKind(t, "another's recovery code", tx.UseRecoveryCode(ctx, b.ID, sum("a4"), base), fairslot.Conflict)
		wantKind(t, "unknown recovery code", tx.UseRecoveryCode(ctx, a.ID, sum("zz"), base), fairslot.Conflict)
		return nil
	})
	if got := view(); got.RecoveryLeft != 9 || got.TOTPLastStep != 101 {
		t.Errorf("after one code: %+v", got)
	}
	// A reset forgets the secret and retires the codes; the step stays.
	update(t, s, func(tx storage.Tx) error { return tx.ResetMFA(ctx, a.ID, base) })
	if got := view(); got.TOTPSealed != nil || got.RecoveryLeft != 0 || got.TOTPLastStep != 101 {
		t.Errorf("after reset: %+v", got)
	}
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.UseRecoveryCode(ctx, a.ID, sum("a5"), base) })
	wantKind(t, "recovery code after reset", err, fairslot.Conflict)
	update(t, s, func(tx storage.Tx) error {
		if err := tx.SetTOTPPending(ctx, a.ID, []byte("sealed-2")); err != nil {
			return err
		}
		if err := tx.SetEnrolCode(ctx, a.ID, sum("e2"), base.Add(time.Hour)); err != nil {
			return err
		}
		wantKind(t, "re-enrol with a used step", tx.ConfirmTOTP(ctx, a.ID, []byte("sealed-2"), sum("e2"), 101, hashes("c"), base), fairslot.Conflict)
		return nil
	})
	testEnrolCodes(t, s, b.ID, hashes)

	// Sessions: touched forward, ended once, by one or by all.
	s1 := storage.StaffSession{TokenHash: sum("t1"), StaffID: a.ID, CreatedAt: base, LastSeenAt: base, FactorAt: base}
	s2 := storage.StaffSession{TokenHash: sum("t2"), StaffID: a.ID, CreatedAt: base, LastSeenAt: base}
	s3 := storage.StaffSession{TokenHash: sum("t3"), StaffID: b.ID, CreatedAt: base, LastSeenAt: base}
	update(t, s, func(tx storage.Tx) error {
		for _, x := range []storage.StaffSession{s1, s2, s3} {
			if err := tx.CreateStaffSession(ctx, x); err != nil {
				return err
			}
		}
		if err := tx.TouchStaffSession(ctx, s1.TokenHash, base.Add(time.Minute), time.Time{}); err != nil {
			return err
		}
		if err := tx.TouchStaffSession(ctx, s2.TokenHash, base.Add(2*time.Minute), base.Add(2*time.Minute)); err != nil {
			return err
		}
		// An older last-seen does not move it back.
		return tx.TouchStaffSession(ctx, s1.TokenHash, base, time.Time{})
	})
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.CreateStaffSession(ctx, s1) })
	wantKind(t, "session twice", err, fairslot.Conflict)
	readSession := func(h []byte) (got storage.StaffSession) {
		t.Helper()
		if err := s.View(ctx, func(tx storage.Tx) (err error) { got, err = tx.StaffSession(ctx, h); return err }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if g := readSession(s1.TokenHash); g.StaffID != a.ID || !g.LastSeenAt.Equal(base.Add(time.Minute)) || !g.FactorAt.Equal(base) || !g.EndedAt.IsZero() {
		t.Errorf("s1 = %+v", g)
	}
	if g := readSession(s2.TokenHash); !g.FactorAt.Equal(base.Add(2 * time.Minute)) {
		t.Errorf("s2 = %+v", g)
	}
	update(t, s, func(tx storage.Tx) error {
		return tx.EndStaffSessions(ctx, a.ID, s1.TokenHash, base.Add(3*time.Minute))
	})
	if g := readSession(s1.TokenHash); !g.EndedAt.Equal(base.Add(3 * time.Minute)) {
		t.Errorf("s1 after logout = %+v", g)
	}
	if g := readSession(s2.TokenHash); !g.EndedAt.IsZero() {
		t.Errorf("s2 ended with s1: %+v", g)
	}
	update(t, s, func(tx storage.Tx) error { return tx.EndStaffSessions(ctx, a.ID, nil, base.Add(4*time.Minute)) })
	if g := readSession(s1.TokenHash); !g.EndedAt.Equal(base.Add(3 * time.Minute)) {
		t.Errorf("an ended session's end moved: %+v", g)
	}
	if g := readSession(s2.TokenHash); !g.EndedAt.Equal(base.Add(4 * time.Minute)) {
		t.Errorf("s2 not ended by end-all: %+v", g)
	}
	if g := readSession(s3.TokenHash); !g.EndedAt.IsZero() {
		t.Errorf("another person's session ended: %+v", g)
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.TouchStaffSession(ctx, s2.TokenHash, base.Add(time.Hour), time.Time{})
	})
	wantKind(t, "touch an ended session", err, fairslot.NotFound)
	err = s.View(ctx, func(tx storage.Tx) error { _, err := tx.StaffSession(ctx, sum("none")); return err })
	wantKind(t, "unknown session", err, fairslot.NotFound)
}

// testEnrolCodes: an enrolment is confirmed only with the account's current,
// unexpired enrolment code, which it spends; a new code replaces the old.
func testEnrolCodes(t *testing.T, s storage.Store, id int64, hashes func(string) [][]byte) {
	t.Helper()
	view := func() (got storage.StaffAuth) {
		t.Helper()
		if err := s.View(ctx, func(tx storage.Tx) (err error) { got, err = tx.StaffAuth(ctx, id); return err }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	confirm := func(code string, step int64, at time.Time) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.ConfirmTOTP(ctx, id, []byte("pending-b"), sum(code), step, hashes("b"+code), at)
		})
	}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.SetTOTPPending(ctx, id, []byte("pending-b")); err != nil {
			return err
		}
		wantKind(t, "enrolment code of nobody", tx.SetEnrolCode(ctx, 9999, sum("old"), base), fairslot.NotFound)
		return tx.SetEnrolCode(ctx, id, sum("old"), base.Add(time.Hour))
	})
	if got := view(); !bytes.Equal(got.EnrolCodeHash, sum("old")) || !got.EnrolCodeExpires.Equal(base.Add(time.Hour)) {
		t.Fatalf("after SetEnrolCode: %+v", got)
	}
	update(t, s, func(tx storage.Tx) error { return tx.SetEnrolCode(ctx, id, sum("new"), base.Add(2*time.Hour)) })
	wantKind(t, "confirm with a replaced code", confirm("old", 10, base), fairslot.Conflict)
	wantKind(t, "confirm with a wrong code", confirm("other", 10, base), fairslot.Conflict)
	wantKind(t, "confirm with an expired code", confirm("new", 10, base.Add(2*time.Hour)), fairslot.Conflict)
	if got := view(); got.TOTPSealed != nil || !bytes.Equal(got.EnrolCodeHash, sum("new")) {
		t.Fatalf("a refused confirm changed the account: %+v", got)
	}
	if err := confirm("new", 10, base.Add(time.Hour)); err != nil {
		t.Fatalf("confirm with the current code: %v", err)
	}
	if got := view(); !bytes.Equal(got.TOTPSealed, []byte("pending-b")) || got.EnrolCodeHash != nil || got.TOTPLastStep != 10 {
		t.Errorf("after confirm: %+v", got)
	}
	// Spent: a second enrolment with the same code is refused.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.ResetMFA(ctx, id, base); err != nil {
			return err
		}
		return tx.SetTOTPPending(ctx, id, []byte("pending-b"))
	})
	wantKind(t, "confirm with a spent code", confirm("new", 11, base.Add(time.Hour)), fairslot.Conflict)
}
