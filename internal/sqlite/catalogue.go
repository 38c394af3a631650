package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) CreateHospital(ctx context.Context, h *fairslot.Hospital) (err error) {
	h.ID, err = t.insert(ctx, `INSERT INTO hospitals (name) VALUES (?)`, h.Name)
	return err
}

func (t *tx) CreateCampus(ctx context.Context, c *fairslot.Campus) (err error) {
	c.ID, err = t.insert(ctx, `INSERT INTO campuses (hospital_id, name) VALUES (?, ?)`, c.HospitalID, c.Name)
	return err
}

func (t *tx) CreateDepartment(ctx context.Context, d *fairslot.Department) (err error) {
	d.ID, err = t.insert(ctx, `INSERT INTO departments (campus_id, code, name) VALUES (?, ?, ?)`, d.CampusID, d.Code, d.Name)
	if isUnique(err, "departments.code") {
		return fairslot.Errorf(fairslot.Conflict, "department code %q exists", d.Code)
	}
	return err
}

func (t *tx) CreateDoctor(ctx context.Context, d *fairslot.Doctor) (err error) {
	d.ID, err = t.insert(ctx, `INSERT INTO doctors (department_id, name, title) VALUES (?, ?, ?)`, d.DepartmentID, d.Name, d.Title)
	return err
}

func (t *tx) CreateSession(ctx context.Context, s *fairslot.Session, slots []fairslot.Slot) (err error) {
	s.ID, err = t.insert(ctx, `INSERT INTO sessions (doctor_id, department_id, date, period, start_ms, end_ms, room, fee_cents)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.DoctorID, s.DepartmentID, s.Date, s.Period, ms(s.Start), ms(s.End), s.Room, s.FeeCents)
	if isUnique(err, "sessions.") {
		return fairslot.Errorf(fairslot.Conflict, "the doctor already has a %s session on %s", s.Period, s.Date)
	}
	if err != nil {
		return err
	}
	for i := range slots {
		slots[i].SessionID = s.ID
		if slots[i].Quota == "" {
			slots[i].Quota = fairslot.QuotaGeneral
		}
		slots[i].ID, err = t.insert(ctx, `INSERT INTO slots (session_id, number, start_ms, end_ms, quota) VALUES (?, ?, ?, ?, ?)`,
			s.ID, slots[i].Number, ms(slots[i].Start), ms(slots[i].End), slots[i].Quota)
		if err != nil {
			return fmt.Errorf("slot %d: %w", slots[i].Number, err)
		}
	}
	return nil
}

func (t *tx) Hospitals(ctx context.Context) ([]fairslot.Hospital, error) {
	return all(ctx, t, func(r *sql.Rows) (h fairslot.Hospital, err error) {
		return h, r.Scan(&h.ID, &h.Name)
	}, `SELECT id, name FROM hospitals ORDER BY id`)
}

func (t *tx) Campuses(ctx context.Context) ([]fairslot.Campus, error) {
	return all(ctx, t, func(r *sql.Rows) (c fairslot.Campus, err error) {
		return c, r.Scan(&c.ID, &c.HospitalID, &c.Name)
	}, `SELECT id, hospital_id, name FROM campuses ORDER BY id`)
}

func (t *tx) Departments(ctx context.Context) ([]fairslot.Department, error) {
	return all(ctx, t, func(r *sql.Rows) (d fairslot.Department, err error) {
		return d, r.Scan(&d.ID, &d.CampusID, &d.Code, &d.Name)
	}, `SELECT id, campus_id, code, name FROM departments ORDER BY id`)
}

func (t *tx) Department(ctx context.Context, id int64) (fairslot.Department, error) {
	var d fairslot.Department
	return d, one(t.queryRow(ctx, `SELECT id, campus_id, code, name FROM departments WHERE id = ?`, id),
		"department", &d.ID, &d.CampusID, &d.Code, &d.Name)
}

func scanDoctor(r interface{ Scan(...any) error }) (d fairslot.Doctor, err error) {
	return d, r.Scan(&d.ID, &d.DepartmentID, &d.Name, &d.Title, &d.Retired)
}

func (t *tx) Doctors(ctx context.Context, departmentID int64) ([]fairslot.Doctor, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Doctor, error) { return scanDoctor(r) },
		`SELECT id, department_id, name, title, retired FROM doctors WHERE department_id = ? ORDER BY id`, departmentID)
}

func (t *tx) Doctor(ctx context.Context, id int64) (fairslot.Doctor, error) {
	var d fairslot.Doctor
	return d, one(t.queryRow(ctx, `SELECT id, department_id, name, title, retired FROM doctors WHERE id = ?`, id),
		"doctor", &d.ID, &d.DepartmentID, &d.Name, &d.Title, &d.Retired)
}

func (t *tx) UpdateDoctor(ctx context.Context, d fairslot.Doctor) error {
	res, err := t.exec(ctx, `UPDATE doctors SET name = ?, title = ?, retired = ? WHERE id = ?`, d.Name, d.Title, d.Retired, d.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return cmp.Or(err, fairslot.Errorf(fairslot.NotFound, "doctor not found"))
	}
	return nil
}

func (t *tx) ReleaseRules(ctx context.Context) ([]release.Rule, error) {
	return all(ctx, t, func(r *sql.Rows) (rule release.Rule, err error) {
		var window, jitter int64
		err = r.Scan(&rule.Department, &rule.DoctorID, &rule.Mode, &window, &jitter, &rule.ReservedPriority, &rule.ReservedReferral)
		rule.Window, rule.Jitter = fairslot.Duration(time.Duration(window)*time.Millisecond), fairslot.Duration(time.Duration(jitter)*time.Millisecond)
		return rule, err
	}, `SELECT department, doctor_id, mode, window_ms, jitter_ms, reserved_priority, reserved_referral FROM release_rules r
		WHERE id = (SELECT max(id) FROM release_rules l WHERE l.department = r.department AND l.doctor_id = r.doctor_id) AND NOT cleared
		ORDER BY doctor_id, department`)
}

func (t *tx) PutReleaseRule(ctx context.Context, r release.Rule, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO release_rules (department, doctor_id, mode, window_ms, jitter_ms, reserved_priority, reserved_referral, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.Department, r.DoctorID, r.Mode, time.Duration(r.Window).Milliseconds(), time.Duration(r.Jitter).Milliseconds(),
		r.ReservedPriority, r.ReservedReferral, ms(at))
	return err
}

func (t *tx) ClearReleaseRule(ctx context.Context, department string, doctorID int64, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO release_rules (department, doctor_id, mode, window_ms, jitter_ms, reserved_priority, reserved_referral, cleared, created_ms)
		VALUES (?, ?, 'first_come', 0, 0, 0, 0, 1, ?)`, department, doctorID, ms(at))
	return err
}

const sessionColumns = `id, doctor_id, department_id, date, period, start_ms, end_ms, room, fee_cents,
	(SELECT c.at_ms FROM session_cancellations c WHERE c.session_id = sessions.id)`

func (t *tx) scanSession(r interface{ Scan(...any) error }) (fairslot.Session, error) {
	var s fairslot.Session
	var start, end int64
	var cancelled sql.NullInt64
	err := r.Scan(&s.ID, &s.DoctorID, &s.DepartmentID, &s.Date, &s.Period, &start, &end, &s.Room, &s.FeeCents, &cancelled)
	s.Start, s.End, s.CancelledAt = t.at(start), t.at(end), t.atNull(cancelled)
	return s, err
}

func (t *tx) CancelSession(ctx context.Context, c storage.SessionCancellation) error {
	_, err := t.exec(ctx, `INSERT INTO session_cancellations (session_id, at_ms, staff_id, reason) VALUES (?, ?, ?, ?)`,
		c.SessionID, ms(c.At), nullIf(c.StaffID), c.Reason)
	if isUnique(err, "session_cancellations.session_id") {
		return storage.ErrSessionCancelled
	}
	return err
}

func (t *tx) Sessions(ctx context.Context, f storage.SessionFilter) ([]fairslot.Session, error) {
	to := f.To
	if to == "" {
		to = "9999-12-31"
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1
	}
	return all(ctx, t, func(r *sql.Rows) (fairslot.Session, error) { return t.scanSession(r) },
		`SELECT `+sessionColumns+` FROM sessions
		WHERE (? = 0 OR doctor_id = ?) AND (? = 0 OR department_id = ?) AND date >= ? AND date <= ?
		AND (? = 0 OR department_id IN (SELECT id FROM departments WHERE campus_id = ?))
		ORDER BY date, start_ms, id LIMIT ? OFFSET ?`, f.DoctorID, f.DoctorID, f.DepartmentID, f.DepartmentID, f.From, to,
		f.CampusID, f.CampusID, limit, max(f.Offset, 0))
}

func (t *tx) Session(ctx context.Context, id int64) (fairslot.Session, error) {
	s, err := t.scanSession(t.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return s, fairslot.Errorf(fairslot.NotFound, "session not found")
	}
	return s, err
}

// taken is the condition "a booking keeps this slot" as of :now. A lapsed
// hold does not, even before the sweeper has expired it.
const taken = `EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id
	AND b.status NOT IN ('cancelled', 'expired')
	AND NOT (b.status = 'held' AND b.held_until_ms <= ?))`

// embargoed is the condition "this slot is kept out of first-come booking"
// as of :now.
const embargoed = `EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = sl.id AND e.until_ms > ?)`

// Windows counts as remaining only what first-come booking can take:
// general slots, not taken, not embargoed.
func (t *tx) Windows(ctx context.Context, sessionID int64, now time.Time) ([]fairslot.Window, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Window, error) {
		var w fairslot.Window
		var start, end int64
		err := r.Scan(&start, &end, &w.Capacity, &w.Remaining)
		w.Start, w.End = t.at(start), t.at(end)
		return w, err
	}, `SELECT sl.start_ms, sl.end_ms, count(*),
		sum(CASE WHEN sl.end_ms <= ? OR sl.quota <> 'general' OR `+taken+` OR `+embargoed+` THEN 0 ELSE 1 END)
		FROM slots sl WHERE sl.session_id = ? GROUP BY sl.start_ms, sl.end_ms ORDER BY sl.start_ms`, ms(now), ms(now), ms(now), sessionID)
}

func (t *tx) FreeSlot(ctx context.Context, q storage.SlotQuery) (fairslot.Slot, error) {
	var ws any
	if !q.WindowStart.IsZero() {
		ws = ms(q.WindowStart)
	}
	s, err := t.scanSlot(t.queryRow(ctx, `SELECT `+slotColumns+` FROM slots sl
		WHERE sl.session_id = ? AND (? IS NULL OR sl.start_ms = ?) AND sl.end_ms > ? AND NOT `+taken+`
		AND sl.quota = ? AND (? OR NOT `+embargoed+`)
		ORDER BY sl.number LIMIT 1`, q.SessionID, ws, ws, ms(q.Now), ms(q.Now), q.Wanted(), q.Embargoed, ms(q.Now)), "free slot")
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return s, fairslot.E(fairslot.Conflict, "error.booking.full", "no free place is left in this session or time window")
	}
	return s, err
}

const slotColumns = `sl.id, sl.session_id, sl.number, sl.start_ms, sl.end_ms, sl.quota`

func (t *tx) scanSlot(row *sql.Row, what string) (fairslot.Slot, error) {
	var s fairslot.Slot
	var start, end int64
	err := one(row, what, &s.ID, &s.SessionID, &s.Number, &start, &end, &s.Quota)
	s.Start, s.End = t.at(start), t.at(end)
	return s, err
}

func (t *tx) Slot(ctx context.Context, id int64) (fairslot.Slot, error) {
	return t.scanSlot(t.queryRow(ctx, `SELECT `+slotColumns+` FROM slots sl WHERE sl.id = ?`, id), "slot")
}

func (t *tx) EmbargoSlot(ctx context.Context, slotID int64, until time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO slot_embargoes (slot_id, until_ms) VALUES (?, ?)`, slotID, ms(until))
	return err
}

func (t *tx) AddSlot(ctx context.Context, s *fairslot.Slot) error {
	err := t.queryRow(ctx, `INSERT INTO slots (session_id, number, start_ms, end_ms, quota)
		SELECT ?, coalesce(max(number), 0) + 1, ?, ?, ? FROM slots WHERE session_id = ? RETURNING id, number`,
		s.SessionID, ms(s.Start), ms(s.End), s.Quota, s.SessionID).Scan(&s.ID, &s.Number)
	switch {
	case isCancelled(err):
		return storage.ErrSessionCancelled
	case windowRefused(err):
		return storage.ErrWindowRefused
	}
	return err
}

func (t *tx) UpdateSession(ctx context.Context, id int64, room string, feeCents int64) error {
	res, err := t.exec(ctx, `UPDATE sessions SET room = ?, fee_cents = ? WHERE id = ?`, room, feeCents, id)
	return oneUpdated(res, err, "session not found")
}

// freeSlots is the condition "nothing refers to slot sl": no booking of
// any status, no embargo, no extra slot's reason.
const freeSlots = `sl.quota = 'general'
	AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id)
	AND NOT EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = sl.id)
	AND NOT EXISTS (SELECT 1 FROM extra_slot_reasons x WHERE x.slot_id = sl.id)`

func (t *tx) RemoveFreeSlots(ctx context.Context, sessionID int64, start time.Time, n int) error {
	// The count and the delete are one statement: the places the delete
	// takes are exactly those it counted as free.
	res, err := t.exec(ctx, `DELETE FROM slots WHERE id IN (
		SELECT sl.id FROM slots sl WHERE sl.session_id = ?1 AND sl.start_ms = ?2 AND `+freeSlots+` ORDER BY sl.number DESC LIMIT ?3)
		AND (SELECT count(*) FROM slots sl WHERE sl.session_id = ?1 AND sl.start_ms = ?2 AND `+freeSlots+`) >= ?3`,
		sessionID, ms(start), n)
	if err != nil {
		return err
	}
	if got, err := res.RowsAffected(); err != nil || got != int64(n) {
		return cmp.Or(err, errFewFree)
	}
	return nil
}

var errFewFree error = fairslot.E(fairslot.Conflict, "error.places.taken", "fewer places are free in that window than you asked to remove").On("places")

func (t *tx) UpdateCampus(ctx context.Context, c fairslot.Campus) error {
	res, err := t.exec(ctx, `UPDATE campuses SET name = ? WHERE id = ?`, c.Name, c.ID)
	return oneUpdated(res, err, "campus not found")
}

func (t *tx) UpdateDepartment(ctx context.Context, d fairslot.Department) error {
	res, err := t.exec(ctx, `UPDATE departments SET campus_id = ?, code = ?, name = ? WHERE id = ?`, d.CampusID, d.Code, d.Name, d.ID)
	if isUnique(err, "departments.code") {
		return errCodeTaken(d.Code)
	}
	return oneUpdated(res, err, "department not found")
}

// oneUpdated turns an UPDATE of one row by id into nil, its error, or
// NotFound with message when no row had the id.
func oneUpdated(res sql.Result, err error, message string) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return cmp.Or(err, fairslot.Errorf(fairslot.NotFound, "%s", message))
	}
	return nil
}

func errCodeTaken(code string) error {
	return fairslot.E(fairslot.Conflict, "error.department.code_taken", "another department has the code %s", code).On("code")
}
