package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// The security page (issue 12 item 5): accounts locked by the access
// limits, for security officers and admins, who unlock them here.
func (p *Pages) accessRoutes(h func(string, handler)) {
	h("GET /staff/security", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		es, err := p.API.App.SecurityEvents(r.Context(), a, 0)
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "security", "access.security.title", es)
	}))
	h("POST /staff/security/staff/{id}/unlock", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			return fairslot.E(fairslot.NotFound, "error.staff.no_account", "no such staff account")
		}
		if err := p.API.App.UnlockAccess(r.Context(), a, id); err != nil {
			return err
		}
		return see(w, r, "/staff/security")
	}))
}

// patientAccesses is one bound patient's "who looked" on /me.
type patientAccesses struct {
	Patient string // masked
	Views   []app.AccessView
}

// whoLooked lists, for each of the account's patients, who looked at their
// records.
func (p *Pages) whoLooked(ctx context.Context, a app.Actor, patients []fairslot.Patient) ([]patientAccesses, error) {
	var out []patientAccesses
	for _, pt := range patients {
		vs, err := p.API.App.PatientAccesses(ctx, a, pt.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, patientAccesses{Patient: pt.Name, Views: vs})
	}
	return out, nil
}
