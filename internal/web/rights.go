package web

import (
	"errors"
	"net/http"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/privacy"
)

// The patient's rights (issue 13 item 8): the privacy notice, its consent
// — asked at the first login (/me sends there) and before any ID number is
// given or a place booked (the use cases refuse, and fail sends there) —
// removing a family member and closing the account. /me shows them in its
// own block, partials/me_rights.html.
func (p *Pages) rightsRoutes(h func(string, handler)) {
	h("GET /privacy", p.privacyNotice)
	h("GET /privacy/consent", p.patient(p.consentPage))
	h("POST /privacy/consent", p.patient(p.consent))
	h("POST /me/patients/{id}/remove", p.patient(p.removeMember))
	h("GET /account/close", p.patient(p.closePage))
	h("POST /account/close", p.patient(p.closeAccount))
}

type noticePage struct {
	Version       string
	RetentionDays int
	Status        *app.ConsentStatus // nil for a visitor not logged in
	Next          string
}

func (p *Pages) notice() noticePage {
	pol := p.API.App.Privacy
	return noticePage{Version: pol.Version(), RetentionDays: int(pol.RetentionPeriod().Hours() / 24)}
}

func (p *Pages) privacyNotice(w http.ResponseWriter, r *http.Request) error {
	n := p.notice()
	if a, err := p.patientActor(w, r); err == nil {
		st, err := p.API.App.ConsentStatus(r.Context(), a)
		if err != nil {
			return err
		}
		n.Status = &st
	}
	return p.render(w, r, 200, "privacy", "privacy.title", n)
}

func (p *Pages) consentPage(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	n := p.notice()
	st, err := p.API.App.ConsentStatus(r.Context(), a)
	if err != nil {
		return err
	}
	n.Status, n.Next = &st, localPath(r.URL.Query().Get("next")) // pages.go
	return p.render(w, r, 200, "consent", "privacy.consent.title", n)
}

// consent records the acceptance of the version the page showed, in the
// page's language.
func (p *Pages) consent(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	if _, err := p.API.App.Consent(r.Context(), a, r.PostFormValue("version"), p.cat.locale(r).Code); err != nil {
		return err
	}
	return see(w, r, localPath(r.PostFormValue("next")))
}

// needsConsent sends a patient who has not accepted the notice in force to
// the consent page (the first login lands on /me), and reports whether it did.
func (p *Pages) needsConsent(w http.ResponseWriter, r *http.Request, a app.Actor) (bool, error) {
	st, err := p.API.App.ConsentStatus(r.Context(), a)
	if err != nil || st.Accepted {
		return false, err
	}
	http.Redirect(w, r, "/privacy/consent?next="+r.URL.Path, http.StatusSeeOther)
	return true, nil
}

// consentRedirect sends a request a use case refused for want of consent
// to the consent page instead of an error page, and reports whether it did.
func consentRedirect(w http.ResponseWriter, r *http.Request, err error) bool {
	if !errors.Is(err, privacy.ErrConsentRequired) {
		return false
	}
	next := "/me"
	if r.Method == http.MethodGet {
		next = r.URL.Path
	}
	http.Redirect(w, r, "/privacy/consent?next="+next, http.StatusSeeOther)
	return true
}

// rightsDone is the page that says what a removal or a closing did.
type rightsDone struct {
	Heading, Message, Name string
	Back, BackLabel        string
}

func (p *Pages) removeMember(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	pt, err := p.API.App.RemoveMember(r.Context(), a, id)
	if err != nil {
		return err
	}
	return p.render(w, r, 200, "rightsdone", "privacy.removed.title",
		rightsDone{Heading: "privacy.removed.title", Message: "privacy.removed", Name: pt.Name, Back: "/me", BackLabel: "nav.me"})
}

type closePage struct{ Holdings []privacy.Holding }

func (p *Pages) closePage(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	hs, err := p.API.App.Holdings(r.Context(), a)
	if err != nil {
		return err
	}
	return p.render(w, r, 200, "closeaccount", "privacy.close.title", closePage{hs})
}

func (p *Pages) closeAccount(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	access := ""
	if c, err := r.Cookie(SessionCookie); err == nil {
		access = c.Value
	}
	if _, _, ok := p.API.App.TokenClaims(access); !ok {
		access = newSessionCookie(w) // patientActor refreshed (as patientLogout)
	}
	if err := p.API.App.CloseAccount(r.Context(), a, access); err != nil {
		return err
	}
	p.clearTokens(w)
	// The page rendered now is a logged-out one: it reads the request's
	// cookies but the two of the login, which the response clears (the
	// language and form cookies stay).
	kept := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range kept {
		if c.Name != SessionCookie && c.Name != RefreshCookie {
			r.AddCookie(c)
		}
	}
	return p.render(w, r, 200, "rightsdone", "privacy.closed.title",
		rightsDone{Heading: "privacy.closed.title", Message: "privacy.closed", Back: "/", BackLabel: "app.name"})
}
