package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/privacy"
)

// privacyRoutes are the patient's rights (issue 13 item 8): the privacy
// notice's consent, removing a family member, closing the account. Binding
// and booking without the current consent are refused by the use cases
// (403 forbidden, "accept the privacy notice first").
func (s *Server) privacyRoutes(h func(string, handler)) {
	h("GET /api/v1/privacy/consent", withActor(s, s.App.ConsentStatus))
	h("POST /api/v1/privacy/consent", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in struct {
		Version string `json:"version"`
		Lang    string `json:"lang"`
	}) (privacy.Consent, error) {
		return s.App.Consent(r.Context(), a, in.Version, in.Lang)
	}))
	h("POST /api/v1/patients/{id}/remove", withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string]fairslot.Patient, error) {
		p, err := s.App.RemoveMember(ctx, a, id)
		return map[string]fairslot.Patient{"removed": p}, err
	}))
	h("POST /api/v1/account/close", func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if err := s.App.CloseAccount(r.Context(), a, tok); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
