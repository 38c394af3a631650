package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// A session's time windows changed from the admin page (migration 0032's
// triggers refuse, whoever writes, a move of a booked place, a window
// outside its session and windows that overlap).

// referred is the condition "something refers to slot sl": a booking of
// any status, an embargo, an extra place's reason.
const referred = `(EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id)
	OR EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = sl.id)
	OR EXISTS (SELECT 1 FROM extra_slot_reasons x WHERE x.slot_id = sl.id))`

func (t *tx) WindowUses(ctx context.Context, sessionID int64) ([]fairslot.WindowUse, error) {
	return all(ctx, t, func(r *sql.Rows) (fairslot.WindowUse, error) {
		var w fairslot.WindowUse
		var start, end int64
		err := r.Scan(&start, &end, &w.Capacity, &w.Taken, &w.Free, &w.Referred)
		w.Start, w.End = t.at(start), t.at(end)
		return w, err
	}, `SELECT sl.start_ms, sl.end_ms, count(*),
		sum(EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id AND b.status NOT IN ('cancelled', 'expired'))),
		sum(`+freeSlots+`),
		sum(`+referred+`)
		FROM slots sl WHERE sl.session_id = ? GROUP BY sl.start_ms, sl.end_ms ORDER BY sl.start_ms, sl.end_ms`, sessionID)
}

func (t *tx) MoveWindow(ctx context.Context, sessionID int64, from, fromEnd, start, end time.Time) error {
	res, err := t.exec(ctx, `UPDATE slots SET start_ms = ?, end_ms = ? WHERE session_id = ? AND start_ms = ? AND end_ms = ?`,
		ms(start), ms(end), sessionID, ms(from), ms(fromEnd))
	if windowRefused(err) {
		return storage.ErrWindowRefused
	}
	return oneUpdated(res, err, "no such time window")
}

func (t *tx) RemoveWindow(ctx context.Context, sessionID int64, from, fromEnd time.Time) error {
	// One statement: the window goes whole, or not at all when anything
	// refers to one of its places.
	res, err := t.exec(ctx, `DELETE FROM slots WHERE session_id = ?1 AND start_ms = ?2 AND end_ms = ?3
		AND NOT EXISTS (SELECT 1 FROM slots sl WHERE sl.session_id = ?1 AND sl.start_ms = ?2 AND sl.end_ms = ?3 AND `+referred+`)`,
		sessionID, ms(from), ms(fromEnd))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return storage.ErrWindowRefused
	}
	return nil
}

// windowRefused reports whether err is one of migration 0032's refusals.
func windowRefused(err error) bool {
	return isTrigger(err) && (strings.Contains(err.Error(), "window"))
}
