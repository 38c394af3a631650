package web

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// Cookies the pages set. All are HttpOnly and SameSite; Secure unless the
// operator turned it off for a plain-HTTP intranet (Pages.InsecureCookies)
// — and always on a request that came over TLS (frontdoor.Transport).
const (
	SessionCookie = "fairslot_session" // a patient's login (an account token)
	StaffCookie   = "fairslot_staff"   // a staff member's login (a staff token)
	formCookie    = "fairslot_form"    // random; the CSRF token is its MAC
)

// CSP is the pages' Content-Security-Policy: scripts, styles and
// connections from this origin only, no inline script or style, no
// framing, forms posting only here.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Pages serves the browser pages: the portal on the public listener, the
// kiosk, staff console and display boards on the internal one, and all of
// them on the only listener when there is no internal one.
type Pages struct {
	API *httpapi.Server // the use cases, the front door, request IDs and error notes
	Log *slog.Logger
	// Key derives keys (the vault's Key): the CSRF tokens' MAC.
	Key func(purpose string) []byte
	// InsecureCookies drops the Secure flag, for an intranet served over
	// plain HTTP; browsers accept Secure cookies on localhost anyway.
	InsecureCookies bool
	// Dev, when set, is the directory of this package's source: templates
	// and catalogue are re-read on every request, for editing pages.
	Dev string
	// Hospital is the hospital's time zone, currency and name translations
	// (format.go); a nil Location is the service's (API.App.Location).
	Hospital Hospital
	// KioskIdle is how long a kiosk page waits for input before it goes
	// back to the start screen (kiosk.go); zero is a minute.
	KioskIdle time.Duration

	once  sync.Once
	err   error
	cat   *catalogue
	tmpl  pages
	csrf  gate.Signer
	files fs.FS
}

type handler func(w http.ResponseWriter, r *http.Request) error

// Handler returns the pages a listener of kind l serves.
func (p *Pages) Handler(l frontdoor.Listener) (http.Handler, error) {
	if err := p.load(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	h := func(pattern string, fn handler) { mux.Handle(pattern, p.adapt(fn)) }
	if l != frontdoor.InternalListener {
		p.portalRoutes(h)
		p.livePortalRoutes(h) // live.go
	}
	if l != frontdoor.PublicListener {
		p.staffRoutes(h)
		p.liveStaffRoutes(h) // live.go
	}
	if l == frontdoor.InternalListener {
		h("GET /{$}", func(w http.ResponseWriter, r *http.Request) error { return see(w, r, "/staff") })
	}
	h("POST /lang", p.setLang)
	h("/", func(w http.ResponseWriter, r *http.Request) error {
		if l != frontdoor.PublicListener && kioskPath(r.URL.Path) && r.Method == http.MethodGet {
			return see(w, r, "/kiosk") // no kiosk page shows a way out
		}
		return fairslot.E(fairslot.NotFound, "error.page.not_found", "no such page")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, fairslot.E(fairslot.Forbidden, "error.form.expired", "a form from another site was refused"))
	}))
	return p.API.Middleware(p.headers(cop.Handler(p.kioskMode(mux)))), nil
}

func (p *Pages) load() error {
	p.once.Do(func() {
		p.csrf = gate.Signer(p.Key("web-csrf"))
		p.files = embedded
		if p.Dev != "" {
			p.files = os.DirFS(p.Dev)
		}
		if p.Hospital.Location == nil {
			p.Hospital.Location = p.API.App.Location
		}
		p.cat, p.tmpl, p.err = parse(p.files, p.Hospital)
		if p.err == nil && p.API.Errors == nil {
			p.API.Errors = p // the API's error messages in the request's language
		}
	})
	return p.err
}

// headers sets the security headers of every page.
func (p *Pages) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

func (p *Pages) adapt(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A form with pictures is checked by its handler once the login
		// is (submitReferral): its body is read whole into memory, which
		// no one signed out may make the server do.
		if r.Method == http.MethodPost && !uploads[r.URL.Path] {
			if err := p.checkForm(w, r); err != nil {
				p.fail(w, r, err)
				return
			}
		}
		if err := fn(w, r); err != nil {
			p.fail(w, r, err)
		}
	})
}

// view is what every template gets: the language, the form token, who is
// logged in, and the page's own data.
type view struct {
	*Locale
	Locales   []*Locale
	Title     string // a catalogue key
	CSRF      string
	Path      string
	Patient   bool          // a patient is logged in
	Staff     fairslot.Role // the logged-in staff member's role, if any
	RequestID string
	Data      any
	Body      string // the body's class, page-NAME: the CSS picks layouts by it
	// KioskIdle is, on a kiosk's page, the seconds it waits for input
	// before going back to the start screen (kiosk.go); zero elsewhere.
	KioskIdle int

	form *failedForm // a form that failed, shown again (errors.go)
}

// render writes a page with status.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) error {
	t, v, err := p.page(w, r, name, title)
	if err != nil {
		return err
	}
	v.Data = data
	if f, ok := r.Context().Value(formKey{}).(*failedForm); ok {
		v.form, status = f, f.status
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err = w.Write(buf.Bytes())
	return err
}

// page returns the template of page name and its view without data (the
// live streams, live.go, render parts of it again and again).
func (p *Pages) page(w http.ResponseWriter, r *http.Request, name, title string) (*template.Template, view, error) {
	cat, tmpl := p.cat, p.tmpl
	if p.Dev != "" {
		var err error
		if cat, tmpl, err = parse(p.files, p.Hospital); err != nil {
			return nil, view{}, err
		}
	}
	l := cat.locale(r)
	t, ok := tmpl[l.Code][name]
	if !ok {
		return nil, view{}, errors.New("web: no template " + name)
	}
	back := r.URL.Path
	if r.Method != http.MethodGet {
		back = "/" // a page a form rendered has no address to go back to
	}
	v := view{Locale: l, Locales: cat.locales, Title: title, CSRF: p.formToken(w, r), Path: back,
		RequestID: httpapi.RequestID(r), Body: "page-" + name}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		v.Patient = true
	}
	if a, ok := r.Context().Value(staffKey).(fairslot.Role); ok {
		v.Staff = a
	}
	if v.Staff == fairslot.Kiosk {
		v.KioskIdle = p.kioskIdle()
		if !kioskPath(v.Path) {
			v.Path = "/kiosk" // the language form's way back
		}
	}
	return t, v, nil
}

// errorPage is the data of the error page.
type errorPage struct {
	Kind    fairslot.Kind
	Message string
	Back    string
}

// fail renders an error page: the kind's explanation in the visitor's
// language, the error's own message, and the request ID for the help desk.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	if consentRedirect(w, r, err) { // rights.go
		return
	}
	status := p.API.Failed(w, r, err)
	kind := fairslot.ErrorKind(err)
	if kind == fairslot.Unauthorized {
		// A page that needs a login sends the visitor to it.
		to := "/login"
		if staffPath(r.URL.Path) {
			to = "/staff/login"
		}
		if r.Method == http.MethodGet {
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
	}
	// The message in the visitor's language (errors.go), never the error's
	// English text or an internal detail.
	msg := p.cat.locale(r).Error(err)
	back := "/"
	if role, _ := r.Context().Value(staffKey).(fairslot.Role); role == fairslot.Kiosk {
		back = "/kiosk"
	} else if staffPath(r.URL.Path) {
		back = "/staff"
	}
	if err := p.render(w, r, status, "error", "error.title", errorPage{Kind: kind, Message: msg, Back: back}); err != nil {
		p.Log.Error("error page", "request_id", httpapi.RequestID(r), "err", err)
	}
}

// staffPath reports whether a path is one of the internal listener's
// pages: its login and its way back are the staff's.
func staffPath(path string) bool {
	return strings.HasPrefix(path, "/staff") || strings.HasPrefix(path, "/kiosk") || strings.HasPrefix(path, "/board")
}

// formToken returns the CSRF token for the visitor's form cookie, setting
// the cookie when there is none.
func (p *Pages) formToken(w http.ResponseWriter, r *http.Request) string {
	raw, ok := p.formSecret(r)
	if !ok {
		raw = make([]byte, 16)
		rand.Read(raw)
		p.setCookie(w, formCookie, base64.RawURLEncoding.EncodeToString(raw), 0, http.SameSiteStrictMode)
	}
	return p.csrf.Sign(raw)
}

func (p *Pages) formSecret(r *http.Request) ([]byte, bool) {
	c, err := r.Cookie(formCookie)
	if err != nil {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	return raw, err == nil && len(raw) == 16
}

// maxForm is the largest form body read.
const maxForm = 16 << 10

// checkForm parses a POSTed form and checks its CSRF token against the
// visitor's form cookie. Cross-origin posts were already refused by
// CrossOriginProtection; the token also covers browsers that send neither
// Sec-Fetch-Site nor Origin.
func (p *Pages) checkForm(w http.ResponseWriter, r *http.Request) error {
	if uploads[r.URL.Path] && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") { // referral.go
		// Parsed whole, in memory; a body too large is refused here, any
		// other fault is reported by the page, which reads the form again.
		if _, err := httpapi.ReadReferral(w, r); fairslot.ErrorKind(err) == fairslot.TooLarge {
			return err
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return fairslot.Errorf(fairslot.TooLarge, "the form is larger than %d bytes", maxForm)
			}
			return fairslot.E(fairslot.Invalid, "error.form.unreadable", "the form could not be read")
		}
	}
	secret, ok := p.formSecret(r)
	token, valid := p.csrf.Verify(r.PostFormValue("csrf"))
	if !ok || !valid || subtle.ConstantTimeCompare(secret, token) != 1 {
		return fairslot.E(fairslot.Forbidden, "error.form.expired", "this form has expired or did not come from this site; go back, reload the page and try again")
	}
	return nil
}

func (p *Pages) setCookie(w http.ResponseWriter, name, value string, maxAge int, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: !p.InsecureCookies, SameSite: same})
}

// setLang keeps the chosen language and goes back to the page it was
// chosen on.
func (p *Pages) setLang(w http.ResponseWriter, r *http.Request) error {
	l := p.cat.byCode(r.PostFormValue("lang"))
	if l == nil {
		return fairslot.E(fairslot.Invalid, "error.lang.unknown", "unknown language")
	}
	p.setCookie(w, LangCookie, l.Code, 400*24*3600, http.SameSiteLaxMode)
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		p.keepLanguage(r, c.Value, l.Code) // live.go
	}
	http.Redirect(w, r, localPath(r.PostFormValue("back")), http.StatusSeeOther)
	return nil
}

// localPath keeps a redirect on this site: a path (with its query), never
// another site. Browsers drop tabs and newlines from a URL and read a
// backslash as a slash, so "/\t/evil.example" or "/\\evil.example" would
// leave the site as "//evil.example": the path is judged after that
// normalisation, and any control character, space or backslash refuses it.
func localPath(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") ||
		strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || r <= ' ' || r == 0x7f }) {
		return "/"
	}
	return s
}

// formID reads a positive integer form field.
func formID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PostFormValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fairslot.E(fairslot.Invalid, "error.form.choose", "choose a %s", strings.ReplaceAll(name, "_", " ")).With().On(name)
	}
	return id, nil
}

// pathID reads the path's {id}.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fairslot.E(fairslot.NotFound, "error.page.not_found", "no such page")
	}
	return id, nil
}

// see redirects after a form did its work (POST, then redirect, then GET).
func see(w http.ResponseWriter, r *http.Request, path string) error {
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}

// Challenged reports whether a page request must carry a solved
// proof-of-work challenge: booking and entering a draw from the portal, as
// on the API. The pages' script solves it before the form is sent.
func Challenged(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/sessions/")
	if !ok {
		return false
	}
	_, tail, _ := strings.Cut(rest, "/")
	return tail == "book" || tail == "enter"
}
