package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// A session's time windows changed from the admin page (migration 0032:
// move_window and remove_window, and the triggers that refuse, whoever
// writes, a move of a booked place, a window outside its session and
// windows that overlap).

// WindowUses takes the session's lock first, as FreeSlot does: what it
// reads stays true until the change commits, and a booking that waited
// for the lock then sees the windows as changed.
func (t *tx) WindowUses(ctx context.Context, sessionID int64) ([]fairslot.WindowUse, error) {
	if err := t.lock(ctx, lockSession, sessionID); err != nil {
		return nil, err
	}
	return all(ctx, t, func(r pgx.Rows) (fairslot.WindowUse, error) {
		var w fairslot.WindowUse
		var start, end int64
		err := r.Scan(&start, &end, &w.Capacity, &w.Taken, &w.Free, &w.Referred)
		w.Start, w.End = t.at(start), t.at(end)
		return w, err
	}, `SELECT sl.start_ms, sl.end_ms, count(*)::int,
		count(*) FILTER (WHERE EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id AND b.status NOT IN ('cancelled', 'expired')))::int,
		count(*) FILTER (WHERE sl.quota = 'general' AND NOT `+referredPG+`)::int,
		count(*) FILTER (WHERE `+referredPG+`)::int
		FROM slots sl WHERE sl.session_id = $1 GROUP BY sl.start_ms, sl.end_ms ORDER BY sl.start_ms, sl.end_ms`, sessionID)
}

// referredPG is the condition "something refers to slot sl": a booking of
// any status, an embargo, an extra place's reason.
const referredPG = `(EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id)
	OR EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = sl.id)
	OR EXISTS (SELECT 1 FROM extra_slot_reasons x WHERE x.slot_id = sl.id))`

func (t *tx) MoveWindow(ctx context.Context, sessionID int64, from, fromEnd, start, end time.Time) error {
	err := t.call(ctx, fairslot.Errorf(fairslot.NotFound, "no such time window"), `SELECT move_window($1, $2, $3, $4, $5)`,
		sessionID, ms(from), ms(fromEnd), ms(start), ms(end))
	if windowRefused(err) {
		return storage.ErrWindowRefused
	}
	return err
}

func (t *tx) RemoveWindow(ctx context.Context, sessionID int64, from, fromEnd time.Time) error {
	return t.call(ctx, storage.ErrWindowRefused, `SELECT remove_window($1, $2, $3)`, sessionID, ms(from), ms(fromEnd))
}

// windowRefused reports whether err is one of migration 0032's refusals.
func windowRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "FS005"
}
