package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const accessColumns = `id, ref, at_ms, staff_id, role, coalesce(patient_id, 0), coalesce(session_id, 0), kind, field, reason, note_sealed, place, subject, coalesce(once_key, '')`

func (t *tx) scanAccess(r pgx.Rows) (storage.AccessRecord, error) {
	var a storage.AccessRecord
	var at int64
	err := r.Scan(&a.ID, &a.Ref, &at, &a.StaffID, &a.Role, &a.PatientID, &a.SessionID, &a.Kind, &a.Field, &a.Reason, &a.NoteSealed,
		&a.Place, &a.Subject, &a.Key)
	a.At = t.at(at)
	return a, err
}

func (t *tx) AppendAccess(ctx context.Context, a *storage.AccessRecord) (bool, error) {
	rows, err := all(ctx, t, func(r pgx.Rows) (id int64, err error) { return id, r.Scan(&id) },
		`INSERT INTO access_log (ref, at_ms, staff_id, role, patient_id, session_id, kind, field, reason, note_sealed, place, subject, once_key)
		VALUES ($1, $2, $3, $4, nullif($5, 0), nullif($6, 0), $7, $8, $9, $10, $11, $12, nullif($13, ''))
		ON CONFLICT (once_key) DO NOTHING RETURNING id`,
		a.Ref, ms(a.At), a.StaffID, a.Role, a.PatientID, a.SessionID, a.Kind, a.Field, a.Reason, a.NoteSealed, a.Place, a.Subject, a.Key)
	if err != nil || len(rows) == 0 {
		return false, err
	}
	a.ID = rows[0]
	return true, nil
}

func (t *tx) AccessKeysSeen(ctx context.Context, keys []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	if len(keys) == 0 {
		return seen, nil
	}
	got, err := all(ctx, t, func(r pgx.Rows) (k string, err error) { return k, r.Scan(&k) },
		`SELECT once_key FROM access_log WHERE once_key = ANY($1)`, keys)
	for _, k := range got {
		seen[k] = true
	}
	return seen, err
}

func (t *tx) AccessesOfPatient(ctx context.Context, patientID int64, limit int) ([]storage.AccessRecord, error) {
	return all(ctx, t, t.scanAccess, `SELECT `+accessColumns+` FROM access_log WHERE patient_id = $1 ORDER BY at_ms DESC, id DESC LIMIT $2`,
		patientID, limit)
}

func (t *tx) CountedAccesses(ctx context.Context, staffID int64, kinds []string, since time.Time) ([]storage.AccessRecord, error) {
	return all(ctx, t, t.scanAccess, `SELECT `+accessColumns+` FROM access_log
		WHERE staff_id = $1 AND at_ms >= $2 AND kind = ANY($3) ORDER BY at_ms, id`, staffID, ms(since), kinds)
}

func (t *tx) LockStaffAccess(ctx context.Context, staffID int64, at time.Time) error {
	_, err := t.exec(ctx, `SELECT lock_staff_access($1, $2)`, staffID, ms(at))
	return err
}

func (t *tx) UnlockStaffAccess(ctx context.Context, staffID int64) error {
	_, err := t.exec(ctx, `SELECT unlock_staff_access($1)`, staffID)
	return err
}

func (t *tx) StaffAccessLocked(ctx context.Context, staffID int64) (time.Time, error) {
	var at *int64
	err := one(t.tx.QueryRow(ctx, `SELECT access_locked_ms FROM staff WHERE id = $1`, staffID), "staff member", &at)
	return t.atNull(at), err
}

func (t *tx) AppendSecurityEvent(ctx context.Context, e *storage.SecurityEvent) (err error) {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return err
	}
	e.ID, err = t.id(ctx, `INSERT INTO security_events (at_ms, kind, staff_id, detail) VALUES ($1, $2, $3, $4) RETURNING id`,
		ms(e.At), e.Kind, e.StaffID, detail)
	return err
}

func (t *tx) SecurityEvents(ctx context.Context, afterID int64, limit int) ([]storage.SecurityEvent, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.SecurityEvent, error) {
		var e storage.SecurityEvent
		var at int64
		var detail []byte
		if err := r.Scan(&e.ID, &at, &e.Kind, &e.StaffID, &detail); err != nil {
			return e, err
		}
		e.At = t.at(at)
		return e, json.Unmarshal(detail, &e.Detail)
	}, `SELECT id, at_ms, kind, staff_id, detail FROM security_events WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
}

func (t *tx) SetStaffScope(ctx context.Context, staffID, doctorID, campusID, departmentID int64) error {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT set_staff_scope($1, $2, $3, $4)`, staffID, doctorID, campusID, departmentID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.NotFound, "staff member not found")
	}
	return nil
}
