package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) AppendConsent(ctx context.Context, c privacy.Consent) error {
	_, err := t.exec(ctx, `INSERT INTO consents (account_id, version, lang, at_ms) VALUES (?, ?, ?, ?)`,
		c.AccountID, c.Version, c.Lang, ms(c.At))
	return err
}

func (t *tx) LatestConsent(ctx context.Context, accountID int64) (privacy.Consent, error) {
	c := privacy.Consent{AccountID: accountID}
	var at int64
	err := one(t.queryRow(ctx, `SELECT c.version, c.lang, c.at_ms FROM consents c JOIN accounts a ON a.id = c.account_id
		WHERE c.account_id = ? AND a.closed_ms IS NULL ORDER BY c.id DESC LIMIT 1`, accountID), "consent", &c.Version, &c.Lang, &at)
	c.At = t.at(at)
	return c, err
}

// removeBindings moves the bindings that where selects (with its args) to
// binding_removals, then deletes them, and returns how many.
func (t *tx) removeBindings(ctx context.Context, where string, at time.Time, reason string, args ...any) (int64, error) {
	if _, err := t.exec(ctx, `INSERT INTO binding_removals (account_id, patient_id, bound_ms, removed_ms, reason)
		SELECT account_id, patient_id, created_ms, ?, ? FROM bindings WHERE `+where, append([]any{ms(at), reason}, args...)...); err != nil {
		return 0, err
	}
	res, err := t.exec(ctx, `DELETE FROM bindings WHERE `+where, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) RemoveBinding(ctx context.Context, accountID, patientID int64, at time.Time, reason string) error {
	n, err := t.removeBindings(ctx, `account_id = ? AND patient_id = ?`, at, reason, accountID, patientID)
	if err == nil && n == 0 {
		return fairslot.Errorf(fairslot.NotFound, "this patient is not bound to your account")
	}
	return err
}

// activeBookings are the statuses in which a booking holds a place.
const activeBookings = `('held', 'confirmed', 'checked_in', 'called')`

func (t *tx) Holdings(ctx context.Context, accountID int64) ([]privacy.Holding, error) {
	return all(ctx, t, func(r *sql.Rows) (h privacy.Holding, err error) {
		return h, r.Scan(&h.Kind, &h.ID, &h.SessionID, &h.Date)
	}, `SELECT 'booking', id, session_id, date FROM bookings WHERE account_id = ?1 AND status IN `+activeBookings+`
		UNION ALL
		SELECT 'entry', e.id, e.session_id, s.date FROM draw_entries e JOIN sessions s ON s.id = e.session_id
		WHERE e.account_id = ?1 AND NOT EXISTS (SELECT 1 FROM draw_runs r WHERE r.session_id = e.session_id)
		ORDER BY 4, 2`, accountID)
}

func (t *tx) CloseAccount(ctx context.Context, accountID int64, at time.Time, tombstone []byte) error {
	res, err := t.exec(ctx, `UPDATE accounts SET closed_ms = ?, phone_sealed = x'', phone_index = ? WHERE id = ? AND closed_ms IS NULL`,
		ms(at), tombstone, accountID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return firstNonNil(err, fairslot.Errorf(fairslot.Conflict, "the account is closed"))
	}
	if _, err := t.removeBindings(ctx, `account_id = ?`, at, "account_closed", accountID); err != nil {
		return err
	}
	_, err = t.exec(ctx, `UPDATE waitlist SET closed_ms = ?, outcome = 'left' WHERE account_id = ? AND closed_ms IS NULL`, ms(at), accountID)
	return err
}

func (t *tx) LiveRefreshFamilies(ctx context.Context, accountID int64) ([]string, error) {
	return all(ctx, t, func(r *sql.Rows) (f string, err error) { return f, r.Scan(&f) },
		`SELECT DISTINCT family FROM refresh_tokens WHERE account_id = ? AND revoked_ms IS NULL ORDER BY family`, accountID)
}

// activity is the retention rule's view of patients p (privacy.Activity):
// the newest of everything that happened to the identity, and how much of
// it still runs.
const activity = `SELECT p.id, p.purged_ms IS NOT NULL,
	max(p.created_ms,
		coalesce((SELECT max(created_ms) FROM bindings WHERE patient_id = p.id), 0),
		coalesce((SELECT max(removed_ms) FROM binding_removals WHERE patient_id = p.id), 0),
		coalesce((SELECT max(max(created_ms, updated_ms)) FROM bookings WHERE patient_id = p.id), 0),
		coalesce((SELECT max(created_ms) FROM draw_entries WHERE patient_id = p.id), 0),
		coalesce((SELECT max(coalesce(closed_ms, created_ms)) FROM waitlist WHERE patient_id = p.id), 0)),
	(SELECT count(*) FROM bookings WHERE patient_id = p.id AND status IN ` + activeBookings + `) +
	(SELECT count(*) FROM draw_entries e WHERE e.patient_id = p.id AND NOT EXISTS (SELECT 1 FROM draw_runs r WHERE r.session_id = e.session_id)) +
	(SELECT count(*) FROM waitlist WHERE patient_id = p.id AND closed_ms IS NULL)
	FROM patients p `

func (t *tx) scanActivity(r interface{ Scan(...any) error }) (a privacy.Activity, err error) {
	var last int64
	err = r.Scan(&a.PatientID, &a.Purged, &last, &a.Active)
	a.Last = t.at(last)
	return a, err
}

func (t *tx) RetentionCandidates(ctx context.Context, cutoff time.Time, after int64, limit int) ([]privacy.Activity, error) {
	return all(ctx, t, func(r *sql.Rows) (privacy.Activity, error) { return t.scanActivity(r) },
		activity+`WHERE p.purged_ms IS NULL AND p.created_ms < ? AND p.id > ? ORDER BY p.id LIMIT ?`, ms(cutoff), after, limit)
}

func (t *tx) PurgePatient(ctx context.Context, patientID int64, cutoff, at time.Time) error {
	// The write transaction is the only writer, so the check and the
	// erasure below see the same patient.
	a, err := t.scanActivity(t.queryRow(ctx, activity+`WHERE p.id = ?`, patientID))
	if err == sql.ErrNoRows {
		return fairslot.Errorf(fairslot.NotFound, "patient not found")
	}
	if err != nil {
		return err
	}
	if a.Purged || a.Active > 0 || !a.Last.Before(cutoff) {
		return fairslot.Errorf(fairslot.Conflict, "the patient is no longer past retention")
	}
	if _, err := t.removeBindings(ctx, `patient_id = ?`, at, "retention", patientID); err != nil {
		return err
	}
	// Referral requests (0036): their description, pictures, reason and
	// screener note go with the patient's identity; the request's outcome
	// stays, as a booking's does.
	if _, err := t.exec(ctx, `UPDATE referral_images SET data_sealed = x''
		WHERE referral_id IN (SELECT id FROM referrals WHERE patient_id = ?)`, patientID); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `UPDATE referrals SET description_sealed = x'', reason_sealed = NULL, screen_note_sealed = NULL
		WHERE patient_id = ?`, patientID); err != nil {
		return err
	}
	_, err = t.exec(ctx, `UPDATE patients SET id_sealed = x'', name_sealed = x'', phone_sealed = NULL, birth_sealed = NULL,
		phone_index = NULL, purged_ms = ? WHERE id = ?`, ms(at), patientID)
	return err
}

func (t *tx) PurgeOutbox(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := t.exec(ctx, `UPDATE outbox SET recipient_sealed = x'', body_sealed = x''
		WHERE status IN ('sent', 'dead') AND created_ms < ? AND length(body_sealed) > 0`, ms(cutoff))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) RestorePatient(ctx context.Context, p storage.PatientRecord) error {
	res, err := t.exec(ctx, `UPDATE patients SET id_sealed = ?, name_sealed = ?, phone_index = ?, phone_sealed = ?, birth_sealed = ?,
		purged_ms = NULL WHERE id = ? AND purged_ms IS NOT NULL`, p.IDSealed, p.NameSealed, p.PhoneIndex, p.PhoneSealed, p.BirthSealed, p.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return firstNonNil(err, fairslot.Errorf(fairslot.Conflict, "the patient is not purged"))
	}
	return nil
}

func (t *tx) RemovedBindingsSince(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM binding_removals WHERE account_id = ? AND bound_ms >= ?`, accountID, ms(since)).Scan(&n)
	return n, err
}
