package web

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// The admin pages (issue 14 items 5 and 6): an overview of the campuses
// and their departments, and paged, filterable lists of doctors and
// sessions, each with its own page, and the release rules. Every staff
// role but the kiosk may read them; a form shows only to a role that may
// use it, and the use case refuses the others all the same. After a
// change the page it lands on says what was done (done), read from the
// address by a known key and an id, never text from the address.

// Page sizes: a week of a 3-campus hospital's sessions runs to thousands.
const (
	sessionsPerPage = 25
	doctorsPerPage  = 50
)

func (p *Pages) adminRoutes(h func(string, handler)) {
	h("GET /staff/admin", p.staff(p.adminOverview))
	h("POST /staff/admin/campuses", p.staff(p.addCampus))
	h("POST /staff/admin/campuses/{id}", p.staff(p.editCampus))
	h("POST /staff/admin/departments", p.staff(p.addDepartment))
	h("POST /staff/admin/departments/{id}", p.staff(p.editDepartment))
	h("GET /staff/admin/doctors", p.staff(p.adminDoctors))
	h("POST /staff/admin/doctors", p.staff(p.addDoctor))
	h("GET /staff/admin/doctors/{id}", p.staff(p.adminDoctor))
	h("POST /staff/admin/doctors/{id}", p.staff(p.editDoctor))
	h("GET /staff/admin/sessions", p.staff(p.adminSessions))
	h("POST /staff/admin/sessions", p.staff(p.schedule))
	h("GET /staff/admin/sessions/{id}", p.staff(p.adminSession))
	h("POST /staff/admin/sessions/{id}", p.staff(p.editSession))
	h("POST /staff/admin/sessions/{id}/places", p.staff(p.addPlaces))
	h("POST /staff/admin/sessions/{id}/remove-places", p.staff(p.removePlaces))
	h("POST /staff/admin/sessions/{id}/windows", p.staff(p.editWindows)) // windows.go
	h("GET /staff/admin/rules", p.staff(p.adminRules))
	h("POST /staff/admin/rules", p.staff(p.setRule))
	h("POST /staff/admin/rules/clear", p.staff(p.clearRule))
}

// adminBase is what every admin page shows: what was just done, and which
// forms the role may use.
type adminBase struct {
	Done    *done
	Edit    bool // departments, doctors, sessions and rules (fairslot.ActSchedule)
	AddSlot bool // an extra slot (fairslot.ActAddSlot)
	Draw    bool // run a due draw (fairslot.ActDraw)
	Staff   bool // staff accounts (fairslot.ActStaff)

	scope app.Scope
}

// Mine reports whether the login may change department d and what is in
// it (its doctors, sessions and rules): Edit, within its campus or
// department if it has one — the use cases' own rule (app.Scope.Reaches).
func (b adminBase) Mine(d fairslot.Department) bool { return b.Edit && b.scope.Reaches(d) == nil }

// MayCampus reports whether the login may rename campus id (0: add a
// campus) — app.Scope.ReachesCampus.
func (b adminBase) MayCampus(id int64) bool { return b.Edit && b.scope.ReachesCampus(id) == nil }

// MineOf lists the departments of ds the login may change: the choices of
// a form that adds to one.
func (b adminBase) MineOf(ds []fairslot.Department) []fairslot.Department {
	var out []fairslot.Department
	for _, d := range ds {
		if b.Mine(d) {
			out = append(out, d)
		}
	}
	return out
}

// done is the confirmation of a change: a catalogue key ("admin.done."
// Key) and the name of what it changed.
type done struct {
	Key  string
	What string
}

func (p *Pages) adminBase(r *http.Request, a app.Actor) adminBase {
	return adminBase{Done: p.done(r), Edit: a.Role.Can(fairslot.ActSchedule), AddSlot: a.Role.Can(fairslot.ActAddSlot),
		Draw: a.Role.Can(fairslot.ActDraw), Staff: a.Role.Can(fairslot.ActStaff), scope: a.Scope}
}

// doneWhat says how each confirmation names what it changed: by the
// doctor's name, the session's date and doctor, or the rule's department
// or doctor.
var doneWhat = map[string]string{
	"doctor.added": "doctor", "doctor.edited": "doctor", "doctor.retired": "doctor", "doctor.returned": "doctor",
	"session.added": "session", "session.places": "session", "session.edited": "session", "session.removed": "session", "session.windows": "session", "session.windows_same": "session", "slot.added": "session", "draw.run": "session",
	"rule.set": "rule", "rule.cleared": "rule",
	"campus.added": "campus", "campus.edited": "campus", "department.added": "department", "department.edited": "department",
}

func (p *Pages) done(r *http.Request) *done {
	q := r.URL.Query()
	key := q.Get("done")
	kind, ok := doneWhat[key]
	if !ok {
		return nil
	}
	ctx := r.Context()
	id, _ := strconv.ParseInt(q.Get("id"), 10, 64)
	d := &done{Key: "admin.done." + key}
	switch {
	case kind == "doctor" || (kind == "rule" && id > 0):
		v, err := p.API.App.Doctor(ctx, id)
		if err != nil {
			return nil
		}
		d.What = p.cat.locale(r).NameOf(v.Name)
	case kind == "campus" || kind == "department":
		sites, err := p.sites(r)
		if err != nil {
			return nil
		}
		name := sites.Campus(id).Name
		if kind == "department" {
			name = sites.Department(id).Name
		}
		if name == "" {
			return nil
		}
		d.What = p.cat.locale(r).NameOf(name)
	case kind == "session":
		v, err := p.API.App.Session(ctx, id)
		if err != nil {
			return nil
		}
		l := p.cat.locale(r)
		d.What = fmt.Sprintf("%s %s–%s %s", l.Date(v.Date), v.Start.In(l.loc).Format("15:04"), v.End.In(l.loc).Format("15:04"), l.NameOf(v.Doctor.Name))
	default:
		ds, err := p.API.App.Departments(ctx)
		if err != nil {
			return nil
		}
		i := slices.IndexFunc(ds, func(d fairslot.Department) bool { return d.Code == q.Get("department") })
		if i < 0 {
			return nil
		}
		d.What = p.cat.locale(r).NameOf(ds[i].Name)
	}
	return d
}

// doneAt is the address of page after a change, to confirm it.
func doneAt(page, key string, id int64) string {
	return page + "?" + url.Values{"done": {key}, "id": {strconv.FormatInt(id, 10)}}.Encode()
}

// hospitalSites is the hospital's campuses and departments, read for every
// admin page's filters and names.
type hospitalSites struct {
	Campuses    []fairslot.Campus
	Departments []fairslot.Department
}

func (p *Pages) sites(r *http.Request) (c hospitalSites, err error) {
	if c.Campuses, err = p.API.App.Campuses(r.Context()); err != nil {
		return c, err
	}
	c.Departments, err = p.API.App.Departments(r.Context())
	return c, err
}

// Department returns the department with id (the zero one if none).
func (c hospitalSites) Department(id int64) fairslot.Department {
	i := slices.IndexFunc(c.Departments, func(d fairslot.Department) bool { return d.ID == id })
	if i < 0 {
		return fairslot.Department{}
	}
	return c.Departments[i]
}

// Campus returns the campus with id (the zero one if none).
func (c hospitalSites) Campus(id int64) fairslot.Campus {
	i := slices.IndexFunc(c.Campuses, func(x fairslot.Campus) bool { return x.ID == id })
	if i < 0 {
		return fairslot.Campus{}
	}
	return c.Campuses[i]
}

// InCampus lists the departments of a campus (all of them for 0).
func (c hospitalSites) InCampus(campus int64) []fairslot.Department {
	var out []fairslot.Department
	for _, d := range c.Departments {
		if campus == 0 || d.CampusID == campus {
			out = append(out, d)
		}
	}
	return out
}

type overviewPage struct {
	adminBase
	hospitalSites
	Rules release.Policy
}

func (p *Pages) adminOverview(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	o := overviewPage{adminBase: p.adminBase(r, a)}
	var err error
	if o.hospitalSites, err = p.sites(r); err != nil {
		return err
	}
	if o.Rules, err = p.API.App.Rules(r.Context()); err != nil {
		return err
	}
	return p.render(w, r, 200, "admin", "admin.title", o)
}

// siteChanged ends a change of a campus or department: the overview
// saying what was done, or on a refusal with the reason beside the field
// and the input kept.
func (p *Pages) siteChanged(w http.ResponseWriter, r *http.Request, a app.Actor, key string, id int64, err error) error {
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.adminOverview(w, r, a) })
	}
	return see(w, r, doneAt("/staff/admin", key, id))
}

func (p *Pages) addCampus(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	c, err := p.API.App.AddCampus(r.Context(), a, fairslot.Campus{Name: r.PostFormValue("name")})
	return p.siteChanged(w, r, a, "campus.added", c.ID, err)
}

func (p *Pages) editCampus(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	_, err = p.API.App.EditCampus(r.Context(), a, fairslot.Campus{ID: id, Name: r.PostFormValue("name")})
	return p.siteChanged(w, r, a, "campus.edited", id, err)
}

// departmentForm reads a department's campus, code and name.
func departmentForm(r *http.Request) (fairslot.Department, error) {
	campus, err := formID(r, "campus_id")
	return fairslot.Department{CampusID: campus, Code: r.PostFormValue("code"), Name: r.PostFormValue("name")}, err
}

func (p *Pages) addDepartment(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	d, err := departmentForm(r)
	if err == nil {
		d, err = p.API.App.AddDepartment(r.Context(), a, d)
	}
	return p.siteChanged(w, r, a, "department.added", d.ID, err)
}

func (p *Pages) editDepartment(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := departmentForm(r)
	if err == nil {
		d.ID = id
		_, err = p.API.App.EditDepartment(r.Context(), a, d)
	}
	return p.siteChanged(w, r, a, "department.edited", id, err)
}

// filter is a list page's query: the campus, department and doctor chosen,
// the date range and the page, each ignored when it does not parse.
type filter struct {
	Campus, Department, Doctor int64
	From, To                   string
	Page                       int
	query                      url.Values
}

func readFilter(r *http.Request) filter {
	q := r.URL.Query()
	id := func(name string) int64 {
		v, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil || v < 0 {
			return 0
		}
		return v
	}
	date := func(name string) string {
		if v := q.Get(name); isDate(v) {
			return v
		}
		return ""
	}
	f := filter{Campus: id("campus"), Department: id("department"), Doctor: id("doctor"), From: date("from"), To: date("to"), query: q}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = min(max(f.Page, 1), math.MaxInt32)
	return f
}

// pager links a list's neighbouring pages, keeping its filter.
type pager struct {
	Page       int
	Prev, Next string // addresses; empty: none
}

func (f filter) pager(path string, more bool) pager {
	at := func(n int) string {
		q := url.Values{}
		for k, v := range f.query {
			if k != "page" && k != "done" && k != "id" {
				q[k] = v
			}
		}
		q.Set("page", strconv.Itoa(n))
		return path + "?" + q.Encode()
	}
	pg := pager{Page: f.Page}
	if f.Page > 1 {
		pg.Prev = at(f.Page - 1)
	}
	if more {
		pg.Next = at(f.Page + 1)
	}
	return pg
}

type doctorRow struct {
	fairslot.Doctor
	Department fairslot.Department
}

type doctorsPage struct {
	adminBase
	hospitalSites
	Filter  filter
	Doctors []doctorRow
	Pager   pager
}

func (p *Pages) adminDoctors(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	d := doctorsPage{adminBase: p.adminBase(r, a), Filter: readFilter(r)}
	var err error
	if d.hospitalSites, err = p.sites(r); err != nil {
		return err
	}
	var rows []doctorRow
	for _, dept := range d.InCampus(d.Filter.Campus) {
		if d.Filter.Department != 0 && dept.ID != d.Filter.Department {
			continue
		}
		docs, err := p.API.App.Doctors(r.Context(), dept.ID)
		if err != nil {
			return err
		}
		for _, doc := range docs {
			rows = append(rows, doctorRow{Doctor: doc, Department: dept})
		}
	}
	start := min((d.Filter.Page-1)*doctorsPerPage, len(rows))
	d.Doctors = rows[start:min(start+doctorsPerPage, len(rows))]
	d.Pager = d.Filter.pager("/staff/admin/doctors", start+doctorsPerPage < len(rows))
	return p.render(w, r, 200, "admindoctors", "admin.doctors", d)
}

func (p *Pages) addDoctor(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	dept, err := formID(r, "department_id")
	var d fairslot.Doctor
	if err == nil {
		d, err = p.API.App.AddDoctor(r.Context(), a, fairslot.Doctor{DepartmentID: dept, Name: r.PostFormValue("name"),
			Title: fairslot.Title(r.PostFormValue("title"))})
	}
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.adminDoctors(w, r, a) })
	}
	return see(w, r, doneAt("/staff/admin/doctors/"+strconv.FormatInt(d.ID, 10), "doctor.added", d.ID))
}

type doctorPage struct {
	adminBase
	Doctor     fairslot.Doctor
	Department fairslot.Department
	Rule       release.Rule // in force for the doctor's sessions
	Own        bool         // Rule is stored for this doctor, not the department's or the file's
}

func (p *Pages) adminDoctor(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d := doctorPage{adminBase: p.adminBase(r, a)}
	if d.Doctor, err = p.API.App.Doctor(r.Context(), id); err != nil {
		return err
	}
	if d.Department, err = p.API.App.Department(r.Context(), d.Doctor.DepartmentID); err != nil {
		return err
	}
	rules, err := p.API.App.Rules(r.Context())
	if err != nil {
		return err
	}
	d.Rule = rules.For(d.Doctor.ID, d.Department.Code)
	d.Own = d.Rule.DoctorID == d.Doctor.ID
	return p.render(w, r, 200, "admindoctor", "admin.doctor.title", d)
}

// editDoctor saves a doctor's name and title, or retires them (retire=1)
// or brings them back (retire=0).
func (p *Pages) editDoctor(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := p.API.App.Doctor(r.Context(), id)
	if err != nil {
		return err
	}
	key := "doctor.edited"
	if v := r.PostFormValue("retire"); v != "" {
		d.Retired = v == "1"
		key = map[bool]string{true: "doctor.retired", false: "doctor.returned"}[d.Retired]
	} else {
		d.Name, d.Title = r.PostFormValue("name"), fairslot.Title(r.PostFormValue("title"))
	}
	if _, err := p.API.App.EditDoctor(r.Context(), a, d); err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.adminDoctor(w, r, a) })
	}
	return see(w, r, doneAt(r.URL.Path, key, id))
}

// sessionRow is a session in the admin's list: its places as "n of m
// left".
type sessionRow struct {
	app.SessionView
	Capacity int
}

// Fee is the session's fee as its form field shows it (20.00).
func (s sessionRow) Fee() string { return fmt.Sprintf("%d.%02d", s.FeeCents/100, s.FeeCents%100) }

func rowOf(v app.SessionView) sessionRow {
	s := sessionRow{SessionView: v}
	for _, w := range v.Windows {
		s.Capacity += w.Capacity
	}
	return s
}

type sessionsPage struct {
	adminBase
	hospitalSites
	Filter   filter
	Doctors  []fairslot.Doctor // of the department chosen: the doctor filter and the new session's doctor
	Sessions []sessionRow
	Pager    pager
}

func (p *Pages) adminSessions(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	s := sessionsPage{adminBase: p.adminBase(r, a), Filter: readFilter(r)}
	var err error
	if s.hospitalSites, err = p.sites(r); err != nil {
		return err
	}
	if s.Filter.Department != 0 {
		if s.Doctors, err = p.API.App.Doctors(r.Context(), s.Filter.Department); err != nil {
			return err
		}
	}
	f := storage.SessionFilter{CampusID: s.Filter.Campus, DepartmentID: s.Filter.Department, DoctorID: s.Filter.Doctor,
		From: s.Filter.From, To: s.Filter.To, Limit: sessionsPerPage + 1, Offset: (s.Filter.Page - 1) * sessionsPerPage}
	if f.From == "" {
		f.From = p.today()
	}
	if f.To == "" || f.To < f.From {
		from, _ := time.Parse(time.DateOnly, f.From)
		f.To = from.AddDate(0, 0, p.API.App.Policy.AdvanceDays).Format(time.DateOnly)
	}
	s.Filter.From, s.Filter.To = f.From, f.To
	list, err := p.API.App.Sessions(r.Context(), f)
	if err != nil {
		return err
	}
	for _, v := range list[:min(len(list), sessionsPerPage)] {
		s.Sessions = append(s.Sessions, rowOf(v))
	}
	s.Pager = s.Filter.pager("/staff/admin/sessions", len(list) > sessionsPerPage)
	return p.render(w, r, 200, "adminsessions", "admin.sessions", s)
}

// schedule adds a clinic session from the sessions page's form; a refusal
// shows the form again as typed, the reason beside its field.
func (p *Pages) schedule(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	doctor, err := formID(r, "doctor_id")
	var sess fairslot.Session
	if err == nil {
		var fee int64
		if fee, err = formFee(r); err == nil {
			perWindow, _ := strconv.Atoi(r.PostFormValue("per_window"))
			sess, err = p.API.App.Schedule(r.Context(), a, app.ScheduleInput{DoctorID: doctor, Date: r.PostFormValue("date"),
				Period: fairslot.Period(r.PostFormValue("period")), Start: r.PostFormValue("start"), End: r.PostFormValue("end"),
				Room: r.PostFormValue("room"), FeeCents: fee, PerWindow: perWindow})
		}
	}
	if err != nil {
		// The form shows again with the doctor's department chosen (its
		// doctors are the form's choice), whatever the address said.
		if d, derr := p.API.App.Doctor(r.Context(), doctor); derr == nil {
			q := r.URL.Query()
			q.Set("department", strconv.FormatInt(d.DepartmentID, 10))
			r.URL.RawQuery = q.Encode()
		}
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.adminSessions(w, r, a) })
	}
	return see(w, r, doneAt("/staff/admin/sessions/"+strconv.FormatInt(sess.ID, 10), "session.added", sess.ID))
}

// formFee reads a form's fee, an amount such as 20.00, in cents.
func formFee(r *http.Request) (int64, error) {
	fee, err := strconv.ParseFloat(r.PostFormValue("fee"), 64)
	if err != nil || fee < 0 || fee > 1e6 || math.IsNaN(fee) {
		return 0, fairslot.E(fairslot.Invalid, "error.schedule.fee", "the fee must be an amount such as 20.00").On("fee")
	}
	return int64(math.Round(fee * 100)), nil
}

type adminSessionPage struct {
	adminBase
	Session    sessionRow
	Department fairslot.Department
	// Started: the session has begun; its windows stay (places are still
	// added or removed). Windows is the window form's rows (windows.go).
	Started bool
	Windows []windowRow
}

func (p *Pages) adminSession(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := p.API.App.Session(r.Context(), id)
	if err != nil {
		return err
	}
	s := adminSessionPage{adminBase: p.adminBase(r, a), Session: rowOf(v)}
	// An extra slot, a draw or a change only on a session the login works
	// on (a doctor's own, an admin's campus).
	if s.AddSlot || s.Draw || s.Edit {
		ok, err := p.API.App.MayWorkOn(r.Context(), a, v.Session)
		if err != nil {
			return err
		}
		s.AddSlot, s.Draw, s.Edit = s.AddSlot && ok, s.Draw && ok, s.Edit && ok
	}
	if s.Department, err = p.API.App.Department(r.Context(), v.DepartmentID); err != nil {
		return err
	}
	s.Started = !p.API.App.Now().Before(v.Start)
	if s.Edit && !s.Started && !v.Cancelled() {
		uses, err := p.API.App.WindowUses(r.Context(), v.ID)
		if err != nil {
			return err
		}
		s.Windows = p.windowRows(r, v.ID, uses)
	}
	return p.render(w, r, 200, "adminsession", "admin.session.title", s)
}

// adminBack is where an action of a session's admin page (an extra slot,
// a draw run by hand) lands: the page again, saying what was done.
func adminBack(r *http.Request, session int64) string {
	key := "slot.added"
	if strings.HasSuffix(r.URL.Path, "/draw") {
		key = "draw.run"
	}
	return doneAt("/staff/admin/sessions/"+strconv.FormatInt(session, 10), key, session)
}

// addPlaces raises a session's capacity from its page: in one window (its
// start, HH:MM) or in every window.
func (p *Pages) addPlaces(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := p.API.App.Session(r.Context(), id)
	if err != nil {
		return err
	}
	var window time.Time
	if hhmm := r.PostFormValue("window"); hhmm != "" {
		window, err = p.formWindow(v, hhmm)
	}
	if err == nil {
		n, _ := strconv.Atoi(r.PostFormValue("places"))
		err = p.API.App.AddPlaces(r.Context(), a, id, window, n)
	}
	return p.sessionChanged(w, r, a, id, "session.places", err)
}

// formWindow finds the window of v that starts at hhmm.
func (p *Pages) formWindow(v app.SessionView, hhmm string) (time.Time, error) {
	for _, w := range v.Windows {
		if w.Start.In(p.API.App.Location).Format("15:04") == hhmm {
			return w.Start, nil
		}
	}
	return time.Time{}, fairslot.E(fairslot.Invalid, "error.places.window", "choose one of the session's time windows").On("window")
}

// sessionChanged ends a change made on a session's admin page: the page
// again, saying what was done (key), or on a refusal with the reason
// beside the field and the input kept.
func (p *Pages) sessionChanged(w http.ResponseWriter, r *http.Request, a app.Actor, id int64, key string, err error) error {
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error {
			r.SetPathValue("id", strconv.FormatInt(id, 10))
			return p.adminSession(w, r, a)
		})
	}
	return see(w, r, doneAt("/staff/admin/sessions/"+strconv.FormatInt(id, 10), key, id))
}

// editSession saves a session's room and fee.
func (p *Pages) editSession(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	fee, err := formFee(r)
	if err == nil {
		err = p.API.App.EditSession(r.Context(), a, id, r.PostFormValue("room"), fee)
	}
	return p.sessionChanged(w, r, a, id, "session.edited", err)
}

// removePlaces lowers one window's capacity by places nobody holds.
func (p *Pages) removePlaces(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := p.API.App.Session(r.Context(), id)
	if err != nil {
		return err
	}
	window, err := p.formWindow(v, r.PostFormValue("window"))
	if err == nil {
		n, _ := strconv.Atoi(r.PostFormValue("places"))
		err = p.API.App.RemovePlaces(r.Context(), a, id, window, n)
	}
	return p.sessionChanged(w, r, a, id, "session.removed", err)
}

// ruleRow is a rule in force, and whether admins stored it (else it is
// the configuration file's).
type ruleRow struct {
	release.Rule
	Stored bool
	Doctor fairslot.Doctor // the doctor a doctor's rule is for
	Mine   bool            // the login may change it (adminBase.Mine)
}

type rulesPage struct {
	adminBase
	hospitalSites
	Policy release.Policy
	Rules  []ruleRow
}

func (p *Pages) adminRules(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	rp := rulesPage{adminBase: p.adminBase(r, a)}
	var err error
	if rp.hospitalSites, err = p.sites(r); err != nil {
		return err
	}
	if rp.Policy, err = p.API.App.Rules(r.Context()); err != nil {
		return err
	}
	file := p.API.App.Release.Rules
	for _, rule := range rp.Policy.Rules {
		row := ruleRow{Rule: rule, Stored: !slices.Contains(file, rule)}
		if rule.DoctorID != 0 {
			if row.Doctor, err = p.API.App.Doctor(r.Context(), rule.DoctorID); err != nil {
				return err
			}
			row.Mine = rp.Mine(rp.Department(row.Doctor.DepartmentID))
		} else if i := slices.IndexFunc(rp.Departments, func(d fairslot.Department) bool { return d.Code == rule.Department }); i >= 0 {
			row.Mine = rp.Mine(rp.Departments[i])
		}
		rp.Rules = append(rp.Rules, row)
	}
	return p.render(w, r, 200, "adminrules", "admin.rules", rp)
}

// ruleForm reads the rule form: for a department (by code) or a doctor
// (doctor_id), durations in whole minutes.
func ruleForm(r *http.Request) (release.Rule, error) {
	rule := release.Rule{Department: r.PostFormValue("department"), Mode: fairslot.ReleaseMode(r.PostFormValue("mode"))}
	if s := r.PostFormValue("doctor_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return rule, fairslot.E(fairslot.Invalid, "error.rule.key", "a rule is for one department or one doctor").On("applies")
		}
		rule.DoctorID = id
	}
	number := func(name string, max int) (int, error) {
		s := r.PostFormValue(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > max {
			return 0, fairslot.E(fairslot.Invalid, "error.rule.number", "give a whole number from 0 to %d", max).On(name)
		}
		return n, nil
	}
	var err error
	var window, jitter int
	if window, err = number("window", 24*60); err != nil {
		return rule, err
	}
	if jitter, err = number("jitter", 24*60); err != nil {
		return rule, err
	}
	if rule.ReservedPriority, err = number("reserved_priority", release.MaxReserved); err != nil {
		return rule, err
	}
	if rule.ReservedReferral, err = number("reserved_referral", release.MaxReserved); err != nil {
		return rule, err
	}
	rule.Window, rule.Jitter = fairslot.Duration(time.Duration(window)*time.Minute), fairslot.Duration(time.Duration(jitter)*time.Minute)
	return rule, nil
}

// ruleDone is where a rule change lands: the doctor's page for a doctor's
// rule, the rules page for a department's.
func ruleDone(key, department string, doctor int64) string {
	if doctor != 0 {
		return doneAt("/staff/admin/doctors/"+strconv.FormatInt(doctor, 10), key, doctor)
	}
	return "/staff/admin/rules?" + url.Values{"done": {key}, "department": {department}}.Encode()
}

// ruleBack is the page whose form posted the rule: shown again on a
// refusal.
func (p *Pages) ruleBack(a app.Actor) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if id := r.PostFormValue("doctor_id"); id != "" {
			r.SetPathValue("id", id)
			return p.adminDoctor(w, r, a)
		}
		return p.adminRules(w, r, a)
	}
}

func (p *Pages) setRule(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	rule, err := ruleForm(r)
	if err == nil {
		err = p.API.App.SetReleaseRule(r.Context(), a, rule)
	}
	if err != nil {
		return p.keep(w, r, err, p.ruleBack(a))
	}
	return see(w, r, ruleDone("rule.set", rule.Department, rule.DoctorID))
}

func (p *Pages) clearRule(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	rule, err := ruleForm(r)
	if err == nil {
		err = p.API.App.ClearReleaseRule(r.Context(), a, rule.Department, rule.DoctorID)
	}
	if err != nil {
		return p.keep(w, r, err, p.ruleBack(a))
	}
	return see(w, r, ruleDone("rule.cleared", rule.Department, rule.DoctorID))
}

// ruleArgs is the dot of the admin pages' rule partials.
type ruleArgs struct {
	Page any
	Rule release.Rule
}

// MineCampuses lists the campuses where the login may add a department.
func (o overviewPage) MineCampuses() []fairslot.Campus {
	var out []fairslot.Campus
	for _, c := range o.Campuses {
		if o.Mine(fairslot.Department{CampusID: c.ID}) {
			out = append(out, c)
		}
	}
	return out
}

// departmentArgs is the dot of a department form's fields: the form's
// action and the department edited, nil for a new one.
type departmentArgs struct {
	Page       any
	Action     string
	Department *fairslot.Department
}

func departmentArgsOf(page any, action string, d ...fairslot.Department) departmentArgs {
	if len(d) == 0 {
		return departmentArgs{Page: page, Action: action}
	}
	return departmentArgs{Page: page, Action: action, Department: &d[0]}
}

// doctorArgs is the dot of the doctor form's fields: Doctor is the one
// edited, nil for a new one.
type doctorArgs struct {
	Page   any
	Doctor *fairslot.Doctor
}

func doctorArgsOf(page any, d ...fairslot.Doctor) doctorArgs {
	if len(d) == 0 {
		return doctorArgs{Page: page}
	}
	return doctorArgs{Page: page, Doctor: &d[0]}
}
