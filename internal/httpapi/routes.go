package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/storage"
)

func (s *Server) departments(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.App.Departments(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"departments": ds})
}

func (s *Server) doctors(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ds, err := s.App.Doctors(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"doctors": ds})
}

// sessions serves both /departments/{id}/sessions and /doctors/{id}/sessions.
func (s *Server) sessions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f := storage.SessionFilter{From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")}
	if r.Pattern == "GET /api/v1/doctors/{id}/sessions" {
		f.DoctorID = id
	} else {
		f.DepartmentID = id
	}
	ss, err := s.App.Sessions(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"sessions": ss})
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := s.App.Session(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

func (s *Server) requestCode(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.App.RequestLoginCode(r.Context(), s.Requester(r), in.Phone); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "sent"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
		Code  string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	toks, acct, err := s.App.PatientLogin(r.Context(), s.Requester(r), in.Phone, in.Code)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, loginAnswer{toks, acct})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	tok := r.Header.Get("Authorization")[len("Bearer "):]
	if err := s.App.PatientLogout(r.Context(), a, tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// The adapters below carry the common shape of an authenticated route:
// authenticate, read the path id or decode the body, call one use case,
// write its result.

// withActor adapts a use case that takes only the caller.
func withActor[Out any](s *Server, fn func(context.Context, app.Actor) (Out, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		out, err := fn(r.Context(), a)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

// withID adapts a use case that takes the caller and the path's {id}.
func withID[Out any](s *Server, fn func(context.Context, app.Actor, int64) (Out, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		out, err := fn(r.Context(), a, id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

// withBody adapts a use case that takes the caller and a JSON body; fn may
// also read the request (headers). status is the success status.
func withBody[In, Out any](s *Server, status int, fn func(*http.Request, app.Actor, In) (Out, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		var in In
		if err := decode(w, r, &in); err != nil {
			return err
		}
		out, err := fn(r, a, in)
		if err != nil {
			return err
		}
		return writeJSON(w, status, out)
	}
}

// list wraps a use case's list in an object under name, never null.
func list[T any](name string, fn func(context.Context, app.Actor) ([]T, error)) func(context.Context, app.Actor) (map[string][]T, error) {
	return func(ctx context.Context, a app.Actor) (map[string][]T, error) {
		xs, err := fn(ctx, a)
		if xs == nil {
			xs = []T{}
		}
		return map[string][]T{name: xs}, err
	}
}

func (s *Server) patientRoutes(h func(string, handler)) {
	s.patientAccessRoutes(h) // access.go
	s.privacyRoutes(h)       // privacy.go
	s.riskPatientRoutes(h)   // riskreview.go
	h("GET /api/v1/patients", withActor(s, list("patients", s.App.Patients)))
	s.bindingRoutes(h)         // binding.go
	s.referralPatientRoutes(h) // referral.go
	h("GET /api/v1/bookings", withActor(s, list("bookings", s.App.Bookings)))
	h("POST /api/v1/bookings", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.HoldInput) (app.BookingView, error) {
		if in.SessionID <= 0 || in.PatientID <= 0 {
			return app.BookingView{}, fairslot.Errorf(fairslot.Invalid, "session_id and patient_id are required")
		}
		if err := s.LimitPatient(r.Context(), in.PatientID); err != nil {
			return app.BookingView{}, err
		}
		in.RequestKey = r.Header.Get("Idempotency-Key")
		return s.App.Hold(r.Context(), a, in)
	}))
	h("GET /api/v1/bookings/{id}", withID(s, s.App.Booking))
	h("POST /api/v1/bookings/{id}/pay", func(w http.ResponseWriter, r *http.Request) error {
		return withID(s, func(ctx context.Context, a app.Actor, id int64) (app.BookingView, error) {
			// An optional body {"payer"}: the payer's account at the
			// provider, which only the sandbox (standing in for the wallet
			// app) may be told; the app refuses it for a real provider.
			var in struct {
				Payer string `json:"payer"`
			}
			if r.ContentLength != 0 {
				if err := decode(w, r, &in); err != nil {
					return app.BookingView{}, err
				}
			}
			return s.App.PayAs(ctx, a, id, r.Header.Get("Idempotency-Key"), in.Payer)
		})(w, r)
	})
	h("POST /api/v1/bookings/{id}/cancel", withID(s, s.App.Cancel))

	h("GET /api/v1/entries", withActor(s, list("entries", s.App.Entries)))
	h("POST /api/v1/sessions/{id}/draw/entries", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.EntryInput) (app.EntryView, error) {
		id, err := pathID(r)
		if err != nil {
			return app.EntryView{}, err
		}
		in.SessionID = id
		if in.PatientID <= 0 {
			return app.EntryView{}, fairslot.Errorf(fairslot.Invalid, "patient_id is required")
		}
		if err := s.LimitPatient(r.Context(), in.PatientID); err != nil {
			return app.EntryView{}, err
		}
		return s.App.EnterDraw(r.Context(), a, in)
	}))
	h("GET /api/v1/waitlist", withActor(s, list("waitlist", s.App.Waitlists)))
	h("POST /api/v1/waitlist", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.WaitInput) (app.WaitView, error) {
		if in.SessionID <= 0 || in.PatientID <= 0 {
			return app.WaitView{}, fairslot.Errorf(fairslot.Invalid, "session_id and patient_id are required")
		}
		if err := s.LimitPatient(r.Context(), in.PatientID); err != nil {
			return app.WaitView{}, err
		}
		return s.App.JoinWaitlist(r.Context(), a, in)
	}))
	h("POST /api/v1/waitlist/{id}/leave", withID(s, s.App.LeaveWaitlist))
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := s.App.SessionRelease(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

// drawRecord serves a draw's published record, for anyone to verify.
func (s *Server) drawRecord(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rec, err := s.App.DrawRecord(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, rec)
}

type checkInBody struct {
	Code    string `json:"code"`
	IDLast4 string `json:"id_last4"`
}

// ok is the body of a call that changes state and returns nothing else.
var ok = map[string]string{"status": "ok"}

func (s *Server) staffRoutes(h func(string, handler)) {
	s.staffAuthRoutes(h)     // staffauth.go: login, second factor, enrolment, step-up, accounts
	s.accessRoutes(h)        // access.go
	s.riskStaffRoutes(h)     // riskreview.go
	s.referralStaffRoutes(h) // referral.go
	h("POST /api/v1/staff/check-in", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in checkInBody) (app.CheckInResult, error) {
		return s.App.CheckIn(r.Context(), a, in.Code, in.IDLast4)
	}))
	h("POST /api/v1/staff/bindings", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.DeskBindInput) (fairslot.Patient, error) {
		return s.App.DeskBind(r.Context(), a, in)
	}))
	h("POST /api/v1/staff/walk-ins", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.WalkInInput) (app.CheckInResult, error) {
		return s.App.WalkIn(r.Context(), a, in)
	}))
	h("GET /api/v1/staff/sessions/{id}/queue", withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string][]app.QueueItem, error) {
		q, err := s.App.Queue(ctx, a, id)
		if q == nil {
			q = []app.QueueItem{}
		}
		return map[string][]app.QueueItem{"queue": q}, err
	}))
	h("POST /api/v1/staff/sessions/{id}/call-next", withID(s, s.App.CallNext))
	h("POST /api/v1/staff/sessions/{id}/extra-slots", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in app.ExtraSlotInput) (fairslot.Slot, error) {
		id, err := pathID(r)
		if err != nil {
			return fairslot.Slot{}, err
		}
		return s.App.AddExtraSlot(r.Context(), a, id, in)
	}))
	h("POST /api/v1/staff/sessions/{id}/draw", withID(s, s.App.RunDraw))
	// The hospital cancels a session (admins only): every booking cancelled
	// and refunded, every affected account told; the answer says what was done.
	h("POST /api/v1/staff/sessions/{id}/cancel", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in cancelSessionBody) (app.CancelSessionResult, error) {
		id, err := pathID(r)
		if err != nil {
			return app.CancelSessionResult{}, err
		}
		return s.App.CancelSession(r.Context(), a, id, in.Reason)
	}))
	// The stored risk decisions (issue 17), worst first: ?min= the mildest
	// action listed (challenge by default), ?limit= at most how many.
	h("GET /api/v1/staff/risk/accounts", func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		limit := 0
		if v := r.URL.Query().Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
				return fairslot.Errorf(fairslot.Invalid, "limit must be a positive integer")
			}
		}
		rs, err := s.App.RiskAccounts(r.Context(), a, r.URL.Query().Get("min"), limit)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string][]app.RiskAccountView{"accounts": rs})
	})
	h("GET /api/v1/staff/risk-events", withActor(s, func(ctx context.Context, a app.Actor) (map[string][]storage.RiskEvent, error) {
		es, err := s.App.RiskEvents(ctx, a, 0)
		if es == nil {
			es = []storage.RiskEvent{}
		}
		return map[string][]storage.RiskEvent{"risk_events": es}, err
	}))
	for action, fn := range map[string]func(context.Context, app.Actor, int64) error{
		"recall": s.App.Recall, "missed": s.App.Missed, "complete": s.App.Complete,
	} {
		h("POST /api/v1/staff/bookings/{id}/"+action, withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string]string, error) {
			return ok, fn(ctx, a, id)
		}))
	}
}

func (s *Server) board(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := s.App.Board(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

// boardEvents streams a department's board as server-sent events "board":
// the whole board (app.BoardView) on connect and again whenever a call or a
// check-in changes it.
func (s *Server) boardEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return s.Stream(w, r, id, "board", func() ([]byte, error) {
		v, err := s.App.Board(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	})
}

// Stream sends server-sent events named event, each what read returns: on
// connect, and again when the department's display signals a change or
// every BoardRefresh, when it differs from the last sent (else a
// keep-alive). A read failing for the login (unauthorized, forbidden, not
// found) ends the stream with an "end" event — a client's EventSource then
// meets the refusal on reconnecting; a storage failure is logged and
// skipped. It ends when the client goes or the server starts shutting down
// (Closing). The board and the pages' live parts (web/live.go) stream
// through it, in the front door's stream pool, never a lane.
func (s *Server) Stream(w http.ResponseWriter, r *http.Request, department int64, event string, read func() ([]byte, error)) error {
	if s.Door != nil && !frontdoor.InStreamPool(r.Context()) {
		// Streams must hold a place of the stream pool, never a lane's.
		return &fairslot.Error{Kind: fairslot.Unavailable, Message: "this stream was not admitted as one; retry", RetryAfter: 5 * time.Second}
	}
	rc := http.NewResponseController(w)
	signal, stop := s.App.Display.Subscribe(department)
	defer stop()
	refresh := s.BoardRefresh
	if refresh == 0 {
		refresh = 5 * time.Second
	}
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)
	last := ""
	for {
		// The server's write timeout would end the stream; each write gets
		// its own deadline instead, so a client that stops reading is dropped.
		rc.SetWriteDeadline(time.Now().Add(refresh + 10*time.Second))
		data, err := read()
		switch k := fairslot.ErrorKind(err); {
		case err != nil && r.Context().Err() != nil:
			return nil
		case k == fairslot.Unauthorized || k == fairslot.Forbidden || k == fairslot.NotFound:
			fmt.Fprintf(w, "event: end\ndata: {}\n\n")
			rc.Flush()
			return nil
		case err != nil:
			s.Log.Warn("stream read failed", "request_id", RequestID(r), "event", event, "err", err)
			fmt.Fprintf(w, ": unavailable\n\n")
		case string(data) != last:
			last = string(data)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		default:
			fmt.Fprintf(w, ": keep-alive\n\n")
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-s.Closing:
			return nil
		case <-signal:
		case <-tick.C:
		}
	}
}

// cancelSessionBody is the body of a session's cancellation.
type cancelSessionBody struct {
	Reason string `json:"reason"`
}
