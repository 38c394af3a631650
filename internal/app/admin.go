package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// The admin's edits of the catalogue and the release rules (issue 14 item
// 5): each one transaction, checked by the same rules as what it changes
// was checked by when it was made, audited with what it was before and
// after.

// Campuses lists the hospital's sites.
func (s *Service) Campuses(ctx context.Context) (cs []fairslot.Campus, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		cs, err = tx.Campuses(ctx)
		return err
	})
	return cs, err
}

// Rules returns the release policy in force: the configuration file's,
// with the rules admins stored for departments and doctors over it.
func (s *Service) Rules(ctx context.Context) (p release.Policy, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		p, err = s.rules(ctx, tx)
		return err
	})
	return p, err
}

func (s *Service) rules(ctx context.Context, tx storage.Tx) (release.Policy, error) {
	stored, err := tx.ReleaseRules(ctx)
	return s.Release.Override(stored), err
}

// SetReleaseRule stores the release rule and reserved quotas of one
// department (by code) or one doctor, in place of the file's; sessions
// added afterwards follow it, those planned already keep theirs. It must
// pass release.Rule.Validate, as each of the file's rules must.
func (s *Service) SetReleaseRule(ctx context.Context, a Actor, r release.Rule) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	if r.Mode != fairslot.Draw {
		r.Window = 0 // a first-come rule has no entry window: none is kept to mislead
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		before, subject, err := s.ruleOf(ctx, tx, a, r.Department, r.DoctorID)
		if err != nil {
			return err
		}
		if err := r.Validate(); err != nil { // the check the file's rules pass (release.Policy.Validate)
			return err
		}
		if err := tx.PutReleaseRule(ctx, r, s.now()); err != nil {
			return err
		}
		return s.recordChange(ctx, tx, a, "release_rule.set", subject, before.For(r.DoctorID, r.Department), r)
	})
}

// ClearReleaseRule returns a department or doctor to the file's rule.
func (s *Service) ClearReleaseRule(ctx context.Context, a Actor, department string, doctorID int64) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		before, subject, err := s.ruleOf(ctx, tx, a, department, doctorID)
		if err != nil {
			return err
		}
		if err := tx.ClearReleaseRule(ctx, department, doctorID, s.now()); err != nil {
			return err
		}
		return s.recordChange(ctx, tx, a, "release_rule.clear", subject, before.For(doctorID, department), s.Release.For(doctorID, department))
	})
}

// ruleOf checks that a rule's key names one department or one doctor that
// exists, in a's scope, and returns the policy in force with the audit
// subject.
func (s *Service) ruleOf(ctx context.Context, tx storage.Tx, a Actor, department string, doctorID int64) (release.Policy, string, error) {
	var subject string
	var departmentID int64
	switch {
	case (department == "") == (doctorID == 0):
		return release.Policy{}, "", fairslot.E(fairslot.Invalid, "error.rule.key", "a rule is for one department or one doctor").On("applies")
	case doctorID != 0:
		d, err := tx.Doctor(ctx, doctorID)
		if err != nil {
			return release.Policy{}, "", err
		}
		subject, departmentID = fmt.Sprintf("doctor:%d", doctorID), d.DepartmentID
	default:
		ds, err := tx.Departments(ctx)
		if err != nil {
			return release.Policy{}, "", err
		}
		i := slices.IndexFunc(ds, func(d fairslot.Department) bool { return d.Code == department })
		if i < 0 {
			return release.Policy{}, "", fairslot.E(fairslot.NotFound, "error.rule.department", "no department has the code %s", department).On("applies")
		}
		subject, departmentID = "department:"+department, ds[i].ID
	}
	if err := s.departmentInScope(ctx, tx, a, departmentID); err != nil {
		return release.Policy{}, "", err
	}
	p, err := s.rules(ctx, tx)
	return p, subject, err
}

// recordChange appends an admin's change to the audit log with the value
// before and after it, as JSON.
func (s *Service) recordChange(ctx context.Context, tx storage.Tx, a Actor, action, subject string, before, after any) error {
	b, err := json.Marshal(before)
	if err != nil {
		return err
	}
	c, err := json.Marshal(after)
	if err != nil {
		return err
	}
	return s.record(ctx, tx, a, action, subject, map[string]string{"before": string(b), "after": string(c)})
}

// EditDoctor changes a doctor's name and title, or retires them (or
// brings them back): a retired doctor gets no new sessions, and the
// sessions they have stay. Audited with the doctor before and after.
func (s *Service) EditDoctor(ctx context.Context, a Actor, d fairslot.Doctor) (fairslot.Doctor, error) {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return d, err
	}
	d.Name = strings.TrimSpace(d.Name)
	if err := validDoctor(d); err != nil {
		return d, err
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		before, err := tx.Doctor(ctx, d.ID)
		if err != nil {
			return err
		}
		if err := s.departmentInScope(ctx, tx, a, before.DepartmentID); err != nil {
			return err
		}
		d.DepartmentID = before.DepartmentID // a doctor moves department as a new doctor: their sessions stay where they were
		if d == before {
			return nil
		}
		if err := tx.UpdateDoctor(ctx, d); err != nil {
			return err
		}
		action := "doctor.edit"
		if d.Retired != before.Retired {
			action = map[bool]string{true: "doctor.retire", false: "doctor.return"}[d.Retired]
		}
		return s.recordChange(ctx, tx, a, action, fmt.Sprintf("doctor:%d", d.ID), before, d)
	})
	return d, err
}

// validDoctor checks a doctor's name and title as given on a form.
func validDoctor(d fairslot.Doctor) error {
	switch {
	case d.Name == "" || len(d.Name) > 80:
		return fairslot.E(fairslot.Invalid, "error.doctor.name", "give the doctor's name (at most 80 bytes)").On("name")
	case d.Title != fairslot.Expert && d.Title != fairslot.General:
		return fairslot.E(fairslot.Invalid, "error.doctor.title", "the title must be expert or general").On("title")
	}
	return nil
}

// AddPlaces raises a session's capacity: n more general places in its
// window that starts at window (zero: in every window), numbered after its
// last, released as the session's other places are. Places are never taken
// away here — a booked place is a patient's; fewer places is cancelling
// part of a clinic, with its own notices. Audited with each window's
// capacity before and after.
func (s *Service) AddPlaces(ctx context.Context, a Actor, sessionID int64, window time.Time, n int) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	if n < 1 || n > 50 {
		return fairslot.E(fairslot.Invalid, "error.places.count", "add 1 to 50 places").On("places")
	}
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionInScope(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		if !now.Before(sess.End) {
			return fairslot.E(fairslot.Conflict, "error.places.ended", "the session has ended: no places can be added")
		}
		ws, err := tx.Windows(ctx, sess.ID, now)
		if err != nil {
			return err
		}
		before, after := map[string]int{}, map[string]int{}
		added := false
		for _, w := range ws {
			key := w.Start.In(s.Location).Format("15:04")
			before[key], after[key] = w.Capacity, w.Capacity
			if !window.IsZero() && !w.Start.Equal(window) {
				continue
			}
			if !now.Before(w.End) {
				if window.IsZero() {
					continue // an ended window of a running session keeps what it had
				}
				return fairslot.E(fairslot.Conflict, "error.places.ended", "the session has ended: no places can be added").On("window")
			}
			for range n {
				slot := fairslot.Slot{SessionID: sess.ID, Start: w.Start, End: w.End, Quota: fairslot.QuotaGeneral}
				if err := tx.AddSlot(ctx, &slot); err != nil {
					return err
				}
			}
			after[key] += n
			added = true
		}
		if !added {
			return fairslot.E(fairslot.Invalid, "error.places.window", "choose one of the session's time windows").On("window")
		}
		return s.recordChange(ctx, tx, a, "session.capacity", fmt.Sprintf("session:%d", sess.ID), before, after)
	})
}

// MayWorkOn reports whether a's scope (a doctor's own record, a
// department, a campus) reaches sess: a page shows a clinic's forms only
// to who may use them; the use cases check it all the same.
func (s *Service) MayWorkOn(ctx context.Context, a Actor, sess fairslot.Session) (ok bool, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		err := s.inScope(ctx, tx, a, sess)
		ok = err == nil
		if fairslot.ErrorKind(err) == fairslot.Forbidden {
			return nil
		}
		return err
	})
	return ok, err
}

// EditSession changes a session's room and fee (cents): patients who booked
// already keep the fee they booked at. Only before the session ends and
// while it is not cancelled; audited with both before and after.
func (s *Service) EditSession(ctx context.Context, a Actor, sessionID int64, room string, feeCents int64) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	room = strings.TrimSpace(room)
	switch {
	case room == "" || len(room) > 40:
		return fairslot.E(fairslot.Invalid, "error.schedule.room", "name the room (at most 40 characters)").On("room")
	case feeCents < 0 || feeCents > 100_000_000:
		return fairslot.E(fairslot.Invalid, "error.schedule.fee", "the fee must be an amount such as 20.00").On("fee")
	}
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionEditable(ctx, tx, a, sessionID, now)
		if err != nil {
			return err
		}
		type roomFee struct {
			Room     string `json:"room"`
			FeeCents int64  `json:"fee_cents"`
		}
		before, after := roomFee{sess.Room, sess.FeeCents}, roomFee{room, feeCents}
		if before == after {
			return nil
		}
		if err := tx.UpdateSession(ctx, sess.ID, room, feeCents); err != nil {
			return err
		}
		return s.recordChange(ctx, tx, a, "session.edit", fmt.Sprintf("session:%d", sess.ID), before, after)
	})
}

// sessionEditable loads a session a may change: in a's scope, not
// cancelled, not ended.
func (s *Service) sessionEditable(ctx context.Context, tx storage.Tx, a Actor, sessionID int64, now time.Time) (fairslot.Session, error) {
	sess, err := s.sessionInScope(ctx, tx, a, sessionID)
	switch {
	case err != nil:
		return sess, err
	case sess.Cancelled():
		return sess, storage.ErrSessionCancelled
	case !now.Before(sess.End):
		return sess, fairslot.E(fairslot.Conflict, "error.session.ended", "the session has ended: it can no longer be changed")
	}
	return sess, nil
}

// RemovePlaces lowers a window's capacity by n places: only places nobody
// booked or holds go (the storage's conditional write removes all n or
// none), so a patient's place is never taken away — cancelling booked
// places is cancelling the session, with its notices. Audited with each
// window's capacity before and after.
func (s *Service) RemovePlaces(ctx context.Context, a Actor, sessionID int64, window time.Time, n int) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	if n < 1 || n > 50 {
		return fairslot.E(fairslot.Invalid, "error.places.remove", "remove 1 to 50 places").On("places")
	}
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionEditable(ctx, tx, a, sessionID, now)
		if err != nil {
			return err
		}
		ws, err := tx.Windows(ctx, sess.ID, now)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ws, func(w fairslot.Window) bool { return w.Start.Equal(window) && now.Before(w.End) })
		if i < 0 {
			return fairslot.E(fairslot.Invalid, "error.places.window", "choose one of the session's time windows").On("window")
		}
		if err := tx.RemoveFreeSlots(ctx, sess.ID, window, n); err != nil {
			return err
		}
		key := window.In(s.Location).Format("15:04")
		return s.recordChange(ctx, tx, a, "session.capacity", fmt.Sprintf("session:%d", sess.ID),
			map[string]int{key: ws[i].Capacity}, map[string]int{key: ws[i].Capacity - n})
	})
}
