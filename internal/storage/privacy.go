package storage

import (
	"context"
	"time"

	"github.com/fairslot/fairslot/internal/privacy"
)

// Privacy is the storage of the patient's rights (internal/privacy):
// consents, removed bindings, closed accounts and the retention purge.
type Privacy interface {
	// AppendConsent records an acceptance of the privacy notice. Consents
	// are append-only: the database refuses to change or delete one.
	AppendConsent(ctx context.Context, c privacy.Consent) error
	// LatestConsent returns an open account's newest consent: NotFound when
	// it has none, or the account is closed.
	LatestConsent(ctx context.Context, accountID int64) (privacy.Consent, error)
	// RemoveBinding removes an account's binding to a patient and records
	// it in binding_removals (when it was made, when and why removed):
	// NotFound when there is none. The patient, its bookings, entries and
	// counts stay: they belong to the identity, not to the binding.
	RemoveBinding(ctx context.Context, accountID, patientID int64, at time.Time, reason string) error
	// RemovedBindingsSince counts the account's removed bindings that were
	// made at or after since: they count against the binding rate as if
	// still there, so removing and binding again buys no new bindings.
	RemovedBindingsSince(ctx context.Context, accountID int64, since time.Time) (int, error)
	// Holdings lists what an account still runs: bookings held, confirmed,
	// checked in or called, and entries in draws not yet run.
	Holdings(ctx context.Context, accountID int64) ([]privacy.Holding, error)
	// CloseAccount closes an open account at at: its bindings are removed
	// (recorded, reason "account_closed"), its open waitlist places closed,
	// its sealed phone erased and its phone index replaced by tombstone (a
	// random value that matches no phone), so the phone is free for a new
	// account. A Conflict when the account is already closed.
	CloseAccount(ctx context.Context, accountID int64, at time.Time, tombstone []byte) error
	// LiveRefreshFamilies lists the refresh-token families of an account
	// that are not revoked.
	LiveRefreshFamilies(ctx context.Context, accountID int64) ([]string, error)
	// RetentionCandidates lists up to limit patients, not yet purged,
	// created before cutoff, with id greater than after, in id order, with
	// what the retention rule needs of them (privacy.Activity).
	RetentionCandidates(ctx context.Context, cutoff time.Time, after int64, limit int) ([]privacy.Activity, error)
	// PurgePatient makes a patient's personal fields unreadable: the sealed
	// name, ID number, phone and birth date are erased and the phone index
	// dropped; the ID type and ID blind index stay (the booking limits and
	// counts follow the identity), as do its bookings. The database checks
	// again that nothing of the patient runs and nothing happened at or
	// after cutoff, and removes its bindings (reason "retention"): a
	// Conflict when the patient is no longer eligible.
	PurgePatient(ctx context.Context, patientID int64, cutoff, at time.Time) error
	// PurgeOutbox erases the sealed recipient and body of messages sent or
	// dead before cutoff, and returns how many.
	PurgeOutbox(ctx context.Context, cutoff time.Time) (int, error)
	// RestorePatient writes the sealed fields of a purged patient bound
	// again with the same identity: a Conflict when it is not purged.
	RestorePatient(ctx context.Context, p PatientRecord) error
}
