package web

import (
	"errors"
	"net/http"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
)

// Binding pages (issue 13 item 1): the proof step after the add-patient
// form, and the desk's binding after an in-person check of the ID card.

// bindProofPage is the proof step: the identity as typed, kept in the form,
// and the code input with its inline error.
type bindProofPage struct {
	Name     string
	IDType   fairslot.IDType
	IDNumber string
	Failed   bool // the last try failed: the one message, with Left
	Left     int
}

func (p *Pages) proveBinding(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	in := app.BindingProof{Name: r.PostFormValue("name"), IDType: fairslot.IDType(r.PostFormValue("id_type")),
		IDNumber: r.PostFormValue("id_number"), Code: r.PostFormValue("code")}
	_, err := p.API.App.ConfirmBinding(r.Context(), a, in)
	var failed *app.BindingFailed
	if errors.As(err, &failed) {
		return p.render(w, r, http.StatusForbidden, "bindproof", "binding.title",
			bindProofPage{Name: in.Name, IDType: in.IDType, IDNumber: in.IDNumber, Failed: true, Left: failed.Left})
	}
	if err != nil {
		return err
	}
	return see(w, r, "/me")
}

func (p *Pages) unbind(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := p.API.App.Unbind(r.Context(), a, id); err != nil {
		return err
	}
	return see(w, r, "/me")
}

func (p *Pages) deskBind(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	pt, err := p.API.App.DeskBind(r.Context(), a, app.DeskBindInput{Phone: r.PostFormValue("account_phone"), Patient: patientInput(r),
		Reason: access.Reason(r.PostFormValue("reason")), Note: r.PostFormValue("note")})
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error {
			return p.render(w, r, http.StatusOK, "desk", "desk.title", newDeskPage(a))
		})
	}
	d := newDeskPage(a)
	d.Bound = pt.Name
	return p.render(w, r, http.StatusOK, "desk", "desk.title", d)
}
