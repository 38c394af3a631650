package main

import (
	"net/http"

	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// withFHIR mounts the FHIR R4 facade under /fhir/R4 — on the internal
// listener only. Systems authenticate with SMART Backend Services (clients
// registered with `fairslot fhir clients add`, fhirclients.go); an
// unscoped admin's staff session may read too. The public listener, or the
// only listener of a server without --staff-addr, has no /fhir/ at all.
func withFHIR(next http.Handler, kind frontdoor.Listener, api *httpapi.Server) http.Handler {
	if kind != frontdoor.InternalListener {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle(fhir.Prefix+"/", (&fhir.Server{App: api.App, API: api}).Handler())
	mux.Handle("/", next)
	return mux
}
