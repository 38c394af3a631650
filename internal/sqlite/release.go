package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) InsertRelease(ctx context.Context, r fairslot.Release, seedSealed []byte) error {
	var closes any
	if !r.EntryCloses.IsZero() {
		closes = ms(r.EntryCloses)
	}
	_, err := t.exec(ctx, `INSERT INTO releases (session_id, mode, opens_ms, entry_closes_ms, commitment, seed_sealed)
		VALUES (?, ?, ?, ?, ?, ?)`, r.SessionID, r.Mode, ms(r.Opens), closes, r.Commitment, seedSealed)
	if isUnique(err, "releases.session_id") || isUnique(err, "PRIMARY KEY") {
		return fairslot.Errorf(fairslot.Conflict, "the session's release is already planned")
	}
	return err
}

func (t *tx) Release(ctx context.Context, sessionID int64) (fairslot.Release, error) {
	r := fairslot.Release{SessionID: sessionID}
	var opens int64
	var closes, drawn sql.NullInt64
	err := one(t.queryRow(ctx, `SELECT r.mode, r.opens_ms, r.entry_closes_ms, r.commitment, d.drawn_ms
		FROM releases r LEFT JOIN draw_runs d ON d.session_id = r.session_id WHERE r.session_id = ?`, sessionID),
		"release", &r.Mode, &opens, &closes, &r.Commitment, &drawn)
	r.Opens, r.EntryCloses, r.Drawn = t.at(opens), t.atNull(closes), t.atNull(drawn)
	return r, err
}

func (t *tx) ReleaseSeed(ctx context.Context, sessionID int64) ([]byte, error) {
	var seed []byte
	err := one(t.queryRow(ctx, `SELECT seed_sealed FROM releases WHERE session_id = ? AND seed_sealed IS NOT NULL`, sessionID), "draw seed", &seed)
	return seed, err
}

func (t *tx) DueDraws(ctx context.Context, now time.Time) ([]int64, error) {
	return t.ids(ctx, `SELECT r.session_id FROM releases r WHERE r.mode = 'draw' AND r.entry_closes_ms <= ?
		AND NOT EXISTS (SELECT 1 FROM draw_runs d WHERE d.session_id = r.session_id)
		AND NOT EXISTS (SELECT 1 FROM session_cancellations c WHERE c.session_id = r.session_id)
		ORDER BY r.entry_closes_ms, r.session_id`, ms(now))
}

func (t *tx) InsertEntry(ctx context.Context, e *fairslot.Entry, day string, max int) error {
	res, err := t.exec(ctx, `INSERT INTO draw_entries (session_id, patient_id, account_id, release_day, hash, created_ms, held)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM draw_entries WHERE account_id = ? AND release_day = ?) < ?`,
		e.SessionID, e.PatientID, e.AccountID, day, e.Hash, ms(e.CreatedAt), e.Held, e.AccountID, day, max)
	switch {
	case isUnique(err, "draw_entries.session_id"):
		return fairslot.Errorf(fairslot.Conflict, "this patient has already entered this draw")
	case isCancelled(err):
		return storage.ErrSessionCancelled
	case err != nil:
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.Errorf(fairslot.Limited, "this account has made its %d draw entries for this release day", max)
	}
	e.ID, err = res.LastInsertId()
	return err
}

const entryColumns = `e.id, e.session_id, e.patient_id, e.account_id, e.hash, e.created_ms, e.held,
	coalesce(r.rank, 0), coalesce(r.outcome, ''), coalesce(r.reason, ''), coalesce(r.booking_id, 0)`

func (t *tx) entries(ctx context.Context, where string, args ...any) ([]fairslot.Entry, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Entry, error) {
		var e fairslot.Entry
		var created int64
		err := r.Scan(&e.ID, &e.SessionID, &e.PatientID, &e.AccountID, &e.Hash, &created, &e.Held, &e.Rank, &e.Outcome, &e.Reason, &e.BookingID)
		e.CreatedAt = t.at(created)
		return e, err
	}, `SELECT `+entryColumns+` FROM draw_entries e LEFT JOIN draw_results r ON r.entry_id = e.id WHERE `+where, args...)
}

func (t *tx) Entries(ctx context.Context, sessionID int64) ([]fairslot.Entry, error) {
	return t.entries(ctx, `e.session_id = ? ORDER BY e.id`, sessionID)
}

func (t *tx) EntriesOf(ctx context.Context, accountID int64) ([]fairslot.Entry, error) {
	return t.entries(ctx, `e.account_id = ? ORDER BY e.id DESC LIMIT 200`, accountID)
}

func (t *tx) EntryCount(ctx context.Context, sessionID int64) (n int, err error) {
	return n, t.queryRow(ctx, `SELECT count(*) FROM draw_entries WHERE session_id = ?`, sessionID).Scan(&n)
}

func (t *tx) FinishDraw(ctx context.Context, sessionID int64, at time.Time, record []byte, results []fairslot.Entry) error {
	_, err := t.exec(ctx, `INSERT INTO draw_runs (session_id, drawn_ms, record) VALUES (?, ?, ?)`, sessionID, ms(at), string(record))
	if isUnique(err, "draw_runs.session_id") || isUnique(err, "PRIMARY KEY") {
		return fairslot.Errorf(fairslot.Conflict, "this session's draw has already run")
	}
	if err != nil {
		return err
	}
	for _, e := range results {
		if _, err := t.exec(ctx, `INSERT INTO draw_results (entry_id, rank, outcome, reason, booking_id) VALUES (?, ?, ?, ?, ?)`,
			e.ID, e.Rank, e.Outcome, e.Reason, nullIf(e.BookingID)); err != nil {
			return fmt.Errorf("draw result of entry %d: %w", e.ID, err)
		}
	}
	return nil
}

func (t *tx) DrawRecord(ctx context.Context, sessionID int64) ([]byte, error) {
	var rec string
	err := one(t.queryRow(ctx, `SELECT record FROM draw_runs WHERE session_id = ?`, sessionID), "draw record", &rec)
	return []byte(rec), err
}

func (t *tx) JoinWaitlist(ctx context.Context, w *fairslot.WaitlistEntry) (err error) {
	w.ID, err = t.insert(ctx, `INSERT INTO waitlist (session_id, doctor_id, date, patient_id, account_id, created_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		nullIf(w.SessionID), w.DoctorID, w.Date, w.PatientID, w.AccountID, ms(w.CreatedAt))
	if isUnique(err, "waitlist.patient_id") {
		return fairslot.Errorf(fairslot.Conflict, "this patient is already on this doctor's waitlist for %s", w.Date)
	}
	if isCancelled(err) {
		return storage.ErrSessionCancelled
	}
	return err
}

const waitlistColumns = `id, coalesce(session_id, 0), doctor_id, date, patient_id, account_id, created_ms, closed_ms,
	coalesce(outcome, ''), coalesce(booking_id, 0)`

func (t *tx) scanWaitlist(r interface{ Scan(...any) error }) (fairslot.WaitlistEntry, error) {
	var w fairslot.WaitlistEntry
	var created int64
	var closed sql.NullInt64
	err := r.Scan(&w.ID, &w.SessionID, &w.DoctorID, &w.Date, &w.PatientID, &w.AccountID, &created, &closed, &w.Outcome, &w.BookingID)
	w.CreatedAt, w.ClosedAt = t.at(created), t.atNull(closed)
	return w, err
}

func (t *tx) WaitlistEntry(ctx context.Context, id int64) (fairslot.WaitlistEntry, error) {
	w, err := t.scanWaitlist(t.queryRow(ctx, `SELECT `+waitlistColumns+` FROM waitlist WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return w, fairslot.Errorf(fairslot.NotFound, "waitlist entry not found")
	}
	return w, err
}

func (t *tx) Waitlist(ctx context.Context, doctorID int64, date string) ([]fairslot.WaitlistEntry, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.WaitlistEntry, error) { return t.scanWaitlist(r) },
		`SELECT `+waitlistColumns+` FROM waitlist WHERE doctor_id = ? AND date = ? AND closed_ms IS NULL ORDER BY id`, doctorID, date)
}

func (t *tx) WaitlistOf(ctx context.Context, accountID int64) ([]fairslot.WaitlistEntry, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.WaitlistEntry, error) { return t.scanWaitlist(r) },
		`SELECT `+waitlistColumns+` FROM waitlist WHERE account_id = ? ORDER BY id DESC LIMIT 200`, accountID)
}

func (t *tx) CloseWaitlist(ctx context.Context, id int64, at time.Time, outcome string, bookingID int64) error {
	res, err := t.exec(ctx, `UPDATE waitlist SET closed_ms = ?, outcome = ?, booking_id = ? WHERE id = ? AND closed_ms IS NULL`,
		ms(at), outcome, nullIf(bookingID), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the waitlist entry is already closed")
	}
	return nil
}

func (t *tx) InsertCancellation(ctx context.Context, sessionID int64, c release.Cancellation) error {
	_, err := t.exec(ctx, `INSERT INTO cancellations (session_id, account_id, device, addr, at_ms) VALUES (?, ?, ?, ?, ?)`,
		sessionID, c.AccountID, c.Device, c.Addr, ms(c.At))
	return err
}

func (t *tx) Cancellations(ctx context.Context, sessionID int64, since time.Time) ([]release.Cancellation, error) {
	return all(ctx, t, func(r *sql.Rows) (release.Cancellation, error) {
		var c release.Cancellation
		var at int64
		err := r.Scan(&c.AccountID, &c.Device, &c.Addr, &at)
		c.At = t.at(at)
		return c, err
	}, `SELECT account_id, device, addr, at_ms FROM cancellations WHERE session_id = ? AND at_ms >= ? ORDER BY id`, sessionID, ms(since))
}

func (t *tx) AppendRisk(ctx context.Context, r *storage.RiskEvent) (err error) {
	r.ID, err = t.insert(ctx, `INSERT INTO risk_events (at_ms, kind, account_id, session_id, detail) VALUES (?, ?, ?, ?, ?)`,
		ms(r.At), r.Kind, r.AccountID, r.SessionID, string(mustJSON(r.Detail)))
	return err
}

func (t *tx) RiskEvents(ctx context.Context, afterID int64, limit int) ([]storage.RiskEvent, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.RiskEvent, error) {
		var e storage.RiskEvent
		var at int64
		var detail string
		if err := r.Scan(&e.ID, &at, &e.Kind, &e.AccountID, &e.SessionID, &detail); err != nil {
			return e, err
		}
		e.At = t.at(at)
		return e, unmarshalJSON(detail, &e.Detail)
	}, `SELECT id, at_ms, kind, account_id, session_id, detail FROM risk_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

func (t *tx) RiskCount(ctx context.Context, accountID int64, since time.Time) (n int, err error) {
	return n, t.queryRow(ctx, `SELECT count(*) FROM risk_events WHERE account_id = ? AND at_ms >= ?`, accountID, ms(since)).Scan(&n)
}

func (t *tx) InsertCall(ctx context.Context, sessionID, bookingID int64, priority bool, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO calls (session_id, booking_id, priority, at_ms) VALUES (?, ?, ?, ?)`, sessionID, bookingID, priority, ms(at))
	return err
}

func (t *tx) RecentCalls(ctx context.Context, sessionID int64, n int) ([]bool, error) {
	return all(ctx, t, func(r *sql.Rows) (p bool, err error) { return p, r.Scan(&p) },
		`SELECT priority FROM (SELECT id, priority FROM calls WHERE session_id = ? AND NOT recall ORDER BY id DESC LIMIT ?) ORDER BY id`, sessionID, n)
}

func (t *tx) InsertRecall(ctx context.Context, sessionID, bookingID int64, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO calls (session_id, booking_id, priority, at_ms, recall) VALUES (?, ?, false, ?, true)`, sessionID, bookingID, ms(at))
	return err
}

// Savepoint nests by depth, so the names repeat and the statements stay
// off the prepared-statement cache.
func (t *tx) Savepoint(ctx context.Context, fn func() error) error {
	t.depth++
	defer func() { t.depth-- }()
	name := fmt.Sprintf("try_%d", t.depth)
	ctx = t.context(ctx)
	if _, err := t.tx.ExecContext(ctx, `SAVEPOINT `+name); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := t.tx.ExecContext(ctx, `ROLLBACK TO `+name); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint: %v)", err, rerr)
		}
		if _, rerr := t.tx.ExecContext(ctx, `RELEASE `+name); rerr != nil {
			return fmt.Errorf("%w (and releasing the savepoint: %v)", err, rerr)
		}
		return err
	}
	_, err := t.tx.ExecContext(ctx, `RELEASE `+name)
	return err
}
