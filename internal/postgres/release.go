package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) InsertRelease(ctx context.Context, r fairslot.Release, seedSealed []byte) error {
	var closes *int64
	if !r.EntryCloses.IsZero() {
		v := ms(r.EntryCloses)
		closes = &v
	}
	_, err := t.exec(ctx, `INSERT INTO releases (session_id, mode, opens_ms, entry_closes_ms, commitment, seed_sealed)
		VALUES ($1, $2, $3, $4, $5, $6)`, r.SessionID, string(r.Mode), ms(r.Opens), closes, r.Commitment, seedSealed)
	if isUnique(err, "releases_pkey") {
		return fairslot.Errorf(fairslot.Conflict, "the session's release is already planned")
	}
	return err
}

func (t *tx) Release(ctx context.Context, sessionID int64) (fairslot.Release, error) {
	r := fairslot.Release{SessionID: sessionID}
	var opens int64
	var closes, drawn *int64
	var mode string
	err := one(t.tx.QueryRow(ctx, `SELECT r.mode, r.opens_ms, r.entry_closes_ms, r.commitment, d.drawn_ms
		FROM releases r LEFT JOIN draw_runs d ON d.session_id = r.session_id WHERE r.session_id = $1`, sessionID),
		"release", &mode, &opens, &closes, &r.Commitment, &drawn)
	r.Mode, r.Opens, r.EntryCloses, r.Drawn = fairslot.ReleaseMode(mode), t.at(opens), t.atNull(closes), t.atNull(drawn)
	return r, err
}

func (t *tx) ReleaseSeed(ctx context.Context, sessionID int64) ([]byte, error) {
	var seed []byte
	err := one(t.tx.QueryRow(ctx, `SELECT seed_sealed FROM releases WHERE session_id = $1 AND seed_sealed IS NOT NULL`, sessionID), "draw seed", &seed)
	return seed, err
}

func (t *tx) DueDraws(ctx context.Context, now time.Time) ([]int64, error) {
	return all(ctx, t, func(r pgx.Rows) (id int64, err error) { return id, r.Scan(&id) },
		`SELECT r.session_id FROM releases r WHERE r.mode = 'draw' AND r.entry_closes_ms <= $1
		AND NOT EXISTS (SELECT 1 FROM draw_runs d WHERE d.session_id = r.session_id)
		AND NOT EXISTS (SELECT 1 FROM session_cancellations c WHERE c.session_id = r.session_id)
		ORDER BY r.entry_closes_ms, r.session_id`, ms(now))
}

// InsertEntry serializes an account's entries, so the cap holds under
// concurrent requests.
func (t *tx) InsertEntry(ctx context.Context, e *fairslot.Entry, day string, max int) error {
	if err := t.lock(ctx, lockAccount, e.AccountID); err != nil {
		return err
	}
	err := t.tx.QueryRow(ctx, `INSERT INTO draw_entries (session_id, patient_id, account_id, release_day, hash, created_ms, held)
		SELECT $1, $2, $3, $4, $5, $6, $8 WHERE (SELECT count(*) FROM draw_entries WHERE account_id = $3 AND release_day = $4) < $7
		RETURNING id`, e.SessionID, e.PatientID, e.AccountID, day, e.Hash, ms(e.CreatedAt), max, e.Held).Scan(&e.ID)
	switch {
	case isUnique(err, "draw_entries_once"):
		return fairslot.Errorf(fairslot.Conflict, "this patient has already entered this draw")
	case errors.Is(err, pgx.ErrNoRows):
		return fairslot.Errorf(fairslot.Limited, "this account has made its %d draw entries for this release day", max)
	case isCancelled(err):
		return storage.ErrSessionCancelled
	}
	return err
}

const entryColumns = `e.id, e.session_id, e.patient_id, e.account_id, e.hash, e.created_ms, e.held,
	coalesce(r.rank, 0), coalesce(r.outcome, ''), coalesce(r.reason, ''), coalesce(r.booking_id, 0)`

func (t *tx) entries(ctx context.Context, where string, args ...any) ([]fairslot.Entry, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.Entry, error) {
		var e fairslot.Entry
		var created int64
		var outcome string
		err := r.Scan(&e.ID, &e.SessionID, &e.PatientID, &e.AccountID, &e.Hash, &created, &e.Held, &e.Rank, &outcome, &e.Reason, &e.BookingID)
		e.CreatedAt, e.Outcome = t.at(created), fairslot.Outcome(outcome)
		return e, err
	}, `SELECT `+entryColumns+` FROM draw_entries e LEFT JOIN draw_results r ON r.entry_id = e.id WHERE `+where, args...)
}

func (t *tx) Entries(ctx context.Context, sessionID int64) ([]fairslot.Entry, error) {
	return t.entries(ctx, `e.session_id = $1 ORDER BY e.id`, sessionID)
}

func (t *tx) EntriesOf(ctx context.Context, accountID int64) ([]fairslot.Entry, error) {
	return t.entries(ctx, `e.account_id = $1 ORDER BY e.id DESC LIMIT 200`, accountID)
}

func (t *tx) EntryCount(ctx context.Context, sessionID int64) (n int, err error) {
	return n, t.tx.QueryRow(ctx, `SELECT count(*) FROM draw_entries WHERE session_id = $1`, sessionID).Scan(&n)
}

func (t *tx) FinishDraw(ctx context.Context, sessionID int64, at time.Time, record []byte, results []fairslot.Entry) error {
	_, err := t.exec(ctx, `INSERT INTO draw_runs (session_id, drawn_ms, record) VALUES ($1, $2, $3)`, sessionID, ms(at), string(record))
	if isUnique(err, "draw_runs_pkey") {
		return fairslot.Errorf(fairslot.Conflict, "this session's draw has already run")
	}
	if err != nil {
		return err
	}
	ids, ranks, outcomes, reasons, bookings := make([]int64, len(results)), make([]int32, len(results)),
		make([]string, len(results)), make([]string, len(results)), make([]*int64, len(results))
	for i, e := range results {
		ids[i], ranks[i], outcomes[i], reasons[i], bookings[i] = e.ID, int32(e.Rank), string(e.Outcome), e.Reason, nullIf(e.BookingID)
	}
	_, err = t.exec(ctx, `INSERT INTO draw_results (entry_id, rank, outcome, reason, booking_id)
		SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::bigint[])`, ids, ranks, outcomes, reasons, bookings)
	if err != nil {
		return fmt.Errorf("draw results: %w", err)
	}
	return nil
}

func (t *tx) DrawRecord(ctx context.Context, sessionID int64) ([]byte, error) {
	var rec string
	err := one(t.tx.QueryRow(ctx, `SELECT record FROM draw_runs WHERE session_id = $1`, sessionID), "draw record", &rec)
	return []byte(rec), err
}

func (t *tx) JoinWaitlist(ctx context.Context, w *fairslot.WaitlistEntry) (err error) {
	w.ID, err = t.id(ctx, `INSERT INTO waitlist (session_id, doctor_id, date, patient_id, account_id, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, nullIf(w.SessionID), w.DoctorID, w.Date, w.PatientID, w.AccountID, ms(w.CreatedAt))
	if isUnique(err, "waitlist_open") {
		return fairslot.Errorf(fairslot.Conflict, "this patient is already on this doctor's waitlist for %s", w.Date)
	}
	if isCancelled(err) {
		return storage.ErrSessionCancelled
	}
	return err
}

const waitlistColumns = `id, coalesce(session_id, 0), doctor_id, date, patient_id, account_id, created_ms, closed_ms,
	coalesce(outcome, ''), coalesce(booking_id, 0)`

func (t *tx) scanWaitlist(r pgx.Row) (fairslot.WaitlistEntry, error) {
	var w fairslot.WaitlistEntry
	var created int64
	var closed *int64
	err := r.Scan(&w.ID, &w.SessionID, &w.DoctorID, &w.Date, &w.PatientID, &w.AccountID, &created, &closed, &w.Outcome, &w.BookingID)
	w.CreatedAt, w.ClosedAt = t.at(created), t.atNull(closed)
	return w, err
}

func (t *tx) WaitlistEntry(ctx context.Context, id int64) (fairslot.WaitlistEntry, error) {
	w, err := t.scanWaitlist(t.tx.QueryRow(ctx, `SELECT `+waitlistColumns+` FROM waitlist WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return w, fairslot.Errorf(fairslot.NotFound, "waitlist entry not found")
	}
	return w, err
}

func (t *tx) Waitlist(ctx context.Context, doctorID int64, date string) ([]fairslot.WaitlistEntry, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.WaitlistEntry, error) { return t.scanWaitlist(r) },
		`SELECT `+waitlistColumns+` FROM waitlist WHERE doctor_id = $1 AND date = $2 AND closed_ms IS NULL ORDER BY id`, doctorID, date)
}

func (t *tx) WaitlistOf(ctx context.Context, accountID int64) ([]fairslot.WaitlistEntry, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.WaitlistEntry, error) { return t.scanWaitlist(r) },
		`SELECT `+waitlistColumns+` FROM waitlist WHERE account_id = $1 ORDER BY id DESC LIMIT 200`, accountID)
}

func (t *tx) CloseWaitlist(ctx context.Context, id int64, at time.Time, outcome string, bookingID int64) error {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT close_waitlist($1, $2, $3, $4)`, id, ms(at), outcome, nullIf(bookingID)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the waitlist entry is already closed")
	}
	return nil
}

func (t *tx) InsertCancellation(ctx context.Context, sessionID int64, c release.Cancellation) error {
	_, err := t.exec(ctx, `INSERT INTO cancellations (session_id, account_id, device, addr, at_ms) VALUES ($1, $2, $3, $4, $5)`,
		sessionID, c.AccountID, c.Device, c.Addr, ms(c.At))
	return err
}

func (t *tx) Cancellations(ctx context.Context, sessionID int64, since time.Time) ([]release.Cancellation, error) {
	return all(ctx, t, func(r pgx.Rows) (release.Cancellation, error) {
		var c release.Cancellation
		var at int64
		err := r.Scan(&c.AccountID, &c.Device, &c.Addr, &at)
		c.At = t.at(at)
		return c, err
	}, `SELECT account_id, device, addr, at_ms FROM cancellations WHERE session_id = $1 AND at_ms >= $2 ORDER BY id`, sessionID, ms(since))
}

func (t *tx) AppendRisk(ctx context.Context, r *storage.RiskEvent) (err error) {
	detail, err := json.Marshal(r.Detail)
	if err != nil {
		return err
	}
	r.ID, err = t.id(ctx, `INSERT INTO risk_events (at_ms, kind, account_id, session_id, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		ms(r.At), r.Kind, r.AccountID, r.SessionID, detail)
	return err
}

func (t *tx) RiskEvents(ctx context.Context, afterID int64, limit int) ([]storage.RiskEvent, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.RiskEvent, error) {
		var e storage.RiskEvent
		var at int64
		var detail []byte
		if err := r.Scan(&e.ID, &at, &e.Kind, &e.AccountID, &e.SessionID, &detail); err != nil {
			return e, err
		}
		e.At = t.at(at)
		return e, json.Unmarshal(detail, &e.Detail)
	}, `SELECT id, at_ms, kind, account_id, session_id, detail FROM risk_events WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
}

func (t *tx) RiskCount(ctx context.Context, accountID int64, since time.Time) (n int, err error) {
	return n, t.tx.QueryRow(ctx, `SELECT count(*) FROM risk_events WHERE account_id = $1 AND at_ms >= $2`, accountID, ms(since)).Scan(&n)
}

func (t *tx) InsertCall(ctx context.Context, sessionID, bookingID int64, priority bool, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO calls (session_id, booking_id, priority, at_ms) VALUES ($1, $2, $3, $4)`, sessionID, bookingID, priority, ms(at))
	return err
}

func (t *tx) RecentCalls(ctx context.Context, sessionID int64, n int) ([]bool, error) {
	return all(ctx, t, func(r pgx.Rows) (p bool, err error) { return p, r.Scan(&p) },
		`SELECT priority FROM (SELECT id, priority FROM calls WHERE session_id = $1 AND NOT recall ORDER BY id DESC LIMIT $2) c ORDER BY id`, sessionID, n)
}

func (t *tx) InsertRecall(ctx context.Context, sessionID, bookingID int64, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO calls (session_id, booking_id, priority, at_ms, recall) VALUES ($1, $2, false, $3, true)`, sessionID, bookingID, ms(at))
	return err
}

// Savepoint uses pgx's nested transaction, a SAVEPOINT: a failed statement
// aborts only what ran since it.
func (t *tx) Savepoint(ctx context.Context, fn func() error) error {
	outer := t.tx
	begun, err := outer.Begin(ctx)
	if err != nil {
		return err
	}
	inner := outer.nested(begun)
	t.tx = inner
	err = fn()
	t.tx = outer
	if err != nil {
		if rerr := inner.Rollback(ctx); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint: %v)", err, rerr)
		}
		return err
	}
	if err := inner.Commit(ctx); err != nil {
		return err
	}
	outer.current = inner.current // released, the savepoint's settings stay; rolled back, they go with it
	return nil
}
