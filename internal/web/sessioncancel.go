package web

import (
	"net/http"

	"github.com/fairslot/fairslot/internal/app"
)

// The hospital cancels a clinic session (issue 14 item 5): a confirm page
// that says what the cancellation will end — bookings, paid ones with the
// refund total, draw entries, waitlist places — and asks for the reason;
// the POST does it and shows what was done. Admins only: the use case
// refuses anyone else, and the staff pages show that as forbidden.
func (p *Pages) sessionCancelRoutes(h func(string, handler)) {
	h("GET /staff/admin/sessions/{id}/cancel", p.staff(p.sessionCancelForm))
	h("POST /staff/admin/sessions/{id}/cancel", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		res, err := p.API.App.CancelSession(r.Context(), a, id, r.PostFormValue("reason"))
		if err != nil {
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.sessionCancelForm(w, r, a) })
		}
		return p.render(w, r, 200, "sessioncancel", "sessioncancel.title", res)
	}))
}

func (p *Pages) sessionCancelForm(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	res, err := p.API.App.CancelSessionPreview(r.Context(), a, id)
	if err != nil {
		return err
	}
	return p.render(w, r, 200, "sessioncancel", "sessioncancel.title", res)
}
