// Package app holds fairslot's use cases. Each one is a single storage
// transaction that applies the pure rules, seals personal data through the
// vault and appends its audit record in the same transaction. It never
// speaks HTTP and never returns plaintext personal data: views are masked.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/queue"
	"github.com/fairslot/fairslot/internal/referral"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Notifier is told of each message to a phone once it is committed to the
// outbox, on the request's path: for tests and the simulator's message
// board only, so it must never block. Messages are sent by the outbox's
// dispatcher (internal/notify), never by a Notifier.
type Notifier interface {
	Notify(ctx context.Context, phone, text string) error
}

// Outbox is the dispatcher of the outbox (notify.Dispatcher): woken, never
// waited for, after a request wrote a message.
type Outbox interface{ Wake() }

// PaymentProvider takes and returns patients' money, idempotently by key.
// An error from any method means the outcome is unknown — the call may or
// may not have reached the provider — and the same call again with the same
// key is always safe; a definite refusal is a Declined charge, not an error.
type PaymentProvider interface {
	Name() string
	// Charge takes amountCents under key, once: the same key again takes
	// nothing more and reports what the key holds, Refunded when it was
	// refunded or closed, Declined when it was refused.
	Charge(ctx context.Context, key string, amountCents int64, reference string) (payment.Charge, error)
	// Refund returns what was taken under key and closes the key, so that a
	// charge under it that arrives later takes nothing and reports Refunded.
	// Refunding twice, or a key never charged, is not an error.
	Refund(ctx context.Context, key string) error
	// Status reports what key holds without changing it: None for nothing.
	Status(ctx context.Context, key string) (payment.Charge, error)
}

// Service is the set of use cases. Fields must be set before use.
type Service struct {
	Store    storage.Store
	Vault    *vault.Vault
	Policy   booking.Policy
	Release  release.Policy
	Calling  queue.Policy
	Payments PaymentProvider
	Notifier Notifier // nil: none; see Notifier
	Outbox   Outbox   // nil: the dispatcher polls
	Now      func() time.Time
	Location *time.Location
	Log      *slog.Logger
	Display  *Broker
	// Rand is the random source of the release rules (jitter, freed-slot
	// delays); nil: seeded from crypto/rand. Draw seeds never come from it.
	Rand *mrand.Rand
	// StaffLogins bounds password hashing and throttles failed staff
	// logins (login.go); the zero value uses the defaults.
	StaffLogins StaffLoginLimits
	// StaffAuth is the staff sign-in policy: sessions, second factor,
	// lockout (staffauth.go); the zero value uses the defaults.
	StaffAuth StaffAuthPolicy
	// DemoMode lets the demo's published password (DemoPassword) sign in,
	// without a second factor; off, it is refused on every account.
	DemoMode bool
	// staffFailures counts failed staff sign-ins per username.
	staffFailures failures

	// PaymentTimeout bounds each call to the payment provider (0: 15s).
	// PaymentGrace is how long a payment may stay pending or refunding
	// before the sweep reconciles it (0: 2m): longer than a payment takes,
	// so that the sweep does not race one in progress — and safe if it does.
	PaymentTimeout, PaymentGrace time.Duration
	// PatientTokenTTL and PatientRefreshTTL are the lifetimes of a
	// patient's access and refresh tokens (refresh.go); 0: the defaults.
	PatientTokenTTL, PatientRefreshTTL time.Duration
	// AccessLimits bound each staff account's reveals and look-ups
	// (access.go); the zero value uses the defaults.
	AccessLimits access.Limits

	// PhoneCountry is the calling code of a phone number written without
	// one (config phone_country); "": China's (fairslot.NormalizePhoneIn).
	PhoneCountry string
	// OTP limits login-code requests and strangers' guesses (otp.go); the
	// zero value uses the defaults.
	OTP OTPLimits
	// Privacy is the privacy notice in force and the retention period
	// (rights.go); the zero value uses the defaults: no binding or booking
	// without a consent to privacy.NoticeVersion.
	Privacy privacy.Policy
	// KioskProofs limits a kiosk's tries at a booking's proof (kiosk.go);
	// the zero value uses the defaults.
	KioskProofs KioskProofLimits
	// Binding limits binding proofs per account, device and address prefix
	// (binding.go); the zero value uses the defaults.
	Binding BindingLimits
	// OfferNextSession names, in the messages of a session the hospital
	// cancels, the doctor's next session with free places (config
	// cancel_offers_next_session; cancelsession.go). Nothing is booked.
	OfferNextSession bool
	// Reminders says when the sweep writes reminders (reminders.go); the
	// zero value uses the defaults.
	Reminders ReminderPolicy
	// Risk is the risk monitor (internal/riskwatch), told after risk
	// events are committed (risk.go); nil: none, every account is allowed
	// by the score, the stored decisions still stand and the review shows
	// only them (riskreview.go).
	Risk RiskMonitor
	// Referral is the referral review's timing (referral.go); which
	// doctors need review is stored in the database. The zero value uses
	// the defaults.
	Referral referral.Policy
	// Screener suggests an order for the referral queue (nil: none); it
	// never decides.
	Screener Screener

	randMu   sync.Mutex
	keysOnce sync.Once
	tokenKey []byte
	revoked  revocations
}

// random runs fn with the service's random source, one caller at a time.
func (s *Service) random(fn func(*mrand.Rand)) {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if s.Rand == nil {
		var seed [32]byte
		rand.Read(seed[:])
		s.Rand = mrand.New(mrand.NewChaCha8(seed))
	}
	fn(s.Rand)
}

// normalizePhone is a phone's one spelling in the hospital's country.
func (s *Service) normalizePhone(p string) (string, error) {
	return fairslot.NormalizePhoneIn(p, s.phoneCountry())
}

func (s *Service) phoneCountry() string { return cmp.Or(s.PhoneCountry, fairslot.DefaultPhoneCountry) }

// now is the current time in the hospital's zone, at the millisecond
// precision storage keeps, so what a use case returns equals what is read back.
func (s *Service) now() time.Time { return s.Now().In(s.Location).Truncate(time.Millisecond) }

// Actor is who performs a use case.
type Actor struct {
	Kind      storage.TokenKind // AccountToken or StaffToken; "" for an anonymous request
	ID        int64
	Role      fairslot.Role // staff only
	Scope     Scope         // staff only: where they may work (scope.go)
	RequestID string
	// Device and Addr name the client (a device cookie, an address prefix)
	// for the anti-laundering checks; they are stored only as keyed hashes.
	Device, Addr string
	// Lang is the language the request asks for (the page's, or the API's
	// Accept-Language), "" when none: a login code to a phone whose
	// account's language is not known yet goes out in it.
	Lang string
	// Session is a staff session's token hash, and FactorAt when its
	// second factor was last checked (staffauth.go).
	Session  []byte
	FactorAt time.Time
	// Client is a FHIR system client's id (fhirclients.go).
	Client string
}

// systemKind marks the actor of background work and set-up; no token has it.
const systemKind storage.TokenKind = "system"

// System is the actor of background work and set-up.
var System = Actor{Kind: systemKind}

func (a Actor) ref() string {
	switch a.Kind {
	case "":
		return "anonymous"
	case systemKind:
		return "system"
	case fhirClientKind:
		return "fhir-client:" + a.Client
	}
	if a.Client != "" { // a patient's account acting through a FHIR client (fhirbook.go)
		return "fhir-client:" + a.Client
	}
	return audit.Ref(string(a.Kind), a.ID)
}

// record appends an audit event for a change made in tx, and fans a
// booking's or waitlist place's change out to the FHIR subscriptions that
// want it, in the same transaction (fhirsubscriptions.go).
func (s *Service) record(ctx context.Context, tx storage.Tx, a Actor, action, subject string, detail map[string]string) error {
	e := &audit.Event{At: s.now(), Actor: a.ref(), Action: action, Subject: subject, Detail: detail, RequestID: a.RequestID}
	if err := tx.AppendAudit(ctx, e); err != nil {
		return err
	}
	return fanOutFHIR(ctx, tx, e)
}

func (s *Service) requireAccount(a Actor) error {
	if a.Kind != storage.AccountToken {
		return fairslot.E(fairslot.Unauthorized, "error.login.patient_first", "log in as a patient first")
	}
	return nil
}

// MayAct refuses a that is not staff, or whose role may not take act, with
// the error the use case would return: for a page that is the form of one
// action, so that it is refused as the action is.
func (s *Service) MayAct(a Actor, act fairslot.Action) error { return s.requireStaff(a, act) }

func (s *Service) requireStaff(a Actor, act fairslot.Action) error {
	if a.Kind != storage.StaffToken {
		return fairslot.E(fairslot.Unauthorized, "error.login.staff_first", "log in as staff first")
	}
	if !a.Role.Can(act) {
		return fairslot.E(fairslot.Forbidden, "error.role", "the %s role may not %s", a.Role, act).With()
	}
	return nil
}

// newRef returns a random row reference, the row's name in associated data.
func newRef() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// codeAlphabet has no 0/O or 1/I, so codes survive being read aloud.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// newCode returns a random booking code of 8 characters (40 bits).
func newCode() string {
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// committed runs fn in a write transaction whose changes must be kept even
// when the use case then fails — a failed login attempt is counted and
// recorded, and only then refused. fn returns the error to give the caller.
func (s *Service) committed(ctx context.Context, fn func(tx storage.Tx) (refuse error, err error)) error {
	refuse, err := s.update(ctx, fn)
	return firstErr(err, refuse)
}

// update runs fn in a write transaction that commits when fn returns no
// err, even with a refusal for the caller — the transitions a refused
// request makes (a payment sent to refunding) are kept.
func (s *Service) update(ctx context.Context, fn func(tx storage.Tx) (refuse, err error)) (refuse, err error) {
	err = s.Store.Update(ctx, func(tx storage.Tx) (err error) {
		refuse, err = fn(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.nudgeRisk() // the use cases that append risk events commit through here, Unbind and Cancel aside
	return refuse, nil
}
