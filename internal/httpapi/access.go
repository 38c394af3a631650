package httpapi

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// Purpose-bound access (issue 12 items 4, 5 and 8): reveals, look-ups with
// a reason, the masked clinic export, the security events, and the
// patients' "who looked".

// accessRoutes are the staff API's access routes.
func (s *Server) accessRoutes(h func(string, handler)) {
	h("POST /api/v1/staff/reveals", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in app.RevealInput) (app.Revealed, error) {
		return s.App.Reveal(r.Context(), a, in)
	}))
	h("POST /api/v1/staff/lookups", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in app.LookupInput) (map[string][]app.BookingView, error) {
		found, err := s.App.Lookup(r.Context(), a, in)
		if found == nil {
			found = []app.BookingView{}
		}
		return map[string][]app.BookingView{"bookings": found}, err
	}))
	h("GET /api/v1/staff/reasons", withActor(s, func(ctx context.Context, a app.Actor) (map[string][]access.Reason, error) {
		return map[string][]access.Reason{"reasons": access.Reasons}, nil
	}))
	h("GET /api/v1/staff/sessions/{id}/export.csv", s.exportCSV)
	h("GET /api/v1/staff/security-events", withActor(s, func(ctx context.Context, a app.Actor) (map[string][]storage.SecurityEvent, error) {
		es, err := s.App.SecurityEvents(ctx, a, 0)
		return map[string][]storage.SecurityEvent{"security_events": es}, err
	}))
	h("POST /api/v1/staff/staff/{id}/unlock-access", withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string]string, error) {
		return ok, s.App.UnlockAccess(ctx, a, id)
	}))
}

// patientAccessRoutes are the patients' API's access routes.
func (s *Server) patientAccessRoutes(h func(string, handler)) {
	h("GET /api/v1/patients/{id}/accesses", withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string][]app.AccessView, error) {
		out, err := s.App.PatientAccesses(ctx, a, id)
		return map[string][]app.AccessView{"accesses": out}, err
	}))
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rows, err := s.App.ExportSession(r.Context(), a, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="session-%d.csv"`, id))
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"ticket", "window_start", "status", "name_masked", "priority"})
	for _, row := range rows {
		cw.Write(row.CSV())
	}
	cw.Flush()
	return cw.Error()
}

// KioskPatterns are the only routes a kiosk's login may use: check-in,
// walk-in registration, paying a held booking and reprinting a ticket, its
// own pages, and logging out through the API (a device's operator; the
// pages offer no logout). Everything else
// staff may reach answers 403 to a kiosk (the pages send it to the kiosk's
// start), whatever the use case behind it would say.
var KioskPatterns = map[string]bool{
	"POST /api/v1/staff/check-in": true,
	"POST /api/v1/staff/walk-ins": true,
	"POST /api/v1/auth/logout":    true,
	"GET /kiosk":                  true,
	"POST /kiosk/check-in":        true,
	"GET /kiosk/walk-in":          true,
	"POST /kiosk/walk-in":         true,
	"GET /kiosk/pay":              true,
	"POST /kiosk/pay":             true,
	"POST /kiosk/pay/confirm":     true,
	"GET /kiosk/reprint":          true,
	"POST /kiosk/reprint":         true,
}

// ErrKioskOnly refuses a kiosk's login anything but the kiosk's routes.
var ErrKioskOnly error = fairslot.E(fairslot.Forbidden, "error.kiosk.only", "a kiosk may only check patients in and register walk-ins")

// kioskGuard refuses a kiosk's actor on a route not in KioskPatterns.
func kioskGuard(r *http.Request, a app.Actor) error {
	if a.Kind == storage.StaffToken && a.Role == fairslot.Kiosk && !KioskPatterns[r.Pattern] {
		return ErrKioskOnly
	}
	return nil
}
