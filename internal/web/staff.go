package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

type ctxKey int

const staffKey ctxKey = 0

// The kiosk, the staff console and the display boards: internal only.
func (p *Pages) staffRoutes(h func(string, handler)) {
	p.accessRoutes(h)        // access.go
	p.revealRoutes(h)        // reveal.go
	p.kitRoutes(h)           // kit.go
	p.sessionCancelRoutes(h) // sessioncancel.go
	p.riskStaffRoutes(h)     // riskreview.go
	p.referralStaffRoutes(h) // referral.go
	h("GET /staff/login", func(w http.ResponseWriter, r *http.Request) error {
		return p.render(w, r, 200, "stafflogin", "stafflogin.title", p.API.App.DemoMode)
	})
	p.staffAuthRoutes(h) // staffauth.go: sign-in steps, step-up, staff accounts
	h("POST /staff/logout", p.staff(p.logout(StaffCookie, "/staff/login")))
	h("GET /staff", p.staff(p.console))
	h("GET /staff/desk", p.staffFor(fairslot.ActLookup, func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		return p.render(w, r, 200, "desk", "desk.title", newDeskPage(a))
	}))
	h("POST /staff/desk", p.staff(p.lookup))
	h("POST /staff/desk/bind", p.staff(p.deskBind)) // binding.go
	h("GET /staff/sessions/{id}", p.staff(p.room))
	h("POST /staff/sessions/{id}/call-next", p.staff(p.roomAction(func(r *http.Request, a app.Actor, session, _ int64) error {
		_, err := p.API.App.CallNext(r.Context(), a, session)
		return err
	})))
	for action, fn := range map[string]func(context.Context, app.Actor, int64) error{
		"recall": p.API.App.Recall, "missed": p.API.App.Missed, "complete": p.API.App.Complete,
	} {
		h("POST /staff/sessions/{id}/bookings/{booking}/"+action, p.staff(p.roomAction(func(r *http.Request, a app.Actor, _, booking int64) error {
			return fn(r.Context(), a, booking)
		})))
	}
	h("POST /staff/sessions/{id}/extra-slot", p.staff(p.roomAction(func(r *http.Request, a app.Actor, session, _ int64) error {
		_, err := p.API.App.AddExtraSlot(r.Context(), a, session, app.ExtraSlotInput{Reason: r.PostFormValue("reason")})
		return err
	})))
	h("POST /staff/sessions/{id}/draw", p.staff(p.roomAction(func(r *http.Request, a app.Actor, session, _ int64) error {
		_, err := p.API.App.RunDraw(r.Context(), a, session)
		return err
	})))
	p.adminRoutes(h) // admin.go

	p.kioskRoutes(h) // kiosk.go

	h("GET /board", func(w http.ResponseWriter, r *http.Request) error {
		ds, err := p.API.App.Departments(r.Context())
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "boards", "boards.title", ds)
	})
	h("GET /board/{id}", p.board)
}

// staffFor is staff for a page that is the form of one action: a role that
// may not take the action is refused the page, as the action itself would
// refuse it, instead of being shown a form it cannot use (issue 14 item 6).
func (p *Pages) staffFor(act fairslot.Action, fn func(http.ResponseWriter, *http.Request, app.Actor) error) handler {
	return p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		if err := p.API.App.MayAct(a, act); err != nil {
			return err
		}
		return fn(w, r, a)
	})
}

// staff adapts a page that needs a logged-in staff member.
func (p *Pages) staff(fn func(http.ResponseWriter, *http.Request, app.Actor) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := p.loggedIn(w, r, StaffCookie, storage.StaffToken)
		if err == httpapi.ErrKioskOnly {
			// A kiosk is sent back to its start; its error pages link
			// nowhere else (render and fail read the role).
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				return see(w, r, "/kiosk")
			}
			p.fail(w, r.WithContext(context.WithValue(r.Context(), staffKey, fairslot.Kiosk)), err)
			return nil
		}
		if err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), staffKey, a.Role))
		err = fn(w, r, a)
		if err != nil && a.Role == fairslot.Kiosk {
			p.fail(w, r, err)
			return nil
		}
		return err
	}
}

// today is the hospital's date now.
func (p *Pages) today() string {
	return p.API.App.Now().In(p.API.App.Location).Format(time.DateOnly)
}

type consolePage struct {
	Departments []fairslot.Department
	Sessions    []consoleSession // today's, as filtered
	Today       string
	// Kit lists the departments whose downtime list this login may print
	// (kit.go).
	Kit []fairslot.Department
	// The filters (campus, department, doctor, time of day), their
	// choices, and the patients waiting in the sessions shown.
	Filter   consoleFilter
	Campuses []fairslot.Campus
	Doctors  []fairslot.Doctor
	Periods  []fairslot.Period
	// Tiles are the console's links to the other staff screens, only
	// those this login's role may use.
	Tiles   []consoleTile
	Waiting int
}

type consoleSession struct {
	app.SessionView
	Department string
	Waiting    int // checked in, not yet called
}

// consoleFilter is the console's query: zero shows all.
type consoleFilter struct {
	Campus, Department, Doctor int64
	Period                     fairslot.Period
}

func (f consoleFilter) keeps(s app.SessionView, d fairslot.Department) bool {
	return (f.Campus == 0 || d.CampusID == f.Campus) && (f.Department == 0 || s.DepartmentID == f.Department) &&
		(f.Doctor == 0 || s.DoctorID == f.Doctor) && (f.Period == "" || s.Period == f.Period)
}

func (p *Pages) console(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	ctx, q := r.Context(), r.URL.Query()
	c := consolePage{Today: p.today(), Periods: []fairslot.Period{fairslot.Morning, fairslot.Afternoon}}
	id := func(k string) int64 { n, _ := strconv.ParseInt(q.Get(k), 10, 64); return n }
	c.Filter = consoleFilter{Campus: id("campus"), Department: id("department"), Doctor: id("doctor")}
	if pd := fairslot.Period(q.Get("period")); slices.Contains(c.Periods, pd) {
		c.Filter.Period = pd
	}
	var err error
	if c.Departments, err = p.API.App.Departments(ctx); err != nil {
		return err
	}
	if c.Campuses, err = p.API.App.Campuses(ctx); err != nil {
		return err
	}
	all, err := p.API.App.Sessions(ctx, storage.SessionFilter{From: c.Today, To: c.Today})
	if err != nil {
		return err
	}
	depts := map[int64]fairslot.Department{}
	var ids []int64
	for _, d := range c.Departments {
		depts[d.ID] = d
		if c.Filter.Campus == 0 || d.CampusID == c.Filter.Campus {
			ids = append(ids, d.ID)
		}
	}
	waiting, err := p.API.App.Waiting(ctx, c.Today, ids)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, s := range all {
		d := depts[s.DepartmentID]
		if !seen[s.DoctorID] && (c.Filter.Campus == 0 || d.CampusID == c.Filter.Campus) &&
			(c.Filter.Department == 0 || s.DepartmentID == c.Filter.Department) {
			seen[s.DoctorID] = true
			c.Doctors = append(c.Doctors, s.Doctor)
		}
		if c.Filter.keeps(s, d) {
			c.Sessions = append(c.Sessions, consoleSession{SessionView: s, Department: d.Name, Waiting: waiting[s.ID]})
			c.Waiting += waiting[s.ID]
		}
	}
	if c.Kit, err = p.API.App.KitDepartments(ctx, a); err != nil {
		return err
	}
	for _, t := range consoleTiles {
		if slices.ContainsFunc(t.act, a.Role.Can) {
			c.Tiles = append(c.Tiles, t.consoleTile)
		}
	}
	return p.render(w, r, 200, "console", "console.title", c)
}

type consoleTile struct{ Href, Key string }

// consoleTiles are the staff screens a console links to, each with the
// action its role must have to use it (the pages' GETs are open to every
// staff login; the use cases refuse the rest).
var consoleTiles = []struct {
	consoleTile
	act []fairslot.Action // any of
}{
	{consoleTile{"/staff/desk", "desk.title"}, []fairslot.Action{fairslot.ActLookup}},
	{consoleTile{"/kiosk", "kiosk.title"}, []fairslot.Action{fairslot.ActCheckIn}},
	{consoleTile{"/kiosk/walk-in", "walkin.title"}, []fairslot.Action{fairslot.ActWalkIn}},
	{consoleTile{"/staff/admin", "admin.title"}, []fairslot.Action{fairslot.ActViewQueue}},
	{consoleTile{"/board", "boards.title"}, []fairslot.Action{fairslot.ActViewQueue}},
	{consoleTile{"/staff/referrals", "referral.queue.title"}, []fairslot.Action{fairslot.ActReviewReferral}},
	{consoleTile{"/staff/accounts", "staffauth.accounts.title"}, []fairslot.Action{fairslot.ActStaff, fairslot.ActSecurity}},
	{consoleTile{"/staff/risk", "risk.review.title"}, []fairslot.Action{fairslot.ActRisk}},
}

type deskPage struct {
	IDTypes   []fairslot.IDType
	Reasons   []access.Reason
	Found     []app.BookingView
	Searched  bool
	CanReveal bool   // the reveal form beside each booking found (reveal.go)
	CanBind   bool   // the binding form (binding.go)
	Bound     string // the masked name of a patient the desk just bound (binding.go)
}

// newDeskPage is the desk's page for a's role: only the forms it may use.
func newDeskPage(a app.Actor) deskPage {
	return deskPage{IDTypes: idTypes, Reasons: access.Reasons, CanReveal: a.Role.Can(fairslot.ActReveal), CanBind: a.Role.Can(fairslot.ActBindCheck)}
}

func (p *Pages) lookup(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	in := app.LookupInput{Code: r.PostFormValue("code"), IDType: fairslot.IDType(r.PostFormValue("id_type")), IDNumber: r.PostFormValue("id_number"),
		Reason: access.Reason(r.PostFormValue("reason")), Note: r.PostFormValue("note")}
	if in.Code != "" {
		in.IDType, in.IDNumber = "", ""
	}
	found, err := p.API.App.Lookup(r.Context(), a, in)
	if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error {
			return p.render(w, r, 200, "desk", "desk.title", newDeskPage(a))
		})
	}
	d := newDeskPage(a)
	d.Found, d.Searched = found, true
	return p.render(w, r, 200, "desk", "desk.title", d)
}

type roomPage struct {
	Session app.SessionView
	Queue   []app.QueueItem
	Called  *app.QueueItem
	// CanReveal shows the reveal form (reveal.go) beside each patient.
	CanReveal bool
}

func (p *Pages) room(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rp, err := p.roomData(r, a, id) // live.go
	if err != nil {
		return err
	}
	return p.render(w, r, 200, "room", "room.title", rp)
}

// roomAction does fn from a room's page (the path's session and, where
// there is one, booking) and goes back to the page it came from.
func (p *Pages) roomAction(fn func(r *http.Request, a app.Actor, session, booking int64) error) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		session, err := pathID(r)
		if err != nil {
			return err
		}
		var booking int64
		if s := r.PathValue("booking"); s != "" {
			if booking, err = strconv.ParseInt(s, 10, 64); err != nil || booking <= 0 {
				return fairslot.E(fairslot.NotFound, "error.booking.no_such", "no such booking")
			}
		}
		if err := fn(r, a, session, booking); err != nil {
			// The page the button was on again, the reason at the top:
			// the room, or the session's admin page.
			page := p.room
			if r.PostFormValue("back") == "admin" {
				page = p.adminSession
			}
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return page(w, r, a) })
		}
		back := "/staff/sessions/" + strconv.FormatInt(session, 10)
		if r.PostFormValue("back") == "admin" {
			back = adminBack(r, session) // admin.go
		}
		return see(w, r, back)
	}
}

type walkInPage struct {
	Sessions   []app.SessionView
	IDTypes    []fairslot.IDType
	Priorities []string
	// ConfirmPriority shows the priority groups and the reason: to staff
	// who may confirm them, never to a kiosk (issue 13 item 2).
	ConfirmPriority bool
}

func (p *Pages) walkInForm(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	ss, err := p.API.App.Sessions(r.Context(), storage.SessionFilter{From: p.today(), To: p.today()})
	if err != nil {
		return err
	}
	// Only sessions a walk-in can still join: one that ended takes nobody.
	ss = slices.DeleteFunc(ss, func(s app.SessionView) bool { return s.Ended })
	return p.render(w, r, 200, "walkin", "walkin.title", walkInPage{Sessions: ss, IDTypes: idTypes, Priorities: fairslot.PriorityGroups,
		ConfirmPriority: a.Role.Can(fairslot.ActConfirmPriority)})
}

// walkIn registers a walk-in; a refusal (a wrong ID number, a session
// that ended) shows the form again as typed, the reason beside its field.
func (p *Pages) walkIn(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	session, err := formID(r, "session_id")
	var res app.CheckInResult
	if err == nil {
		res, err = p.API.App.WalkIn(r.Context(), a, app.WalkInInput{SessionID: session, Patient: patientInput(r),
			Priority: r.PostFormValue("priority"), PriorityReason: r.PostFormValue("priority_reason"), Referral: r.PostFormValue("referral") == "on"})
	}
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.walkInForm(w, r, a) })
	}
	if res.Booking.Status == fairslot.Held {
		// A kiosk's walk-in with a fee: paid as a held booking is there,
		// proven by its code and the last four of the ID number just typed.
		id := strings.ToUpper(strings.TrimSpace(r.PostFormValue("id_number")))
		return p.kioskPayForm(w, r, res.Booking, res.Booking.Code, id[max(len(id)-4, 0):])
	}
	return p.render(w, r, 200, "ticket", "ticket.title", res)
}

type boardPage struct {
	Department fairslot.Department
	app.BoardView
}

func (p *Pages) board(w http.ResponseWriter, r *http.Request) error {
	var b boardPage
	var err error
	if b.Department, err = p.pathDepartment(r); err != nil {
		return err
	}
	if b.BoardView, err = p.API.App.Board(r.Context(), b.Department.ID); err != nil {
		return err
	}
	return p.render(w, r, 200, "board", "board.title", b)
}
