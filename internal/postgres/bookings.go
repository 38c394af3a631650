package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/storage"
)

const active = `('held', 'confirmed', 'checked_in', 'called')`

// PatientHistory locks the patient until the transaction ends, so that the
// counts the rules see stay true until the booking is inserted.
func (t *tx) PatientHistory(ctx context.Context, q storage.HistoryQuery) (booking.History, error) {
	var h booking.History
	patientID := q.PatientID
	if err := t.lock(ctx, lockPatient, patientID); err != nil {
		return h, err
	}
	err := t.tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM bookings WHERE patient_id = $1 AND date = $2 AND department_id = $3 AND status IN `+active+`),
		(SELECT count(*) FROM bookings WHERE patient_id = $1 AND date = $2 AND status IN `+active+`),
		(SELECT count(*) FROM bookings WHERE patient_id = $1 AND date >= $4 AND status IN `+active+`)`,
		patientID, q.Date, q.DepartmentID, q.Today).Scan(&h.ActiveInDepartmentOnDay, &h.ActiveOnDay, &h.Active)
	if err != nil {
		return h, err
	}
	type event struct {
		status string
		at     int64
	}
	evs, err := all(ctx, t, func(r pgx.Rows) (e event, err error) { return e, r.Scan(&e.status, &e.at) },
		`SELECT status, updated_ms FROM bookings WHERE patient_id = $1 AND updated_ms >= $2
		AND (status = 'no_show' OR (status = 'cancelled' AND cancelled_by = 'patient'))
		UNION ALL SELECT 'account', updated_ms FROM bookings WHERE account_id = $3 AND updated_ms >= $2
		AND status = 'cancelled' AND cancelled_by = 'patient'`, patientID, ms(q.Since), q.AccountID)
	for _, e := range evs {
		switch fairslot.Status(e.status) {
		case fairslot.NoShow:
			h.NoShows = append(h.NoShows, t.at(e.at))
		case fairslot.Cancelled:
			h.Cancels = append(h.Cancels, t.at(e.at))
		default:
			h.AccountCancels = append(h.AccountCancels, t.at(e.at))
		}
	}
	return h, err
}

// InsertBooking takes the patient's lock (a no-op when PatientHistory took
// it), then inserts only while the patient stays within the limits; the
// partial unique indexes refuse a taken slot or a second place in a session.
func (t *tx) InsertBooking(ctx context.Context, b *fairslot.Booking, l storage.Limits) error {
	if err := t.lock(ctx, lockPatient, b.PatientID); err != nil {
		return err
	}
	var heldUntil *int64
	if !b.HeldUntil.IsZero() {
		v := ms(b.HeldUntil)
		heldUntil = &v
	}
	err := t.tx.QueryRow(ctx, `INSERT INTO bookings (code, slot_id, session_id, department_id, date, patient_id, account_id,
			channel, status, held_until_ms, fee_cents, request_key, created_ms, updated_ms, priority)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $19 WHERE
			(SELECT count(*) FROM bookings WHERE patient_id = $6 AND date = $5 AND department_id = $4 AND status IN `+active+`) < $15 AND
			(SELECT count(*) FROM bookings WHERE patient_id = $6 AND date = $5 AND status IN `+active+`) < $16 AND
			(SELECT count(*) FROM bookings WHERE patient_id = $6 AND date >= $18 AND status IN `+active+`) < $17
		RETURNING id`,
		b.Code, b.SlotID, b.SessionID, b.DepartmentID, b.Date, b.PatientID, nullIf(b.AccountID),
		string(b.Channel), string(b.Status), heldUntil, b.FeeCents, nullIf(b.RequestKey), ms(b.CreatedAt), ms(b.UpdatedAt),
		l.PerDepartmentPerDay, l.PerDay, l.Active, l.Today, nullIf(b.Priority)).Scan(&b.ID)
	switch {
	case isUnique(err, "bookings_slot_taken"):
		return fairslot.E(fairslot.Conflict, "error.booking.taken", "this place was just taken; please choose again")
	case isUnique(err, "bookings_patient_session"):
		return fairslot.E(fairslot.Conflict, "error.booking.same_session", "this patient already has a booking in this session")
	case isUnique(err, "bookings_request"):
		return fairslot.Errorf(fairslot.Conflict, "this request was already made")
	case isUnique(err, "bookings_code_key"):
		return fairslot.Errorf(fairslot.Conflict, "booking code collision; please retry")
	case errors.Is(err, pgx.ErrNoRows):
		return fairslot.E(fairslot.Limited, "error.booking.limit", "this patient has reached a booking limit")
	case isCancelled(err):
		return storage.ErrSessionCancelled
	}
	return err
}

const bookingColumns = `@id, @code, @slot_id, @session_id, @department_id, @date, @patient_id, coalesce(@account_id, 0), @channel, @status,
	@held_until_ms, @fee_cents, @missed_calls, coalesce(@request_key, ''), coalesce(@priority, ''), @created_ms, @updated_ms,
	coalesce(@cancelled_by, '')`

// bookingDest returns the scan destinations for bookingColumns and a
// function that finishes the booking after the scan.
func (t *tx) bookingDest(b *fairslot.Booking) ([]any, func()) {
	var channel, status string
	var held *int64
	var created, updated int64
	dest := []any{&b.ID, &b.Code, &b.SlotID, &b.SessionID, &b.DepartmentID, &b.Date, &b.PatientID, &b.AccountID, &channel, &status,
		&held, &b.FeeCents, &b.MissedCalls, &b.RequestKey, &b.Priority, &created, &updated, &b.CancelledBy}
	return dest, func() {
		b.Channel, b.Status = fairslot.Channel(channel), fairslot.Status(status)
		b.HeldUntil, b.CreatedAt, b.UpdatedAt = t.atNull(held), t.at(created), t.at(updated)
	}
}

func (t *tx) scanBooking(r pgx.Row) (fairslot.Booking, error) {
	var b fairslot.Booking
	dest, finish := t.bookingDest(&b)
	err := r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fairslot.Errorf(fairslot.NotFound, "booking not found")
	}
	finish()
	return b, err
}

func (t *tx) bookingWhere(ctx context.Context, where string, args ...any) (fairslot.Booking, error) {
	return t.scanBooking(t.tx.QueryRow(ctx, `SELECT `+columns("", bookingColumns)+` FROM bookings WHERE `+where, args...))
}

func (t *tx) Booking(ctx context.Context, id int64) (fairslot.Booking, error) {
	return t.bookingWhere(ctx, `id = $1`, id)
}

func (t *tx) BookingByCode(ctx context.Context, code string) (fairslot.Booking, error) {
	return t.bookingWhere(ctx, `code = $1`, code)
}

func (t *tx) BookingByRequestKey(ctx context.Context, accountID int64, key string) (fairslot.Booking, error) {
	return t.bookingWhere(ctx, `account_id = $1 AND request_key = $2`, accountID, key)
}

func (t *tx) bookings(ctx context.Context, q string, args ...any) ([]fairslot.Booking, error) {
	return all(ctx, t, func(r pgx.Rows) (fairslot.Booking, error) { return t.scanBooking(r) },
		`SELECT `+columns("", bookingColumns)+` FROM bookings WHERE `+q, args...)
}

func (t *tx) BookingsOf(ctx context.Context, accountID int64) ([]fairslot.Booking, error) {
	return t.bookings(ctx, `account_id = $1 ORDER BY date DESC, id DESC LIMIT 200`, accountID)
}

func (t *tx) PatientBookings(ctx context.Context, patientID int64) ([]fairslot.Booking, error) {
	return t.bookings(ctx, `patient_id = $1 ORDER BY date DESC, id DESC LIMIT 20`, patientID)
}

func (t *tx) SessionBookings(ctx context.Context, sessionID int64) ([]fairslot.Booking, error) {
	return t.bookings(ctx, `session_id = $1 ORDER BY id`, sessionID)
}

func (t *tx) MoveBooking(ctx context.Context, id int64, from, to fairslot.Status, m storage.Move) error {
	var missed *int
	if m.MissedCalls >= 0 {
		missed = &m.MissedCalls
	}
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT move_booking($1, $2, $3, $4, $5, $6)`,
		id, string(from), string(to), ms(m.At), missed, nullIf(m.CancelledBy)).Scan(&n)
	if isCancelled(err) {
		return storage.ErrSessionCancelled
	}
	if fairslot.ErrorKind(formatError(err)) == fairslot.Conflict {
		return fairslot.Errorf(fairslot.Conflict, "a booking cannot move from %s to %s", from, to)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the booking is no longer %s", from)
	}
	return nil
}

func (t *tx) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	return all(ctx, t, func(r pgx.Rows) (id int64, err error) { return id, r.Scan(&id) }, q, args...)
}

func (t *tx) ExpireHolds(ctx context.Context, sessionID int64, now time.Time) ([]int64, error) {
	return t.ids(ctx, `SELECT expire_holds($1, $2)`, sessionID, ms(now))
}

func (t *tx) MarkNoShows(ctx context.Context, endedBefore, now time.Time) ([]int64, error) {
	return t.ids(ctx, `SELECT mark_no_shows($1, $2)`, ms(endedBefore), ms(now))
}

// IssueTicket serializes numbering per department with an advisory lock
// (the unique constraint tickets_board is what makes a label unique).
func (t *tx) IssueTicket(ctx context.Context, k *fairslot.Ticket) error {
	var dept int64
	var date string
	if err := one(t.tx.QueryRow(ctx, `SELECT department_id, date FROM bookings WHERE id = $1`, k.BookingID), "booking", &dept, &date); err != nil {
		return err
	}
	if err := t.lock(ctx, lockTickets, dept); err != nil {
		return err
	}
	var prefix string
	var used int
	if err := t.tx.QueryRow(ctx, `SELECT coalesce((SELECT prefix FROM tickets WHERE session_id = $1 LIMIT 1), ''),
		(SELECT count(DISTINCT prefix) FROM tickets WHERE department_id = $2 AND date = $3)`, k.SessionID, dept, date).Scan(&prefix, &used); err != nil {
		return err
	}
	if prefix == "" {
		prefix = fairslot.TicketPrefix(used)
	}
	k.Prefix = prefix
	err := t.tx.QueryRow(ctx, `INSERT INTO tickets (booking_id, session_id, department_id, date, prefix, number, position, issued_ms)
		SELECT $1, $2, $3, $4, $5, n, n, $6 FROM (SELECT coalesce(max(number), 0) + 1 AS n FROM tickets WHERE department_id = $3 AND date = $4 AND prefix = $5) m
		RETURNING id, number, position`, k.BookingID, k.SessionID, dept, date, prefix, ms(k.IssuedAt)).Scan(&k.ID, &k.Number, &k.Position)
	switch {
	case isUnique(err, "tickets_booking_id_key"):
		return fairslot.Errorf(fairslot.Conflict, "this booking already has a ticket")
	case isUnique(err, "tickets_board"):
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
	err := one(t.tx.QueryRow(ctx, `SELECT id, booking_id, session_id, prefix, number, position, issued_ms FROM tickets WHERE booking_id = $1`, bookingID),
		"ticket", &k.ID, &k.BookingID, &k.SessionID, &k.Prefix, &k.Number, &k.Position, &issued)
	k.IssuedAt = t.at(issued)
	return k, err
}

func (t *tx) SetTicketPosition(ctx context.Context, ticketID int64, position float64) error {
	_, err := t.exec(ctx, `SELECT set_ticket_position($1, $2)`, ticketID, position)
	return err
}

func (t *tx) queue(ctx context.Context, where string, args ...any) ([]storage.QueueEntry, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.QueueEntry, error) {
		var e storage.QueueEntry
		var issued int64
		dest, finish := t.bookingDest(&e.Booking)
		var called *int64
		err := r.Scan(append(dest, &e.Ticket.ID, &e.Ticket.Prefix, &e.Ticket.Number, &e.Ticket.Position, &issued, &e.Room, &e.PatientRef, &e.NameSealed,
			&called, &e.Recalls)...)
		finish()
		e.Ticket.BookingID, e.Ticket.SessionID, e.Ticket.IssuedAt = e.Booking.ID, e.Booking.SessionID, t.at(issued)
		e.CalledAt = t.atNull(called)
		return e, err
	}, `SELECT `+columns("b.", bookingColumns)+`, k.id, k.prefix, k.number, k.position, k.issued_ms, s.room, p.ref, p.name_sealed,
		(SELECT max(at_ms) FROM calls c WHERE c.booking_id = b.id),
		(SELECT count(*)::int FROM calls c WHERE c.booking_id = b.id AND c.recall
			AND c.id > coalesce((SELECT max(id) FROM calls d WHERE d.booking_id = b.id AND NOT d.recall), 0))
		FROM bookings b JOIN tickets k ON k.booking_id = b.id JOIN sessions s ON s.id = b.session_id JOIN patients p ON p.id = b.patient_id
		WHERE `+where, args...)
}

func (t *tx) Queue(ctx context.Context, sessionID int64) ([]storage.QueueEntry, error) {
	return t.queue(ctx, `b.session_id = $1 AND b.status IN ('checked_in', 'called') ORDER BY k.position, k.id`, sessionID)
}

func (t *tx) DepartmentQueue(ctx context.Context, departmentID int64, date string) ([]storage.QueueEntry, error) {
	return t.queue(ctx, `b.department_id = $1 AND b.date = $2 AND b.status IN ('checked_in', 'called') ORDER BY b.session_id, k.position, k.id`, departmentID, date)
}

func (t *tx) AppendOutbox(ctx context.Context, m storage.OutboxMessage) error {
	_, err := t.exec(ctx, `INSERT INTO outbox (ref, channel, recipient_sealed, body_sealed, created_ms, next_attempt_ms, dedupe_key) VALUES ($1, $2, $3, $4, $5, $5, nullif($6, ''))
		ON CONFLICT (dedupe_key) DO NOTHING`,
		m.Ref, m.Channel, m.RecipientSealed, m.BodySealed, ms(m.CreatedAt), m.DedupeKey)
	return err
}

func (t *tx) PayReminders(ctx context.Context, now time.Time, lead time.Duration, limit int) ([]fairslot.Booking, error) {
	return t.bookings(ctx, `status = 'held' AND held_until_ms > $1 AND held_until_ms <= $2 AND created_ms < held_until_ms - $3
		AND account_id IS NOT NULL
		AND (EXISTS (SELECT 1 FROM waitlist w WHERE w.booking_id = bookings.id) OR EXISTS (SELECT 1 FROM draw_results r WHERE r.booking_id = bookings.id))
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'reminder:pay:' || bookings.id)
		ORDER BY id LIMIT $4`, ms(now), ms(now.Add(lead)), lead.Milliseconds(), limit)
}

func (t *tx) DayReminders(ctx context.Context, date string, confirmedBefore time.Time, limit int) ([]fairslot.Booking, error) {
	return t.bookings(ctx, `status = 'confirmed' AND date = $1 AND updated_ms < $2 AND account_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'reminder:day:' || bookings.id)
		ORDER BY id LIMIT $3`, date, ms(confirmedBefore), limit)
}

func (t *tx) DueOutbox(ctx context.Context, now time.Time, limit int) ([]storage.OutboxMessage, error) {
	return all(ctx, t, func(r pgx.Rows) (m storage.OutboxMessage, err error) {
		var created, next int64
		var sent *int64
		err = r.Scan(&m.ID, &m.Ref, &m.Channel, &m.RecipientSealed, &m.BodySealed, &created, &m.Status, &m.Attempts, &next, &sent)
		m.CreatedAt, m.NextAttempt, m.SentAt = t.at(created), t.at(next), t.atNull(sent)
		return m, err
	}, `SELECT id, ref, channel, recipient_sealed, body_sealed, created_ms, status, attempts, next_attempt_ms, sent_ms FROM outbox
		WHERE status = 'pending' AND next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2`, ms(now), limit)
}

func (t *tx) OutboxBacklog(ctx context.Context) (n int, err error) {
	return n, t.tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n)
}

// The online role has no UPDATE on outbox: 0016_outbox.sql's functions.
func (t *tx) AttemptOutbox(ctx context.Context, id int64, attempts int, next time.Time) error {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT outbox_attempt($1, $2, $3)`, id, attempts, ms(next)).Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fairslot.Errorf(fairslot.Conflict, "outbox message %d changed since it was read", id)
	}
	return nil
}

func (t *tx) FinishOutbox(ctx context.Context, id int64, status storage.OutboxStatus, at time.Time) error {
	if status != storage.OutboxSent && status != storage.OutboxDead {
		return fmt.Errorf("finish outbox message %d: status %q is not an end", id, status)
	}
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT outbox_finish($1, $2, $3)`, id, string(status), ms(at)).Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fairslot.Errorf(fairslot.Conflict, "outbox message %d is not pending", id)
	}
	return nil
}
