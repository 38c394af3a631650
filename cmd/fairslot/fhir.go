package main

import (
	"log/slog"
	"net/http"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// withFHIR mounts the FHIR R4 facade under /fhir/R4 — on the internal
// listener only. Systems authenticate with SMART Backend Services (clients
// registered with `fairslot fhir clients add`, fhirclients.go); an
// unscoped admin's staff session may read too. The public listener, or the
// only listener of a server without --staff-addr, has no /fhir/ at all.
// policy says which endpoints a Subscription may name.
func withFHIR(next http.Handler, kind frontdoor.Listener, api *httpapi.Server, policy fhir.SubscriptionPolicy) http.Handler {
	if kind != frontdoor.InternalListener {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle(fhir.Prefix+"/", (&fhir.Server{App: api.App, API: api, Subscriptions: policy}).Handler())
	mux.Handle("/", next)
	return mux
}

// subscriptionPolicy is the configured Subscription endpoint policy (the
// networks were checked when the configuration was loaded).
func subscriptionPolicy(c config.Config) fhir.SubscriptionPolicy {
	nets, _ := c.FHIR.Networks()
	return fhir.SubscriptionPolicy{AllowNets: nets, AllowLoopback: c.FHIR.Loopback}
}

// fhirDeliverer sends the Subscriptions' notifications; backgroundJobs
// runs it on the job leader, beside the outbox's dispatcher and with its
// poll.
func fhirDeliverer(c config.Config, svc *app.Service, log *slog.Logger) *fhir.Deliverer {
	return &fhir.Deliverer{App: svc, Policy: subscriptionPolicy(c), Log: log}
}
