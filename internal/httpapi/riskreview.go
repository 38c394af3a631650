package httpapi

import (
	"context"
	"net/http"

	"github.com/fairslot/fairslot/internal/app"
)

// The risk review (issue 17): the reviewers' queue, an account's detail
// and their decisions for staff with the risk permission; a patient's own
// account's decision and their request for review.
func (s *Server) riskStaffRoutes(h func(string, handler)) {
	h("GET /api/v1/staff/risk/queue", func(w http.ResponseWriter, r *http.Request) error {
		milder := r.URL.Query().Get("milder") != ""
		return withActor(s, list("accounts", func(ctx context.Context, a app.Actor) ([]app.RiskQueueItem, error) {
			return s.App.RiskQueue(ctx, a, app.RiskQueueOptions{Milder: milder})
		}))(w, r)
	})
	h("GET /api/v1/staff/risk/accounts/{id}", withID(s, s.App.RiskAccountDetail))
	h("POST /api/v1/staff/risk/reviews", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in app.ReviewInput) (app.ReviewResult, error) {
		return s.App.ReviewRisk(r.Context(), a, in)
	}))
}

// riskAppealBody is a patient's request for review.
type riskAppealBody struct {
	Text string `json:"text"`
}

func (s *Server) riskPatientRoutes(h func(string, handler)) {
	h("GET /api/v1/risk", withActor(s, s.App.MyRisk))
	h("POST /api/v1/risk/appeals", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in riskAppealBody) (app.RiskAppealView, error) {
		return s.App.AskRiskReview(r.Context(), a, in.Text)
	}))
}
