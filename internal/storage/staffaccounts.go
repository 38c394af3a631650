package storage

import (
	"context"
	"time"

	"github.com/fairslot/fairslot"
)

// StaffAuth is what a staff sign-in needs beyond the password: the second
// factor and the account's state. Zero times mean "never" / "not".
type StaffAuth struct {
	StaffID int64
	// TOTPSealed is the confirmed TOTP secret, sealed with the vault
	// (table "staff", row the staff id, column "totp"); nil until enrolled.
	TOTPSealed []byte
	// TOTPPendingSealed is a secret shown for enrolment and not yet
	// confirmed with a code.
	TOTPPendingSealed []byte
	// TOTPLastStep is the last TOTP step used: a code of that step or an
	// earlier one is never accepted again.
	TOTPLastStep int64
	RecoveryLeft int // unused recovery codes
	// EnrolCodeHash is the keyed hash of the one-time enrolment code an
	// admin handed out (nil if none), valid before EnrolCodeExpires: an
	// account without a confirmed secret enrols only with it, so that a
	// password alone never enrols a stranger's authenticator.
	EnrolCodeHash     []byte
	EnrolCodeExpires  time.Time
	DisabledAt        time.Time
	LockedAt          time.Time
	PasswordChangedAt time.Time
}

// StaffSession is a staff login, named by the SHA-256 of its bearer token.
type StaffSession struct {
	TokenHash  []byte
	StaffID    int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	// FactorAt is when the second factor was last checked in this session
	// (sign-in or step-up); zero for a demo login that skipped it.
	FactorAt time.Time
	EndedAt  time.Time // zero while not ended by logout, disable or reset
}

// StaffAccounts are the storage of staff accounts' second factor, state
// and sessions. Every change is one conditional write the database checks;
// on PostgreSQL through SECURITY DEFINER functions, as the online role
// only reads and inserts.
type StaffAccounts interface {
	// ListStaff lists every staff member by username.
	ListStaff(ctx context.Context) ([]fairslot.Staff, error)
	// StaffAuth returns a staff member's second factor and state: NotFound
	// if there is no such staff member.
	StaffAuth(ctx context.Context, staffID int64) (StaffAuth, error)
	// SetStaffPassword replaces a password hash and records when.
	SetStaffPassword(ctx context.Context, staffID int64, hash string, at time.Time) error
	// SetStaffDisabled disables (at not zero) or enables (at zero) an account.
	SetStaffDisabled(ctx context.Context, staffID int64, at time.Time) error
	// LockStaff locks an account at at, if not locked already: a Conflict
	// if it was.
	LockStaff(ctx context.Context, staffID int64, at time.Time) error
	// UnlockStaff clears a lock.
	UnlockStaff(ctx context.Context, staffID int64) error
	// SetTOTPPending stores a secret shown for enrolment, replacing any
	// earlier unconfirmed one; the confirmed secret is not touched.
	SetTOTPPending(ctx context.Context, staffID int64, sealed []byte) error
	// SetEnrolCode replaces an account's enrolment code with one of this
	// hash, valid before expires.
	SetEnrolCode(ctx context.Context, staffID int64, hash []byte, expires time.Time) error
	// ConfirmTOTP makes the pending secret the confirmed one, only if the
	// pending one is still sealed and the enrolment code of enrolHash is
	// still the account's and unexpired at at; it spends the enrolment
	// code, records step as used and replaces the recovery codes with these
	// hashes: a Conflict if the pending secret or the enrolment code
	// changed (another enrolment, a reset), expired or there is none.
	ConfirmTOTP(ctx context.Context, staffID int64, pendingSealed, enrolHash []byte, step int64, recoveryHashes [][]byte, at time.Time) error
	// UseTOTPStep records a step as used, only if it is after the last one
	// used: a Conflict otherwise (a replayed or raced code).
	UseTOTPStep(ctx context.Context, staffID int64, step int64) error
	// UseRecoveryCode spends an unused recovery code: a Conflict if there
	// is no unused code with this hash.
	UseRecoveryCode(ctx context.Context, staffID int64, hash []byte, at time.Time) error
	// ResetMFA forgets the confirmed and pending secrets and retires the
	// recovery codes, so the next sign-in enrols again (with an enrolment
	// code set by SetEnrolCode). Recovery codes are
	// never deleted: confirming or resetting marks the unused ones used.
	ResetMFA(ctx context.Context, staffID int64, at time.Time) error
	CreateStaffSession(ctx context.Context, s StaffSession) error
	// StaffSession returns the session of a token hash: NotFound if none.
	StaffSession(ctx context.Context, tokenHash []byte) (StaffSession, error)
	// TouchStaffSession moves a session's last-seen time forward, and its
	// factor time when factorAt is not zero.
	TouchStaffSession(ctx context.Context, tokenHash []byte, lastSeen, factorAt time.Time) error
	// EndStaffSessions ends a staff member's open sessions (all of them
	// when tokenHash is nil, else only that one).
	EndStaffSessions(ctx context.Context, staffID int64, tokenHash []byte, at time.Time) error
}
