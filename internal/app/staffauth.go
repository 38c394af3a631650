package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/staffauth"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// A staff sign-in is a password and then a second factor: a TOTP code, or
// one of ten single-use recovery codes. A staff member with no confirmed
// TOTP secret enrols at their first sign-in (a secret shown as a QR code,
// confirmed with a code, and then the recovery codes, shown once) — but only
// with the one-time enrolment code an admin issued with the account or its
// reset and handed over out of band, so that whoever holds a stolen
// password cannot enrol their own authenticator first. The code is kept as
// a keyed hash, expires (EnrolCodeTTL), is replaced by a newer one and is
// spent by the enrolment it confirms; a missing or wrong one is a failed
// sign-in like a wrong password. Between
// the steps the client holds a challenge: signed, short-lived, naming the
// staff member and the password hash it proved (a password change voids
// it). Only the last step makes a session, which expires after SessionMax
// and after SessionIdle without use; sensitive actions ask the second
// factor again when the last check is older than FreshFactor.
//
// Every refusal of a sign-in — unknown user, wrong password, wrong code,
// locked, disabled, the demo password outside demo mode — is the one
// generic errWrongLogin, after the same password hashing. Failures are
// counted in memory (per username here, per username, network and prefix
// in StaffLoginLimits), with growing delays; LockAfter failures within
// LockWindow lock the account with one write, an ALERT and a metric, until
// a security officer or admin unlocks it. Nothing about a failure is
// written otherwise, so a flood of guesses stays off the write path.

// DemoPassword is the published password of the demo's staff (demo.Password).
// A service not in DemoMode refuses it on every account.
const DemoPassword = "fairslot-demo"

// StaffAuthPolicy is the sign-in policy for staff. The zero value uses the
// defaults.
type StaffAuthPolicy struct {
	SessionMax  time.Duration // absolute session lifetime (default 8h)
	SessionIdle time.Duration // lifetime without a request (default 30m)
	FreshFactor time.Duration // how old a second-factor check may be for a sensitive action (default 5m)
	LockAfter   int           // failures that lock an account (default 10)
	LockWindow  time.Duration // within this window (default 15m)
	// EnrolCodeTTL is how long an enrolment code is valid (default 72h).
	EnrolCodeTTL time.Duration
	// Issuer names the service in authenticator apps (default "fairslot").
	Issuer string
}

const (
	challengeTTL  = 5 * time.Minute
	lastSeenEvery = time.Minute // a session's last-seen is written at most this often
	maxLoginDelay = 15 * time.Minute
)

func (p StaffAuthPolicy) withDefaults() StaffAuthPolicy {
	if p.SessionMax <= 0 {
		p.SessionMax = 8 * time.Hour
	}
	if p.SessionIdle <= 0 {
		p.SessionIdle = 30 * time.Minute
	}
	if p.FreshFactor <= 0 {
		p.FreshFactor = 5 * time.Minute
	}
	if p.LockAfter <= 0 {
		p.LockAfter = 10
	}
	if p.LockWindow <= 0 {
		p.LockWindow = 15 * time.Minute
	}
	if p.EnrolCodeTTL <= 0 {
		p.EnrolCodeTTL = 72 * time.Hour
	}
	if p.Issuer == "" {
		p.Issuer = "fairslot"
	}
	return p
}

// errWrongLogin is every refused sign-in's one message.
var errWrongLogin error = fairslot.E(fairslot.Unauthorized, "error.staff.wrong_login",
	"wrong username, password or code (repeated failures lock the account until security unlocks it)")

// errNoEnrolment refuses to confirm, or show again, an enrolment that is
// not open: never started, or confirmed already.
var errNoEnrolment error = fairslot.E(fairslot.Conflict, "error.staff.no_enrolment", "no enrolment in progress; start again")

// ErrStepUp refuses a sensitive action whose second factor was checked too
// long ago: confirm a code at the step-up endpoint and retry.
var ErrStepUp = &fairslot.Error{Kind: fairslot.Forbidden, Message: "step_up_required: confirm your authenticator code again (POST /api/v1/staff/step-up) and retry"}

// staffLockouts counts accounts locked after repeated failed sign-ins.
var staffLockouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "fairslot_staff_lockouts_total",
	Help: "Staff accounts locked after repeated failed sign-ins."})

// Collectors are the service's Prometheus series, for the server to register.
func Collectors() []prometheus.Collector { return []prometheus.Collector{staffLockouts} }

// StaffStep is the result of a sign-in step: a session (Token) when signed
// in, else the Next step to take with Challenge.
type StaffStep struct {
	Token     string          `json:"token,omitempty"`
	Staff     *fairslot.Staff `json:"staff,omitempty"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
	// Next is "second_factor" (send a TOTP or recovery code) or "enrol"
	// (start the enrolment, then confirm it with a code).
	Next      string `json:"next,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	// RecoveryCodes are shown once, at the end of an enrolment.
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
	// DemoSkipped says that the demo's published password skipped the
	// second factor (demo mode only).
	DemoSkipped bool `json:"demo_skipped,omitempty"`
}

const (
	nextFactor = "second_factor"
	nextEnrol  = "enrol"
)

// EnrolCode is a one-time enrolment code, shown once to the admin who
// issued it, to hand to the staff member out of band.
type EnrolCode struct {
	Code      string    `json:"enrolment_code"`
	ExpiresAt time.Time `json:"enrolment_code_expires_at"`
}

// newEnrolCode makes an enrolment code for a staff member and its hash.
func (s *Service) newEnrolCode(staffID int64, now time.Time) (EnrolCode, []byte) {
	code := staffauth.NewEnrolCode()
	n, _ := staffauth.NormalizeEnrolCode(code)
	return EnrolCode{Code: code, ExpiresAt: now.Add(s.staffPolicy().EnrolCodeTTL)},
		staffauth.HashEnrolCode(s.Vault.Key("staff-enrol"), staffID, n)
}

// enrolCodeValid says whether code is the account's current, unexpired
// enrolment code.
func (s *Service) enrolCodeValid(staffID int64, auth storage.StaffAuth, code string, now time.Time) bool {
	n, ok := staffauth.NormalizeEnrolCode(code)
	h := staffauth.HashEnrolCode(s.Vault.Key("staff-enrol"), staffID, n)
	return ok && auth.EnrolCodeHash != nil && subtle.ConstantTimeCompare(h, auth.EnrolCodeHash) == 1 &&
		now.Before(auth.EnrolCodeExpires)
}

// Enrolment is a TOTP secret to add to an authenticator app.
type Enrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"` // for a QR code
}

// failures counts failed sign-ins per username, in memory.
type failures struct {
	mu sync.Mutex
	m  map[string][]time.Time
}

const maxFailureKeys = 10_000

// add counts a failure at now and returns the failures within window.
func (f *failures) add(name string, now time.Time, window time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string][]time.Time{}
	}
	if len(f.m) >= maxFailureKeys {
		for k, v := range f.m {
			if len(v) == 0 || now.Sub(v[len(v)-1]) > window {
				delete(f.m, k)
			}
		}
		for k := range f.m { // still full: forget one at random
			if len(f.m) < maxFailureKeys {
				break
			}
			delete(f.m, k)
		}
	}
	v := append(recent(f.m[name], now, window), now)
	f.m[name] = v
	return len(v)
}

// wait is how long a key must wait before its next attempt: nothing for
// the first five failures (StaffLoginLimits' burst), then growing — 30s,
// 1m, 2m ... at most maxLoginDelay — for as long as they stay in window.
func (f *failures) wait(key string, now time.Time, window time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := recent(f.m[key], now, window)
	if len(v) < 5 {
		return 0
	}
	d := min(30*time.Second<<min(len(v)-5, 10), maxLoginDelay)
	return max(0, v[len(v)-1].Add(d).Sub(now))
}

func (f *failures) reset(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, name)
}

func recent(v []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(v) && now.Sub(v[i]) >= window {
		i++
	}
	return v[i:]
}

func (s *Service) staffPolicy() StaffAuthPolicy { return s.StaffAuth.withDefaults() }

// loginDelayed refuses an attempt that comes before the delay of its
// username on its network has passed; the same for every username, known
// or not. A stranger's failures delay the stranger, not the desk on the
// hospital's network — but they do count towards the account's lock.
func (s *Service) loginDelayed(username, addr string, now time.Time) error {
	if d := s.staffFailures.wait("d "+username+" "+addr, now, s.staffPolicy().LockWindow); d > 0 {
		return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: d.Round(time.Second) + time.Second, Key: "error.staff.wait", Args: []any{roundUp(d)},
			Message: "too many failed logins for this username or network; wait before trying again"}
	}
	return s.StaffLogins.throttled(username, addr, now)
}

// signInFailed counts a failure and, at the threshold, locks the account
// (if there is one) with one write, an ALERT and a metric.
func (s *Service) signInFailed(ctx context.Context, a Actor, username string, staffID int64) {
	now := s.now()
	s.StaffLogins.failed(username, a.Addr, now)
	p := s.staffPolicy()
	s.staffFailures.add("d "+username+" "+a.Addr, now, p.LockWindow)
	n := s.staffFailures.add("u "+username, now, p.LockWindow)
	if n < p.LockAfter || staffID == 0 {
		return
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.LockStaff(ctx, staffID, now); err != nil {
			return err
		}
		return s.record(ctx, tx, System, "staff.lock", fmt.Sprintf("staff:%d", staffID), map[string]string{"failures": fmt.Sprint(n)})
	})
	switch {
	case err == nil:
		staffLockouts.Inc()
		s.Log.Error("ALERT: a staff account was locked after repeated failed sign-ins; a security officer or admin must unlock it",
			"staff", staffID, "failures", n, "window", p.LockWindow, "last_prefix", a.Addr)
		s.staffFailures.reset("u " + username)
	case fairslot.ErrorKind(err) == fairslot.Conflict: // already locked
	default:
		s.Log.Error("locking a staff account failed", "staff", staffID, "err", err)
	}
}

// StaffLogin checks a staff password (argon2id, outside any transaction;
// see login.go) and returns the next step: a challenge for the second
// factor — or, when code is given too, the session at once. An account not
// yet enrolled needs its enrolment code as code, and gets the challenge of
// the enrolment; without it, or with a wrong, expired or spent one, the
// sign-in fails like a wrong password. In demo mode the demo's published
// password skips the second factor.
func (s *Service) StaffLogin(ctx context.Context, a Actor, username, password, code string) (StaffStep, error) {
	if len(password) > maxPasswordLength || len(username) > 64 {
		return StaffStep{}, fairslot.E(fairslot.Invalid, "error.staff.too_long", "username or password too long")
	}
	now := s.now()
	if err := s.StaffLogins.throttled(username, a.Addr, now); err != nil {
		return StaffStep{}, err
	}
	if err := s.loginDelayed(username, a.Addr, now); err != nil {
		return StaffStep{}, err
	}
	if err := s.StaffLogins.strangerRefused(a.Addr, now); err != nil {
		return StaffStep{}, err // before any read: a flood's refusals cost no database work
	}
	var staff fairslot.Staff
	var stored string
	var auth storage.StaffAuth
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		if staff, stored, err = tx.StaffByUsername(ctx, username); err != nil {
			return err
		}
		auth, err = tx.StaffAuth(ctx, staff.ID)
		return err
	})
	known := err == nil
	if !known && fairslot.ErrorKind(err) != fairslot.NotFound {
		return StaffStep{}, err
	}
	if !known {
		stored = dummyHash // the same work whether or not the user exists
	}
	ok, err := s.StaffLogins.checkPassword(ctx, username, a.Addr, stored, password, s.now)
	if err != nil {
		return StaffStep{}, err
	}
	demo := password == DemoPassword
	if !ok || !known || (demo && !s.DemoMode) {
		s.signInFailed(ctx, a, username, staff.ID)
		return StaffStep{}, errWrongLogin
	}
	if !auth.LockedAt.IsZero() || !auth.DisabledAt.IsZero() {
		// The right password, refused all the same and in the same words;
		// not counted, so an unlock starts afresh.
		s.Log.Warn("staff sign-in refused: account locked or disabled", "staff", staff.ID, "locked", !auth.LockedAt.IsZero())
		return StaffStep{}, errWrongLogin
	}
	if demo && s.DemoMode {
		return s.startSession(ctx, a, staff, stored, time.Time{}, true)
	}
	if auth.TOTPSealed == nil {
		if !s.enrolCodeValid(staff.ID, auth, code, now) {
			s.signInFailed(ctx, a, username, staff.ID)
			return StaffStep{}, errWrongLogin
		}
		return StaffStep{Next: nextEnrol, Challenge: s.newChallenge('e', staff.ID, stored, auth.EnrolCodeHash, now)}, nil
	}
	step := StaffStep{Next: nextFactor, Challenge: s.newChallenge('f', staff.ID, stored, nil, now)}
	if code != "" {
		return s.StaffSecondFactor(ctx, a, step.Challenge, code)
	}
	return step, nil
}

// A challenge: kind ('f' second factor, 'e' enrolment), staff id, expiry,
// a fingerprint of the password hash it proved and, for an enrolment, one
// of the enrolment code's hash (so a newer code voids it).
const challengePayload = 1 + 8 + 8 + 8 + 8

func (s *Service) challengeSigner() gate.Signer { return gate.Signer(s.Vault.Key("staff-challenge")) }

func passwordPrint(hash string) []byte { h := sha256.Sum256([]byte(hash)); return h[:8] }

func enrolPrint(hash []byte) []byte {
	if hash == nil {
		return make([]byte, 8)
	}
	h := sha256.Sum256(hash)
	return h[:8]
}

func (s *Service) newChallenge(kind byte, staffID int64, hash string, enrolHash []byte, now time.Time) string {
	b := make([]byte, challengePayload)
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:9], uint64(staffID))
	binary.BigEndian.PutUint64(b[9:17], uint64(now.Add(challengeTTL).Unix()))
	copy(b[17:25], passwordPrint(hash))
	copy(b[25:], enrolPrint(enrolHash))
	return s.challengeSigner().Sign(b)
}

// challenged is what a valid challenge proves, read again from storage.
type challenged struct {
	staff fairslot.Staff
	hash  string
	auth  storage.StaffAuth
}

// openChallenge checks a challenge of kind and reads its staff member; any
// failure is the generic refusal.
func (s *Service) openChallenge(ctx context.Context, kind byte, challenge string) (challenged, error) {
	var c challenged
	b, ok := s.challengeSigner().Verify(challenge)
	if !ok || len(b) != challengePayload || b[0] != kind ||
		!s.now().Before(time.Unix(int64(binary.BigEndian.Uint64(b[9:17])), 0)) {
		return c, fairslot.E(fairslot.Unauthorized, "error.staff.signin_expired", "the sign-in expired or is invalid; start again with your password")
	}
	id := int64(binary.BigEndian.Uint64(b[1:9]))
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		if c.staff, err = tx.Staff(ctx, id); err != nil {
			return err
		}
		if _, c.hash, err = tx.StaffByUsername(ctx, c.staff.Username); err != nil {
			return err
		}
		c.auth, err = tx.StaffAuth(ctx, id)
		return err
	})
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return c, errWrongLogin
	}
	if err != nil {
		return c, err
	}
	if subtle.ConstantTimeCompare(passwordPrint(c.hash), b[17:25]) != 1 || !c.auth.LockedAt.IsZero() || !c.auth.DisabledAt.IsZero() {
		return c, errWrongLogin
	}
	if kind == 'e' && (c.auth.EnrolCodeHash == nil || subtle.ConstantTimeCompare(enrolPrint(c.auth.EnrolCodeHash), b[25:]) != 1 ||
		!s.now().Before(c.auth.EnrolCodeExpires)) {
		return c, errWrongLogin // the enrolment code was replaced, spent or expired since
	}
	return c, nil
}

// StaffSecondFactor completes a sign-in with a TOTP code or a recovery code.
func (s *Service) StaffSecondFactor(ctx context.Context, a Actor, challenge, code string) (StaffStep, error) {
	c, err := s.openChallenge(ctx, 'f', challenge)
	if err != nil {
		return StaffStep{}, err
	}
	if err := s.loginDelayed(c.staff.Username, a.Addr, s.now()); err != nil {
		return StaffStep{}, err
	}
	if err := s.checkFactor(ctx, a, c, code); err != nil {
		return StaffStep{}, err
	}
	return s.startSession(ctx, a, c.staff, c.hash, s.now(), false)
}

// checkFactor spends a TOTP step or a recovery code of c's staff member,
// counting a failure against the account.
func (s *Service) checkFactor(ctx context.Context, a Actor, c challenged, code string) error {
	now := s.now()
	if c.auth.TOTPSealed == nil {
		return errWrongLogin
	}
	var spend func(tx storage.Tx) error
	if rc, ok := staffauth.NormalizeRecoveryCode(code); ok {
		h := staffauth.HashRecoveryCode(s.Vault.Key("staff-recovery"), c.staff.ID, rc)
		spend = func(tx storage.Tx) error {
			if err := tx.UseRecoveryCode(ctx, c.staff.ID, h, now); err != nil {
				return err
			}
			return s.record(ctx, tx, Actor{Kind: storage.StaffToken, ID: c.staff.ID, RequestID: a.RequestID}, "staff.recovery_code_used", fmt.Sprintf("staff:%d", c.staff.ID), nil)
		}
	} else {
		secret, err := s.Vault.Open(totpField(c.staff.ID), c.auth.TOTPSealed)
		if err != nil {
			return err
		}
		step, ok := staffauth.Verify(secret, code, now, c.auth.TOTPLastStep)
		if !ok {
			s.signInFailed(ctx, a, c.staff.Username, c.staff.ID)
			return errWrongLogin
		}
		spend = func(tx storage.Tx) error { return tx.UseTOTPStep(ctx, c.staff.ID, step) }
	}
	err := s.Store.Update(ctx, spend)
	if fairslot.ErrorKind(err) == fairslot.Conflict { // replayed or raced code, unknown recovery code
		s.signInFailed(ctx, a, c.staff.Username, c.staff.ID)
		return errWrongLogin
	}
	return err
}

func totpField(staffID int64) vault.Field {
	return vault.Field{Table: "staff", Row: fmt.Sprint(staffID), Column: "totp"}
}

// StaffEnrol starts (or restarts) a TOTP enrolment: a new secret, stored
// sealed until a code confirms it.
func (s *Service) StaffEnrol(ctx context.Context, a Actor, challenge string) (Enrolment, error) {
	c, err := s.openChallenge(ctx, 'e', challenge)
	if err != nil {
		return Enrolment{}, err
	}
	if c.auth.TOTPSealed != nil {
		return Enrolment{}, errWrongLogin
	}
	secret := staffauth.NewSecret()
	sealed, err := s.Vault.Seal(totpField(c.staff.ID), secret)
	if err != nil {
		return Enrolment{}, err
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error { return tx.SetTOTPPending(ctx, c.staff.ID, sealed) })
	return Enrolment{Secret: secret, URL: staffauth.URL(s.staffPolicy().Issuer, c.staff.Username, secret)}, err
}

// StaffPendingEnrolment returns the enrolment StaffEnrol started for the
// challenge, unchanged, for the enrolment page to show again after a wrong
// code: a new secret there would void the one already in the app.
func (s *Service) StaffPendingEnrolment(ctx context.Context, challenge string) (Enrolment, error) {
	c, err := s.openChallenge(ctx, 'e', challenge)
	if err != nil {
		return Enrolment{}, err
	}
	if c.auth.TOTPPendingSealed == nil || c.auth.TOTPSealed != nil {
		return Enrolment{}, errNoEnrolment
	}
	secret, err := s.Vault.Open(totpField(c.staff.ID), c.auth.TOTPPendingSealed)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: secret, URL: staffauth.URL(s.staffPolicy().Issuer, c.staff.Username, secret)}, nil
}

// StaffEnrolConfirm confirms an enrolment with a code from the new secret,
// and signs in: the session and ten recovery codes, shown this once.
func (s *Service) StaffEnrolConfirm(ctx context.Context, a Actor, challenge, code string) (StaffStep, error) {
	c, err := s.openChallenge(ctx, 'e', challenge)
	if err != nil {
		return StaffStep{}, err
	}
	if err := s.loginDelayed(c.staff.Username, a.Addr, s.now()); err != nil {
		return StaffStep{}, err
	}
	if c.auth.TOTPPendingSealed == nil || c.auth.TOTPSealed != nil {
		return StaffStep{}, errNoEnrolment
	}
	secret, err := s.Vault.Open(totpField(c.staff.ID), c.auth.TOTPPendingSealed)
	if err != nil {
		return StaffStep{}, err
	}
	now := s.now()
	step, ok := staffauth.Verify(secret, code, now, c.auth.TOTPLastStep)
	if !ok {
		s.signInFailed(ctx, a, c.staff.Username, c.staff.ID)
		return StaffStep{}, errWrongLogin
	}
	codes := staffauth.NewRecoveryCodes()
	hashes := make([][]byte, len(codes))
	key := s.Vault.Key("staff-recovery")
	for i, rc := range codes {
		n, _ := staffauth.NormalizeRecoveryCode(rc)
		hashes[i] = staffauth.HashRecoveryCode(key, c.staff.ID, n)
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.ConfirmTOTP(ctx, c.staff.ID, c.auth.TOTPPendingSealed, c.auth.EnrolCodeHash, step, hashes, now); err != nil {
			return err
		}
		return s.record(ctx, tx, Actor{Kind: storage.StaffToken, ID: c.staff.ID, RequestID: a.RequestID}, "staff.mfa_enrol", fmt.Sprintf("staff:%d", c.staff.ID), nil)
	})
	if err != nil {
		return StaffStep{}, err
	}
	st, err := s.startSession(ctx, a, c.staff, c.hash, now, false)
	st.RecoveryCodes = codes
	return st, err
}

// startSession writes a session in one short write, refusing if the
// account changed since its password was checked.
func (s *Service) startSession(ctx context.Context, a Actor, staff fairslot.Staff, hash string, factorAt time.Time, demo bool) (StaffStep, error) {
	now := s.now()
	var step StaffStep
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		current, h, err := tx.StaffByUsername(ctx, staff.Username)
		if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
			return nil, err
		}
		if err != nil || current.ID != staff.ID || h != hash {
			return errWrongLogin, nil // removed, replaced or given a new password meanwhile
		}
		auth, err := tx.StaffAuth(ctx, staff.ID)
		if err != nil {
			return nil, err
		}
		if !auth.LockedAt.IsZero() || !auth.DisabledAt.IsZero() {
			return errWrongLogin, nil
		}
		token, k := s.newToken(storage.StaffToken, current.ID, now)
		if err := tx.CreateToken(ctx, k); err != nil {
			return nil, err
		}
		if err := tx.CreateStaffSession(ctx, storage.StaffSession{TokenHash: k.Hash, StaffID: current.ID, CreatedAt: now, LastSeenAt: now, FactorAt: factorAt}); err != nil {
			return nil, err
		}
		step = StaffStep{Token: token, Staff: &current, ExpiresAt: k.ExpiresAt, DemoSkipped: demo}
		var detail map[string]string
		if demo {
			detail = map[string]string{"second_factor": "skipped (demo mode)"}
		}
		return nil, s.record(ctx, tx, Actor{Kind: storage.StaffToken, ID: current.ID, RequestID: a.RequestID}, "staff.login", fmt.Sprintf("staff:%d", current.ID), detail)
	})
	if err != nil {
		return StaffStep{}, err
	}
	return step, nil
}

// staffSession checks a staff token's session inside Authenticate's read:
// ended, too old, idle too long or its account disabled is refused. It
// returns whether last-seen should be written.
func (s *Service) staffSession(ctx context.Context, tx storage.Tx, hash []byte, a *Actor) (touch bool, err error) {
	now := s.now()
	p := s.staffPolicy()
	ss, err := tx.StaffSession(ctx, hash)
	if err != nil {
		return false, err
	}
	auth, err := tx.StaffAuth(ctx, ss.StaffID)
	if err != nil {
		return false, err
	}
	if !ss.EndedAt.IsZero() || !now.Before(ss.CreatedAt.Add(p.SessionMax)) || !now.Before(ss.LastSeenAt.Add(p.SessionIdle)) ||
		!auth.DisabledAt.IsZero() {
		return false, fairslot.Errorf(fairslot.NotFound, "session ended")
	}
	a.Session, a.FactorAt = hash, ss.FactorAt
	return now.Sub(ss.LastSeenAt) >= lastSeenEvery, nil
}

// touchSession writes a session's last-seen (at most once a minute).
func (s *Service) touchSession(ctx context.Context, hash []byte) {
	err := s.Store.Update(ctx, func(tx storage.Tx) error { return tx.TouchStaffSession(ctx, hash, s.now(), time.Time{}) })
	if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
		s.Log.Warn("writing a staff session's last-seen failed", "err", err)
	}
}

// requireFreshMFA refuses a sensitive action (account management, unlock,
// reveals of personal data) when the actor's second factor was checked
// longer than FreshFactor ago: the client steps up and retries. Set-up
// from the command line (System) is not a session and passes; so does a
// demo-mode session that skipped the factor.
func (s *Service) requireFreshMFA(a Actor) error {
	if a.Kind == systemKind {
		return nil
	}
	if a.Kind != storage.StaffToken {
		return fairslot.E(fairslot.Unauthorized, "error.login.staff_first", "log in as staff first")
	}
	if a.FactorAt.IsZero() && s.DemoMode {
		return nil
	}
	if a.FactorAt.IsZero() || s.now().Sub(a.FactorAt) > s.staffPolicy().FreshFactor {
		return ErrStepUp
	}
	return nil
}

// StaffStepUp checks the second factor again within a session, so that the
// next sensitive actions may go ahead.
func (s *Service) StaffStepUp(ctx context.Context, a Actor, code string) error {
	if a.Kind != storage.StaffToken || a.Session == nil {
		return fairslot.E(fairslot.Unauthorized, "error.login.staff_first", "log in as staff first")
	}
	var c challenged
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		if c.staff, err = tx.Staff(ctx, a.ID); err != nil {
			return err
		}
		c.auth, err = tx.StaffAuth(ctx, a.ID)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.loginDelayed(c.staff.Username, a.Addr, s.now()); err != nil {
		return err
	}
	if err := s.checkFactor(ctx, a, c, code); err != nil {
		return err
	}
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.TouchStaffSession(ctx, a.Session, now, now); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "staff.step_up", a.ref(), nil)
	})
}
