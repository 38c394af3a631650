package app_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// lastAudit returns the newest audit event of action, failing when none.
func lastAudit(t *testing.T, e *env, action string) audit.Event {
	t.Helper()
	evs := auditLog(t, e)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action {
			return evs[i]
		}
	}
	t.Fatalf("no %s in the audit log", action)
	return audit.Event{}
}

// beforeAfter decodes an admin change's audited before and after values.
func beforeAfter[T any](t *testing.T, ev audit.Event) (before, after T) {
	t.Helper()
	if err := json.Unmarshal([]byte(ev.Detail["before"]), &before); err != nil {
		t.Fatalf("%s before: %v", ev.Action, err)
	}
	if err := json.Unmarshal([]byte(ev.Detail["after"]), &after); err != nil {
		t.Fatalf("%s after: %v", ev.Action, err)
	}
	return before, after
}

func TestReleaseRuleEdits(t *testing.T) {
	e := newEnv(t)
	e.svc.Release = release.Default()
	admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
	ds, err := e.svc.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code := ds[0].Code // e.session's department
	rule := release.Rule{Department: code, Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute), ReservedPriority: 2, ReservedReferral: 1}

	desk := e.staff(t, "desk")
	logged := len(auditLog(t, e))
	wantKind(t, "the desk setting a rule", e.svc.SetReleaseRule(ctx, desk, rule), fairslot.Forbidden)
	for _, tt := range []struct {
		name  string
		r     release.Rule
		kind  fairslot.Kind
		field string
	}{
		{"a draw without a window", release.Rule{Department: code, Mode: fairslot.Draw}, fairslot.Invalid, "window"},
		{"a lottery", release.Rule{Department: code, Mode: "lottery"}, fairslot.Invalid, "mode"},
		{"a negative quota", release.Rule{Department: code, Mode: fairslot.FirstCome, ReservedReferral: -1}, fairslot.Invalid, "reserved_referral"},
		{"a jitter of two hours", release.Rule{Department: code, Mode: fairslot.FirstCome, Jitter: fairslot.Duration(2 * time.Hour)}, fairslot.Invalid, "jitter"},
		{"an unknown department", release.Rule{Department: "NOPE", Mode: fairslot.FirstCome}, fairslot.NotFound, "applies"},
		{"a department and a doctor", release.Rule{Department: code, DoctorID: e.session.DoctorID, Mode: fairslot.FirstCome}, fairslot.Invalid, "applies"},
		{"neither", release.Rule{Mode: fairslot.FirstCome}, fairslot.Invalid, "applies"},
	} {
		err := e.svc.SetReleaseRule(ctx, admin, tt.r)
		if fairslot.ErrorKind(err) != tt.kind || fairslot.ErrorField(err) != tt.field {
			t.Errorf("%s: error %v (field %q), want %s on %q", tt.name, err, fairslot.ErrorField(err), tt.kind, tt.field)
		}
	}
	if n := len(auditLog(t, e)) - logged; n != 0 {
		t.Errorf("refused rules left %d audit events", n)
	}

	if err := e.svc.SetReleaseRule(ctx, admin, rule); err != nil {
		t.Fatal(err)
	}
	before, after := beforeAfter[release.Rule](t, lastAudit(t, e, "release_rule.set"))
	if before.Mode != fairslot.FirstCome || after != rule {
		t.Errorf("audited rule change %+v → %+v, want first come → %+v", before, after, rule)
	}
	p, err := e.svc.Rules(ctx)
	if got := p.For(e.session.DoctorID, code); err != nil || got != rule {
		t.Errorf("rule in force = %+v, %v; want %+v", got, err, rule)
	}
	// A session scheduled now follows the stored rule: a draw, with its
	// reserved places kept out of first-come booking.
	sess, err := e.svc.Schedule(ctx, admin, app.ScheduleInput{DoctorID: e.session.DoctorID, Date: "2026-12-14", Period: fairslot.Afternoon,
		Start: "13:00", End: "14:00", Room: "R", FeeCents: 100, PerWindow: 3})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Session(ctx, sess.ID)
	if err != nil || v.Release.Mode != fairslot.Draw || v.Remaining != 3 {
		t.Errorf("session under the stored rule: mode %s, %d of 6 left, %v; want a draw with 3 left after 3 reserved", v.Release.Mode, v.Remaining, err)
	}

	if err := e.svc.ClearReleaseRule(ctx, admin, code, 0); err != nil {
		t.Fatal(err)
	}
	before, after = beforeAfter[release.Rule](t, lastAudit(t, e, "release_rule.clear"))
	if before != rule || after.Mode != fairslot.FirstCome || after.ReservedPriority != 0 {
		t.Errorf("audited clear %+v → %+v, want %+v → the file's first come", before, after, rule)
	}
	if p, _ := e.svc.Rules(ctx); p.For(e.session.DoctorID, code).Mode != fairslot.FirstCome {
		t.Errorf("after clearing, the department is still %s", p.For(e.session.DoctorID, code).Mode)
	}
}

func TestDoctorEditsAndRetirement(t *testing.T) {
	e := newEnv(t)
	admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
	d := fairslot.Doctor{ID: e.session.DoctorID, Name: " Dr A Renamed ", Title: fairslot.General}
	if _, err := e.svc.EditDoctor(ctx, e.staff(t, "desk"), d); fairslot.ErrorKind(err) != fairslot.Forbidden {
		t.Errorf("the desk editing a doctor: %v, want forbidden", err)
	}
	for _, tt := range []struct {
		name  string
		d     fairslot.Doctor
		kind  fairslot.Kind
		field string
	}{
		{"no name", fairslot.Doctor{ID: d.ID, Name: "  ", Title: fairslot.General}, fairslot.Invalid, "name"},
		{"a made-up title", fairslot.Doctor{ID: d.ID, Name: "X", Title: "professor"}, fairslot.Invalid, "title"},
		{"nobody", fairslot.Doctor{ID: 9999, Name: "X", Title: fairslot.General}, fairslot.NotFound, ""},
	} {
		_, err := e.svc.EditDoctor(ctx, admin, tt.d)
		if fairslot.ErrorKind(err) != tt.kind || fairslot.ErrorField(err) != tt.field {
			t.Errorf("%s: error %v, want %s on %q", tt.name, err, tt.kind, tt.field)
		}
	}
	got, err := e.svc.EditDoctor(ctx, admin, d)
	if err != nil || got.Name != "Dr A Renamed" || got.DepartmentID != e.session.DepartmentID {
		t.Fatalf("edited doctor = %+v, %v", got, err)
	}
	before, after := beforeAfter[fairslot.Doctor](t, lastAudit(t, e, "doctor.edit"))
	if before.Name != "Dr A" || before.Title != fairslot.Expert || after != got {
		t.Errorf("audited edit %+v → %+v", before, after)
	}

	got.Retired = true
	if _, err := e.svc.EditDoctor(ctx, admin, got); err != nil {
		t.Fatal(err)
	}
	if before, after := beforeAfter[fairslot.Doctor](t, lastAudit(t, e, "doctor.retire")); before.Retired || !after.Retired {
		t.Errorf("audited retirement %+v → %+v", before, after)
	}
	_, err = e.svc.Schedule(ctx, admin, app.ScheduleInput{DoctorID: got.ID, Date: "2026-12-14", Period: fairslot.Afternoon,
		Start: "13:00", End: "14:00", Room: "R", FeeCents: 100, PerWindow: 3})
	if fairslot.ErrorKind(err) != fairslot.Conflict || fairslot.ErrorField(err) != "doctor_id" {
		t.Errorf("a session for a retired doctor: %v, want a conflict on doctor_id", err)
	}
	if v, err := e.svc.Session(ctx, e.session.ID); err != nil || v.Doctor.ID != got.ID || !v.Doctor.Retired {
		t.Errorf("the retired doctor's session = %+v, %v; want it kept", v.Doctor, err)
	}
}

func TestAddPlaces(t *testing.T) {
	e := newEnv(t)
	admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
	v, err := e.svc.Session(ctx, e.later.ID) // tomorrow: 12 places, 2 a window
	if err != nil {
		t.Fatal(err)
	}
	first := v.Windows[0].Start
	wantKind(t, "the desk adding places", e.svc.AddPlaces(ctx, e.staff(t, "desk"), e.later.ID, first, 2), fairslot.Forbidden)
	for _, tt := range []struct {
		name   string
		window time.Time
		n      int
		field  string
	}{
		{"none", first, 0, "places"},
		{"too many", first, 51, "places"},
		{"a window the session has not", first.Add(time.Minute), 1, "window"},
	} {
		if err := e.svc.AddPlaces(ctx, admin, e.later.ID, tt.window, tt.n); fairslot.ErrorField(err) != tt.field {
			t.Errorf("%s: %v, want an error at %s", tt.name, err, tt.field)
		}
	}
	if err := e.svc.AddPlaces(ctx, admin, e.later.ID, first, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddPlaces(ctx, admin, e.later.ID, time.Time{}, 1); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Session(ctx, e.later.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range got.Windows {
		want := v.Windows[i].Capacity + 1
		if i == 0 {
			want += 3
		}
		if w.Capacity != want || w.Remaining != want {
			t.Errorf("window %d: %d of %d left, want %d of %d", i, w.Remaining, w.Capacity, want, want)
		}
	}
	before, after := beforeAfter[map[string]int](t, lastAudit(t, e, "session.capacity"))
	if k := first.In(loc).Format("15:04"); before[k] != 5 || after[k] != 6 {
		t.Errorf("audited capacity of %s: %d → %d, want 5 → 6", k, before[k], after[k])
	}
	// An ended session gets no places.
	e.clock.Add(48 * time.Hour)
	wantKind(t, "places in an ended session", e.svc.AddPlaces(ctx, admin, e.later.ID, time.Time{}, 1), fairslot.Conflict)
}

// TestAdminScope: an admin limited to a campus or a department changes the
// catalogue and the rules there alone; the use cases refuse the rest
// (issue 14 item 5), whatever page or API the request came from.
func TestAdminScope(t *testing.T) {
	e := newEnv(t)
	e.svc.Release = release.Default()
	var mine fairslot.Department // at a second campus
	var myDoctor fairslot.Doctor
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		home, err := tx.Department(ctx, e.session.DepartmentID)
		if err != nil {
			return err
		}
		hs, err := tx.Campuses(ctx)
		if err != nil {
			return err
		}
		c := fairslot.Campus{HospitalID: hs[0].HospitalID, Name: "East"}
		if err := tx.CreateCampus(ctx, &c); err != nil {
			return err
		}
		if c.ID == home.CampusID {
			t.Fatal("the second campus has the first's id")
		}
		mine = fairslot.Department{CampusID: c.ID, Code: "EAST", Name: "East medicine"}
		if err := tx.CreateDepartment(ctx, &mine); err != nil {
			return err
		}
		myDoctor = fairslot.Doctor{DepartmentID: mine.ID, Name: "Dr East", Title: fairslot.General}
		return tx.CreateDoctor(ctx, &myDoctor)
	})
	if err != nil {
		t.Fatal(err)
	}
	home, err := e.svc.Department(ctx, e.session.DepartmentID)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.svc.Doctor(ctx, e.session.DoctorID)
	if err != nil {
		t.Fatal(err)
	}
	date := "2026-12-14" // each admin schedules on a day of their own
	session := func(doctor int64) app.ScheduleInput {
		return app.ScheduleInput{DoctorID: doctor, Date: date, Period: fairslot.Morning, Start: "08:00", End: "09:00", Room: "R1", FeeCents: 100, PerWindow: 2}
	}
	// What each admin does, on the home department (index 0) or on the
	// second campus's (index 1).
	acts := map[string][2]func(a app.Actor) error{
		"edit a doctor": {
			func(a app.Actor) error {
				d := theirs
				d.Name = "Renamed"
				_, err := e.svc.EditDoctor(ctx, a, d)
				return err
			},
			func(a app.Actor) error {
				d := myDoctor
				d.Name = "Dr East Renamed"
				_, err := e.svc.EditDoctor(ctx, a, d)
				return err
			},
		},
		"retire a doctor": {
			func(a app.Actor) error {
				d := theirs
				d.Retired = true
				_, err := e.svc.EditDoctor(ctx, a, d)
				return err
			},
			nil,
		},
		"add a doctor": {
			func(a app.Actor) error {
				_, err := e.svc.AddDoctor(ctx, a, fairslot.Doctor{DepartmentID: home.ID, Name: "Dr New", Title: fairslot.General})
				return err
			},
			func(a app.Actor) error {
				_, err := e.svc.AddDoctor(ctx, a, fairslot.Doctor{DepartmentID: mine.ID, Name: "Dr New", Title: fairslot.General})
				return err
			},
		},
		"schedule a session": {
			func(a app.Actor) error { _, err := e.svc.Schedule(ctx, a, session(theirs.ID)); return err },
			func(a app.Actor) error { _, err := e.svc.Schedule(ctx, a, session(myDoctor.ID)); return err },
		},
		"set a department's rule": {
			func(a app.Actor) error {
				return e.svc.SetReleaseRule(ctx, a, release.Rule{Department: home.Code, Mode: fairslot.FirstCome, ReservedPriority: 3})
			},
			func(a app.Actor) error {
				return e.svc.SetReleaseRule(ctx, a, release.Rule{Department: mine.Code, Mode: fairslot.FirstCome, ReservedPriority: 3})
			},
		},
		"set a doctor's rule": {
			func(a app.Actor) error {
				return e.svc.SetReleaseRule(ctx, a, release.Rule{DoctorID: theirs.ID, Mode: fairslot.FirstCome, ReservedPriority: 3})
			},
			func(a app.Actor) error {
				return e.svc.SetReleaseRule(ctx, a, release.Rule{DoctorID: myDoctor.ID, Mode: fairslot.FirstCome, ReservedPriority: 3})
			},
		},
		"clear a department's rule": {
			func(a app.Actor) error { return e.svc.ClearReleaseRule(ctx, a, home.Code, 0) },
			func(a app.Actor) error { return e.svc.ClearReleaseRule(ctx, a, mine.Code, 0) },
		},
		"add places": {
			func(a app.Actor) error { return e.svc.AddPlaces(ctx, a, e.later.ID, time.Time{}, 1) },
			nil,
		},
	}
	for _, admin := range []struct {
		name  string
		scope app.Scope
		key   string
	}{
		{"an admin of the second campus", app.Scope{CampusID: mine.CampusID}, "error.scope.campus"},
		{"an admin of the second campus's department", app.Scope{DepartmentID: mine.ID}, "error.scope.department"},
	} {
		date = map[string]string{"error.scope.campus": "2026-12-14", "error.scope.department": "2026-12-15"}[admin.key]
		a := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin, Scope: admin.scope}
		for what, act := range acts {
			logged := len(auditLog(t, e))
			err := act[0](a)
			if key, _ := fairslot.ErrorKey(err); fairslot.ErrorKind(err) != fairslot.Forbidden || key != admin.key {
				t.Errorf("%s: %s on the home campus: %v (key %s), want forbidden, %s", admin.name, what, err, key, admin.key)
			}
			if n := len(auditLog(t, e)) - logged; n != 0 {
				t.Errorf("%s: a refused %s left %d audit events", admin.name, what, n)
			}
			if act[1] != nil {
				if err := act[1](a); err != nil {
					t.Errorf("%s: %s on their own: %v", admin.name, what, err)
				}
			}
		}
	}
	if d, _ := e.svc.Doctor(ctx, theirs.ID); d != theirs {
		t.Errorf("the home doctor after refused edits = %+v, want %+v", d, theirs)
	}
	if p, _ := e.svc.Rules(ctx); p.For(theirs.ID, home.Code).ReservedPriority != 0 {
		t.Errorf("a refused rule is in force: %+v", p.For(theirs.ID, home.Code))
	}
	if p, _ := e.svc.Rules(ctx); p.For(myDoctor.ID, mine.Code).ReservedPriority != 3 {
		t.Errorf("the own doctor's rule is not in force: %+v", p.For(myDoctor.ID, mine.Code))
	}
}

// TestAdminSessionEdits: the room and fee change, audited with before and
// after; a window loses only places nobody holds, never a patient's; a
// session out of scope, cancelled or with bad input is refused, unchanged.
func TestAdminSessionEdits(t *testing.T) {
	e := newEnv(t)
	admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
	other := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Admin, Scope: app.Scope{DepartmentID: e.other.DepartmentID}}
	sess := e.later
	if err := e.svc.EditSession(ctx, admin, sess.ID, " Room 9 ", 7550); err != nil {
		t.Fatal(err)
	}
	type roomFee struct {
		Room     string `json:"room"`
		FeeCents int64  `json:"fee_cents"`
	}
	if before, after := beforeAfter[roomFee](t, lastAudit(t, e, "session.edit")); before != (roomFee{"Room 3", 5000}) || after != (roomFee{"Room 9", 7550}) {
		t.Errorf("audited %+v → %+v, want Room 3 50.00 → Room 9 75.50", before, after)
	}
	if v, _ := e.svc.Session(ctx, sess.ID); v.Room != "Room 9" || v.FeeCents != 7550 {
		t.Errorf("session after the edit: room %q fee %d", v.Room, v.FeeCents)
	}

	acct := e.login(t, "13800000001")
	b := e.booked(t, acct, 1, sess, false)
	window := sess.Start // the booked place's window (two places)
	capacity := func() int {
		v, _ := e.svc.Session(ctx, sess.ID)
		return v.Windows[0].Capacity
	}
	desk := e.staff(t, "desk")
	logged := len(auditLog(t, e))
	for _, tt := range []struct {
		name  string
		err   error
		kind  fairslot.Kind
		field string
	}{
		{"a desk editing", e.svc.EditSession(ctx, desk, sess.ID, "X", 1), fairslot.Forbidden, ""},
		{"another department's admin editing", e.svc.EditSession(ctx, other, sess.ID, "X", 1), fairslot.Forbidden, ""},
		{"no room", e.svc.EditSession(ctx, admin, sess.ID, "  ", 1), fairslot.Invalid, "room"},
		{"a negative fee", e.svc.EditSession(ctx, admin, sess.ID, "X", -1), fairslot.Invalid, "fee"},
		{"removing the booked place too", e.svc.RemovePlaces(ctx, admin, sess.ID, window, 2), fairslot.Conflict, "places"},
		{"removing no place", e.svc.RemovePlaces(ctx, admin, sess.ID, window, 0), fairslot.Invalid, "places"},
		{"removing from no window", e.svc.RemovePlaces(ctx, admin, sess.ID, window.Add(time.Minute), 1), fairslot.Invalid, "window"},
		{"another department's admin removing", e.svc.RemovePlaces(ctx, other, sess.ID, window, 1), fairslot.Forbidden, ""},
	} {
		if fairslot.ErrorKind(tt.err) != tt.kind || fairslot.ErrorField(tt.err) != tt.field {
			t.Errorf("%s: %v (field %q), want %s on %q", tt.name, tt.err, fairslot.ErrorField(tt.err), tt.kind, tt.field)
		}
	}
	if n := len(auditLog(t, e)) - logged; n != 0 {
		t.Errorf("refused edits left %d audit events", n)
	}
	if got := capacity(); got != 2 {
		t.Errorf("capacity after refused removals = %d, want 2", got)
	}
	if err := e.svc.RemovePlaces(ctx, admin, sess.ID, window, 1); err != nil {
		t.Fatal(err)
	}
	if before, after := beforeAfter[map[string]int](t, lastAudit(t, e, "session.capacity")); before["08:00"] != 2 || after["08:00"] != 1 {
		t.Errorf("audited capacity %v → %v, want 08:00 2 → 1", before, after)
	}
	if got := capacity(); got != 1 {
		t.Errorf("capacity after removing one = %d, want 1", got)
	}
	if got, err := e.svc.Booking(ctx, acct, b.ID); err != nil || got.Status != fairslot.Confirmed {
		t.Errorf("the patient's booking after the removal: %+v, %v", got, err)
	}
	if err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.CancelSession(ctx, storage.SessionCancellation{SessionID: sess.ID, At: e.clock.Now(), Reason: "the doctor is ill"})
	}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "editing a cancelled session", e.svc.EditSession(ctx, admin, sess.ID, "Room 1", 1), fairslot.Conflict)
}

// TestAdminSites: campuses and departments added and changed, each audited
// with before and after; a campus-scoped admin works on its own campus
// only, a department-scoped one on neither; bad or taken codes refused.
func TestAdminSites(t *testing.T) {
	e := newEnv(t)
	e.svc.Release = release.Default()
	admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
	home, err := e.svc.Department(ctx, e.session.DepartmentID)
	if err != nil {
		t.Fatal(err)
	}
	east, err := e.svc.AddCampus(ctx, admin, fairslot.Campus{Name: " East "})
	if err != nil || east.Name != "East" || east.ID == 0 {
		t.Fatalf("adding a campus: %+v, %v", east, err)
	}
	if _, after := beforeAfter[*fairslot.Campus](t, lastAudit(t, e, "campus.create")); after == nil || *after != east {
		t.Errorf("audited new campus %+v, want %+v", after, east)
	}
	campusAdmin := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Admin, Scope: app.Scope{CampusID: east.ID}}
	deptAdmin := app.Actor{Kind: storage.StaffToken, ID: 97, Role: fairslot.Admin, Scope: app.Scope{DepartmentID: home.ID}}
	east.Name = "East Campus"
	if _, err := e.svc.EditCampus(ctx, campusAdmin, east); err != nil {
		t.Fatalf("renaming its own campus: %v", err)
	}
	if before, after := beforeAfter[fairslot.Campus](t, lastAudit(t, e, "campus.edit")); before.Name != "East" || after.Name != "East Campus" {
		t.Errorf("audited campus %+v → %+v", before, after)
	}
	card, err := e.svc.AddDepartment(ctx, campusAdmin, fairslot.Department{CampusID: east.ID, Code: " card ", Name: "Cardiology"})
	if err != nil || card.Code != "CARD" {
		t.Fatalf("adding a department at its own campus: %+v, %v", card, err)
	}
	if err := e.svc.SetReleaseRule(ctx, admin, release.Rule{Department: home.Code, Mode: fairslot.FirstCome, ReservedPriority: 1}); err != nil {
		t.Fatal(err)
	}
	logged := len(auditLog(t, e))
	for _, tt := range []struct {
		name  string
		err   error
		kind  fairslot.Kind
		field string
	}{
		{"a campus by a campus admin", second(e.svc.AddCampus(ctx, campusAdmin, fairslot.Campus{Name: "West"})), fairslot.Forbidden, ""},
		{"another campus renamed", second(e.svc.EditCampus(ctx, campusAdmin, fairslot.Campus{ID: home.CampusID, Name: "Mine"})), fairslot.Forbidden, ""},
		{"a campus by a department admin", second(e.svc.EditCampus(ctx, deptAdmin, fairslot.Campus{ID: home.CampusID, Name: "Mine"})), fairslot.Forbidden, ""},
		{"a department at another campus", second(e.svc.AddDepartment(ctx, campusAdmin, fairslot.Department{CampusID: home.CampusID, Code: "X", Name: "X"})), fairslot.Forbidden, ""},
		{"a department by a department admin", second(e.svc.AddDepartment(ctx, deptAdmin, fairslot.Department{CampusID: home.CampusID, Code: "X", Name: "X"})), fairslot.Forbidden, ""},
		{"a department moved away from the campus", second(e.svc.EditDepartment(ctx, campusAdmin, fairslot.Department{ID: card.ID, CampusID: home.CampusID, Code: "CARD", Name: "C"})), fairslot.Forbidden, ""},
		{"another campus's department moved here", second(e.svc.EditDepartment(ctx, campusAdmin, fairslot.Department{ID: home.ID, CampusID: east.ID, Code: home.Code, Name: "C"})), fairslot.Forbidden, ""},
		{"a code taken", second(e.svc.AddDepartment(ctx, admin, fairslot.Department{CampusID: east.ID, Code: "CARD", Name: "Again"})), fairslot.Conflict, "code"},
		{"a code changed to a taken one", second(e.svc.EditDepartment(ctx, admin, fairslot.Department{ID: card.ID, CampusID: east.ID, Code: home.Code, Name: "C"})), fairslot.Conflict, "code"},
		{"a code a rule names", second(e.svc.EditDepartment(ctx, admin, fairslot.Department{ID: home.ID, CampusID: home.CampusID, Code: "NEW", Name: home.Name})), fairslot.Conflict, "code"},
		{"a code with a space", second(e.svc.AddDepartment(ctx, admin, fairslot.Department{CampusID: east.ID, Code: "A B", Name: "X"})), fairslot.Invalid, "code"},
		{"no name", second(e.svc.AddDepartment(ctx, admin, fairslot.Department{CampusID: east.ID, Code: "AB", Name: " "})), fairslot.Invalid, "name"},
		{"no campus", second(e.svc.AddDepartment(ctx, admin, fairslot.Department{CampusID: east.ID + 100, Code: "AB", Name: "X"})), fairslot.Invalid, "campus_id"},
		{"a campus without a name", second(e.svc.AddCampus(ctx, admin, fairslot.Campus{Name: ""})), fairslot.Invalid, "name"},
	} {
		if fairslot.ErrorKind(tt.err) != tt.kind || fairslot.ErrorField(tt.err) != tt.field {
			t.Errorf("%s: %v (field %q), want %s on %q", tt.name, tt.err, fairslot.ErrorField(tt.err), tt.kind, tt.field)
		}
	}
	if n := len(auditLog(t, e)) - logged; n != 0 {
		t.Errorf("refused changes left %d audit events", n)
	}
	moved := fairslot.Department{ID: card.ID, CampusID: east.ID, Code: "HEART", Name: "Heart"}
	if _, err := e.svc.EditDepartment(ctx, campusAdmin, moved); err != nil {
		t.Fatal(err)
	}
	if before, after := beforeAfter[fairslot.Department](t, lastAudit(t, e, "department.edit")); before != card || after != moved {
		t.Errorf("audited department %+v → %+v, want %+v → %+v", before, after, card, moved)
	}
}

// TestMovingADepartmentTakesItsLogins: a login scoped to a department at its
// campus follows the department to another campus, audited as a scope
// change; a login scoped to the old campus alone stays there; and the
// database refuses a scope whose department is not at its campus, however
// it is written.
func TestMovingADepartmentTakesItsLogins(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := backendEnv(t, backend)
			e.svc.Release = release.Default()
			admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
			home, err := e.svc.Department(ctx, e.session.DepartmentID)
			if err != nil {
				t.Fatal(err)
			}
			old := home.CampusID
			scope := func(user string, campus, dept int64) fairslot.Staff {
				t.Helper()
				st, err := e.svc.SetStaffScope(ctx, admin, user, func(sc *app.Scope) { sc.CampusID, sc.DepartmentID = campus, dept })
				if err != nil {
					t.Fatalf("scoping %s: %v", user, err)
				}
				return st
			}
			desk := scope("desk", old, home.ID)
			scope("doc", old, 0)
			east, err := e.svc.AddCampus(ctx, admin, fairslot.Campus{Name: "East"})
			if err != nil {
				t.Fatal(err)
			}
			home.CampusID = east.ID
			if _, err := e.svc.EditDepartment(ctx, admin, home); err != nil {
				t.Fatalf("moving the department: %v", err)
			}
			staff := func(user string) fairslot.Staff {
				t.Helper()
				var st fairslot.Staff
				if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { st, _, err = tx.StaffByUsername(ctx, user); return err }); err != nil {
					t.Fatal(err)
				}
				return st
			}
			if st := staff("desk"); st.CampusID != east.ID || st.DepartmentID != home.ID {
				t.Errorf("the department's login after the move: campus %d department %d, want %d and %d", st.CampusID, st.DepartmentID, east.ID, home.ID)
			}
			if st := staff("doc"); st.CampusID != old || st.DepartmentID != 0 {
				t.Errorf("the old campus's login after the move: campus %d department %d, want %d alone", st.CampusID, st.DepartmentID, old)
			}
			ev := lastAudit(t, e, "staff.scope")
			if ev.Subject != fmt.Sprintf("staff:%d", desk.ID) || ev.Detail["campus"] != fmt.Sprint(east.ID) || ev.Detail["department"] != fmt.Sprint(home.ID) {
				t.Errorf("audited scope change %s %v, want staff:%d at campus %d", ev.Subject, ev.Detail, desk.ID, east.ID)
			}
			// The database itself keeps scopes whole, whatever writes them.
			err = e.svc.Store.Update(ctx, func(tx storage.Tx) error { return tx.SetStaffScope(ctx, desk.ID, 0, old, home.ID) })
			if err == nil {
				t.Error("the store took a scope whose department is at another campus")
			}
			if st := staff("desk"); st.CampusID != east.ID {
				t.Errorf("a refused scope left campus %d", st.CampusID)
			}
		})
	}
}
