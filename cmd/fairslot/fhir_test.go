package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// TestFHIROnlyOnTheInternalListener: the public listener, and the only
// listener of a server without --staff-addr, have no /fhir/ at all.
func TestFHIROnlyOnTheInternalListener(t *testing.T) {
	api := &httpapi.Server{App: &app.Service{Location: time.UTC}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for kind, want := range map[frontdoor.Listener]int{
		frontdoor.InternalListener: http.StatusOK,
		frontdoor.PublicListener:   http.StatusTeapot,
		frontdoor.SingleListener:   http.StatusTeapot,
	} {
		for _, path := range []string{"/fhir/R4/metadata", "/fhir/R4/Patient/1"} {
			w := httptest.NewRecorder()
			withFHIR(rest, kind, api, fhir.SubscriptionPolicy{}).ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			got := w.Code
			if path != "/fhir/R4/metadata" && kind == frontdoor.InternalListener {
				want = http.StatusUnauthorized // no token
			}
			if got != want {
				t.Errorf("listener %v: GET %s = %d, want %d", kind, path, got, want)
			}
		}
	}
}
