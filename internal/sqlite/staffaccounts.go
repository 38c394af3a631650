package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) ListStaff(ctx context.Context) ([]fairslot.Staff, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Staff, error) {
		var s fairslot.Staff
		return s, r.Scan(staffFields(&s)...)
	}, `SELECT `+staffColumns+` FROM staff ORDER BY username`)
}

func (t *tx) StaffAuth(ctx context.Context, id int64) (storage.StaffAuth, error) {
	a := storage.StaffAuth{StaffID: id}
	var disabled, locked, changed, enrolExpires sql.NullInt64
	err := one(t.queryRow(ctx, `SELECT totp_sealed, totp_pending_sealed, totp_last_step, disabled_ms, locked_ms, password_changed_ms,
		(SELECT count(*) FROM staff_recovery_codes WHERE staff_id = staff.id AND used_ms IS NULL),
		enrol_code_hash, enrol_code_expires_ms
		FROM staff WHERE id = ?`, id), "staff member",
		&a.TOTPSealed, &a.TOTPPendingSealed, &a.TOTPLastStep, &disabled, &locked, &changed, &a.RecoveryLeft,
		&a.EnrolCodeHash, &enrolExpires)
	a.DisabledAt, a.LockedAt, a.PasswordChangedAt = t.atNull(disabled), t.atNull(locked), t.atNull(changed)
	a.EnrolCodeExpires = t.atNull(enrolExpires)
	return a, err
}

// changed turns "no row changed" into err.
func changed(res sql.Result, err error, none error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

var errNoStaff = fairslot.Errorf(fairslot.NotFound, "staff member not found")

func (t *tx) SetStaffPassword(ctx context.Context, id int64, hash string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE staff SET password_hash = ?, password_changed_ms = ? WHERE id = ?`, hash, ms(at), id)
	return changed(res, err, errNoStaff)
}

func (t *tx) SetStaffDisabled(ctx context.Context, id int64, at time.Time) error {
	var v any
	if !at.IsZero() {
		v = ms(at)
	}
	res, err := t.exec(ctx, `UPDATE staff SET disabled_ms = ? WHERE id = ?`, v, id)
	return changed(res, err, errNoStaff)
}

func (t *tx) LockStaff(ctx context.Context, id int64, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE staff SET locked_ms = ? WHERE id = ? AND locked_ms IS NULL`, ms(at), id)
	return changed(res, err, fairslot.Errorf(fairslot.Conflict, "the account is already locked"))
}

func (t *tx) UnlockStaff(ctx context.Context, id int64) error {
	res, err := t.exec(ctx, `UPDATE staff SET locked_ms = NULL WHERE id = ?`, id)
	return changed(res, err, errNoStaff)
}

func (t *tx) SetTOTPPending(ctx context.Context, id int64, sealed []byte) error {
	res, err := t.exec(ctx, `UPDATE staff SET totp_pending_sealed = ? WHERE id = ?`, sealed, id)
	return changed(res, err, errNoStaff)
}

func (t *tx) SetEnrolCode(ctx context.Context, id int64, hash []byte, expires time.Time) error {
	res, err := t.exec(ctx, `UPDATE staff SET enrol_code_hash = ?, enrol_code_expires_ms = ? WHERE id = ?`, hash, ms(expires), id)
	return changed(res, err, errNoStaff)
}

func (t *tx) ConfirmTOTP(ctx context.Context, id int64, pending, enrolHash []byte, step int64, hashes [][]byte, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE staff SET totp_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_last_step = ?,
			enrol_code_hash = NULL, enrol_code_expires_ms = NULL
		WHERE id = ? AND totp_pending_sealed = ? AND totp_last_step < ? AND enrol_code_hash = ? AND enrol_code_expires_ms > ?`,
		step, id, pending, step, enrolHash, ms(at))
	if err := changed(res, err, fairslot.Errorf(fairslot.Conflict, "the enrolment changed or the code was used; start again")); err != nil {
		return err
	}
	return t.replaceRecoveryCodes(ctx, id, hashes, at)
}

func (t *tx) replaceRecoveryCodes(ctx context.Context, id int64, hashes [][]byte, at time.Time) error {
	if _, err := t.exec(ctx, `UPDATE staff_recovery_codes SET used_ms = ? WHERE staff_id = ? AND used_ms IS NULL`, ms(at), id); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := t.exec(ctx, `INSERT INTO staff_recovery_codes (staff_id, hash, created_ms) VALUES (?, ?, ?)`, id, h, ms(at)); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) UseTOTPStep(ctx context.Context, id int64, step int64) error {
	res, err := t.exec(ctx, `UPDATE staff SET totp_last_step = ? WHERE id = ? AND totp_last_step < ? AND totp_sealed IS NOT NULL`, step, id, step)
	return changed(res, err, fairslot.Errorf(fairslot.Conflict, "this code was already used"))
}

func (t *tx) UseRecoveryCode(ctx context.Context, id int64, hash []byte, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE staff_recovery_codes SET used_ms = ? WHERE staff_id = ? AND hash = ? AND used_ms IS NULL`, ms(at), id, hash)
	return changed(res, err, fairslot.Errorf(fairslot.Conflict, "no such unused recovery code"))
}

func (t *tx) ResetMFA(ctx context.Context, id int64, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE staff SET totp_sealed = NULL, totp_pending_sealed = NULL WHERE id = ?`, id)
	if err := changed(res, err, errNoStaff); err != nil {
		return err
	}
	return t.replaceRecoveryCodes(ctx, id, nil, at)
}

func (t *tx) CreateStaffSession(ctx context.Context, s storage.StaffSession) error {
	var factor any
	if !s.FactorAt.IsZero() {
		factor = ms(s.FactorAt)
	}
	_, err := t.exec(ctx, `INSERT INTO staff_sessions (token_hash, staff_id, created_ms, last_seen_ms, factor_ms) VALUES (?, ?, ?, ?, ?)`,
		s.TokenHash, s.StaffID, ms(s.CreatedAt), ms(s.LastSeenAt), factor)
	if isUnique(err, "staff_sessions.token_hash") {
		return fairslot.Errorf(fairslot.Conflict, "staff session exists")
	}
	return err
}

func (t *tx) StaffSession(ctx context.Context, hash []byte) (storage.StaffSession, error) {
	s := storage.StaffSession{TokenHash: hash}
	var created, seen int64
	var factor, ended sql.NullInt64
	err := one(t.queryRow(ctx, `SELECT staff_id, created_ms, last_seen_ms, factor_ms, ended_ms FROM staff_sessions WHERE token_hash = ?`, hash),
		"staff session", &s.StaffID, &created, &seen, &factor, &ended)
	s.CreatedAt, s.LastSeenAt, s.FactorAt, s.EndedAt = t.at(created), t.at(seen), t.atNull(factor), t.atNull(ended)
	return s, err
}

func (t *tx) TouchStaffSession(ctx context.Context, hash []byte, seen, factor time.Time) error {
	var f any
	if !factor.IsZero() {
		f = ms(factor)
	}
	res, err := t.exec(ctx, `UPDATE staff_sessions SET last_seen_ms = max(last_seen_ms, ?), factor_ms = coalesce(?, factor_ms)
		WHERE token_hash = ? AND ended_ms IS NULL`, ms(seen), f, hash)
	return changed(res, err, fairslot.Errorf(fairslot.NotFound, "staff session not found"))
}

func (t *tx) EndStaffSessions(ctx context.Context, id int64, hash []byte, at time.Time) error {
	if hash != nil {
		_, err := t.exec(ctx, `UPDATE staff_sessions SET ended_ms = ? WHERE staff_id = ? AND token_hash = ? AND ended_ms IS NULL`, ms(at), id, hash)
		return err
	}
	_, err := t.exec(ctx, `UPDATE staff_sessions SET ended_ms = ? WHERE staff_id = ? AND ended_ms IS NULL`, ms(at), id)
	return err
}
