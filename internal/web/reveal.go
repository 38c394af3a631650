package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
)

// The reveal (issue 12 item 5) on the staff pages that show a patient's
// ID number or phone masked — the desk's look-up and the room's queue — for
// the roles that may reveal: a small form with a reason and a note, posted
// with the CSRF token, that shows the one value in full on the page it
// answers with, and nowhere else. Reveal asks the second factor again when
// the last check is older than five minutes: the form is sent to the
// step-up page, which comes back to this form (the reason kept, the note —
// free text that may name the patient — not carried in the address).

// revealForm is the data of a reveal form and of its answer.
type revealForm struct {
	BookingID int64
	Field     access.Field
	Reason    access.Reason
	Reasons   []access.Reason
	Fields    []access.Field
	Back      string
	Revealed  *app.Revealed
}

var revealFields = []access.Field{access.FieldID, access.FieldPhone}

// revealArgs is the reveal form beside a patient on a page: Page is the
// page's view (its T and CSRF).
type revealArgs struct {
	Page      any
	BookingID int64
	Back      string
	Fields    []access.Field
	Reasons   []access.Reason
}

func (p *Pages) revealRoutes(h func(string, handler)) {
	// The form on its own: where the step-up page comes back to.
	h("GET /staff/reveal", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		if err := p.mayReveal(a); err != nil {
			return err
		}
		q := r.URL.Query()
		id, err := strconv.ParseInt(q.Get("booking_id"), 10, 64)
		if err != nil || id <= 0 {
			return fairslot.E(fairslot.Invalid, "error.reveal.booking", "choose a booking")
		}
		return p.render(w, r, 200, "reveal", "reveal.title", revealForm{BookingID: id, Field: access.Field(q.Get("field")),
			Reason: access.Reason(q.Get("reason")), Reasons: access.Reasons, Fields: revealFields, Back: staffNext(q.Get("back"))})
	}))
	h("POST /staff/reveal", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := formID(r, "booking_id")
		if err != nil {
			return err
		}
		f := revealForm{BookingID: id, Field: access.Field(r.PostFormValue("field")), Reason: access.Reason(r.PostFormValue("reason")),
			Reasons: access.Reasons, Fields: revealFields, Back: staffNext(r.PostFormValue("back"))}
		got, err := p.API.App.Reveal(r.Context(), a, app.RevealInput{BookingID: id, Field: f.Field, Reason: f.Reason, Note: r.PostFormValue("note")})
		if err == app.ErrStepUp {
			again := "/staff/reveal?" + url.Values{"booking_id": {strconv.FormatInt(id, 10)}, "field": {string(f.Field)},
				"reason": {string(f.Reason)}, "back": {f.Back}}.Encode()
			return see(w, r, "/staff/step-up?next="+url.QueryEscape(again))
		}
		if err != nil {
			return err
		}
		f.Revealed = &got
		return p.render(w, r, 200, "reveal", "reveal.title", f)
	}))
}

// mayReveal refuses the form to a role that may not reveal (a kiosk among
// them), as Reveal itself would.
func (p *Pages) mayReveal(a app.Actor) error {
	if !a.Role.Can(fairslot.ActReveal) {
		return fairslot.E(fairslot.Forbidden, "error.reveal.role", "your role may not reveal personal data")
	}
	return nil
}
