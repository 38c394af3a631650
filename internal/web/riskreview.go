package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// The risk review's pages (issue 17): the queue, an account with its
// signals' masked evidence and its linked cluster, and the decision with a
// reason on the account or its cluster, for staff with the risk permission
// (the use cases refuse everyone else); and on /me, a patient's own
// account's decision explained, with the request for review.
func (p *Pages) riskStaffRoutes(h func(string, handler)) {
	h("GET /staff/risk", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		milder := r.URL.Query().Get("milder") != ""
		q, err := p.API.App.RiskQueue(r.Context(), a, app.RiskQueueOptions{Milder: milder})
		if err != nil {
			return err
		}
		return p.render(w, r, 200, "riskqueue", "risk.review.title", riskQueuePage{Accounts: q, Milder: milder})
	}))
	h("GET /staff/risk/accounts/{id}", p.staff(p.riskAccount))
	h("POST /staff/risk/review", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		in := app.ReviewInput{Action: r.PostFormValue("action"), Reason: r.PostFormValue("reason")}
		for _, v := range r.PostForm["account"] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return fairslot.E(fairslot.Invalid, "error.risk.accounts", "choose 1 to %d accounts", app.RiskClusterMax).On("accounts")
			}
			in.Accounts = append(in.Accounts, id)
		}
		back, err := formID(r, "back")
		if err != nil {
			return err
		}
		res, err := p.API.App.ReviewRisk(r.Context(), a, in)
		if err != nil {
			// The account's page again, the reason and choices as entered
			// and the error beside its field.
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error {
				r.SetPathValue("id", strconv.FormatInt(back, 10))
				return p.riskAccount(w, r, a)
			})
		}
		return see(w, r, fmt.Sprintf("/staff/risk/accounts/%d?done=%d", back, len(res.Accounts)))
	}))
}

type riskQueuePage struct {
	Accounts []app.RiskQueueItem
	Milder   bool
}

type riskAccountPage struct {
	app.RiskDetailView
	Done int // accounts the decision just made was recorded for
	// Chosen are the accounts the decision form has ticked: as posted
	// after a failure, else the account itself.
	Chosen map[int64]bool
}

func (p *Pages) riskAccount(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := p.API.App.RiskAccountDetail(r.Context(), a, id)
	if err != nil {
		return err
	}
	pg := riskAccountPage{RiskDetailView: v, Chosen: map[int64]bool{id: true}}
	pg.Done, _ = strconv.Atoi(r.URL.Query().Get("done"))
	if r.Method == http.MethodPost {
		pg.Chosen = map[int64]bool{}
		for _, s := range r.PostForm["account"] {
			n, _ := strconv.ParseInt(s, 10, 64)
			pg.Chosen[n] = true
		}
	}
	return p.render(w, r, 200, "riskaccount", "risk.review.title", pg)
}

// riskPatientRoutes: the request for review from /me; a refusal shows /me
// again with the text kept and the reason beside it.
func (p *Pages) riskPatientRoutes(h func(string, handler)) {
	h("POST /me/risk-review", p.patient(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		if _, err := p.API.App.AskRiskReview(r.Context(), a, r.PostFormValue("text")); err != nil {
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.me(w, r, a) })
		}
		return see(w, r, "/me?asked=1#risk")
	}))
}

// Tv translates key with args given as a list (a risk signal's
// parameters): the pages' T takes them one by one.
func (l *Locale) Tv(key string, args []any) string { return l.p.Sprintf(key, args...) }
