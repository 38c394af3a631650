// Package httpapi is fairslot's JSON API under /api/v1/ on the standard
// ServeMux. Handlers are thin: decode strictly, call one use case, encode.
// It must never put an internal error's text or unmasked personal data in a
// response or a log line.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/storage"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Server serves the API.
type Server struct {
	App *app.Service
	Log *slog.Logger
	// Ready reports whether the server can take traffic (database reachable,
	// schema current).
	Ready func(context.Context) error
	// BoardRefresh is how often a display stream re-reads its board even
	// without a signal (calls made on another node); default 5s.
	BoardRefresh time.Duration
	// Closing, when closed, ends the display streams (the server is shutting
	// down; the boards reconnect to another node or after the restart).
	Closing <-chan struct{}
	// Door is the front door in front of this API, for its challenges and
	// per-patient limits; nil when admission is off.
	Door *frontdoor.Door
	// CatalogueTTL is how long an answer of the public catalogue (the same
	// for every caller) is reused; 0: never.
	CatalogueTTL time.Duration
	// Errors translates error messages into the language a request's
	// Accept-Language asks for (the pages' catalogue sets itself here);
	// nil, or a request that asks for none: the English message.
	Errors Translator
	// Risk is the risk monitor's decisions (internal/riskwatch): an
	// account's challenges are as hard as its decision's PowLevel. nil:
	// every account at level 0.
	Risk RiskDecisions

	cacheOnce               sync.Once
	cache                   *answers
	busyLog, unavailableLog logEvery
}

type handler func(w http.ResponseWriter, r *http.Request) error

// Handler returns the API a listener of kind l serves, with its
// middleware: on the only listener, all of it; on the public listener
// beside an internal one, the catalogue and the patients' API; on the
// internal listener, the staff API and the displays — the patients' API is
// not there at all, so it cannot be reached past the public rules.
func (s *Server) Handler(l frontdoor.Listener) http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handler) { mux.Handle(pattern, s.adapt(fn)) }

	h("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, 200, map[string]string{"status": "ok"})
	})
	h("GET /readyz", s.readyz)
	if l != frontdoor.InternalListener {
		s.cacheOnce.Do(func() { s.cache = &answers{ttl: s.CatalogueTTL, now: time.Now, m: map[string]cached{}} })
		h("GET /api/v1/departments", s.cache.wrap(s.departments))
		h("GET /api/v1/departments/{id}/doctors", s.cache.wrap(s.doctors))
		h("GET /api/v1/departments/{id}/sessions", s.cache.wrap(s.sessions))
		h("GET /api/v1/doctors/{id}/sessions", s.cache.wrap(s.sessions))
		h("GET /api/v1/sessions/{id}", s.cache.wrap(s.session))
		h("GET /api/v1/sessions/{id}/release", s.cache.wrap(s.release))
		h("GET /api/v1/sessions/{id}/draw/record", s.cache.wrap(s.drawRecord))
		h("GET /api/v1/challenge", s.challenge)
		h("POST /api/v1/auth/code", s.requestCode)
		h("POST /api/v1/auth/login", s.login)
		h("POST /api/v1/auth/refresh", s.refresh)
		s.patientRoutes(h)
	}
	h("POST /api/v1/auth/logout", s.logout) // staff log out on the internal listener
	if l != frontdoor.PublicListener {
		s.staffRoutes(h)
		h("GET /api/v1/display/departments/{id}", s.board)
		h("GET "+eventsPath, s.boardEvents)
	}

	// Anything else: a JSON 405 when the path exists under another method
	// (a GET of a cancel URL), else a JSON 404.
	h("/", func(w http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, m := range []string{"GET", "POST"} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &methodError{r.Method, allow}
		}
		return fairslot.Errorf(fairslot.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return s.Middleware(mux)
}

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID is the ID the middleware gave the request, shown on error pages
// and in the log.
func RequestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// statusWriter records the status for the access log. It passes Flush on,
// for server-sent events.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Middleware gives every request an ID, recovers panics and writes one
// access-log line: method, route pattern, status, size and duration only.
// The pages use it too.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-ID", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Log.Error("panic", "request_id", id, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.writeError(sw, r, errors.New("panic"))
				}
			}
			s.Log.Info("request", "request_id", id, "method", r.Method, "route", r.Pattern, "status", sw.status,
				"bytes", sw.bytes, "ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) adapt(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// status maps error kinds to HTTP status codes; it is the only such mapping.
var status = map[fairslot.Kind]int{
	fairslot.Invalid:           http.StatusBadRequest,
	fairslot.Unauthorized:      http.StatusUnauthorized,
	fairslot.Forbidden:         http.StatusForbidden,
	fairslot.NotFound:          http.StatusNotFound,
	fairslot.Conflict:          http.StatusConflict,
	fairslot.Limited:           http.StatusTooManyRequests,
	fairslot.ChallengeRequired: http.StatusPreconditionRequired,
	fairslot.Gone:              http.StatusGone,
	fairslot.TooLarge:          http.StatusRequestEntityTooLarge,
	fairslot.Unavailable:       http.StatusServiceUnavailable,
	fairslot.Internal:          http.StatusInternalServerError,
}

// methodError is a request with a method the path does not take. It is the
// one error that is not a kind: HTTP's 405 has no place outside HTTP.
type methodError struct {
	method string
	allow  []string
}

func (e *methodError) Error() string {
	return fmt.Sprintf("this endpoint does not take %s; use %s", e.method, strings.Join(e.allow, " or "))
}

// Translator turns an error into the text of a request's language; ok is
// false when the request asks for no language it has.
type Translator interface {
	ErrorText(r *http.Request, err error) (text string, ok bool)
}

// errorBody is an error answer: code is the kind (the machine-readable
// part), key the message's catalogue key and field the input it is about,
// message the text for a person — in the Accept-Language's language.
type errorBody struct {
	Error struct {
		Code      fairslot.Kind `json:"code"`
		Key       string        `json:"key,omitempty"`
		Field     string        `json:"field,omitempty"`
		Message   string        `json:"message"`
		RequestID string        `json:"request_id"`
	} `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var body errorBody
	body.Error.RequestID = RequestID(r)
	if me, ok := err.(*methodError); ok {
		body.Error.Code, body.Error.Message = "method_not_allowed", me.Error()
		writeJSON(w, http.StatusMethodNotAllowed, body)
		return
	}
	body.Error.Code, body.Error.Message = fairslot.ErrorKind(err), fairslot.ErrorMessage(err)
	body.Error.Key, _ = fairslot.ErrorKey(err)
	body.Error.Field = fairslot.ErrorField(err)
	if s.Errors != nil {
		if text, ok := s.Errors.ErrorText(r, err); ok {
			body.Error.Message = text
		}
	}
	if err == app.ErrStepUp {
		body.Error.Code = stepUpRequired // staffauth.go
	}
	writeJSON(w, s.Failed(w, r, err), body)
}

// Failed notes an error a request ends with, for the API and the pages
// alike: it logs what an operator must see (internal errors, blocked
// writes), sets Retry-After where waiting helps, and returns the status.
// Conditions that last — a lock held by another session, a storage that
// cannot write — fail every request while they last: they are logged once
// per logInterval (a storage fault by the store's health tracker, once per
// outage), never once per request.
func (s *Server) Failed(w http.ResponseWriter, r *http.Request, err error) int {
	kind := fairslot.ErrorKind(err)
	switch kind {
	case fairslot.Internal:
		s.Log.Error("internal error", "request_id", RequestID(r), "route", r.Pattern, "err", err)
	case fairslot.Unavailable:
		switch {
		case storage.FaultOf(err) != nil:
			// Logged and counted by the store (internal/storage/health).
		case errors.Is(err, storage.ErrBusy):
			// Another session holds a lock that blocks registration.
			if ok, skipped := s.busyLog.allow(time.Now()); ok {
				s.Log.Error("ALERT: writes are blocked by a lock; requests fail fast with 503", "request_id", RequestID(r),
					"route", r.Pattern, "condition", err, "same_since_last_line", skipped)
			}
		default:
			// Shutting down, not ready, or shedding load (a full login queue).
			if ok, skipped := s.unavailableLog.allow(time.Now()); ok {
				s.Log.Warn("unavailable", "request_id", RequestID(r), "route", r.Pattern, "condition", err, "same_since_last_line", skipped)
			}
		}
		w.Header().Set("Retry-After", "5")
	}
	if d := fairslot.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(frontdoor.RetrySeconds(d)))
	}
	return status[kind]
}

// logInterval is the least time between two log lines of one lasting
// condition.
const logInterval = 10 * time.Second

// logEvery lets a lasting condition's log line through once per
// logInterval, counting the lines it held back. The zero value is ready.
type logEvery struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (e *logEvery) allow(now time.Time) (ok bool, skipped int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < logInterval {
		e.skipped++
		return false, 0
	}
	skipped, e.last, e.skipped = e.skipped, now, 0
	return true, skipped
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: application/json, at most MaxBody
// bytes, no unknown fields, exactly one value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fairslot.Errorf(fairslot.Invalid, "Content-Type must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		if err != nil {
			return decodeError(err)
		}
		return fairslot.Errorf(fairslot.Invalid, "the body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return fairslot.Errorf(fairslot.TooLarge, "the body is larger than %d bytes", MaxBody)
	case errors.As(err, &syntax):
		return fairslot.Errorf(fairslot.Invalid, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fairslot.Errorf(fairslot.Invalid, "field %q must be a %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF):
		return fairslot.Errorf(fairslot.Invalid, "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fairslot.Errorf(fairslot.Invalid, "malformed JSON: the body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fairslot.Errorf(fairslot.Invalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fairslot.Errorf(fairslot.Invalid, "malformed JSON")
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fairslot.Errorf(fairslot.Invalid, "the id in the path must be a positive integer")
	}
	return id, nil
}

// Anonymous is the actor of a request with no credentials, naming its
// address prefix (for the staff login throttle).
func Anonymous(r *http.Request) app.Actor {
	return app.Actor{RequestID: RequestID(r), Addr: frontdoor.ClientPrefix(r)}
}

// Requester is the actor of a patient's login request, with no
// credentials: its address prefix and its device (only one the server
// signed), which key the one-time code limits (app/otp.go) so that a
// stranger elsewhere cannot use them up for the phone's owner.
func (s *Server) Requester(r *http.Request) app.Actor {
	a := Anonymous(r)
	if s.Door != nil {
		a.Device = s.Door.Device(r)
	} else {
		a.Device = device(r)
	}
	a.Lang = messageLang(r)
	return a
}

// actor authenticates the request's bearer token.
func (s *Server) actor(r *http.Request) (app.Actor, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return app.Actor{}, fairslot.Errorf(fairslot.Unauthorized, "an Authorization: Bearer token is required")
	}
	return s.Actor(r, tok)
}

// Actor authenticates a token a request carries (a bearer token, or a
// page's session cookie) and names the client's network and device.
func (s *Server) Actor(r *http.Request, tok string) (app.Actor, error) {
	a, err := s.App.Authenticate(r.Context(), tok, RequestID(r))
	if err == nil {
		err = kioskGuard(r, a) // access.go
	}
	a.Addr = frontdoor.ClientPrefix(r)
	if s.Door != nil {
		a.Device = s.Door.Device(r) // only a device the server signed: a made-up one names nobody
	} else {
		a.Device = device(r)
	}
	return a, err
}

// device names the client's device: the fairslot_device cookie the front
// door issues, or an X-Device-ID header from an app; empty when neither is
// sent.
func device(r *http.Request) string {
	if c, err := r.Cookie(frontdoor.DeviceCookie); err == nil && len(c.Value) <= 64 {
		return c.Value
	}
	if d := r.Header.Get("X-Device-ID"); len(d) <= 64 {
		return d
	}
	return ""
}

// eventsPath is the display's stream of server-sent events.
const eventsPath = "/api/v1/display/departments/{id}/events"

// Streamed reports whether a request opens a long-lived stream, which the
// front door admits to its listener's stream pool rather than a lane.
func Streamed(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/display/departments/")
	if !ok {
		return false
	}
	_, tail, _ := strings.Cut(rest, "/")
	return tail == "events"
}

// Challenged reports whether a request must carry a solved proof-of-work
// challenge: the public booking and draw-entry endpoints, where speed must
// buy nothing.
func Challenged(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	if p == "/api/v1/bookings" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/api/v1/sessions/")
	if !ok {
		return false
	}
	_, tail, ok := strings.Cut(rest, "/")
	return ok && tail == "draw/entries"
}

// RiskDecisions are the risk monitor's current decisions, from memory.
type RiskDecisions interface {
	Decision(accountID int64) risk.Decision
}

// challenge issues a proof-of-work challenge bound to the client's device
// (setting the device cookie if it has none), harder as the patient lane
// fills and as the account's risk decision says (its PowLevel, 0–4).
func (s *Server) challenge(w http.ResponseWriter, r *http.Request) error {
	if s.Door == nil {
		return fairslot.Errorf(fairslot.NotFound, "challenges are off on this server: no request needs one")
	}
	level := 0
	if tok := s.Door.Token(r); tok != "" && s.Risk != nil {
		if kind, id, ok := s.App.TokenClaims(tok); ok && kind == "account" {
			level = s.Risk.Decision(id).PowLevel
		}
	}
	ch, device := s.Door.Issue(w, r, level)
	return writeJSON(w, http.StatusOK, map[string]any{"challenge": ch.Token, "bits": ch.Bits, "expires": ch.Expires, "device": device})
}

// LimitPatient applies the front door's per-patient limit, once the body
// has named the patient.
func (s *Server) LimitPatient(ctx context.Context, patientID int64) error {
	if s.Door == nil {
		return nil
	}
	return s.Door.LimitPatient(ctx, patientID)
}

// LimitClient applies the front door's per-client limit to a FHIR system
// client's booking request.
func (s *Server) LimitClient(ctx context.Context, client string) error {
	if s.Door == nil {
		return nil
	}
	return s.Door.LimitClient(ctx, client)
}

// errNotReady is /readyz's answer while the server cannot take traffic.
var errNotReady = &fairslot.Error{Kind: fairslot.Unavailable, Message: "not ready"}

// readyz answers 503 while the database cannot be reached, its schema is
// not current or its storage cannot write (Ready, wired by serve). The
// cause goes to the log (Failed), not to the client.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.Ready(r.Context()); err != nil {
		return fmt.Errorf("%w: %w", errNotReady, err)
	}
	return writeJSON(w, 200, map[string]string{"status": "ready"})
}
