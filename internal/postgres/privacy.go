package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) AppendConsent(ctx context.Context, c privacy.Consent) error {
	_, err := t.exec(ctx, `INSERT INTO consents (account_id, version, lang, at_ms) VALUES ($1, $2, $3, $4)`,
		c.AccountID, c.Version, c.Lang, ms(c.At))
	return err
}

func (t *tx) LatestConsent(ctx context.Context, accountID int64) (privacy.Consent, error) {
	c := privacy.Consent{AccountID: accountID}
	var at int64
	err := one(t.tx.QueryRow(ctx, `SELECT c.version, c.lang, c.at_ms FROM consents c JOIN accounts a ON a.id = c.account_id
		WHERE c.account_id = $1 AND a.closed_ms IS NULL ORDER BY c.id DESC LIMIT 1`, accountID), "consent", &c.Version, &c.Lang, &at)
	c.At = t.at(at)
	return c, err
}

func (t *tx) RemoveBinding(ctx context.Context, accountID, patientID int64, at time.Time, reason string) error {
	// The locks Bind takes, in its order: a removal and a binding of the
	// same account never interleave.
	if err := t.lock(ctx, lockAccount, accountID); err != nil {
		return err
	}
	if err := t.lock(ctx, lockPatient, patientID); err != nil {
		return err
	}
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT remove_bindings($1, $2, $3, $4)`, accountID, patientID, ms(at), reason).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.NotFound, "this patient is not bound to your account")
	}
	return nil
}

func (t *tx) Holdings(ctx context.Context, accountID int64) ([]privacy.Holding, error) {
	return all(ctx, t, func(r pgx.Rows) (h privacy.Holding, err error) {
		return h, r.Scan(&h.Kind, &h.ID, &h.SessionID, &h.Date)
	}, `SELECT 'booking', id, session_id, date FROM bookings WHERE account_id = $1 AND status IN ('held', 'confirmed', 'checked_in', 'called')
		UNION ALL
		SELECT 'entry', e.id, e.session_id, s.date FROM draw_entries e JOIN sessions s ON s.id = e.session_id
		WHERE e.account_id = $1 AND NOT EXISTS (SELECT 1 FROM draw_runs r WHERE r.session_id = e.session_id)
		ORDER BY 4, 2`, accountID)
}

func (t *tx) CloseAccount(ctx context.Context, accountID int64, at time.Time, tombstone []byte) error {
	if err := t.lock(ctx, lockAccount, accountID); err != nil {
		return err
	}
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT close_account($1, $2, $3)`, accountID, ms(at), tombstone).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the account is closed")
	}
	return nil
}

func (t *tx) LiveRefreshFamilies(ctx context.Context, accountID int64) ([]string, error) {
	return all(ctx, t, func(r pgx.Rows) (f string, err error) { return f, r.Scan(&f) },
		`SELECT DISTINCT family FROM refresh_tokens WHERE account_id = $1 AND revoked_ms IS NULL ORDER BY family`, accountID)
}

func (t *tx) RetentionCandidates(ctx context.Context, cutoff time.Time, after int64, limit int) ([]privacy.Activity, error) {
	return all(ctx, t, func(r pgx.Rows) (a privacy.Activity, err error) {
		var last int64
		err = r.Scan(&a.PatientID, &last, &a.Active)
		a.Last = t.at(last)
		return a, err
	}, `SELECT p.id, a.last_ms, a.active FROM patients p, LATERAL patient_activity(p.id) a
		WHERE p.purged_ms IS NULL AND p.created_ms < $1 AND p.id > $2 ORDER BY p.id LIMIT $3`, ms(cutoff), after, limit)
}

func (t *tx) PurgePatient(ctx context.Context, patientID int64, cutoff, at time.Time) error {
	// A booking locks its patient: with the lock, none is made meanwhile.
	if err := t.lock(ctx, lockPatient, patientID); err != nil {
		return err
	}
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT purge_patient($1, $2, $3)`, patientID, ms(cutoff), ms(at)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the patient is no longer past retention")
	}
	return nil
}

func (t *tx) PurgeOutbox(ctx context.Context, cutoff time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT purge_outbox($1)`, ms(cutoff)).Scan(&n)
	return n, err
}

func (t *tx) RestorePatient(ctx context.Context, p storage.PatientRecord) error {
	if err := t.lock(ctx, lockPatient, p.ID); err != nil {
		return err
	}
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT restore_patient($1, $2, $3, $4, $5, $6)`,
		p.ID, p.IDSealed, p.NameSealed, p.PhoneIndex, p.PhoneSealed, p.BirthSealed).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the patient is not purged")
	}
	return nil
}

func (t *tx) RemovedBindingsSince(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM binding_removals WHERE account_id = $1 AND bound_ms >= $2`, accountID, ms(since)).Scan(&n)
	return n, err
}
