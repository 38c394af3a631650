package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/storage"
)

const active = `('held', 'confirmed', 'checked_in', 'called')`

func (t *tx) PatientHistory(ctx context.Context, q storage.HistoryQuery) (booking.History, error) {
	var h booking.History
	patientID := q.PatientID
	err := t.queryRow(ctx, `SELECT
		(SELECT count(*) FROM bookings WHERE patient_id = ? AND date = ? AND department_id = ? AND status IN `+active+`),
		(SELECT count(*) FROM bookings WHERE patient_id = ? AND date = ? AND status IN `+active+`),
		(SELECT count(*) FROM bookings WHERE patient_id = ? AND date >= ? AND status IN `+active+`)`,
		patientID, q.Date, q.DepartmentID, patientID, q.Date, patientID, q.Today).Scan(&h.ActiveInDepartmentOnDay, &h.ActiveOnDay, &h.Active)
	if err != nil {
		return h, err
	}
	rows, err := all(ctx, t, func(r *sql.Rows) (struct {
		status fairslot.Status
		at     int64
	}, error) {
		var v struct {
			status fairslot.Status
			at     int64
		}
		return v, r.Scan(&v.status, &v.at)
	}, `SELECT status, updated_ms FROM bookings WHERE patient_id = ? AND updated_ms >= ?
		AND (status = 'no_show' OR (status = 'cancelled' AND cancelled_by = 'patient'))
		UNION ALL SELECT 'account', updated_ms FROM bookings WHERE account_id = ? AND updated_ms >= ?
		AND status = 'cancelled' AND cancelled_by = 'patient'`, patientID, ms(q.Since), q.AccountID, ms(q.Since))
	for _, r := range rows {
		switch r.status {
		case fairslot.NoShow:
			h.NoShows = append(h.NoShows, t.at(r.at))
		case fairslot.Cancelled:
			h.Cancels = append(h.Cancels, t.at(r.at))
		default:
			h.AccountCancels = append(h.AccountCancels, t.at(r.at))
		}
	}
	return h, err
}

// InsertBooking inserts the booking only while the patient stays within the
// limits; the partial unique indexes refuse a taken slot or a second place
// in one session.
func (t *tx) InsertBooking(ctx context.Context, b *fairslot.Booking, l storage.Limits) error {
	var heldUntil any
	if !b.HeldUntil.IsZero() {
		heldUntil = ms(b.HeldUntil)
	}
	res, err := t.exec(ctx, `INSERT INTO bookings (code, slot_id, session_id, department_id, date, patient_id, account_id,
			channel, status, held_until_ms, fee_cents, request_key, priority, created_ms, updated_ms)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE
			(SELECT count(*) FROM bookings WHERE patient_id = ? AND date = ? AND department_id = ? AND status IN `+active+`) < ? AND
			(SELECT count(*) FROM bookings WHERE patient_id = ? AND date = ? AND status IN `+active+`) < ? AND
			(SELECT count(*) FROM bookings WHERE patient_id = ? AND date >= ? AND status IN `+active+`) < ?`,
		b.Code, b.SlotID, b.SessionID, b.DepartmentID, b.Date, b.PatientID, nullIf(b.AccountID),
		b.Channel, b.Status, heldUntil, b.FeeCents, nullIf(b.RequestKey), nullIf(b.Priority), ms(b.CreatedAt), ms(b.UpdatedAt),
		b.PatientID, b.Date, b.DepartmentID, l.PerDepartmentPerDay,
		b.PatientID, b.Date, l.PerDay,
		b.PatientID, l.Today, l.Active)
	switch {
	case isUnique(err, "bookings.slot_id"):
		return fairslot.E(fairslot.Conflict, "error.booking.taken", "this place was just taken; please choose again")
	case isUnique(err, "bookings.patient_id"):
		return fairslot.E(fairslot.Conflict, "error.booking.same_session", "this patient already has a booking in this session")
	case isUnique(err, "bookings.account_id"):
		return fairslot.Errorf(fairslot.Conflict, "this request was already made")
	case isUnique(err, "bookings.code"):
		return fairslot.Errorf(fairslot.Conflict, "booking code collision; please retry")
	case isCancelled(err):
		return storage.ErrSessionCancelled
	case err != nil:
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.E(fairslot.Limited, "error.booking.limit", "this patient has reached a booking limit")
	}
	b.ID, err = res.LastInsertId()
	return err
}

// bookingColumns lists a booking's columns, qualified with a table alias
// ("b.") or not ("").
func bookingColumns(a string) string {
	return strings.NewReplacer("@", a).Replace(`@id, @code, @slot_id, @session_id, @department_id, @date, @patient_id,
		coalesce(@account_id, 0), @channel, @status, @held_until_ms, @fee_cents, @missed_calls,
		coalesce(@request_key, ''), coalesce(@priority, ''), @created_ms, @updated_ms, coalesce(@cancelled_by, '')`)
}

// bookingDest returns the scan destinations for bookingColumns and a
// function that finishes the booking after the scan.
func (t *tx) bookingDest(b *fairslot.Booking) ([]any, func()) {
	var held sql.NullInt64
	var created, updated int64
	dest := []any{&b.ID, &b.Code, &b.SlotID, &b.SessionID, &b.DepartmentID, &b.Date, &b.PatientID, &b.AccountID, &b.Channel, &b.Status,
		&held, &b.FeeCents, &b.MissedCalls, &b.RequestKey, &b.Priority, &created, &updated, &b.CancelledBy}
	return dest, func() { b.HeldUntil, b.CreatedAt, b.UpdatedAt = t.atNull(held), t.at(created), t.at(updated) }
}

func (t *tx) scanBooking(r interface{ Scan(...any) error }) (fairslot.Booking, error) {
	var b fairslot.Booking
	dest, finish := t.bookingDest(&b)
	err := r.Scan(dest...)
	if err == sql.ErrNoRows {
		return b, fairslot.Errorf(fairslot.NotFound, "booking not found")
	}
	finish()
	return b, err
}

func (t *tx) Booking(ctx context.Context, id int64) (fairslot.Booking, error) {
	return t.scanBooking(t.queryRow(ctx, `SELECT `+bookingColumns("")+` FROM bookings WHERE id = ?`, id))
}

func (t *tx) BookingByCode(ctx context.Context, code string) (fairslot.Booking, error) {
	return t.scanBooking(t.queryRow(ctx, `SELECT `+bookingColumns("")+` FROM bookings WHERE code = ?`, code))
}

func (t *tx) BookingByRequestKey(ctx context.Context, accountID int64, key string) (fairslot.Booking, error) {
	return t.scanBooking(t.queryRow(ctx, `SELECT `+bookingColumns("")+` FROM bookings WHERE account_id = ? AND request_key = ?`, accountID, key))
}

func (t *tx) BookingsOf(ctx context.Context, accountID int64) ([]fairslot.Booking, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Booking, error) { return t.scanBooking(r) },
		`SELECT `+bookingColumns("")+` FROM bookings WHERE account_id = ? ORDER BY date DESC, id DESC LIMIT 200`, accountID)
}

func (t *tx) PatientBookings(ctx context.Context, patientID int64) ([]fairslot.Booking, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Booking, error) { return t.scanBooking(r) },
		`SELECT `+bookingColumns("")+` FROM bookings WHERE patient_id = ? ORDER BY date DESC, id DESC LIMIT 20`, patientID)
}

func (t *tx) SessionBookings(ctx context.Context, sessionID int64) ([]fairslot.Booking, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Booking, error) { return t.scanBooking(r) },
		`SELECT `+bookingColumns("")+` FROM bookings WHERE session_id = ? ORDER BY id`, sessionID)
}

func (t *tx) MoveBooking(ctx context.Context, id int64, from, to fairslot.Status, m storage.Move) error {
	missed := any(nil)
	if m.MissedCalls >= 0 {
		missed = m.MissedCalls
	}
	var by any
	if m.CancelledBy != "" {
		by = m.CancelledBy
	}
	res, err := t.exec(ctx, `UPDATE bookings SET status = ?, updated_ms = ?, missed_calls = coalesce(?, missed_calls),
		cancelled_by = coalesce(?, cancelled_by) WHERE id = ? AND status = ?`, to, ms(m.At), missed, by, id, from)
	if isCancelled(err) {
		return storage.ErrSessionCancelled
	}
	if isTrigger(err) {
		return fairslot.Errorf(fairslot.Conflict, "a booking cannot move from %s to %s", from, to)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the booking is no longer %s", from)
	}
	return nil
}

func (t *tx) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	return all(ctx, t, func(r *sql.Rows) (id int64, err error) { return id, r.Scan(&id) }, query, args...)
}

func (t *tx) ExpireHolds(ctx context.Context, sessionID int64, now time.Time) ([]int64, error) {
	return t.ids(ctx, `UPDATE bookings SET status = 'expired', updated_ms = ?
		WHERE status = 'held' AND held_until_ms <= ? AND (? = 0 OR session_id = ?) RETURNING id`,
		ms(now), ms(now), sessionID, sessionID)
}

func (t *tx) MarkNoShows(ctx context.Context, endedBefore, now time.Time) ([]int64, error) {
	return t.ids(ctx, `UPDATE bookings SET status = 'no_show', updated_ms = ?
		WHERE status = 'confirmed'
		AND session_id IN (SELECT id FROM sessions WHERE end_ms <= ?) RETURNING id`, ms(now), ms(endedBefore))
}

func (t *tx) IssueTicket(ctx context.Context, k *fairslot.Ticket) error {
	var dept int64
	var date, prefix string
	var used int
	if err := one(t.queryRow(ctx, `SELECT b.department_id, b.date, coalesce((SELECT prefix FROM tickets WHERE session_id = ? LIMIT 1), ''),
		(SELECT count(DISTINCT prefix) FROM tickets k WHERE k.department_id = b.department_id AND k.date = b.date)
		FROM bookings b WHERE b.id = ?`, k.SessionID, k.BookingID), "booking", &dept, &date, &prefix, &used); err != nil {
		return err
	}
	if prefix == "" {
		prefix = fairslot.TicketPrefix(used)
	}
	k.Prefix = prefix
	err := t.queryRow(ctx, `INSERT INTO tickets (booking_id, session_id, department_id, date, prefix, number, position, issued_ms)
		SELECT ?, ?, ?, ?, ?, n, n, ? FROM (SELECT coalesce(max(number), 0) + 1 AS n FROM tickets WHERE department_id = ? AND date = ? AND prefix = ?)
		RETURNING id, number, position`, k.BookingID, k.SessionID, dept, date, prefix, ms(k.IssuedAt), dept, date, prefix).Scan(&k.ID, &k.Number, &k.Position)
	switch {
	case isUnique(err, "tickets.booking_id"):
		return fairslot.Errorf(fairslot.Conflict, "this booking already has a ticket")
	case isUnique(err, "tickets.department_id"):
		return fairslot.Errorf(fairslot.Conflict, "another check-in took this ticket number at the same moment; try again")
	}
	if isCancelled(err) {
		return storage.ErrSessionCancelled
	}
	return err
}

func (t *tx) Ticket(ctx context.Context, bookingID int64) (fairslot.Ticket, error) {
	var k fairslot.Ticket
	var issued int64
	err := one(t.queryRow(ctx, `SELECT id, booking_id, session_id, prefix, number, position, issued_ms FROM tickets WHERE booking_id = ?`, bookingID),
		"ticket", &k.ID, &k.BookingID, &k.SessionID, &k.Prefix, &k.Number, &k.Position, &issued)
	k.IssuedAt = t.at(issued)
	return k, err
}

func (t *tx) SetTicketPosition(ctx context.Context, ticketID int64, position float64) error {
	_, err := t.exec(ctx, `UPDATE tickets SET position = ? WHERE id = ?`, position, ticketID)
	return err
}

func (t *tx) queue(ctx context.Context, where string, args ...any) ([]storage.QueueEntry, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.QueueEntry, error) {
		var e storage.QueueEntry
		var issued int64
		dest, finish := t.bookingDest(&e.Booking)
		var called sql.NullInt64
		err := r.Scan(append(dest, &e.Ticket.ID, &e.Ticket.Prefix, &e.Ticket.Number, &e.Ticket.Position, &issued, &e.Room, &e.PatientRef, &e.NameSealed,
			&called, &e.Recalls)...)
		finish()
		e.Ticket.BookingID, e.Ticket.SessionID, e.Ticket.IssuedAt = e.Booking.ID, e.Booking.SessionID, t.at(issued)
		if called.Valid {
			e.CalledAt = t.at(called.Int64)
		}
		return e, err
	}, `SELECT `+bookingColumns("b.")+`, k.id, k.prefix, k.number, k.position, k.issued_ms, s.room, p.ref, p.name_sealed,
		(SELECT max(at_ms) FROM calls c WHERE c.booking_id = b.id),
		(SELECT count(*) FROM calls c WHERE c.booking_id = b.id AND c.recall
			AND c.id > coalesce((SELECT max(id) FROM calls d WHERE d.booking_id = b.id AND NOT d.recall), 0))
		FROM bookings b JOIN tickets k ON k.booking_id = b.id JOIN sessions s ON s.id = b.session_id JOIN patients p ON p.id = b.patient_id
		WHERE `+where, args...)
}

func (t *tx) Queue(ctx context.Context, sessionID int64) ([]storage.QueueEntry, error) {
	return t.queue(ctx, `b.session_id = ? AND b.status IN ('checked_in', 'called') ORDER BY k.position, k.id`, sessionID)
}

func (t *tx) DepartmentQueue(ctx context.Context, departmentID int64, date string) ([]storage.QueueEntry, error) {
	return t.queue(ctx, `b.department_id = ? AND b.date = ? AND b.status IN ('checked_in', 'called') ORDER BY b.session_id, k.position, k.id`, departmentID, date)
}

func (t *tx) AppendOutbox(ctx context.Context, m storage.OutboxMessage) error {
	_, err := t.exec(ctx, `INSERT INTO outbox (ref, channel, recipient_sealed, body_sealed, created_ms, next_attempt_ms, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (dedupe_key) DO NOTHING`,
		m.Ref, m.Channel, m.RecipientSealed, m.BodySealed, ms(m.CreatedAt), ms(m.CreatedAt), sql.NullString{String: m.DedupeKey, Valid: m.DedupeKey != ""})
	return err
}

func (t *tx) PayReminders(ctx context.Context, now time.Time, lead time.Duration, limit int) ([]fairslot.Booking, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Booking, error) { return t.scanBooking(r) },
		`SELECT `+bookingColumns("b.")+` FROM bookings b
		WHERE b.status = 'held' AND b.held_until_ms > ? AND b.held_until_ms <= ? AND b.created_ms < b.held_until_ms - ?
			AND b.account_id IS NOT NULL
			AND (EXISTS (SELECT 1 FROM waitlist w WHERE w.booking_id = b.id) OR EXISTS (SELECT 1 FROM draw_results r WHERE r.booking_id = b.id))
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'reminder:pay:' || b.id)
		ORDER BY b.id LIMIT ?`, ms(now), ms(now.Add(lead)), lead.Milliseconds(), limit)
}

func (t *tx) DayReminders(ctx context.Context, date string, confirmedBefore time.Time, limit int) ([]fairslot.Booking, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.Booking, error) { return t.scanBooking(r) },
		`SELECT `+bookingColumns("b.")+` FROM bookings b
		WHERE b.status = 'confirmed' AND b.date = ? AND b.updated_ms < ? AND b.account_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'reminder:day:' || b.id)
		ORDER BY b.id LIMIT ?`, date, ms(confirmedBefore), limit)
}

func (t *tx) DueOutbox(ctx context.Context, now time.Time, limit int) ([]storage.OutboxMessage, error) {
	return all(ctx, t, func(r *sql.Rows) (m storage.OutboxMessage, err error) {
		var created, next int64
		var sent sql.NullInt64
		err = r.Scan(&m.ID, &m.Ref, &m.Channel, &m.RecipientSealed, &m.BodySealed, &created, &m.Status, &m.Attempts, &next, &sent)
		m.CreatedAt, m.NextAttempt, m.SentAt = t.at(created), t.at(next), t.atNull(sent)
		return m, err
	}, `SELECT id, ref, channel, recipient_sealed, body_sealed, created_ms, status, attempts, next_attempt_ms, sent_ms FROM outbox
		WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?`, ms(now), limit)
}

func (t *tx) OutboxBacklog(ctx context.Context) (n int, err error) {
	return n, t.queryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n)
}

func (t *tx) AttemptOutbox(ctx context.Context, id int64, attempts int, next time.Time) error {
	res, err := t.exec(ctx, `UPDATE outbox SET attempts = ?, next_attempt_ms = ? WHERE id = ? AND status = 'pending' AND attempts = ?`,
		attempts, ms(next), id, attempts-1)
	return changedOne(res, err, "outbox message %d changed since it was read", id)
}

func (t *tx) FinishOutbox(ctx context.Context, id int64, status storage.OutboxStatus, at time.Time) error {
	if status != storage.OutboxSent && status != storage.OutboxDead {
		return fmt.Errorf("finish outbox message %d: status %q is not an end", id, status)
	}
	res, err := t.exec(ctx, `UPDATE outbox SET status = ?, sent_ms = CASE WHEN ? = 'sent' THEN ? END WHERE id = ? AND status = 'pending'`,
		status, status, ms(at), id)
	return changedOne(res, err, "outbox message %d is not pending", id)
}

// changedOne turns an update that changed no row into a Conflict.
func changedOne(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fairslot.Errorf(fairslot.Conflict, format, args...)
	}
	return nil
}
