package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/staffauth"
	"github.com/fairslot/fairslot/internal/storage"
)

// factor is a staff member's enrolled second factor, as their phone and
// their sheet of recovery codes hold it.
type factor struct {
	secret   string
	lastStep int64
	recovery []string
}

// code returns a TOTP code of a step not used yet — or, when this step was
// used already, a recovery code — so tests sign in as often as they like
// without moving the clock.
func (f *factor) code(now time.Time) string {
	if step := staffauth.Step(now); step > f.lastStep {
		f.lastStep = step
		c, _ := staffauth.Code(f.secret, step)
		return c
	}
	if len(f.recovery) == 0 {
		panic("out of recovery codes: move the clock")
	}
	c := f.recovery[0]
	f.recovery = f.recovery[1:]
	return c
}

var factorsMu sync.Mutex

// signIn signs a staff member in with password and second factor,
// enrolling one at the first sign-in, and returns the session's actor and
// token.
func (e *env) signIn(t testing.TB, a app.Actor, user, password string) (app.Actor, string) {
	t.Helper()
	factorsMu.Lock()
	defer factorsMu.Unlock()
	if e.factors == nil {
		e.factors = map[string]*factor{}
	}
	// An account without a second factor enrols with a new enrolment code,
	// as its admin would hand one over.
	auth, _, err := e.staffAuth(t, user)
	if err != nil {
		t.Fatal(err)
	}
	code := ""
	if auth.TOTPSealed == nil {
		if code, err = e.enrolCode(user); err != nil {
			t.Fatalf("enrolment code for %s: %v", user, err)
		}
	}
	step, err := e.svc.StaffLogin(ctx, a, user, password, code)
	if err != nil {
		t.Fatalf("sign-in of %s: %v", user, err)
	}
	switch step.Next {
	case "enrol":
		en, err := e.svc.StaffEnrol(ctx, a, step.Challenge)
		if err != nil {
			t.Fatal(err)
		}
		f := &factor{secret: en.Secret}
		if step, err = e.svc.StaffEnrolConfirm(ctx, a, step.Challenge, f.code(e.svc.Now())); err != nil {
			t.Fatal(err)
		}
		f.recovery = step.RecoveryCodes
		e.factors[user] = f
	case "second_factor":
		f := e.factors[user]
		if f == nil {
			t.Fatalf("%s has a second factor this test did not enrol", user)
		}
		if step, err = e.svc.StaffSecondFactor(ctx, a, step.Challenge, f.code(e.svc.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if step.Token == "" {
		t.Fatalf("sign-in of %s ended without a session: %+v", user, step)
	}
	actor, err := e.svc.Authenticate(ctx, step.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	actor.Addr = a.Addr
	return actor, step.Token
}

const staffPw = staffPassword

// staffAuth reads a staff member's sign-in state by username.
func (e *env) staffAuth(t testing.TB, user string) (storage.StaffAuth, int64, error) {
	t.Helper()
	var auth storage.StaffAuth
	st, err := e.svc.StaffByUsername(ctx, app.System, user)
	if err != nil {
		t.Fatalf("staff %s: %v", user, err)
	}
	err = e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { auth, err = tx.StaffAuth(ctx, st.ID); return err })
	return auth, st.ID, err
}

// enrolCode gives user a new enrolment code (a fixture, as reset-mfa
// would issue one but without its audit record).
func (e *env) enrolCode(user string) (string, error) {
	st, err := e.svc.StaffByUsername(ctx, app.System, user)
	if err != nil {
		return "", err
	}
	code := staffauth.NewEnrolCode()
	return code, e.svc.Store.Update(ctx, func(tx storage.Tx) error { return app.SetEnrolCode(e.svc, tx, st.ID, code) })
}

func TestSignInNeedsTheSecondFactor(t *testing.T) {
	e := newEnv(t)
	enrolCode, err := e.enrolCode("desk")
	if err != nil {
		t.Fatal(err)
	}
	step, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, enrolCode)
	if err != nil || step.Token != "" || step.Next != "enrol" || step.Challenge == "" {
		t.Fatalf("first sign-in = %+v, %v; want an enrolment challenge and no session", step, err)
	}
	// The challenge is not a session.
	_, err = e.svc.Authenticate(ctx, step.Challenge, "")
	wantKind(t, "a challenge used as a token", err, fairslot.Unauthorized)
	// Confirming with a wrong code, or before starting, signs nobody in.
	_, err = e.svc.StaffEnrolConfirm(ctx, app.Actor{}, step.Challenge, "123456")
	wantKind(t, "confirm before the enrolment started", err, fairslot.Conflict)
	en, err := e.svc.StaffEnrol(ctx, app.Actor{}, step.Challenge)
	if err != nil || !strings.HasPrefix(en.URL, "otpauth://totp/") || en.Secret == "" {
		t.Fatalf("StaffEnrol = %+v, %v", en, err)
	}
	_, err = e.svc.StaffEnrolConfirm(ctx, app.Actor{}, step.Challenge, "000000")
	wantKind(t, "a wrong enrolment code", err, fairslot.Unauthorized)
	now := e.svc.Now()
	code, _ := staffauth.Code(en.Secret, staffauth.Step(now))
	done, err := e.svc.StaffEnrolConfirm(ctx, app.Actor{}, step.Challenge, code)
	if err != nil || done.Token == "" || len(done.RecoveryCodes) != 10 {
		t.Fatalf("confirm = %+v, %v", done, err)
	}
	// The secret is sealed in storage, not stored plain.
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		auth, err := tx.StaffAuth(ctx, done.Staff.ID)
		if err != nil || auth.TOTPSealed == nil || bytes.Contains(auth.TOTPSealed, []byte(en.Secret)) {
			t.Errorf("stored secret %q, %v: not sealed", auth.TOTPSealed, err)
		}
		return nil
	})

	// Next sign-in: a second factor, not an enrolment; the same code again
	// (a replay within its step) is refused, the next step's is accepted.
	step, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, "")
	if err != nil || step.Next != "second_factor" {
		t.Fatalf("second sign-in = %+v, %v", step, err)
	}
	_, err = e.svc.StaffSecondFactor(ctx, app.Actor{}, step.Challenge, code)
	wantKind(t, "a replayed TOTP code", err, fairslot.Unauthorized)
	_, err = e.svc.StaffEnrol(ctx, app.Actor{}, step.Challenge)
	wantKind(t, "an enrolment with a second-factor challenge", err, fairslot.Unauthorized)
	e.clock.Add(30 * time.Second)
	next, _ := staffauth.Code(en.Secret, staffauth.Step(e.svc.Now()))
	if s, err := e.svc.StaffSecondFactor(ctx, app.Actor{}, step.Challenge, next); err != nil || s.Token == "" {
		t.Fatalf("the next step's code = %+v, %v", s, err)
	}
	// Password and code in one request.
	e.clock.Add(30 * time.Second)
	next, _ = staffauth.Code(en.Secret, staffauth.Step(e.svc.Now()))
	if s, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, next); err != nil || s.Token == "" {
		t.Fatalf("password and code at once = %+v, %v", s, err)
	}

	// A recovery code works once.
	rc := strings.ToLower(done.RecoveryCodes[3])
	step, _ = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, "")
	if s, err := e.svc.StaffSecondFactor(ctx, app.Actor{}, step.Challenge, rc); err != nil || s.Token == "" {
		t.Fatalf("a recovery code = %+v, %v", s, err)
	}
	_, err = e.svc.StaffSecondFactor(ctx, app.Actor{}, step.Challenge, rc)
	wantKind(t, "a recovery code used twice", err, fairslot.Unauthorized)
	if n := e.auditCount(t, "staff.recovery_code_used"); n != 1 {
		t.Errorf("%d recovery codes used in the audit, want 1", n)
	}

	// A challenge expires, and a password change voids it.
	step, _ = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, "")
	e.clock.Add(6 * time.Minute)
	next, _ = staffauth.Code(en.Secret, staffauth.Step(e.svc.Now()))
	_, err = e.svc.StaffSecondFactor(ctx, app.Actor{}, step.Challenge, next)
	wantKind(t, "an expired challenge", err, fairslot.Unauthorized)
	step, _ = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, "")
	if err := e.svc.SetStaffPassword(ctx, app.System, done.Staff.ID, "lantern orbit pickle fjord"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.StaffSecondFactor(ctx, app.Actor{}, step.Challenge, next)
	wantKind(t, "a challenge of the old password", err, fairslot.Unauthorized)
	// The password change ended desk's sessions.
	_, err = e.svc.Authenticate(ctx, done.Token, "")
	wantKind(t, "a session after a password change", err, fairslot.Unauthorized)
}

// TestPasswordGuessingLocksTheAccount: the tenth failure within 15 minutes
// locks the account with one write, an ALERT and the metric; while locked
// the right password (and code) is refused with the same message as a
// wrong one; a security officer unlocks it.
func TestPasswordGuessingLocksTheAccount(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.svc.Log = slog.New(slog.NewTextHandler(&logs, nil))
	e.signIn(t, app.Actor{}, "desk", staffPw) // enrolled
	before := testutil.ToFloat64(app.Collectors()[0])
	for i := range 10 {
		// From ten networks, so that no network's throttle stops the guesser
		// before the account's lock does.
		guesser := app.Actor{Addr: "198.51." + string(rune('0'+i)) + ".0/24"}
		_, err := e.svc.StaffLogin(ctx, guesser, "desk", "guess number "+string(rune('a'+i)), "")
		if err == nil || err.Error() != wrongLoginMessage(t, e) {
			t.Fatalf("guess %d: %v", i, err)
		}
		e.clock.Add(time.Minute)
	}
	if got := testutil.ToFloat64(app.Collectors()[0]) - before; got != 1 {
		t.Errorf("fairslot_staff_lockouts_total grew by %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "ALERT: a staff account was locked") {
		t.Errorf("no ALERT logged:\n%s", logs.String())
	}
	if n := e.auditCount(t, "staff.lock"); n != 1 {
		t.Errorf("%d locks in the audit, want 1", n)
	}
	if n := e.auditCount(t, "staff.login_failed"); n != 0 {
		t.Errorf("%d failures written: failures stay in memory, off the write path", n)
	}
	// The right password, with the right code, is refused while locked.
	f := e.factors["desk"]
	_, err := e.svc.StaffLogin(ctx, app.Actor{Addr: "10.1.2.0/24"}, "desk", staffPw, f.code(e.svc.Now()))
	if err == nil || err.Error() != wrongLoginMessage(t, e) {
		t.Fatalf("the right password while locked: %v", err)
	}
	// Hours later, still locked: only a person unlocks it.
	e.clock.Add(3 * time.Hour)
	_, err = e.svc.StaffLogin(ctx, app.Actor{Addr: "10.1.2.0/24"}, "desk", staffPw, "")
	wantKind(t, "the right password hours later", err, fairslot.Unauthorized)

	// A doctor may not unlock; a security officer (with a fresh factor) may.
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security}, staffPw); err != nil {
		t.Fatal(err)
	}
	doc := e.staff(t, "doc")
	id := staffID(t, e, "desk")
	wantKind(t, "a doctor unlocking", e.svc.UnlockStaff(ctx, doc, id), fairslot.Forbidden)
	sec, _ := e.signIn(t, app.Actor{}, "sec", staffPw)
	if err := e.svc.UnlockStaff(ctx, sec, id); err != nil {
		t.Fatal(err)
	}
	if n := e.auditCount(t, "staff.unlock"); n != 1 {
		t.Errorf("%d unlocks in the audit, want 1", n)
	}
	e.signIn(t, app.Actor{Addr: "10.1.2.0/24"}, "desk", staffPw)
}

// wrongLoginMessage is the generic refusal, read off an unknown user's.
func wrongLoginMessage(t *testing.T, e *env) string {
	t.Helper()
	_, err := e.svc.StaffLogin(ctx, app.Actor{Addr: "192.0.2.0/24"}, "no-such-user-"+time.Now().Format("150405.000000000"), "whatever it is", "")
	if err == nil {
		t.Fatal("an unknown user signed in")
	}
	return err.Error()
}

func staffID(t *testing.T, e *env, user string) int64 {
	t.Helper()
	st, err := e.svc.StaffByUsername(ctx, app.System, user)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}

// TestOneMessageForEveryRefusal: unknown user, wrong password, locked,
// disabled and the demo password outside demo mode all read the same, and
// all cost a password hash.
func TestOneMessageForEveryRefusal(t *testing.T) {
	e := newEnv(t)
	g := newGatedCheck()
	g.open()
	app.SetPasswordCheck(e.svc, func(hash, pw string) bool { g.check(hash, pw); return app.CheckPassword(hash, pw) })
	e.svc.DemoMode = true
	for _, u := range []string{"locked1", "disabled1", "demo1"} {
		pw := staffPw
		if u == "demo1" {
			pw = app.DemoPassword
		}
		if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: u, Name: u, Role: fairslot.Registrar}, pw); err != nil {
			t.Fatal(err)
		}
	}
	e.svc.DemoMode = false
	e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		tx.LockStaff(ctx, staffID(t, e, "locked1"), e.svc.Now())
		return tx.SetStaffDisabled(ctx, staffID(t, e, "disabled1"), e.svc.Now())
	})
	want := wrongLoginMessage(t, e)
	for i, c := range []struct{ what, user, pw string }{
		{"unknown user", "nobody", staffPw},
		{"wrong password", "desk", "not the password"},
		{"locked, right password", "locked1", staffPw},
		{"disabled, right password", "disabled1", staffPw},
		{"demo password without --demo", "demo1", app.DemoPassword},
	} {
		calls := g.calls.Load()
		_, err := e.svc.StaffLogin(ctx, app.Actor{Addr: "10.0." + string(rune('0'+i)) + ".0/24"}, c.user, c.pw, "")
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", c.what, err, want)
		}
		if g.calls.Load() != calls+1 {
			t.Errorf("%s: no password hash was computed", c.what)
		}
	}
}

// TestDemoPasswordOnlyInDemoMode: a database the demo seeded, served
// without demo mode, refuses the published password on every account;
// in demo mode it signs in without a second factor, and says so.
func TestDemoPasswordOnlyInDemoMode(t *testing.T) {
	e := newEnv(t)
	err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "demo-desk", Name: "D", Role: fairslot.Registrar}, app.DemoPassword)
	wantKind(t, "a demo password outside demo mode", err, fairslot.Invalid)
	e.svc.DemoMode = true
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "demo-desk", Name: "D", Role: fairslot.Admin}, app.DemoPassword); err != nil {
		t.Fatal(err)
	}
	s, err := e.svc.StaffLogin(ctx, app.Actor{}, "demo-desk", app.DemoPassword, "")
	if err != nil || s.Token == "" || !s.DemoSkipped {
		t.Fatalf("demo sign-in in demo mode = %+v, %v", s, err)
	}
	e.svc.DemoMode = false
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "demo-desk", app.DemoPassword, "")
	wantKind(t, "the demo password without demo mode", err, fairslot.Unauthorized)
	// And its demo-mode session does not pass a sensitive action then.
	a, err := e.svc.Authenticate(ctx, s.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.StaffAccounts(ctx, a)
	if err != nil {
		t.Fatalf("listing is not sensitive: %v", err)
	}
	err = e.svc.UnlockStaff(ctx, a, staffID(t, e, "desk"))
	if err != app.ErrStepUp {
		t.Errorf("a demo session outside demo mode unlocking: %v, want the step-up refusal", err)
	}
	// An admin cannot set the demo password either.
	e.svc.DemoMode = false
	wantKind(t, "the demo password set by an admin", e.svc.SetStaffPassword(ctx, app.System, staffID(t, e, "desk"), app.DemoPassword), fairslot.Invalid)
}

// TestSessionsExpire: absolute 8h, idle 30 min, last-seen written at most
// once a minute.
func TestSessionsExpire(t *testing.T) {
	e := newEnv(t)
	_, tok := e.signIn(t, app.Actor{}, "desk", staffPw)
	for range 20 { // 20 x 25 min: alive while used
		e.clock.Add(25 * time.Minute)
		if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
			t.Fatalf("a session in use after %v: %v", e.svc.Now(), err)
		}
		if e.svc.Now().Sub(time.Date(2026, 12, 10, 7, 30, 0, 0, loc)) > 7*time.Hour {
			break
		}
	}
	e.clock.Add(time.Hour + 5*time.Minute)
	_, err := e.svc.Authenticate(ctx, tok, "")
	wantKind(t, "a session past 8 hours", err, fairslot.Unauthorized)

	_, tok = e.signIn(t, app.Actor{}, "desk", staffPw)
	e.clock.Add(29 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(31 * time.Minute)
	_, err = e.svc.Authenticate(ctx, tok, "")
	wantKind(t, "a session idle 31 minutes", err, fairslot.Unauthorized)

	// Last-seen is written at most once a minute.
	_, tok = e.signIn(t, app.Actor{}, "desk", staffPw)
	count := &updateCounter{Store: e.svc.Store}
	e.svc.Store = count
	for range 30 {
		e.clock.Add(2 * time.Second)
		if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := count.updates.Load(); n != 1 {
		t.Errorf("%d writes for 30 requests in a minute, want 1", n)
	}
}

type updateCounter struct {
	storage.Store
	updates atomic.Int64
}

func (c *updateCounter) Update(ctx context.Context, fn func(storage.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(ctx, fn)
}

// TestStepUp: a sensitive action needs a factor checked within 5 minutes.
func TestStepUp(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}, staffPw); err != nil {
		t.Fatal(err)
	}
	boss, tok := e.signIn(t, app.Actor{}, "boss", staffPw)
	if _, err := e.svc.StaffAccounts(ctx, boss); err != nil {
		t.Fatal(err)
	}
	id := staffID(t, e, "desk")
	if err := e.svc.DisableStaff(ctx, boss, id); err != nil {
		t.Fatalf("disable with a fresh factor: %v", err)
	}
	e.clock.Add(6 * time.Minute)
	boss, _ = e.svc.Authenticate(ctx, tok, "")
	if err := e.svc.EnableStaff(ctx, boss, id); err != app.ErrStepUp {
		t.Fatalf("enable with a 6-minute-old factor: %v, want step-up", err)
	}
	wantKind(t, "step-up with a wrong code", e.svc.StaffStepUp(ctx, boss, "000000"), fairslot.Unauthorized)
	if err := e.svc.StaffStepUp(ctx, boss, e.factors["boss"].code(e.svc.Now())); err != nil {
		t.Fatal(err)
	}
	boss, _ = e.svc.Authenticate(ctx, tok, "")
	if err := e.svc.EnableStaff(ctx, boss, id); err != nil {
		t.Fatalf("enable after step-up: %v", err)
	}
}

// TestAccountManagement: only an admin manages accounts; each change is
// audited without personal data; disabling and resetting end sessions.
func TestAccountManagement(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}, staffPw); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security}, staffPw); err != nil {
		t.Fatal(err)
	}
	boss, _ := e.signIn(t, app.Actor{}, "boss", staffPw)
	desk, deskTok := e.signIn(t, app.Actor{}, "desk", staffPw)
	sec, _ := e.signIn(t, app.Actor{}, "sec", staffPw)
	docID := staffID(t, e, "doc")
	newStaff := &fairslot.Staff{Username: "nurse2", Name: "Li Na", Role: fairslot.Nurse}

	for _, who := range []struct {
		name string
		a    app.Actor
	}{{"registrar", desk}, {"security", sec}, {"patient", e.login(t, "13812345678")}, {"anonymous", app.Actor{}}} {
		for what, err := range map[string]error{
			"add":       second(e.svc.AddStaff(ctx, who.a, newStaff, "lantern orbit pickle fjord")),
			"passwd":    e.svc.SetStaffPassword(ctx, who.a, docID, "lantern orbit pickle fjord"),
			"disable":   e.svc.DisableStaff(ctx, who.a, docID),
			"enable":    e.svc.EnableStaff(ctx, who.a, docID),
			"reset-mfa": second(e.svc.ResetStaffMFA(ctx, who.a, docID)),
		} {
			if k := fairslot.ErrorKind(err); k != fairslot.Forbidden && k != fairslot.Unauthorized {
				t.Errorf("%s may %s: %v", who.name, what, err)
			}
		}
	}
	if _, err := e.svc.StaffAccounts(ctx, desk); fairslot.ErrorKind(err) != fairslot.Forbidden {
		t.Errorf("a registrar listing accounts: %v", err)
	}

	wantKind(t, "a weak password", second(e.svc.AddStaff(ctx, boss, newStaff, "Password1234")), fairslot.Invalid)
	wantKind(t, "the user's own name", second(e.svc.AddStaff(ctx, boss, newStaff, "Nurse2Nurse2")), fairslot.Invalid)
	if _, err := e.svc.AddStaff(ctx, boss, newStaff, "lantern orbit pickle fjord"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "a username twice", second(e.svc.AddStaff(ctx, boss, &fairslot.Staff{Username: "nurse2", Name: "X", Role: fairslot.Nurse}, "lantern orbit pickle fjord")), fairslot.Conflict)
	e.signIn(t, app.Actor{}, "nurse2", "lantern orbit pickle fjord")

	deskID := staffID(t, e, "desk")
	if err := e.svc.DisableStaff(ctx, boss, deskID); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(ctx, deskTok, "")
	wantKind(t, "a disabled account's session", err, fairslot.Unauthorized)
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, "")
	wantKind(t, "a disabled account signing in", err, fairslot.Unauthorized)
	if err := e.svc.EnableStaff(ctx, boss, deskID); err != nil {
		t.Fatal(err)
	}
	_, deskTok = e.signIn(t, app.Actor{}, "desk", staffPw)
	reset, err := e.svc.ResetStaffMFA(ctx, boss, deskID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(ctx, deskTok, "")
	wantKind(t, "a session after a second-factor reset", err, fairslot.Unauthorized)
	if s, err := e.svc.StaffLogin(ctx, app.Actor{}, "desk", staffPw, reset.Code); err != nil || s.Next != "enrol" {
		t.Errorf("sign-in after a reset, with the new enrolment code = %+v, %v; want enrolment", s, err)
	}
	wantKind(t, "disabling oneself", e.svc.DisableStaff(ctx, boss, staffID(t, e, "boss")), fairslot.Conflict)

	list, err := e.svc.StaffAccounts(ctx, boss)
	if err != nil || len(list) != 5 {
		t.Fatalf("StaffAccounts = %d, %v", len(list), err)
	}
	for _, action := range []string{"staff.add", "staff.disable", "staff.enable", "staff.reset_mfa", "staff.mfa_enrol"} {
		if n := e.auditCount(t, action); n == 0 {
			t.Errorf("no %s in the audit", action)
		}
	}
	// Audit records of account changes hold ids and roles, never names,
	// passwords or codes.
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		events, err := tx.AuditEvents(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if !strings.HasPrefix(ev.Action, "staff.") {
				continue
			}
			for k, v := range ev.Detail {
				if strings.Contains(v, "Li Na") || strings.Contains(v, "lantern") || strings.Contains(v, "correct horse") {
					t.Errorf("audit %s holds %s=%q", ev.Action, k, v)
				}
			}
		}
		return nil
	})
}

// TestFloodFromManyNetworksCostsFewHashes: wrong passwords from a new
// prefix each time (under every per-prefix limit) get the strangers'
// budget of hashes and are then refused without one, while the desk's
// network, known from a right password, signs in at once.
func TestFloodFromManyNetworksCostsFewHashes(t *testing.T) {
	e := newEnv(t)
	g := newGatedCheck()
	g.open()
	app.SetPasswordCheck(e.svc, func(hash, pw string) bool { g.check(hash, pw); return app.CheckPassword(hash, pw) })
	desk := app.Actor{Addr: "10.1.2.0/24"}
	e.signIn(t, desk, "desk", staffPw)
	before := g.calls.Load()
	refused := 0
	for i := range 200 {
		_, err := e.svc.StaffLogin(ctx, app.Actor{Addr: "203.0." + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".0/24"}, "ghost"+string(rune('a'+i%26))+string(rune('a'+i/26)), "wrong", "")
		if fairslot.ErrorKind(err) == fairslot.Limited {
			refused++
		}
	}
	// The burst is 50; the desk's first sign-in, from a network not yet
	// known, took one.
	if n := g.calls.Load() - before; n != 49 {
		t.Errorf("200 guesses from 200 networks cost %d hashes, want the 49 left of the burst", n)
	}
	if refused != 151 {
		t.Errorf("%d guesses refused without a hash, want 151", refused)
	}
	e.signIn(t, desk, "desk", staffPw) // the known network is not held back
	// A second later the budget has five more.
	e.clock.Add(time.Second)
	before = g.calls.Load()
	for i := range 10 {
		e.svc.StaffLogin(ctx, app.Actor{Addr: "198.18." + string(rune('a'+i)) + ".0/24"}, "ghost", "wrong", "")
	}
	if n := g.calls.Load() - before; n != 5 {
		t.Errorf("a second later %d hashes, want 5", n)
	}
}

// second is the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }
