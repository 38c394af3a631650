package main

import (
	"log/slog"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/riskwatch"
	"github.com/fairslot/fairslot/internal/storage"
)

// newRiskMonitor builds the node's risk monitor (issue 17) under the
// hospital's risk rules and policy, and connects it: the use cases nudge
// it after committing risk events, the API's challenges take its pow
// level, and — with admission on — the door feeds it the signed-in
// requests and reduces a limited account's rate. Every node runs one (no
// job leader): each reads the same events. The caller runs it.
// A reviewer's latest decision (app.LatestRiskReview) stands in its
// decisions as the policy says; the review queue reads its live decisions
// and linked accounts (svc.Risk) and refreshes it after each decision.
func newRiskMonitor(c config.Config, svc *app.Service, st storage.Store, api *httpapi.Server, door *frontdoor.Door, log *slog.Logger) (*riskwatch.Monitor, error) {
	m, err := riskwatch.New(st, riskwatch.Config{Rules: c.Risk.RulesIn(svc.Location), Policy: c.Risk.RiskPolicy(),
		Poll: time.Duration(c.Risk.Poll), Sweep: time.Duration(c.Risk.Sweep), Now: svc.Now, Log: log.With("job", "risk"), Hash: svc.ClientHash,
		Reviews: app.LatestRiskReview})
	if err != nil {
		return nil, err
	}
	svc.Risk, api.Risk = m, m
	if door != nil {
		door.RateFactor = func(account int64) float64 { return m.Decision(account).RateFactor }
		// The door times its limits by the wall clock; the risk events
		// carry the hospital's clock (simulated under --sim), and the
		// requests' cadence and prefixes must be on the same one.
		door.Observe = func(account int64, device, prefix string, _ time.Time) {
			m.Request(account, device, prefix, svc.Now())
		}
	}
	return m, nil
}
