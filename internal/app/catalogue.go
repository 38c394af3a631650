package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Departments lists the hospital's departments.
func (s *Service) Departments(ctx context.Context) (ds []fairslot.Department, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		ds, err = tx.Departments(ctx)
		return err
	})
	return ds, err
}

// Doctors lists a department's doctors.
func (s *Service) Doctors(ctx context.Context, departmentID int64) (ds []fairslot.Doctor, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		ds, err = tx.Doctors(ctx, departmentID)
		return err
	})
	return ds, err
}

// Doctor returns one doctor.
func (s *Service) Doctor(ctx context.Context, id int64) (d fairslot.Doctor, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		d, err = tx.Doctor(ctx, id)
		return err
	})
	return d, err
}

// Department returns one department.
func (s *Service) Department(ctx context.Context, id int64) (d fairslot.Department, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		d, err = tx.Department(ctx, id)
		return err
	})
	return d, err
}

// SessionView is a session with its windows' remaining capacity and its
// online booking window.
type SessionView struct {
	fairslot.Session
	Doctor    fairslot.Doctor   `json:"doctor"`
	Opens     time.Time         `json:"booking_opens"`
	Closes    time.Time         `json:"booking_closes"`
	Remaining int               `json:"remaining"`
	Windows   []fairslot.Window `json:"windows"`
	Release   ReleaseView       `json:"release"`
	// Ended: the session is over (its places are not "full": nobody can
	// take them any more).
	Ended bool `json:"ended"`

	at time.Time // when the view was read
}

// Past reports whether one of the session's windows had ended when the
// view was read: it shows as over, not as full.
func (v SessionView) Past(w fairslot.Window) bool { return !v.at.Before(w.End) }

func (s *Service) sessionView(ctx context.Context, tx storage.Tx, sess fairslot.Session, now time.Time) (SessionView, error) {
	v := SessionView{Session: sess, Opens: s.Policy.Opens(sess), Closes: s.Policy.Closes(sess), Ended: !now.Before(sess.End), at: now}
	var err error
	if v.Doctor, err = tx.Doctor(ctx, sess.DoctorID); err != nil {
		return v, err
	}
	if v.Windows, err = tx.Windows(ctx, sess.ID, now); err != nil {
		return v, err
	}
	for i := range v.Windows {
		if sess.Cancelled() {
			v.Windows[i].Remaining = 0 // nobody can take them
		}
		v.Remaining += v.Windows[i].Remaining
	}
	v.Release, err = s.releaseView(ctx, tx, sess, now)
	if sess.Cancelled() {
		v.Release.Bookable, v.Release.EntriesOpen = false, false
	}
	return v, err
}

// Sessions lists the sessions of a doctor or a department in a date range
// (default: today and the booking horizon).
func (s *Service) Sessions(ctx context.Context, f storage.SessionFilter) ([]SessionView, error) {
	now := s.now()
	if f.From == "" {
		f.From = now.Format(time.DateOnly)
	}
	if f.To == "" {
		f.To = now.AddDate(0, 0, s.Policy.AdvanceDays).Format(time.DateOnly)
	}
	for _, d := range []string{f.From, f.To} {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return nil, fairslot.E(fairslot.Invalid, "error.sessions.dates", "dates must be YYYY-MM-DD")
		}
	}
	var out []SessionView
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		list, err := tx.Sessions(ctx, f)
		if err != nil {
			return err
		}
		if len(list) > 500 {
			return fairslot.E(fairslot.Invalid, "error.sessions.too_many", "too many sessions; narrow the date range")
		}
		for _, sess := range list {
			v, err := s.sessionView(ctx, tx, sess, now)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// Session returns one session with its windows.
func (s *Service) Session(ctx context.Context, id int64) (v SessionView, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		sess, err := tx.Session(ctx, id)
		if err != nil {
			return err
		}
		v, err = s.sessionView(ctx, tx, sess, s.now())
		return err
	})
	return v, err
}

// ScheduleInput is a new clinic session: a doctor's morning or afternoon
// on a date, from Start to End (HH:MM in the hospital's zone), cut into
// 30-minute windows of PerWindow numbered slots. Its release (first come or
// draw, reserved quotas) follows the release rules.
type ScheduleInput struct {
	DoctorID  int64           `json:"doctor_id"`
	Date      string          `json:"date"`
	Period    fairslot.Period `json:"period"`
	Start     string          `json:"start"`
	End       string          `json:"end"`
	Room      string          `json:"room"`
	FeeCents  int64           `json:"fee_cents"`
	PerWindow int             `json:"per_window"`
}

// Schedule adds a clinic session, audited.
func (s *Service) Schedule(ctx context.Context, a Actor, in ScheduleInput) (fairslot.Session, error) {
	sess := fairslot.Session{DoctorID: in.DoctorID, Date: in.Date, Period: in.Period, Room: strings.TrimSpace(in.Room), FeeCents: in.FeeCents}
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return sess, err
	}
	day, err := time.ParseInLocation(time.DateOnly, in.Date, s.Location)
	if err != nil {
		return sess, fairslot.E(fairslot.Invalid, "error.schedule.date", "the date must be YYYY-MM-DD").On("date")
	}
	at := func(hhmm, field string) (time.Time, error) {
		t, err := time.Parse("15:04", hhmm)
		if err != nil {
			return t, fairslot.E(fairslot.Invalid, "error.schedule.time", "times must be HH:MM").On(field)
		}
		return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute), nil
	}
	if sess.Start, err = at(in.Start, "start"); err != nil {
		return sess, err
	}
	if sess.End, err = at(in.End, "end"); err != nil {
		return sess, err
	}
	switch {
	case sess.Start.Before(s.now()):
		return sess, fairslot.E(fairslot.Invalid, "error.schedule.past", "the session would start in the past").On("date")
	case in.PerWindow < 1 || in.PerWindow > 50:
		return sess, fairslot.E(fairslot.Invalid, "error.schedule.per_window", "slots per window must be 1 to 50").On("per_window")
	case sess.Room == "" || len(sess.Room) > 40:
		return sess, fairslot.E(fairslot.Invalid, "error.schedule.room", "name the room (at most 40 characters)").On("room")
	}
	slots := fairslot.Windows(sess.Start, sess.End, in.PerWindow)
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		doc, err := tx.Doctor(ctx, in.DoctorID)
		if err != nil {
			return err
		}
		if doc.Retired {
			return fairslot.E(fairslot.Conflict, "error.doctor.retired", "%s has retired: they get no new sessions", doc.Name).On("doctor_id")
		}
		dept, err := tx.Department(ctx, doc.DepartmentID)
		if err != nil {
			return err
		}
		sess.DepartmentID = dept.ID
		if err := s.inScope(ctx, tx, a, sess); err != nil {
			return err
		}
		if err := s.NewSession(ctx, tx, dept.Code, &sess, slots); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "session.create", fmt.Sprintf("session:%d", sess.ID), map[string]string{"slots": fmt.Sprint(len(slots))})
	})
	return sess, err
}

// AddDoctor adds a doctor to a department, audited.
func (s *Service) AddDoctor(ctx context.Context, a Actor, d fairslot.Doctor) (fairslot.Doctor, error) {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return d, err
	}
	d.ID, d.Name, d.Retired = 0, strings.TrimSpace(d.Name), false
	if err := validDoctor(d); err != nil {
		return d, err
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Department(ctx, d.DepartmentID); err != nil {
			return err
		}
		if err := s.departmentInScope(ctx, tx, a, d.DepartmentID); err != nil {
			return err
		}
		if err := tx.CreateDoctor(ctx, &d); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "doctor.create", fmt.Sprintf("doctor:%d", d.ID), map[string]string{"department": fmt.Sprint(d.DepartmentID)})
	})
	return d, err
}
