package web

import (
	"net/http"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

// RefreshCookie holds a patient's refresh token. The session cookie's
// access token lives an hour; when it has expired, the next page that needs
// the patient spends the refresh token for new ones and goes on, so the
// patient stays logged in without noticing (app/refresh.go).
const RefreshCookie = "fairslot_refresh"

// setTokens keeps a patient's login in the page cookies. Lax, not Strict:
// a patient following a link from a text message arrives logged in; state
// changes are POSTs with a CSRF token anyway.
func (p *Pages) setTokens(w http.ResponseWriter, t app.Tokens) {
	p.setCookie(w, SessionCookie, t.Access, 0, http.SameSiteLaxMode)
	p.setCookie(w, RefreshCookie, t.Refresh, 0, http.SameSiteLaxMode)
}

func (p *Pages) clearTokens(w http.ResponseWriter) {
	p.setCookie(w, SessionCookie, "", -1, http.SameSiteLaxMode)
	p.setCookie(w, RefreshCookie, "", -1, http.SameSiteLaxMode)
}

// patientActor authenticates the patient of a page request: by the access
// token in the session cookie, or, when that has expired or is missing, by
// refreshing with the refresh cookie. A login that cannot be refreshed has
// its cookies cleared — but not after a race of the browser's own requests
// (app.ErrRefreshRaced), whose winner is setting the new cookies.
func (p *Pages) patientActor(w http.ResponseWriter, r *http.Request) (app.Actor, error) {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		a, err := p.API.Actor(r, c.Value)
		if err == nil && a.Kind == storage.AccountToken {
			return a, nil
		}
		if err != nil && fairslot.ErrorKind(err) != fairslot.Unauthorized {
			return a, err
		}
	}
	rc, err := r.Cookie(RefreshCookie)
	if err != nil || rc.Value == "" {
		if _, err := r.Cookie(SessionCookie); err == nil {
			p.setCookie(w, SessionCookie, "", -1, http.SameSiteLaxMode) // expired or revoked
		}
		return app.Actor{}, fairslot.Errorf(fairslot.Unauthorized, "log in first")
	}
	who := httpapi.Anonymous(r)
	if p.API.Door != nil {
		who.Device = p.API.Door.Device(r)
	}
	t, err := p.API.App.Refresh(r.Context(), who, rc.Value)
	if err != nil {
		if fairslot.ErrorKind(err) == fairslot.Unauthorized && err != app.ErrRefreshRaced {
			p.clearTokens(w)
		}
		return app.Actor{}, err
	}
	p.setTokens(w, t)
	return p.API.Actor(r, t.Access)
}

// patientLogout ends the patient's login — its access token and its family
// of refresh tokens — and clears both cookies.
func (p *Pages) patientLogout(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	access := ""
	if c, err := r.Cookie(SessionCookie); err == nil {
		access = c.Value
	}
	if _, _, ok := p.API.App.TokenClaims(access); !ok {
		// patientActor refreshed: the new access token is in the response's
		// cookie, not the request's; it is the one to end.
		access = newSessionCookie(w)
	}
	if err := p.API.App.PatientLogout(r.Context(), a, access); err != nil {
		return err
	}
	p.clearTokens(w)
	return see(w, r, "/")
}

// newSessionCookie returns the session cookie the response is setting.
func newSessionCookie(w http.ResponseWriter) string {
	for _, line := range w.Header()["Set-Cookie"] {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == SessionCookie && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}
