package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// The patient portal: mobile-first, on every listener.
func (p *Pages) portalRoutes(h func(string, handler)) {
	h("GET /{$}", p.home)
	h("GET /login", func(w http.ResponseWriter, r *http.Request) error {
		return p.render(w, r, 200, "login", "login.title", loginPage{})
	})
	h("POST /login/code", p.requestCode)
	h("POST /login", p.login)
	h("POST /logout", p.patient(p.patientLogout))
	h("GET /departments/{id}", p.department)
	h("GET /sessions/{id}", p.session)
	h("GET /me", p.patient(p.me))
	p.riskPatientRoutes(h)     // riskreview.go
	p.rightsRoutes(h)          // rights.go
	p.referralPatientRoutes(h) // referral.go
	h("POST /me/patients", p.patient(p.bindPatient))
	h("POST /me/patients/proof", p.patient(p.proveBinding)) // binding.go
	h("POST /me/patients/{id}/unbind", p.patient(p.unbind))
	h("POST /sessions/{id}/book", p.patient(p.book))
	h("POST /sessions/{id}/enter", p.patient(p.forPatient(func(ctx context.Context, a app.Actor, session, patient int64) error {
		_, err := p.API.App.EnterDraw(ctx, a, app.EntryInput{SessionID: session, PatientID: patient})
		return err
	})))
	h("POST /sessions/{id}/waitlist", p.patient(p.forPatient(func(ctx context.Context, a app.Actor, session, patient int64) error {
		_, err := p.API.App.JoinWaitlist(ctx, a, app.WaitInput{SessionID: session, PatientID: patient})
		return err
	})))
	h("POST /waitlist/{id}/leave", p.patient(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if _, err := p.API.App.LeaveWaitlist(r.Context(), a, id); err != nil {
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.me(w, r, a) })
		}
		return see(w, r, "/me")
	}))
	h("GET /bookings/{id}", p.patient(p.booking("booking", "booking.title")))
	h("GET /bookings/{id}/cancel", p.patient(p.booking("cancel", "cancel.title")))
	h("POST /bookings/{id}/cancel", p.patient(p.bookingAction("cancel", "cancel.title", func(r *http.Request, a app.Actor, id int64) error {
		_, err := p.API.App.Cancel(r.Context(), a, id)
		return err
	})))
	h("POST /bookings/{id}/pay", p.patient(p.bookingAction("booking", "booking.title", func(r *http.Request, a app.Actor, id int64) error {
		// "payer" stands in for the wallet app's answer: the sandbox only.
		_, err := p.API.App.PayAs(r.Context(), a, id, r.PostFormValue("key"), r.PostFormValue("payer"))
		return err
	})))
}

// patient adapts a page that needs a logged-in patient.
func (p *Pages) patient(fn func(http.ResponseWriter, *http.Request, app.Actor) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := p.patientActor(w, r)
		if err != nil {
			return err
		}
		return fn(w, r, a)
	}
}

// loggedIn authenticates a page's login cookie, which must hold a token of
// kind; a cookie that no longer logs anyone in is cleared.
func (p *Pages) loggedIn(w http.ResponseWriter, r *http.Request, cookie string, kind storage.TokenKind) (app.Actor, error) {
	c, err := r.Cookie(cookie)
	if err != nil || c.Value == "" {
		return app.Actor{}, fairslot.Errorf(fairslot.Unauthorized, "log in first")
	}
	a, err := p.API.Actor(r, c.Value)
	if err == nil && a.Kind != kind {
		err = fairslot.Errorf(fairslot.Unauthorized, "log in with the right kind of account")
	}
	if err != nil && fairslot.ErrorKind(err) == fairslot.Unauthorized {
		p.setCookie(w, cookie, "", -1, http.SameSiteLaxMode) // expired or revoked
	}
	return a, err
}

// logout ends the login in cookie and goes to the page to.
func (p *Pages) logout(cookie, to string) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		c, _ := r.Cookie(cookie)
		if err := p.API.App.Logout(r.Context(), a, c.Value); err != nil {
			return err
		}
		p.setCookie(w, cookie, "", -1, http.SameSiteLaxMode)
		return see(w, r, to)
	}
}

func (p *Pages) home(w http.ResponseWriter, r *http.Request) error {
	ds, err := p.API.App.Departments(r.Context())
	if err != nil {
		return err
	}
	return p.render(w, r, 200, "home", "home.title", ds)
}

type loginPage struct {
	Phone    string // step two: the phone the code went to
	ResendIn int    // step two: seconds until a new code may be asked for, counted down by pages.js
}

// codeStep is the login page's second step for phone, with how long r's
// requester must wait before asking for another code.
func (p *Pages) codeStep(r *http.Request, phone string) loginPage {
	return loginPage{Phone: phone, ResendIn: int(p.API.App.ResendIn(p.API.Requester(r), phone) / time.Second)}
}

// requestCode sends a login code. A refusal shows the form again with the
// phone kept and the reason beside it: the phone field, or — when a new
// code was asked for from the code step — that step, whose code still works.
func (p *Pages) requestCode(w http.ResponseWriter, r *http.Request) error {
	phone := r.PostFormValue("phone")
	a := p.API.Requester(r)
	a.Lang = p.cat.locale(r).Code // the code in the page's language, until the account has one
	if err := p.API.App.RequestLoginCode(r.Context(), a, phone); err != nil {
		again := loginPage{}
		if r.PostFormValue("step") == "code" {
			again = p.codeStep(r, phone)
		}
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error {
			return p.render(w, r, 200, "login", "login.title", again)
		})
	}
	return p.render(w, r, 200, "login", "login.title", p.codeStep(r, phone))
}

// login exchanges the code for a login; a wrong code shows the code step
// again with the tries left and when a new code can be sent (errors.go).
func (p *Pages) login(w http.ResponseWriter, r *http.Request) error {
	toks, _, err := p.API.App.PatientLogin(r.Context(), p.API.Requester(r), r.PostFormValue("phone"), r.PostFormValue("code"))
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error {
			return p.render(w, r, 200, "login", "login.title", p.codeStep(r, r.PostFormValue("phone")))
		})
	}
	p.setTokens(w, toks)
	p.keepLanguage(r, toks.Access, p.cat.locale(r).Code) // live.go: the account's messages in the page's language
	return see(w, r, "/me")
}

type departmentPage struct {
	Department fairslot.Department
	Doctors    []fairslot.Doctor
	Sessions   []app.SessionView
}

// pathDepartment reads the department the path's {id} names.
func (p *Pages) pathDepartment(r *http.Request) (fairslot.Department, error) {
	id, err := pathID(r)
	if err != nil {
		return fairslot.Department{}, err
	}
	ds, err := p.API.App.Departments(r.Context())
	if err != nil {
		return fairslot.Department{}, err
	}
	for _, d := range ds {
		if d.ID == id {
			return d, nil
		}
	}
	return fairslot.Department{}, fairslot.E(fairslot.NotFound, "error.department.not_found", "no such department")
}

func (p *Pages) department(w http.ResponseWriter, r *http.Request) error {
	var d departmentPage
	var err error
	if d.Department, err = p.pathDepartment(r); err != nil {
		return err
	}
	id := d.Department.ID
	if d.Doctors, err = p.API.App.Doctors(r.Context(), id); err != nil {
		return err
	}
	if d.Sessions, err = p.API.App.Sessions(r.Context(), storage.SessionFilter{DepartmentID: id}); err != nil {
		return err
	}
	return p.render(w, r, 200, "department", "department.title", d)
}

type sessionPage struct {
	app.SessionView
	Patients []fairslot.Patient
	LoggedIn bool
	Key      string // the booking form's idempotency key: sending it twice books once
}

func (p *Pages) session(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := p.API.App.Session(r.Context(), id)
	if err != nil {
		return err
	}
	s := sessionPage{SessionView: v, Key: newKey()}
	if a, err := p.patientActor(w, r); err == nil {
		s.LoggedIn = true
		if s.Patients, err = p.API.App.Patients(r.Context(), a); err != nil {
			return err
		}
	}
	return p.render(w, r, 200, "session", "session.title", s)
}

// newKey is a random idempotency key for a form.
func newKey() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type mePage struct {
	Patients []fairslot.Patient
	Bookings []app.BookingView
	Entries  []app.EntryView
	Waits    []app.WaitView
	IDTypes  []fairslot.IDType
	Accesses []patientAccesses // access.go
	Risk     app.MyRiskView    // riskreview.go
	Asked    bool              // a request for review was just sent
}

func (p *Pages) me(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	ctx := r.Context()
	if sent, err := p.needsConsent(w, r, a); sent || err != nil { // rights.go
		return err
	}
	var m mePage
	var err error
	if m.Patients, err = p.API.App.Patients(ctx, a); err != nil {
		return err
	}
	if m.Bookings, err = p.API.App.Bookings(ctx, a); err != nil {
		return err
	}
	if m.Entries, err = p.API.App.Entries(ctx, a); err != nil {
		return err
	}
	if m.Waits, err = p.API.App.Waitlists(ctx, a); err != nil {
		return err
	}
	if m.Accesses, err = p.whoLooked(ctx, a, m.Patients); err != nil {
		return err
	}
	if m.Risk, err = p.API.App.MyRisk(ctx, a); err != nil {
		return err
	}
	m.Asked = r.URL.Query().Get("asked") != ""
	m.IDTypes = idTypes
	return p.render(w, r, 200, "me", "me.title", m)
}

var idTypes = []fairslot.IDType{fairslot.IDResident, fairslot.IDVNCitizen, fairslot.IDPassport, fairslot.IDHKMacau}

// patientInput reads the patient fields of a form (binding, walk-in).
func patientInput(r *http.Request) app.PatientInput {
	return app.PatientInput{Name: r.PostFormValue("name"), IDType: fairslot.IDType(r.PostFormValue("id_type")),
		IDNumber: r.PostFormValue("id_number"), Phone: r.PostFormValue("phone"), BirthDate: r.PostFormValue("birth_date")}
}

// bindPatient adds a patient; a refusal shows /me again with the form
// filled in as sent and the reason beside its field.
func (p *Pages) bindPatient(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	in := patientInput(r)
	_, err := p.API.App.BindPatient(r.Context(), a, in)
	if errors.Is(err, app.ErrProofSent) {
		return p.render(w, r, http.StatusAccepted, "bindproof", "binding.title", bindProofPage{Name: in.Name, IDType: in.IDType, IDNumber: in.IDNumber})
	}
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.me(w, r, a) })
	}
	return see(w, r, "/me")
}

// sessionAndPatient reads the path's session and the form's patient, and
// applies the per-patient limit as the API does.
func (p *Pages) sessionAndPatient(r *http.Request) (session, patient int64, err error) {
	if session, err = pathID(r); err != nil {
		return 0, 0, err
	}
	if patient, err = formID(r, "patient_id"); err != nil {
		return 0, 0, err
	}
	return session, patient, p.API.LimitPatient(r.Context(), patient)
}

// book holds a place; a refusal (the place just taken, a limit) shows the
// session page again with the reason in its form, the patient kept.
func (p *Pages) book(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	if err := p.hold(w, r, a); err != nil {
		return p.keep(w, r, err, p.session)
	}
	return nil
}

func (p *Pages) hold(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	session, patient, err := p.sessionAndPatient(r)
	if err != nil {
		return err
	}
	in := app.HoldInput{SessionID: session, PatientID: patient, RequestKey: r.PostFormValue("key")}
	if s := r.PostFormValue("window"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fairslot.E(fairslot.Invalid, "error.form.choose_window", "choose a time window").On("window")
		}
		in.WindowStart = time.Unix(sec, 0)
	}
	b, err := p.API.App.Hold(r.Context(), a, in)
	if err != nil {
		return err
	}
	return see(w, r, "/bookings/"+strconv.FormatInt(b.ID, 10))
}

// forPatient adapts a form that does fn for the path's session and the
// form's patient, then shows the patient's page.
func (p *Pages) forPatient(fn func(ctx context.Context, a app.Actor, session, patient int64) error) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		session, patient, err := p.sessionAndPatient(r)
		if err == nil {
			err = fn(r.Context(), a, session, patient)
		}
		if err != nil {
			return p.keep(w, r, err, p.session) // the session page, the reason in its form
		}
		return see(w, r, "/me")
	}
}

type bookingPage struct {
	app.BookingView
	Key string // the payment form's idempotency key
}

// Refund is what cancelling returns, in the currency's minor unit: the
// whole fee of a paid booking (app.Service.Cancel refunds its payment in
// full); nothing for one not yet paid — a payment still under way when it
// is cancelled is refunded too, once it settles, but is not promised here.
func (b bookingPage) Refund() int64 {
	if b.Status == fairslot.Confirmed {
		return b.FeeCents
	}
	return 0
}

// Live reports whether the page should refresh itself: the patient is in
// the queue and their turn changes as others are called.
func (b bookingPage) Live() bool {
	return b.Status == fairslot.CheckedIn || b.Status == fairslot.Called
}

// booking shows one of the patient's bookings with the named template (the
// booking itself, or the cancel confirmation).
func (p *Pages) booking(name, title string) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		b, err := p.API.App.Booking(r.Context(), a, id)
		if err != nil {
			return err
		}
		return p.render(w, r, 200, name, title, bookingPage{BookingView: b, Key: newKey()})
	}
}

// bookingAction does fn to one of the patient's bookings and shows it; a
// refusal (a hold that expired meanwhile, a booking already checked in)
// shows the page the form was on — page, with title — again, the reason
// at the top of its form.
func (p *Pages) bookingAction(page, title string, fn func(*http.Request, app.Actor, int64) error) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := fn(r, a, id); err != nil {
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.booking(page, title)(w, r, a) })
		}
		return see(w, r, "/bookings/"+strconv.FormatInt(id, 10))
	}
}
