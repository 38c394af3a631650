package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/staffauth"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestAPasswordAloneCannotEnrol: an account that has not enrolled its
// second factor, signed in with its right password and no enrolment code
// (or a wrong one), gets the generic refusal — no enrolment challenge, no
// QR code, nothing stored.
func TestAPasswordAloneCannotEnrol(t *testing.T) {
	e := newEnv(t)
	for _, code := range []string{"", "123456", "ABCDE-FGHJK"} {
		step, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, code)
		if err == nil || step.Challenge != "" || step.Token != "" {
			t.Errorf("right password, enrolment code %q: step %+v, %v; want the generic refusal", code, step, err)
			continue
		}
		wantKind(t, "right password, no enrolment code", err, fairslot.Unauthorized)
	}
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		auth, err := tx.StaffAuth(ctx, staffID(t, e, "desk"))
		if err != nil || auth.TOTPSealed != nil || auth.TOTPPendingSealed != nil {
			t.Errorf("desk's second factor after password-only sign-ins: %+v, %v", auth, err)
		}
		return nil
	})
}

// TestEnrolmentCodeFailuresCount: a right password with a missing, wrong,
// expired, replaced or spent enrolment code is a failed sign-in — the same
// message as a wrong password, no enrolment — and each counts towards the
// lock.
func TestEnrolmentCodeFailuresCount(t *testing.T) {
	e := newEnv(t)
	e.svc.StaffAuth.LockAfter = 5
	e.svc.StaffAuth.EnrolCodeTTL = time.Minute
	deskID := staffID(t, e, "desk")
	issue := func() string {
		t.Helper()
		c, err := e.svc.ResetStaffMFA(ctx, app.System, deskID)
		if err != nil {
			t.Fatal(err)
		}
		return c.Code
	}
	n := 0
	fail := func(what, code string) {
		t.Helper()
		n++
		step, err := e.svc.StaffLogin(ctx, app.Actor{Addr: fmt.Sprintf("198.51.%d.0/24", n)}, "desk", staffPw, code)
		if err == nil || err.Error() != wrongLoginMessage(t, e) || step.Challenge != "" {
			t.Fatalf("right password, %s enrolment code %q: %+v, %v; want the wrong-login message", what, code, step, err)
		}
	}
	expired := issue()
	e.clock.Add(2 * time.Minute)
	fail("an expired", expired)
	replaced := issue()
	current := issue()
	fail("a replaced", replaced)
	fail("no", "")
	fail("a wrong", staffauth.NewEnrolCode())
	if got := e.auditCount(t, "staff.lock"); got != 0 {
		t.Fatalf("locked after %d failures, want at the fifth", n)
	}
	if auth, _, _ := e.staffAuth(t, "desk"); auth.TOTPSealed != nil || auth.TOTPPendingSealed != nil {
		t.Fatalf("refused enrolment codes enrolled something: %+v", auth)
	}
	enrolWith(t, e, current)
	fail("a spent", current)
	if got := e.auditCount(t, "staff.lock"); got != 1 {
		t.Errorf("%d locks after %d failures, want 1", got, n)
	}
	// Locked: a fresh code and the right password are refused too.
	fresh := issue()
	_, err := e.svc.StaffLogin(ctx, app.Actor{Addr: "10.1.2.0/24"}, "desk", staffPw, fresh)
	wantKind(t, "the right enrolment code on a locked account", err, fairslot.Unauthorized)
}

// TestEnrolmentCode: the right password and the right enrolment code start
// an enrolment, which works once; a reset issues a new code and kills the
// old one (and the enrolments it started); a code expires.
func TestEnrolmentCode(t *testing.T) {
	e := newEnv(t)
	e.svc.StaffAuth.EnrolCodeTTL = 2 * time.Hour
	deskID := staffID(t, e, "desk")
	first, err := e.svc.ResetStaffMFA(ctx, app.System, deskID)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := staffauth.NormalizeEnrolCode(first.Code); !ok || len(first.Code) != 11 {
		t.Errorf("enrolment code %q (normalized %q, %v): want two groups of five", first.Code, n, ok)
	}
	if want := e.svc.Now().Add(2 * time.Hour); !first.ExpiresAt.Equal(want) {
		t.Errorf("code expires at %v, want %v (EnrolCodeTTL)", first.ExpiresAt, want)
	}
	auth, _, _ := e.staffAuth(t, "desk")
	if auth.EnrolCodeHash == nil || bytes.Contains(auth.EnrolCodeHash, []byte(first.Code)) {
		t.Errorf("stored enrolment code %x: want a hash", auth.EnrolCodeHash)
	}

	// The right code, typed loosely, starts an enrolment.
	typed := " " + strings.ToLower(strings.ReplaceAll(first.Code, "-", " ")) + " "
	step, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, typed)
	if err != nil || step.Next != "enrol" || step.Challenge == "" || step.Token != "" {
		t.Fatalf("right password and code = %+v, %v; want an enrolment challenge", step, err)
	}
	if _, err := e.svc.StaffEnrol(ctx, app.Actor{}, step.Challenge); err != nil {
		t.Fatal(err)
	}
	// A reset issues a new code: the old code, and the enrolment it
	// started, are dead.
	second, err := e.svc.ResetStaffMFA(ctx, app.System, deskID)
	if err != nil || second.Code == first.Code {
		t.Fatalf("second code %q, %v", second.Code, err)
	}
	_, err = e.svc.StaffEnrol(ctx, app.Actor{}, step.Challenge)
	wantKind(t, "an enrolment started with a replaced code", err, fairslot.Unauthorized)
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, first.Code)
	wantKind(t, "a replaced enrolment code", err, fairslot.Unauthorized)

	// The new code enrols, once.
	f, done := enrolWith(t, e, second.Code)
	if len(done.RecoveryCodes) != 10 {
		t.Errorf("%d recovery codes", len(done.RecoveryCodes))
	}
	if auth, _, _ := e.staffAuth(t, "desk"); auth.EnrolCodeHash != nil || auth.TOTPSealed == nil {
		t.Errorf("after enrolment: code hash %x, secret %v; want the code spent and a secret", auth.EnrolCodeHash, auth.TOTPSealed != nil)
	}
	// Enrolled: the spent code is just a wrong code now.
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, second.Code)
	wantKind(t, "a spent enrolment code", err, fairslot.Unauthorized)
	e.clock.Add(30 * time.Second)
	if s, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, f.code(e.svc.Now())); err != nil || s.Token == "" {
		t.Fatalf("sign-in with the enrolled factor = %+v, %v", s, err)
	}

	// A code expires; so does an enrolment started just before.
	third, err := e.svc.ResetStaffMFA(ctx, app.System, deskID)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2*time.Hour - time.Minute)
	step, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, third.Code)
	if err != nil || step.Next != "enrol" {
		t.Fatalf("a code a minute before it expires = %+v, %v", step, err)
	}
	en, err := e.svc.StaffEnrol(ctx, app.Actor{}, step.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Minute)
	code, _ := staffauth.Code(en.Secret, staffauth.Step(e.svc.Now()))
	_, err = e.svc.StaffEnrolConfirm(ctx, app.Actor{}, step.Challenge, code)
	wantKind(t, "confirming after the code expired", err, fairslot.Unauthorized)
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, third.Code)
	wantKind(t, "an expired enrolment code", err, fairslot.Unauthorized)
	if auth, _, _ := e.staffAuth(t, "desk"); auth.TOTPSealed != nil {
		t.Error("an expired code enrolled a second factor")
	}
}

// TestAddStaffIssuesAnEnrolmentCode: a new account's first sign-in needs
// the code AddStaff returned.
func TestAddStaffIssuesAnEnrolmentCode(t *testing.T) {
	e := newEnv(t)
	st := &fairslot.Staff{Username: "nurse2", Name: "Li Na", Role: fairslot.Nurse}
	code, err := e.svc.AddStaff(ctx, app.System, st, "lantern orbit pickle fjord")
	if err != nil || code.Code == "" || code.ExpiresAt.Sub(e.svc.Now()) != 72*time.Hour {
		t.Fatalf("AddStaff = %+v, %v; want a code valid for 72h", code, err)
	}
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "nurse2", "lantern orbit pickle fjord", "")
	wantKind(t, "a new account's password alone", err, fairslot.Unauthorized)
	step, err := e.svc.StaffLogin(ctx, app.Actor{}, "nurse2", "lantern orbit pickle fjord", code.Code)
	if err != nil || step.Next != "enrol" {
		t.Fatalf("a new account's password and code = %+v, %v", step, err)
	}
	list, err := e.svc.StaffAccounts(ctx, app.System)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Username == "nurse2" && !a.EnrolBy.Equal(code.ExpiresAt) {
			t.Errorf("accounts list: nurse2's code valid until %v, want %v", a.EnrolBy, code.ExpiresAt)
		}
	}
}

// enrolWith signs desk in with its password and an enrolment code and
// enrols a new factor.
func enrolWith(t *testing.T, e *env, code string) (*factor, app.StaffStep) {
	t.Helper()
	step, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, code)
	if err != nil || step.Next != "enrol" {
		t.Fatalf("password and code = %+v, %v", step, err)
	}
	en, err := e.svc.StaffEnrol(ctx, app.Actor{}, step.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	f := &factor{secret: en.Secret}
	done, err := e.svc.StaffEnrolConfirm(ctx, app.Actor{}, step.Challenge, f.code(e.svc.Now()))
	if err != nil || done.Token == "" {
		t.Fatalf("confirm = %+v, %v", done, err)
	}
	return f, done
}
