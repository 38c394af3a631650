package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// Kiosk mode (issue 14 item 1). A kiosk is a device logged in with a staff
// account of the kiosk role, worked by patients in a public hall. Its pages
// link only to kiosk pages; any other page of this site, typed or reached
// by the back button, sends it to the start screen (kioskMode), and any
// other form is refused. Nothing a patient saw stays for the next one: the
// pages are never stored by the browser, and a page left alone goes back
// to the start screen (static/kiosk.js, after Pages.KioskIdle).
//
// At the kiosk a patient checks in, pays a held booking, reprints a ticket
// and registers as a walk-in. Each of check-in, pay and reprint asks the
// same proof: the booking code (typed, or scanned from its QR code) and the
// last four characters of the ID number — or the whole number, as the ID
// card reader types it — and the use cases limit a kiosk's tries
// (app.KioskProofLimits).

// defaultKioskIdle is how long a kiosk page waits for input before going
// back to the start screen when Pages.KioskIdle is not set.
const defaultKioskIdle = time.Minute

func (p *Pages) kioskRoutes(h func(string, handler)) {
	h("GET /kiosk", p.staffFor(fairslot.ActCheckIn, func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		return p.render(w, r, 200, "kiosk", "kiosk.title", nil)
	}))
	h("POST /kiosk/check-in", p.staff(p.proof(func(w http.ResponseWriter, r *http.Request, a app.Actor, code, id string) error {
		res, err := p.API.App.CheckIn(r.Context(), a, code, id)
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "ticket", "ticket.title", res)
	})))
	h("GET /kiosk/walk-in", p.staffFor(fairslot.ActWalkIn, p.walkInForm)) // staff.go
	h("POST /kiosk/walk-in", p.staff(p.walkIn))                           // staff.go
	h("GET /kiosk/pay", p.staffFor(fairslot.ActCheckIn, p.proofForm("pay")))
	h("POST /kiosk/pay", p.staff(p.proof(func(w http.ResponseWriter, r *http.Request, a app.Actor, code, id string) error {
		v, err := p.API.App.KioskBooking(r.Context(), a, code, id)
		if err != nil {
			return err
		}
		if v.Status != fairslot.Held {
			return fairslot.E(fairslot.Conflict, "error.pay.status", "a booking that is %s cannot be paid", v.Status)
		}
		return p.kioskPayForm(w, r, v, code, id)
	})))
	h("POST /kiosk/pay/confirm", p.staff(p.proof(func(w http.ResponseWriter, r *http.Request, a app.Actor, code, id string) error {
		// "payer" stands in for the wallet app's answer: the sandbox only.
		v, err := p.API.App.KioskPay(r.Context(), a, code, id, r.PostFormValue("key"), r.PostFormValue("payer"))
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "kioskpay", "kiosk.pay.title", kioskPayPage{Booking: v, Code: code, ID: id, Paid: true})
	})))
	h("GET /kiosk/reprint", p.staffFor(fairslot.ActCheckIn, p.proofForm("reprint")))
	h("POST /kiosk/reprint", p.staff(p.proof(func(w http.ResponseWriter, r *http.Request, a app.Actor, code, id string) error {
		res, err := p.API.App.Reprint(r.Context(), a, code, id)
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "ticket", "ticket.title", res) // the same ticket as at check-in
	})))
}

// kioskPayPage is the pay page: the booking proven, its fee, and the form
// that pays it (Code and ID are the patient's proof, sent again with it);
// once Paid, the way to check in.
type kioskPayPage struct {
	Booking app.BookingView
	Code    string
	ID      string
	Key     string
	Paid    bool
}

// kioskPayForm shows the form that pays held booking v through the
// payment provider, with its amount: for a booking proven at the kiosk,
// and for a walk-in it just registered. Code and id are the proof the
// form sends again.
func (p *Pages) kioskPayForm(w http.ResponseWriter, r *http.Request, v app.BookingView, code, id string) error {
	// One key per form shown: a second tap on it pays nothing more.
	key := make([]byte, 12)
	rand.Read(key)
	return p.render(w, r, 200, "kioskpay", "kiosk.pay.title", kioskPayPage{Booking: v, Code: code, ID: id,
		Key: base64.RawURLEncoding.EncodeToString(key)})
}

// kioskProofPage is the form asking for a booking's proof, posting to
// /kiosk/Action.
type kioskProofPage struct{ Action string }

func (p *Pages) proofForm(action string) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		return p.render(w, r, 200, "kioskproof", "kiosk."+action+".title", kioskProofPage{Action: action})
	}
}

// proof reads a form's booking code and ID proof (id_last4: the last four,
// or the whole number the card reader typed) and, within the kiosk's and
// the code's limits, hands them to fn.
func (p *Pages) proof(fn func(w http.ResponseWriter, r *http.Request, a app.Actor, code, id string) error) func(http.ResponseWriter, *http.Request, app.Actor) error {
	return func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		code := strings.ToUpper(strings.TrimSpace(r.PostFormValue("code")))
		return fn(w, r, a, code, r.PostFormValue("id_last4"))
	}
}

// kioskPath reports whether path is one of the kiosk's pages.
func kioskPath(path string) bool { return path == "/kiosk" || strings.HasPrefix(path, "/kiosk/") }

// kioskMode keeps a kiosk on its pages: every other page of the site sends
// it to the start screen, every other form is refused (the language form
// aside), and no kiosk page is kept by the browser.
func (p *Pages) kioskMode(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kioskPath(r.URL.Path) {
			w.Header().Set("Cache-Control", "no-store")
			next.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(StaffCookie)
		if err != nil || c.Value == "" || (r.Method == http.MethodPost && r.URL.Path == "/lang") {
			next.ServeHTTP(w, r)
			return
		}
		// r.Pattern is unset here: httpapi's guard refuses a kiosk's token
		// on it, and only a kiosk's.
		if _, err := p.API.Actor(r, c.Value); err != httpapi.ErrKioskOnly {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, "/kiosk", http.StatusSeeOther)
			return
		}
		p.fail(w, r.WithContext(context.WithValue(r.Context(), staffKey, fairslot.Kiosk)), httpapi.ErrKioskOnly)
	})
}

// kioskIdle is the seconds a kiosk page waits for input.
func (p *Pages) kioskIdle() int {
	if p.KioskIdle > 0 {
		return max(1, int(p.KioskIdle/time.Second))
	}
	return int(defaultKioskIdle / time.Second)
}
