package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// The staff sign-in pages: password, then the second factor — or, at the
// first sign-in, password and the enrolment code the admin handed over,
// then the enrolment (a QR code for the authenticator app, a code to
// confirm it, then the recovery codes, shown once) — then the console.
// Adding an account or resetting its second factor shows the admin the new
// enrolment code once.
// Sensitive pages send a session whose factor is older than five minutes
// to the step-up page first. The staff accounts page is for admins and
// security officers only.

type factorPage struct {
	Challenge string
	Enrol     bool
	Secret    string
	QR        template.HTML
}

type codesPage struct{ Codes []string }

type stepUpPage struct{ Next string }

// enrolCodePage shows an admin a new account's (or a reset one's)
// enrolment code, this once.
type enrolCodePage struct {
	Username string
	app.EnrolCode
}

type accountsPage struct {
	Accounts []app.StaffAccount
	Roles    []fairslot.Role
	Manage   bool // may add, change and disable (admin); else unlock only (security)
	Self     int64
}

var staffRoles = []fairslot.Role{fairslot.Registrar, fairslot.Nurse, fairslot.DoctorRole, fairslot.Admin, fairslot.Security, fairslot.Kiosk}

func (p *Pages) staffAuthRoutes(h func(string, handler)) {
	h("POST /staff/login", p.staffLogin)
	h("POST /staff/login/factor", func(w http.ResponseWriter, r *http.Request) error {
		st, err := p.API.App.StaffSecondFactor(r.Context(), httpapi.Anonymous(r), r.PostFormValue("challenge"), r.PostFormValue("code"))
		if err != nil {
			return p.keep(w, r, about(err, "code"), func(w http.ResponseWriter, r *http.Request) error {
				return p.render(w, r, 200, "stafffactor", "staffauth.factor.title", factorPage{Challenge: r.PostFormValue("challenge")})
			})
		}
		return p.signedIn(w, r, st)
	})
	h("POST /staff/enrol", func(w http.ResponseWriter, r *http.Request) error {
		challenge := r.PostFormValue("challenge")
		st, err := p.API.App.StaffEnrolConfirm(r.Context(), httpapi.Anonymous(r), challenge, r.PostFormValue("code"))
		if err != nil {
			// The enrolment page again, the reason at the code: with the
			// same QR code while the enrolment is open (a new one would void
			// what the app has scanned), without once it has expired.
			return p.keep(w, r, about(err, "code"), func(w http.ResponseWriter, r *http.Request) error {
				pg := factorPage{Challenge: challenge, Enrol: true}
				if en, err := p.API.App.StaffPendingEnrolment(r.Context(), challenge); err == nil {
					qr, err := qrSVG(en.URL)
					if err != nil {
						return err
					}
					pg.Secret, pg.QR = en.Secret, qr
				}
				return p.render(w, r, 200, "stafffactor", "staffauth.enrol.title", pg)
			})
		}
		p.setCookie(w, StaffCookie, st.Token, 0, http.SameSiteStrictMode)
		return p.render(w, r, 200, "staffcodes", "staffauth.codes.title", codesPage{Codes: st.RecoveryCodes})
	})
	h("GET /staff/step-up", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		return p.render(w, r, 200, "stepup", "staffauth.stepup.title", stepUpPage{Next: staffNext(r.URL.Query().Get("next"))})
	}))
	h("POST /staff/step-up", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		if err := p.API.App.StaffStepUp(r.Context(), a, r.PostFormValue("code")); err != nil {
			return p.keep(w, r, about(err, "code"), func(w http.ResponseWriter, r *http.Request) error {
				return p.render(w, r, 200, "stepup", "staffauth.stepup.title", stepUpPage{Next: staffNext(r.PostFormValue("next"))})
			})
		}
		return see(w, r, staffNext(r.PostFormValue("next")))
	}))
	h("GET /staff/accounts", p.staff(p.accounts))
	h("POST /staff/accounts", p.staff(p.issuesCode(func(r *http.Request, a app.Actor) (string, app.EnrolCode, error) {
		st := fairslot.Staff{Username: strings.TrimSpace(r.PostFormValue("username")), Name: strings.TrimSpace(r.PostFormValue("name")),
			Role: fairslot.Role(r.PostFormValue("role"))}
		code, err := p.API.App.AddStaff(r.Context(), a, &st, r.PostFormValue("password"))
		return st.Username, code, err
	})))
	h("POST /staff/accounts/{id}/reset-mfa", p.staff(p.issuesCode(func(r *http.Request, a app.Actor) (string, app.EnrolCode, error) {
		id, err := pathID(r)
		if err != nil {
			return "", app.EnrolCode{}, err
		}
		code, err := p.API.App.ResetStaffMFA(r.Context(), a, id)
		if err != nil {
			return "", code, err
		}
		// The code is issued: show it even if the name cannot be read.
		list, _ := p.API.App.StaffAccounts(r.Context(), a)
		for _, st := range list {
			if st.ID == id {
				return st.Username, code, nil
			}
		}
		return "", code, nil
	})))
	for action, fn := range map[string]func(app.Actor, *http.Request, int64) error{
		"disable": func(a app.Actor, r *http.Request, id int64) error { return p.API.App.DisableStaff(r.Context(), a, id) },
		"enable":  func(a app.Actor, r *http.Request, id int64) error { return p.API.App.EnableStaff(r.Context(), a, id) },
		"unlock":  func(a app.Actor, r *http.Request, id int64) error { return p.API.App.UnlockStaff(r.Context(), a, id) },
		"password": func(a app.Actor, r *http.Request, id int64) error {
			return p.API.App.SetStaffPassword(r.Context(), a, id, r.PostFormValue("password"))
		},
	} {
		h("POST /staff/accounts/{id}/"+action, p.staff(p.sensitive(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
			id, err := pathID(r)
			if err != nil {
				return err
			}
			return fn(a, r, id)
		})))
	}
}

// staffLogin checks the password and shows the next step.
func (p *Pages) staffLogin(w http.ResponseWriter, r *http.Request) error {
	// An enrolment code is only for an account's first sign-in; the
	// authenticator's code is asked on the next page.
	st, err := p.API.App.StaffLogin(r.Context(), httpapi.Anonymous(r), r.PostFormValue("username"), r.PostFormValue("password"),
		strings.TrimSpace(r.PostFormValue("enrol_code")))
	if err != nil {
		// Shown in the form, the username kept (never the password).
		return p.keep(w, r, about(err, "password"), func(w http.ResponseWriter, r *http.Request) error {
			return p.render(w, r, 200, "stafflogin", "stafflogin.title", p.API.App.DemoMode)
		})
	}
	switch st.Next {
	case "":
		return p.signedIn(w, r, st)
	case "enrol":
		en, err := p.API.App.StaffEnrol(r.Context(), httpapi.Anonymous(r), st.Challenge)
		if err != nil {
			return err
		}
		qr, err := qrSVG(en.URL)
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "stafffactor", "staffauth.enrol.title", factorPage{Challenge: st.Challenge, Enrol: true, Secret: en.Secret, QR: qr})
	}
	return p.render(w, r, 200, "stafffactor", "staffauth.factor.title", factorPage{Challenge: st.Challenge})
}

func (p *Pages) signedIn(w http.ResponseWriter, r *http.Request, st app.StaffStep) error {
	p.setCookie(w, StaffCookie, st.Token, 0, http.SameSiteStrictMode) // staff pages are never reached by a link from elsewhere
	if st.Staff != nil && st.Staff.Role == fairslot.Kiosk {
		return see(w, r, "/kiosk")
	}
	return see(w, r, "/staff")
}

// sensitive runs a form action of the accounts page and goes back to it;
// a factor that is too old sends the visitor to step up first.
func (p *Pages) sensitive(fn func(http.ResponseWriter, *http.Request, app.Actor) error) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		err := fn(w, r, a)
		if err == app.ErrStepUp {
			return see(w, r, "/staff/step-up?next="+url.QueryEscape("/staff/accounts"))
		}
		if err != nil {
			// The accounts page again, the reason in the account's row.
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.accounts(w, r, a) })
		}
		return see(w, r, "/staff/accounts")
	}
}

// issuesCode runs an accounts-page action that issues an enrolment code
// (adding an account, resetting its second factor) and shows the code this
// once; a factor that is too old sends the visitor to step up first.
func (p *Pages) issuesCode(fn func(*http.Request, app.Actor) (string, app.EnrolCode, error)) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		username, code, err := fn(r, a)
		if err == app.ErrStepUp {
			return see(w, r, "/staff/step-up?next="+url.QueryEscape("/staff/accounts"))
		}
		if err != nil {
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.accounts(w, r, a) })
		}
		return p.render(w, r, 200, "staffenrolcode", "staffauth.enrolcode.title", enrolCodePage{Username: username, EnrolCode: code})
	}
}

func (p *Pages) accounts(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	list, err := p.API.App.StaffAccounts(r.Context(), a)
	if err != nil {
		return err
	}
	return p.render(w, r, 200, "staffaccounts", "staffauth.accounts.title",
		accountsPage{Accounts: list, Roles: staffRoles, Manage: a.Role.Can(fairslot.ActStaff), Self: a.ID})
}

// staffNext keeps a redirect on this site's staff pages (localPath's
// checks, then under /staff).
func staffNext(next string) string {
	if p := localPath(next); strings.HasPrefix(p, "/staff") {
		return p
	}
	return "/staff"
}
