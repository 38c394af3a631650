package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) ListStaff(ctx context.Context) ([]fairslot.Staff, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.Staff, error) {
		var s fairslot.Staff
		return s, r.Scan(staffFields(&s)...)
	}, `SELECT `+staffColumns+` FROM staff ORDER BY username`)
}

func (t *tx) StaffAuth(ctx context.Context, id int64) (storage.StaffAuth, error) {
	a := storage.StaffAuth{StaffID: id}
	var disabled, locked, changed, enrolExpires *int64
	err := one(t.tx.QueryRow(ctx, `SELECT totp_sealed, totp_pending_sealed, totp_last_step, disabled_ms, locked_ms, password_changed_ms,
		(SELECT count(*) FROM staff_recovery_codes WHERE staff_id = staff.id AND used_ms IS NULL),
		enrol_code_hash, enrol_code_expires_ms
		FROM staff WHERE id = $1`, id), "staff member",
		&a.TOTPSealed, &a.TOTPPendingSealed, &a.TOTPLastStep, &disabled, &locked, &changed, &a.RecoveryLeft,
		&a.EnrolCodeHash, &enrolExpires)
	a.DisabledAt, a.LockedAt, a.PasswordChangedAt = t.atNull(disabled), t.atNull(locked), t.atNull(changed)
	a.EnrolCodeExpires = t.atNull(enrolExpires)
	return a, err
}

// call runs one of the staff functions and turns "no row changed" into none.
func (t *tx) call(ctx context.Context, none error, q string, args ...any) error {
	var n int64
	if err := t.tx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

var errNoStaff = fairslot.Errorf(fairslot.NotFound, "staff member not found")

// msOrNil stores a zero time as NULL.
func msOrNil(at time.Time) *int64 {
	if at.IsZero() {
		return nil
	}
	v := ms(at)
	return &v
}

func (t *tx) SetStaffPassword(ctx context.Context, id int64, hash string, at time.Time) error {
	return t.call(ctx, errNoStaff, `SELECT staff_set_password($1, $2, $3)`, id, hash, ms(at))
}

func (t *tx) SetStaffDisabled(ctx context.Context, id int64, at time.Time) error {
	return t.call(ctx, errNoStaff, `SELECT staff_set_disabled($1, $2)`, id, msOrNil(at))
}

func (t *tx) LockStaff(ctx context.Context, id int64, at time.Time) error {
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "the account is already locked"), `SELECT staff_lock($1, $2)`, id, ms(at))
}

func (t *tx) UnlockStaff(ctx context.Context, id int64) error {
	return t.call(ctx, errNoStaff, `SELECT staff_unlock($1)`, id)
}

func (t *tx) SetTOTPPending(ctx context.Context, id int64, sealed []byte) error {
	return t.call(ctx, errNoStaff, `SELECT staff_set_totp_pending($1, $2)`, id, sealed)
}

func (t *tx) SetEnrolCode(ctx context.Context, id int64, hash []byte, expires time.Time) error {
	return t.call(ctx, errNoStaff, `SELECT staff_set_enrol_code($1, $2, $3)`, id, hash, ms(expires))
}

func (t *tx) ConfirmTOTP(ctx context.Context, id int64, pending, enrolHash []byte, step int64, hashes [][]byte, at time.Time) error {
	if hashes == nil {
		hashes = [][]byte{}
	}
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "the enrolment changed or the code was used; start again"),
		`SELECT staff_confirm_totp($1, $2, $3, $4, $5, $6)`, id, pending, enrolHash, step, hashes, ms(at))
}

func (t *tx) UseTOTPStep(ctx context.Context, id int64, step int64) error {
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "this code was already used"), `SELECT staff_use_totp_step($1, $2)`, id, step)
}

func (t *tx) UseRecoveryCode(ctx context.Context, id int64, hash []byte, at time.Time) error {
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "no such unused recovery code"), `SELECT staff_use_recovery_code($1, $2, $3)`, id, hash, ms(at))
}

func (t *tx) ResetMFA(ctx context.Context, id int64, at time.Time) error {
	return t.call(ctx, errNoStaff, `SELECT staff_reset_mfa($1, $2)`, id, ms(at))
}

func (t *tx) CreateStaffSession(ctx context.Context, s storage.StaffSession) error {
	_, err := t.exec(ctx, `INSERT INTO staff_sessions (token_hash, staff_id, created_ms, last_seen_ms, factor_ms) VALUES ($1, $2, $3, $4, $5)`,
		s.TokenHash, s.StaffID, ms(s.CreatedAt), ms(s.LastSeenAt), msOrNil(s.FactorAt))
	if isUnique(err, "staff_sessions_pkey") {
		return fairslot.Errorf(fairslot.Conflict, "staff session exists")
	}
	return err
}

func (t *tx) StaffSession(ctx context.Context, hash []byte) (storage.StaffSession, error) {
	s := storage.StaffSession{TokenHash: hash}
	var created, seen int64
	var factor, ended *int64
	err := one(t.tx.QueryRow(ctx, `SELECT staff_id, created_ms, last_seen_ms, factor_ms, ended_ms FROM staff_sessions WHERE token_hash = $1`, hash),
		"staff session", &s.StaffID, &created, &seen, &factor, &ended)
	s.CreatedAt, s.LastSeenAt, s.FactorAt, s.EndedAt = t.at(created), t.at(seen), t.atNull(factor), t.atNull(ended)
	return s, err
}

func (t *tx) TouchStaffSession(ctx context.Context, hash []byte, seen, factor time.Time) error {
	return t.call(ctx, fairslot.Errorf(fairslot.NotFound, "staff session not found"),
		`SELECT staff_session_touch($1, $2, $3)`, hash, ms(seen), msOrNil(factor))
}

func (t *tx) EndStaffSessions(ctx context.Context, id int64, hash []byte, at time.Time) error {
	var n int64
	return t.tx.QueryRow(ctx, `SELECT staff_end_sessions($1, $2, $3)`, id, hash, ms(at)).Scan(&n)
}
