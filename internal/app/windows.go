package app

import (
	"context"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// WindowSpec is a session's time window as the admin's form gives it:
// From–FromEnd the window it was ("" for a new one), Start–End where it
// is to be, times HH:MM in the hospital's zone on the session's date.
type WindowSpec struct {
	From, FromEnd string
	Start, End    string
	Capacity      int
}

// windowTimes is a window's times as the audit log keeps them.
type windowTimes struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Places int    `json:"places"`
}

// EditWindows gives a session the time windows ws, each with its places
// (issue 14 item 5): windows move, go, come and grow or shrink as the
// admin planned them, checked by fairslot.PlanWindows — a session's slot
// rules, and a booked patient's window kept as they were told it. Only
// before the session starts (once it runs, places are added or removed
// instead), on a session not cancelled and in the login's scope. One
// transaction, audited with the windows before and after; the database
// refuses on its own what would move a booked place or make windows
// overlap (migration 0032). changed is false when the windows were
// already as given: nothing was written or audited.
func (s *Service) EditWindows(ctx context.Context, a Actor, sessionID int64, ws []WindowSpec) (changed bool, err error) {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return false, err
	}
	now := s.now()
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		changed = false // a retried transaction starts again
		sess, err := s.sessionEditable(ctx, tx, a, sessionID, now)
		if err != nil {
			return err
		}
		if !now.Before(sess.Start) {
			return fairslot.E(fairslot.Conflict, "error.windows.started", "the session has begun: its windows stay; add or remove places instead").On("windows")
		}
		plan, err := s.windowPlan(sess, ws)
		if err != nil {
			return err
		}
		if err := s.expire(ctx, tx, sess.ID, now); err != nil { // a lapsed hold holds no window
			return err
		}
		uses, err := tx.WindowUses(ctx, sess.ID)
		if err != nil {
			return err
		}
		// Messages write times as the hospital reads them.
		for i := range uses {
			uses[i].Start, uses[i].End = uses[i].Start.In(s.Location), uses[i].End.In(s.Location)
		}
		sess.Start, sess.End = sess.Start.In(s.Location), sess.End.In(s.Location)
		changes, err := fairslot.PlanWindows(sess, uses, plan)
		if err != nil || len(changes) == 0 {
			return err
		}
		changed = true
		for _, c := range changes {
			switch c.Kind {
			case fairslot.RemoveWindow:
				err = tx.RemoveWindow(ctx, sess.ID, c.From, c.FromEnd)
			case fairslot.ShrinkWindow:
				err = tx.RemoveFreeSlots(ctx, sess.ID, c.From, c.Places)
			case fairslot.MoveWindow:
				err = tx.MoveWindow(ctx, sess.ID, c.From, c.FromEnd, c.Start, c.End)
			case fairslot.AddPlaces:
				for range c.Places {
					slot := fairslot.Slot{SessionID: sess.ID, Start: c.Start, End: c.End, Quota: fairslot.QuotaGeneral}
					if err = tx.AddSlot(ctx, &slot); err != nil {
						break
					}
				}
			}
			if err != nil {
				if fairslot.ErrorKind(err) == fairslot.Conflict {
					return storage.ErrWindowRefused
				}
				return err
			}
		}
		after, err := tx.WindowUses(ctx, sess.ID)
		if err != nil {
			return err
		}
		return s.recordChange(ctx, tx, a, "session.windows", fmt.Sprintf("session:%d", sess.ID), s.auditWindows(uses), s.auditWindows(after))
	})
	return changed, err
}

func (s *Service) auditWindows(uses []fairslot.WindowUse) []windowTimes {
	out := make([]windowTimes, 0, len(uses))
	for _, u := range uses {
		out = append(out, windowTimes{u.Start.In(s.Location).Format("15:04"), u.End.In(s.Location).Format("15:04"), u.Capacity})
	}
	return out
}

// windowPlan reads the form's windows as times on the session's date.
func (s *Service) windowPlan(sess fairslot.Session, ws []WindowSpec) ([]fairslot.WindowPlan, error) {
	day, err := time.ParseInLocation(time.DateOnly, sess.Date, s.Location)
	if err != nil {
		return nil, err
	}
	at := func(hhmm string) (time.Time, error) {
		t, err := time.Parse("15:04", hhmm)
		if err != nil {
			return t, fairslot.E(fairslot.Invalid, "error.windows.time", "times are HH:MM, such as 08:30").On("windows")
		}
		return time.Date(day.Year(), day.Month(), day.Day(), t.Hour(), t.Minute(), 0, 0, s.Location), nil
	}
	plan := make([]fairslot.WindowPlan, 0, len(ws))
	for _, w := range ws {
		var p fairslot.WindowPlan
		var err error
		if w.From != "" || w.FromEnd != "" {
			if p.From, err = at(w.From); err != nil {
				return nil, err
			}
			if p.FromEnd, err = at(w.FromEnd); err != nil {
				return nil, err
			}
		}
		if p.Start, err = at(w.Start); err != nil {
			return nil, err
		}
		if p.End, err = at(w.End); err != nil {
			return nil, err
		}
		p.Capacity = w.Capacity
		plan = append(plan, p)
	}
	return plan, nil
}

// WindowUses lists a session's time windows with what each holds: how
// many places are booked, and how many could go (the admin's window form).
func (s *Service) WindowUses(ctx context.Context, sessionID int64) (uses []fairslot.WindowUse, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		uses, err = tx.WindowUses(ctx, sessionID)
		return err
	})
	for i := range uses {
		uses[i].Start, uses[i].End = uses[i].Start.In(s.Location), uses[i].End.In(s.Location)
	}
	return uses, err
}
