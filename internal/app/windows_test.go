package app_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// specsOf is the window form as the page fills it: every window as it is.
func specsOf(uses []fairslot.WindowUse) []app.WindowSpec {
	var out []app.WindowSpec
	for _, u := range uses {
		s, e := u.Start.Format("15:04"), u.End.Format("15:04")
		out = append(out, app.WindowSpec{From: s, FromEnd: e, Start: s, End: e, Capacity: u.Capacity})
	}
	return out
}

// windowsOf is a session's windows as "HH:MM-HH:MM/places", booked.
func windowsOf(t *testing.T, e *env, id int64) []string {
	t.Helper()
	uses, err := e.svc.WindowUses(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range uses {
		out = append(out, fmt.Sprintf("%s-%s/%d", u.Start.Format("15:04"), u.End.Format("15:04"), u.Capacity))
	}
	return out
}

// TestEditWindows: an admin moves, removes, adds and resizes a session's
// time windows, audited with the windows before and after; a booked
// window keeps its times and its booked places, bad windows are refused
// with the reason on the form's field, and a role or scope that may not
// change the session is refused; nothing refused changes or logs
// anything. On both backends.
func TestEditWindows(t *testing.T) {
	forBackends(t, func(t *testing.T, re *rightsEnv) {
		e := re.env
		admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
		other := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Admin, Scope: app.Scope{DepartmentID: e.other.DepartmentID}}
		sess := e.later // 2026-12-11 08:00–20:00, six windows of two places from 08:00
		acct := e.login(t, "13800000001")
		b1 := e.booked(t, acct, 1, sess, false)
		e.booked(t, acct, 2, sess, false) // both places of 08:00–08:30
		uses, err := e.svc.WindowUses(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(uses) != 6 || uses[0].Taken != 2 || uses[1].Taken != 0 {
			t.Fatalf("windows before: %+v", uses)
		}
		same := specsOf(uses)
		with := func(i int, f func(w *app.WindowSpec)) []app.WindowSpec {
			ws := append([]app.WindowSpec(nil), same...)
			f(&ws[i])
			return ws
		}
		plus := func(w app.WindowSpec) []app.WindowSpec { return append(append([]app.WindowSpec(nil), same...), w) }
		before := windowsOf(t, e, sess.ID)
		desk, doctor := e.staff(t, "desk"), e.staff(t, "doc")
		logged := len(auditLog(t, e))
		for _, tt := range []struct {
			name string
			a    app.Actor
			ws   []app.WindowSpec
			kind fairslot.Kind
			key  string
		}{
			{"the desk", desk, same, fairslot.Forbidden, ""},
			{"a doctor", doctor, same, fairslot.Forbidden, ""},
			{"another department's admin", other, same, fairslot.Forbidden, "error.scope.department"},
			{"moving a booked window", admin, with(0, func(w *app.WindowSpec) { w.Start = "08:05" }), fairslot.Conflict, "error.windows.booked_move"},
			{"shrinking a booked window below its bookings", admin, with(0, func(w *app.WindowSpec) { w.Capacity = 1 }), fairslot.Conflict, "error.windows.booked_shrink"},
			{"removing a booked window", admin, same[1:], fairslot.Conflict, "error.windows.booked_remove"},
			{"overlapping windows", admin, plus(app.WindowSpec{Start: "09:10", End: "09:20", Capacity: 1}), fairslot.Invalid, "error.windows.overlap"},
			{"an end before the start", admin, with(2, func(w *app.WindowSpec) { w.Start, w.End = "09:20", "09:10" }), fairslot.Invalid, "error.windows.order"},
			{"a window outside the session", admin, plus(app.WindowSpec{Start: "20:00", End: "20:30", Capacity: 1}), fairslot.Invalid, "error.windows.outside"},
			{"a window before the session", admin, plus(app.WindowSpec{Start: "07:40", End: "08:00", Capacity: 1}), fairslot.Invalid, "error.windows.outside"},
			{"a window of 45 minutes", admin, plus(app.WindowSpec{Start: "12:00", End: "12:45", Capacity: 1}), fairslot.Invalid, "error.windows.long"},
			{"no places", admin, with(3, func(w *app.WindowSpec) { w.Capacity = 0 }), fairslot.Invalid, "error.windows.capacity"},
			{"negative places", admin, with(3, func(w *app.WindowSpec) { w.Capacity = -2 }), fairslot.Invalid, "error.windows.capacity"},
			{"a huge number of places", admin, with(3, func(w *app.WindowSpec) { w.Capacity = 1 << 40 }), fairslot.Invalid, "error.windows.capacity"},
			{"a time that is not one", admin, with(3, func(w *app.WindowSpec) { w.End = "25:00" }), fairslot.Invalid, "error.windows.time"},
			{"a window the session never had", admin, with(3, func(w *app.WindowSpec) { w.From = "09:45" }), fairslot.Invalid, "error.windows.unknown"},
			{"no window at all", admin, nil, fairslot.Invalid, "error.windows.none"},
		} {
			_, err := e.svc.EditWindows(ctx, tt.a, sess.ID, tt.ws)
			key, _ := fairslot.ErrorKey(err)
			if fairslot.ErrorKind(err) != tt.kind || (tt.key != "" && key != tt.key) {
				t.Errorf("%s: %v (key %s), want %s %s", tt.name, err, key, tt.kind, tt.key)
			}
			if tt.kind != fairslot.Forbidden && fairslot.ErrorField(err) != "windows" {
				t.Errorf("%s: the refusal is about %q, want the windows field", tt.name, fairslot.ErrorField(err))
			}
		}
		if n := len(auditLog(t, e)) - logged; n != 0 {
			t.Errorf("refused edits left %d audit events", n)
		}
		if got := windowsOf(t, e, sess.ID); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("windows after refused edits %v, want %v", got, before)
		}

		// Move 09:00 to 09:05, grow 08:30 to four places, remove 10:30,
		// shift 09:30 and 10:00 a quarter later, and add 18:00–18:20 with
		// five places; the booked window grows by one.
		plan := append([]app.WindowSpec(nil), same[:5]...)
		plan[0].Capacity = 3
		plan[1].Capacity = 4
		plan[2].Start = "09:05"
		plan[3].Start, plan[3].End = "09:45", "10:15"
		plan[4].Start, plan[4].End = "10:15", "10:45"
		plan = append(plan, app.WindowSpec{Start: "18:00", End: "18:20", Capacity: 5})
		if changed, err := e.svc.EditWindows(ctx, admin, sess.ID, plan); err != nil || !changed {
			t.Fatal(err)
		}
		want := "[08:00-08:30/3 08:30-09:00/4 09:05-09:30/2 09:45-10:15/2 10:15-10:45/2 18:00-18:20/5]"
		if got := windowsOf(t, e, sess.ID); fmt.Sprint(got) != want {
			t.Errorf("windows after the edit %v, want %s", got, want)
		}
		type window struct {
			Start, End string
			Places     int
		}
		was, now := beforeAfter[[]window](t, lastAudit(t, e, "session.windows"))
		if len(was) != 6 || was[5] != (window{"10:30", "11:00", 2}) || len(now) != 6 || now[5] != (window{"18:00", "18:20", 5}) {
			t.Errorf("audited %v → %v", was, now)
		}
		// The form sent again as it now is changes nothing, and says so.
		cur, err := e.svc.WindowUses(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		audited := len(auditLog(t, e))
		if changed, err := e.svc.EditWindows(ctx, admin, sess.ID, specsOf(cur)); err != nil || changed {
			t.Errorf("the windows sent again as they are: changed %v, %v; want nothing changed", changed, err)
		}
		if n := len(auditLog(t, e)) - audited; n != 0 {
			t.Errorf("an edit that changed nothing left %d audit events", n)
		}
		if got, err := e.svc.Booking(ctx, acct, b1.ID); err != nil || got.Status != fairslot.Confirmed || !got.WindowStart.Equal(b1.WindowStart) {
			t.Errorf("the booked patient after the edit: %+v, %v (was at %v)", got, err, b1.WindowStart)
		}
		// A new window is booked like any other.
		day, _ := time.ParseInLocation(time.DateOnly, sess.Date, loc)
		p := e.bind(t, acct, "病人3号", 3)
		if _, err := e.svc.Hold(ctx, acct, app.HoldInput{SessionID: sess.ID, PatientID: p.ID, WindowStart: day.Add(18 * time.Hour), RequestKey: "k3"}); err != nil {
			t.Errorf("booking the new window: %v", err)
		}

		// Once the session has begun its windows stay; a cancelled session
		// is not changed either.
		now2 := windowsOf(t, e, sess.ID)
		e.clock.Add(day.Add(8*time.Hour + time.Minute).Sub(e.clock.Now()))
		cur, _ = e.svc.WindowUses(ctx, sess.ID)
		_, err = e.svc.EditWindows(ctx, admin, sess.ID, specsOf(cur)[1:])
		if key, _ := fairslot.ErrorKey(err); key != "error.windows.started" {
			t.Errorf("editing a running session's windows: %v, want error.windows.started", err)
		}
		if err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
			return tx.CancelSession(ctx, storage.SessionCancellation{SessionID: sess.ID, At: e.clock.Now(), Reason: "the doctor is ill"})
		}); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "editing a cancelled session's windows", second(e.svc.EditWindows(ctx, admin, sess.ID, specsOf(cur))), fairslot.Conflict)
		if got := windowsOf(t, e, sess.ID); fmt.Sprint(got) != fmt.Sprint(now2) {
			t.Errorf("windows after refused edits %v, want %v", got, now2)
		}
	})
}

// TestWindowStorageRefuses: the database itself keeps a booked place's
// times and windows apart, whoever writes (migration 0032).
func TestWindowStorageRefuses(t *testing.T) {
	forBackends(t, func(t *testing.T, re *rightsEnv) {
		e := re.env
		sess := e.later
		acct := e.login(t, "13800000001")
		e.booked(t, acct, 1, sess, false) // 08:00–08:30
		at := func(hhmm string) time.Time {
			d, _ := time.ParseInLocation(time.DateOnly+" 15:04", sess.Date+" "+hhmm, loc)
			return d
		}
		for _, tt := range []struct {
			name string
			fn   func(tx storage.Tx) error
		}{
			{"moving a booked window", func(tx storage.Tx) error {
				return tx.MoveWindow(ctx, sess.ID, at("08:00"), at("08:30"), at("08:05"), at("08:35"))
			}},
			{"moving a window onto another", func(tx storage.Tx) error {
				return tx.MoveWindow(ctx, sess.ID, at("09:00"), at("09:30"), at("09:15"), at("09:45"))
			}},
			{"moving a window out of the session", func(tx storage.Tx) error {
				return tx.MoveWindow(ctx, sess.ID, at("10:30"), at("11:00"), at("19:50"), at("20:20"))
			}},
			{"removing a booked window", func(tx storage.Tx) error { return tx.RemoveWindow(ctx, sess.ID, at("08:00"), at("08:30")) }},
			{"a place across two windows", func(tx storage.Tx) error {
				s := fairslot.Slot{SessionID: sess.ID, Start: at("08:15"), End: at("08:45"), Quota: fairslot.QuotaGeneral}
				return tx.AddSlot(ctx, &s)
			}},
		} {
			err := e.svc.Store.Update(ctx, tt.fn)
			if key, _ := fairslot.ErrorKey(err); fairslot.ErrorKind(err) != fairslot.Conflict || key != "error.windows.refused" {
				t.Errorf("%s: %v, want the database's refusal", tt.name, err)
			}
		}
		if got := fmt.Sprint(windowsOf(t, e, sess.ID)); got != "[08:00-08:30/2 08:30-09:00/2 09:00-09:30/2 09:30-10:00/2 10:00-10:30/2 10:30-11:00/2]" {
			t.Errorf("windows after refused writes: %s", got)
		}
	})
}

// TestWindowEditRacesBookings: patients book a window while an admin
// moves it and takes its places away; however they interleave, no window
// holds more live bookings than places, and no booked place's time moved.
func TestWindowEditRacesBookings(t *testing.T) {
	forBackends(t, func(t *testing.T, re *rightsEnv) {
		e := re.env
		admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
		sess := e.later
		uses, err := e.svc.WindowUses(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		plan := specsOf(uses)
		plan[5].Capacity = 8 // 10:30–11:00: the window raced
		if _, err := e.svc.EditWindows(ctx, admin, sess.ID, plan); err != nil {
			t.Fatal(err)
		}
		day, _ := time.ParseInLocation(time.DateOnly, sess.Date, loc)
		raced := day.Add(10*time.Hour + 30*time.Minute)
		type booker struct {
			a       app.Actor
			patient int64
		}
		var bookers []booker
		for i := range 8 {
			a := e.login(t, fmt.Sprintf("139000000%02d", i))
			bookers = append(bookers, booker{a, e.bind(t, a, fmt.Sprintf("病人%d号", 10+i), 10+i).ID})
		}
		var wg sync.WaitGroup
		held := make(chan app.BookingView, len(bookers))
		edited := make(chan struct{})
		for i, b := range bookers {
			wg.Go(func() {
				// A hold refused while the window stands elsewhere tries
				// again, until one try has come after the last edit: the
				// window is back at 10:30 then, so the race always books
				// someone, however the scheduler orders the goroutines.
				for {
					last := false
					select {
					case <-edited:
						last = true
					default:
					}
					v, err := e.svc.Hold(ctx, b.a, app.HoldInput{SessionID: sess.ID, PatientID: b.patient, WindowStart: raced, RequestKey: fmt.Sprint("race", i)})
					if err == nil {
						held <- v
						return
					}
					if last {
						return
					}
					runtime.Gosched()
				}
			})
		}
		wg.Go(func() {
			defer close(edited)
			// Move the window a quarter later and back, and shrink it,
			// over and over, each try refused or done whole.
			for i := range 12 {
				cur, err := e.svc.WindowUses(ctx, sess.ID)
				if err != nil {
					return
				}
				ws := specsOf(cur)
				last := &ws[len(ws)-1]
				switch i % 3 {
				case 0:
					last.Start, last.End = "10:40", "11:10"
				case 1:
					last.Start, last.End = "10:30", "11:00"
				default:
					last.Capacity = max(last.Capacity-1, 1)
				}
				e.svc.EditWindows(ctx, admin, sess.ID, ws)
			}
		})
		wg.Wait()
		close(held)
		over := re.raw(t, `SELECT count(*) FROM (SELECT sl.start_ms FROM slots sl
			LEFT JOIN bookings b ON b.slot_id = sl.id AND b.status NOT IN ('cancelled', 'expired')
			WHERE sl.session_id = ? GROUP BY sl.start_ms, sl.end_ms HAVING count(b.id) > count(DISTINCT sl.id)) x`, sess.ID)
		if over != 0 {
			t.Errorf("%d windows hold more bookings than places", over)
		}
		n := 0
		for v := range held {
			n++
			i := slices.IndexFunc(bookers, func(b booker) bool { return b.patient == v.PatientID })
			got, err := e.svc.Booking(ctx, bookers[i].a, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.WindowStart.Equal(v.WindowStart) || !got.WindowEnd.Equal(v.WindowEnd) {
				t.Errorf("booking %d was told %v–%v and now is at %v–%v", v.ID, v.WindowStart, v.WindowEnd, got.WindowStart, got.WindowEnd)
			}
		}
		if n == 0 {
			t.Error("no patient booked during the race: it tested nothing")
		}
	})
}
