package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/fairslot/fairslot/internal/app"
)

// proofRequired answers a binding that needs proof: 202, since a code may
// have been sent, with the one message that never says whether it was.
type proofRequired struct {
	Status  string `json:"status"` // "proof_required"
	Message string `json:"message"`
}

// bindingRoutes are a patient's bindings (issue 13 item 1): binding an
// identity (201 with the patient when it was not yet known, else 202 and a
// code to its phone on record if the details are right), proving it with
// the code, and removing a patient from the account.
func (s *Server) bindingRoutes(h func(string, handler)) {
	h("POST /api/v1/patients", func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		var in app.PatientInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		p, err := s.App.BindPatient(r.Context(), a, in)
		if errors.Is(err, app.ErrProofSent) {
			return writeJSON(w, http.StatusAccepted, proofRequired{Status: "proof_required", Message: app.ErrProofSent.Message})
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, p)
	})
	h("POST /api/v1/patients/proof", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.BindingProof) (any, error) {
		return s.App.ConfirmBinding(r.Context(), a, in)
	}))
	h("POST /api/v1/patients/{id}/unbind", withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string]string, error) {
		return ok, s.App.Unbind(ctx, a, id)
	}))
}
