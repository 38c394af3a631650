package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const accessColumns = `id, ref, at_ms, staff_id, role, coalesce(patient_id, 0), coalesce(session_id, 0), kind, field, reason, note_sealed, place, subject, coalesce(once_key, '')`

func (t *tx) scanAccess(r *sql.Rows) (storage.AccessRecord, error) {
	var a storage.AccessRecord
	var at int64
	err := r.Scan(&a.ID, &a.Ref, &at, &a.StaffID, &a.Role, &a.PatientID, &a.SessionID, &a.Kind, &a.Field, &a.Reason, &a.NoteSealed,
		&a.Place, &a.Subject, &a.Key)
	a.At = t.at(at)
	return a, err
}

func (t *tx) AppendAccess(ctx context.Context, a *storage.AccessRecord) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO access_log (ref, at_ms, staff_id, role, patient_id, session_id, kind, field, reason, note_sealed, place, subject, once_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (once_key) DO NOTHING`,
		a.Ref, ms(a.At), a.StaffID, a.Role, nullIf(a.PatientID), nullIf(a.SessionID), a.Kind, a.Field, a.Reason, a.NoteSealed,
		a.Place, a.Subject, nullIf(a.Key))
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	a.ID, err = res.LastInsertId()
	return err == nil, err
}

func (t *tx) AccessKeysSeen(ctx context.Context, keys []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	if len(keys) == 0 {
		return seen, nil
	}
	got, err := all(ctx, t, func(r *sql.Rows) (k string, err error) { return k, r.Scan(&k) },
		`SELECT once_key FROM access_log WHERE once_key IN (SELECT value FROM json_each(?))`, string(mustJSON(keys)))
	for _, k := range got {
		seen[k] = true
	}
	return seen, err
}

func (t *tx) AccessesOfPatient(ctx context.Context, patientID int64, limit int) ([]storage.AccessRecord, error) {
	return all(ctx, t, t.scanAccess, `SELECT `+accessColumns+` FROM access_log WHERE patient_id = ? ORDER BY at_ms DESC, id DESC LIMIT ?`,
		patientID, limit)
}

func (t *tx) CountedAccesses(ctx context.Context, staffID int64, kinds []string, since time.Time) ([]storage.AccessRecord, error) {
	return all(ctx, t, t.scanAccess, `SELECT `+accessColumns+` FROM access_log
		WHERE staff_id = ? AND at_ms >= ? AND kind IN (SELECT value FROM json_each(?)) ORDER BY at_ms, id`,
		staffID, ms(since), string(mustJSON(kinds)))
}

func (t *tx) LockStaffAccess(ctx context.Context, staffID int64, at time.Time) error {
	_, err := t.exec(ctx, `UPDATE staff SET access_locked_ms = ? WHERE id = ? AND access_locked_ms IS NULL`, ms(at), staffID)
	return err
}

func (t *tx) UnlockStaffAccess(ctx context.Context, staffID int64) error {
	_, err := t.exec(ctx, `UPDATE staff SET access_locked_ms = NULL WHERE id = ?`, staffID)
	return err
}

func (t *tx) StaffAccessLocked(ctx context.Context, staffID int64) (time.Time, error) {
	var at sql.NullInt64
	err := one(t.queryRow(ctx, `SELECT access_locked_ms FROM staff WHERE id = ?`, staffID), "staff member", &at)
	return t.atNull(at), err
}

func (t *tx) AppendSecurityEvent(ctx context.Context, e *storage.SecurityEvent) (err error) {
	e.ID, err = t.insert(ctx, `INSERT INTO security_events (at_ms, kind, staff_id, detail) VALUES (?, ?, ?, ?)`,
		ms(e.At), e.Kind, e.StaffID, string(mustJSON(e.Detail)))
	return err
}

func (t *tx) SecurityEvents(ctx context.Context, afterID int64, limit int) ([]storage.SecurityEvent, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.SecurityEvent, error) {
		var e storage.SecurityEvent
		var at int64
		var detail string
		if err := r.Scan(&e.ID, &at, &e.Kind, &e.StaffID, &detail); err != nil {
			return e, err
		}
		e.At = t.at(at)
		return e, unmarshalJSON(detail, &e.Detail)
	}, `SELECT id, at_ms, kind, staff_id, detail FROM security_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

func (t *tx) SetStaffScope(ctx context.Context, staffID, doctorID, campusID, departmentID int64) error {
	res, err := t.exec(ctx, `UPDATE staff SET doctor_id = ?, campus_id = ?, department_id = ? WHERE id = ?`,
		nullIf(doctorID), nullIf(campusID), nullIf(departmentID), staffID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return firstNonNil(err, fairslot.Errorf(fairslot.NotFound, "staff member not found"))
	}
	return nil
}

func firstNonNil(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
