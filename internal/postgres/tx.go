package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

// tx implements storage.Tx on one PostgreSQL transaction.
type tx struct {
	tx  *boundedTx
	loc *time.Location
}

// boundedTx is a transaction whose lock waits, all together, end within the
// lock timeout of its start, plus a small margin. PostgreSQL's lock_timeout
// bounds each wait alone, so a write that waits for an advisory lock, gets
// it just in time, and then waits for a row or table lock could wait twice
// the timeout; more locks, more times. Measuring from the transaction's
// start, before each statement the session's lock_timeout is lowered to
// what is left: a transaction that never waits costs nothing, and one past
// its deadline still gets lockWaitFloor per wait, so a long but unblocked
// transaction (seeding the demo, a large draw) does not fail.
type boundedTx struct {
	pgx.Tx
	deadline time.Time
	// floor is the least lock_timeout a statement is given, and how far the
	// setting may lag behind the time left before it is lowered again: the
	// margin over the lock timeout is at most twice this.
	floor   time.Duration
	current time.Duration // the session's lock_timeout now
}

func newBoundedTx(t pgx.Tx, lockTimeout time.Duration) *boundedTx {
	return &boundedTx{Tx: t, deadline: time.Now().Add(lockTimeout), current: lockTimeout,
		floor: min(max(lockTimeout/16, 10*time.Millisecond), 100*time.Millisecond)}
}

// nested wraps a savepoint of b with what is left of b's budget.
func (b *boundedTx) nested(t pgx.Tx) *boundedTx {
	return &boundedTx{Tx: t, deadline: b.deadline, floor: b.floor, current: b.current}
}

// bound lowers lock_timeout for the rest of the transaction when the time
// left before the deadline has fallen a floor below it.
func (b *boundedTx) bound(ctx context.Context) error {
	left := max(time.Until(b.deadline), b.floor)
	if b.current-left < b.floor {
		return nil
	}
	if _, err := b.Tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, strconv.FormatInt(left.Milliseconds(), 10)); err != nil {
		return fmt.Errorf("bound the lock wait: %w", err)
	}
	b.current = left
	return nil
}

func (b *boundedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := b.bound(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return b.Tx.Exec(ctx, sql, args...)
}

func (b *boundedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := b.bound(ctx); err != nil {
		return nil, err
	}
	return b.Tx.Query(ctx, sql, args...)
}

func (b *boundedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := b.bound(ctx); err != nil {
		return errRow{err}
	}
	return b.Tx.QueryRow(ctx, sql, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *tx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// id runs an INSERT ... RETURNING id.
func (t *tx) id(ctx context.Context, q string, args ...any) (id int64, err error) {
	return id, t.tx.QueryRow(ctx, q, args...).Scan(&id)
}

// lock takes a transaction-scoped advisory lock: the PostgreSQL stand-in for
// SQLite's single writer, per patient, account or session. It goes through
// the owner's function: the online role may not call the advisory lock
// functions itself, so it can hold none beyond its transaction.
func (t *tx) lock(ctx context.Context, class, id int64) error {
	_, err := t.tx.Exec(ctx, `SELECT fairslot.xact_lock($1)`, lockKey(class, id))
	return err
}

// one scans a single row, turning "no rows" into a NotFound naming what.
func one(row pgx.Row, what string, dest ...any) error {
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return fairslot.Errorf(fairslot.NotFound, "%s not found", what)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

func all[T any](ctx context.Context, t *tx, scan func(pgx.Rows) (T, error), q string, args ...any) ([]T, error) {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func (t *tx) at(ms int64) time.Time { return time.UnixMilli(ms).In(t.loc) }

func (t *tx) atNull(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return t.at(*ms)
}

func nullIf[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// The catalogue.

func (t *tx) CreateHospital(ctx context.Context, h *fairslot.Hospital) (err error) {
	h.ID, err = t.id(ctx, `INSERT INTO hospitals (name) VALUES ($1) RETURNING id`, h.Name)
	return err
}

func (t *tx) CreateCampus(ctx context.Context, c *fairslot.Campus) (err error) {
	c.ID, err = t.id(ctx, `INSERT INTO campuses (hospital_id, name) VALUES ($1, $2) RETURNING id`, c.HospitalID, c.Name)
	return err
}

func (t *tx) CreateDepartment(ctx context.Context, d *fairslot.Department) (err error) {
	d.ID, err = t.id(ctx, `INSERT INTO departments (campus_id, code, name) VALUES ($1, $2, $3) RETURNING id`, d.CampusID, d.Code, d.Name)
	if isUnique(err, "departments_code_key") {
		return fairslot.Errorf(fairslot.Conflict, "department code %q exists", d.Code)
	}
	return err
}

func (t *tx) CreateDoctor(ctx context.Context, d *fairslot.Doctor) (err error) {
	d.ID, err = t.id(ctx, `INSERT INTO doctors (department_id, name, title) VALUES ($1, $2, $3) RETURNING id`, d.DepartmentID, d.Name, string(d.Title))
	return err
}

func (t *tx) CreateSession(ctx context.Context, s *fairslot.Session, slots []fairslot.Slot) (err error) {
	s.ID, err = t.id(ctx, `INSERT INTO sessions (doctor_id, department_id, date, period, start_ms, end_ms, room, fee_cents)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, s.DoctorID, s.DepartmentID, s.Date, string(s.Period), ms(s.Start), ms(s.End), s.Room, s.FeeCents)
	if isUnique(err, "sessions_doctor_id_date_period_key") {
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
		slots[i].ID, err = t.id(ctx, `INSERT INTO slots (session_id, number, start_ms, end_ms, quota) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			s.ID, slots[i].Number, ms(slots[i].Start), ms(slots[i].End), string(slots[i].Quota))
		if err != nil {
			return fmt.Errorf("slot %d: %w", slots[i].Number, err)
		}
	}
	return nil
}

func (t *tx) Hospitals(ctx context.Context) ([]fairslot.Hospital, error) {
	return all(ctx, t, func(r pgx.Rows) (h fairslot.Hospital, err error) {
		return h, r.Scan(&h.ID, &h.Name)
	}, `SELECT id, name FROM hospitals ORDER BY id`)
}

func (t *tx) Campuses(ctx context.Context) ([]fairslot.Campus, error) {
	return all(ctx, t, func(r pgx.Rows) (c fairslot.Campus, err error) {
		return c, r.Scan(&c.ID, &c.HospitalID, &c.Name)
	}, `SELECT id, hospital_id, name FROM campuses ORDER BY id`)
}

func (t *tx) Departments(ctx context.Context) ([]fairslot.Department, error) {
	return all(ctx, t, func(r pgx.Rows) (d fairslot.Department, err error) {
		return d, r.Scan(&d.ID, &d.CampusID, &d.Code, &d.Name)
	}, `SELECT id, campus_id, code, name FROM departments ORDER BY id`)
}

func (t *tx) Department(ctx context.Context, id int64) (fairslot.Department, error) {
	var d fairslot.Department
	return d, one(t.tx.QueryRow(ctx, `SELECT id, campus_id, code, name FROM departments WHERE id = $1`, id),
		"department", &d.ID, &d.CampusID, &d.Code, &d.Name)
}

func scanDoctor(r pgx.Row) (d fairslot.Doctor, err error) {
	var title string
	err = r.Scan(&d.ID, &d.DepartmentID, &d.Name, &title, &d.Retired)
	d.Title = fairslot.Title(title)
	return d, err
}

func (t *tx) Doctors(ctx context.Context, departmentID int64) ([]fairslot.Doctor, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.Doctor, error) { return scanDoctor(r) },
		`SELECT id, department_id, name, title, retired FROM doctors WHERE department_id = $1 ORDER BY id`, departmentID)
}

func (t *tx) Doctor(ctx context.Context, id int64) (fairslot.Doctor, error) {
	d, err := scanDoctor(t.tx.QueryRow(ctx, `SELECT id, department_id, name, title, retired FROM doctors WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fairslot.Errorf(fairslot.NotFound, "doctor not found")
	}
	return d, err
}

const sessionColumns = `id, doctor_id, department_id, date, period, start_ms, end_ms, room, fee_cents,
	(SELECT c.at_ms FROM session_cancellations c WHERE c.session_id = sessions.id)`

func (t *tx) scanSession(r pgx.Row) (fairslot.Session, error) {
	var s fairslot.Session
	var period string
	var start, end int64
	var cancelled *int64
	err := r.Scan(&s.ID, &s.DoctorID, &s.DepartmentID, &s.Date, &period, &start, &end, &s.Room, &s.FeeCents, &cancelled)
	s.Period, s.Start, s.End, s.CancelledAt = fairslot.Period(period), t.at(start), t.at(end), t.atNull(cancelled)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fairslot.Errorf(fairslot.NotFound, "session not found")
	}
	return s, err
}

func (t *tx) Sessions(ctx context.Context, f storage.SessionFilter) ([]fairslot.Session, error) {
	to := f.To
	if to == "" {
		to = "9999-12-31"
	}
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	return all(ctx, t, func(r pgx.Rows) (fairslot.Session, error) { return t.scanSession(r) },
		`SELECT `+sessionColumns+` FROM sessions
		WHERE ($1 = 0 OR doctor_id = $1) AND ($2 = 0 OR department_id = $2) AND date >= $3 AND date <= $4
		AND ($5 = 0 OR department_id IN (SELECT id FROM departments WHERE campus_id = $5))
		ORDER BY date, start_ms, id LIMIT $6 OFFSET $7`, f.DoctorID, f.DepartmentID, f.From, to, f.CampusID, limit, max(f.Offset, 0))
}

func (t *tx) Session(ctx context.Context, id int64) (fairslot.Session, error) {
	return t.scanSession(t.tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
}

const slotColumns = `sl.id, sl.session_id, sl.number, sl.start_ms, sl.end_ms, sl.quota`

func (t *tx) scanSlot(row pgx.Row, what string) (fairslot.Slot, error) {
	var s fairslot.Slot
	var start, end int64
	var quota string
	err := one(row, what, &s.ID, &s.SessionID, &s.Number, &start, &end, &quota)
	s.Start, s.End, s.Quota = t.at(start), t.at(end), fairslot.Quota(quota)
	return s, err
}

func (t *tx) Slot(ctx context.Context, id int64) (fairslot.Slot, error) {
	return t.scanSlot(t.tx.QueryRow(ctx, `SELECT `+slotColumns+` FROM slots sl WHERE sl.id = $1`, id), "slot")
}

// taken is the condition "a booking keeps slot sl" as of $now; a lapsed
// hold does not, even before the sweeper has expired it.
func taken(now string) string {
	return `EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id
		AND b.status NOT IN ('cancelled', 'expired')
		AND NOT (b.status = 'held' AND b.held_until_ms <= ` + now + `))`
}

// embargoed is the condition "slot sl is kept out of first-come booking" as
// of $now.
func embargoed(now string) string {
	return `EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = sl.id AND e.until_ms > ` + now + `)`
}

// Windows counts as remaining only what first-come booking can take:
// general slots, not taken, not embargoed.
func (t *tx) Windows(ctx context.Context, sessionID int64, now time.Time) ([]fairslot.Window, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.Window, error) {
		var w fairslot.Window
		var start, end int64
		err := r.Scan(&start, &end, &w.Capacity, &w.Remaining)
		w.Start, w.End = t.at(start), t.at(end)
		return w, err
	}, `SELECT sl.start_ms, sl.end_ms, count(*)::int,
		sum(CASE WHEN sl.end_ms <= $1 OR sl.quota <> 'general' OR `+taken("$1")+` OR `+embargoed("$1")+` THEN 0 ELSE 1 END)::int
		FROM slots sl WHERE sl.session_id = $2 GROUP BY sl.start_ms, sl.end_ms ORDER BY sl.start_ms`, ms(now), sessionID)
}

// FreeSlot serializes slot choice per session until the transaction ends,
// so concurrent bookers never pick the same slot and fail.
func (t *tx) FreeSlot(ctx context.Context, q storage.SlotQuery) (fairslot.Slot, error) {
	if err := t.lock(ctx, lockSession, q.SessionID); err != nil {
		return fairslot.Slot{}, err
	}
	var ws *int64
	if !q.WindowStart.IsZero() {
		v := ms(q.WindowStart)
		ws = &v
	}
	s, err := t.scanSlot(t.tx.QueryRow(ctx, `SELECT `+slotColumns+` FROM slots sl
		WHERE sl.session_id = $1 AND ($2::bigint IS NULL OR sl.start_ms = $2) AND sl.end_ms > $3 AND NOT `+taken("$3")+`
		AND sl.quota = $4 AND ($5 OR NOT `+embargoed("$3")+`)
		ORDER BY sl.number LIMIT 1`, q.SessionID, ws, ms(q.Now), string(q.Wanted()), q.Embargoed), "free slot")
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return s, fairslot.E(fairslot.Conflict, "error.booking.full", "no free place is left in this session or time window")
	}
	return s, err
}

func (t *tx) EmbargoSlot(ctx context.Context, slotID int64, until time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO slot_embargoes (slot_id, until_ms) VALUES ($1, $2)`, slotID, ms(until))
	return err
}

// AddSlot numbers the new slot under the session's lock.
func (t *tx) AddSlot(ctx context.Context, s *fairslot.Slot) error {
	if err := t.lock(ctx, lockSession, s.SessionID); err != nil {
		return err
	}
	err := t.tx.QueryRow(ctx, `INSERT INTO slots (session_id, number, start_ms, end_ms, quota)
		SELECT $1, coalesce(max(number), 0) + 1, $2, $3, $4 FROM slots WHERE session_id = $1 RETURNING id, number`,
		s.SessionID, ms(s.Start), ms(s.End), string(s.Quota)).Scan(&s.ID, &s.Number)
	switch {
	case isCancelled(err):
		return storage.ErrSessionCancelled
	case windowRefused(err):
		return storage.ErrWindowRefused
	}
	return err
}

// CancelSession holds the session's lock until the transaction ends: a
// claim racing it (the triggers of migration 0023 take the same lock) waits
// and then sees the cancellation, or came first and is cancelled with the
// rest by the caller.
func (t *tx) CancelSession(ctx context.Context, c storage.SessionCancellation) error {
	if err := t.lock(ctx, lockSession, c.SessionID); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO session_cancellations (session_id, at_ms, staff_id, reason) VALUES ($1, $2, $3, $4)`,
		c.SessionID, ms(c.At), nullIf(c.StaffID), c.Reason)
	if isUnique(err, "session_cancellations_pkey") {
		return storage.ErrSessionCancelled
	}
	return err
}

// Audit and settings.

func (t *tx) AppendAudit(ctx context.Context, e *audit.Event) error {
	e.At = e.At.Truncate(time.Millisecond)
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return err
		}
	}
	seq, err := t.id(ctx, `INSERT INTO audit_events (at_ms, actor, action, subject, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
		ms(e.At), e.Actor, e.Action, e.Subject, string(detail), e.RequestID)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	e.Seq = seq
	return nil
}

func (t *tx) AuditEvents(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error) {
	return all(ctx, t, t.scanAudit, `SELECT seq, at_ms, actor, action, subject, detail, request_id FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit)
}

func (t *tx) scanAudit(r pgx.Rows) (audit.Event, error) {
	var e audit.Event
	var at int64
	var detail string
	if err := r.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &detail, &e.RequestID); err != nil {
		return e, err
	}
	e.At = t.at(at)
	if detail != "{}" {
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return e, err
		}
	}
	return e, nil
}

// fhirTrail is the FHIR audit trail's predicate (storage.AuditQuery).
const fhirTrail = `(action = 'fhir.call' OR actor LIKE 'fhir-client:%' OR subject LIKE 'fhir-client:%')`

func (t *tx) FHIRAudit(ctx context.Context, q storage.AuditQuery) ([]audit.Event, int, error) {
	where := []string{fhirTrail}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if q.Seq != 0 {
		where = append(where, `seq = `+arg(q.Seq))
	}
	if !q.From.IsZero() {
		where = append(where, `at_ms >= `+arg(ms(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, `at_ms < `+arg(ms(q.To)))
	}
	if len(q.Actors) > 0 {
		where = append(where, `actor = ANY(`+arg(q.Actors)+`)`)
	}
	if len(q.Subjects) > 0 {
		where = append(where, `subject = ANY(`+arg(q.Subjects)+`)`)
	}
	if len(q.Operations) > 0 {
		where = append(where, `action = 'fhir.call'`, `(detail::jsonb ->> 'operation') = ANY(`+arg(q.Operations)+`)`)
	}
	cond := strings.Join(where, ` AND `)
	var total int
	if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit events: %w", err)
	}
	page := ` ORDER BY seq OFFSET ` + arg(q.Offset)
	if q.Limit > 0 {
		page += ` LIMIT ` + arg(q.Limit)
	}
	evs, err := all(ctx, t, t.scanAudit, `SELECT seq, at_ms, actor, action, subject, detail, request_id FROM audit_events WHERE `+cond+page, args...)
	return evs, total, err
}

func (t *tx) Setting(ctx context.Context, key string) (string, error) {
	var v string
	return v, one(t.tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key), "setting", &v)
}

func (t *tx) PutSetting(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, `SELECT put_setting($1, $2)`, key, value)
	return err
}

// columns qualifies a column list with a table alias ("b.") or not ("").
func columns(alias, list string) string { return strings.NewReplacer("@", alias).Replace(list) }
