// Package fhir is fairslot's HL7 FHIR R4 (4.0.1) facade under /fhir/R4: it
// maps the domain model (hospital, campuses, departments, doctors, sessions,
// windows, bookings, waitlist places, patients) to FHIR resources for the
// hospital's other systems, on its own mux. It reads through the use cases
// and storage contracts and holds no FHIR types in the core. It must never
// return unmasked personal data, never be mounted where the patients' API
// is (only on the internal listener), and never answer other than
// application/fhir+json — but for SMART's token endpoint and
// .well-known/smart-configuration, which OAuth and SMART define as
// application/json (smart.go).
package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

// Prefix is where the facade is mounted.
const Prefix = "/fhir/R4"

// ContentType is the one media type the facade answers with.
const ContentType = "application/fhir+json; charset=utf-8"

// Server serves the facade.
type Server struct {
	App *app.Service
	// API authenticates bearer tokens and maps error kinds to statuses (the
	// one mapping, httpapi.Server.Failed); its middleware gives request IDs.
	API *httpapi.Server
	// Base is the absolute URL of the facade as its clients reach it
	// (fullUrl and paging links), e.g. https://his-gw.example/fhir/R4; "":
	// built from the request's Host.
	Base string
	// Subscriptions says which endpoints a Subscription may name
	// (subscription.go).
	Subscriptions SubscriptionPolicy
	// TokenLimits bound the token endpoint (tokenlimit.go); the zero value
	// uses the defaults.
	TokenLimits TokenLimits
}

type handler func(w http.ResponseWriter, r *http.Request) error

// Handler returns the facade. Every route but metadata, the SMART
// configuration and the token endpoint needs a bearer token: a FHIR
// client's, whose scopes must allow the interaction, or the staff session
// of an unscoped admin — of a security officer for AuditEvent (see
// authorize). Every call with a token is audited.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handler) { mux.Handle(pattern, s.adapt(fn)) }
	// route is an interaction on a type, perm its SMART permission.
	route := func(pattern, typ string, perm byte, fn handler) {
		mux.Handle(pattern, s.audited(typ, perm, s.adapt(s.authorized(typ, perm, fn))))
	}
	h("GET "+Prefix+"/metadata", s.metadata)
	h("GET "+Prefix+"/.well-known/smart-configuration", s.wellKnown)
	mux.HandleFunc("POST "+Prefix+TokenPath, s.token)
	for typ, rd := range s.readers() {
		route("GET "+Prefix+"/"+typ+"/{id}", typ, 'r', func(w http.ResponseWriter, r *http.Request) error {
			res, err := rd(r.Context(), r.PathValue("id"))
			if err != nil {
				return err
			}
			return write(w, http.StatusOK, res)
		})
	}
	route("GET "+Prefix+"/Patient/{id}", "Patient", 'r', func(w http.ResponseWriter, r *http.Request) error {
		res, err := s.patient(r, r.PathValue("id"))
		if err != nil {
			return err
		}
		return write(w, http.StatusOK, res)
	})
	for typ, sr := range s.searches() {
		route("GET "+Prefix+"/"+typ, typ, 's', func(w http.ResponseWriter, r *http.Request) error {
			return s.search(w, r, typ, sr)
		})
	}
	s.scheduling(mux)           // IHE $find, $hold, $book (scheduling.go)
	s.subscriptionRoutes(route) // subscription.go
	h(Prefix+"/", func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet {
			return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "%s %s is not supported: this FHIR server reads and searches, books only through IHE Scheduling's operations, and writes only Subscriptions", r.Method, r.URL.Path))
		}
		return coded("not-supported", fairslot.Errorf(fairslot.NotFound, "no such FHIR endpoint: %s", r.URL.Path))
	})
	return s.API.Middleware(mux)
}

// authorize finds the request's actor and grant for an interaction on
// typ. A FHIR client's access token (SMART Backend Services, smart.go)
// acts within its scopes. The staff session of an unscoped admin — the
// role that may see every department's bookings — may still read
// everything but the audit trail, as before SMART: the hospital's own
// staff use it to look at what the systems see. The audit trail
// (AuditEvent, auditevent.go) is a security officer's, and only theirs:
// the auditor reads the audit, the audited (an admin reading clinical
// data) does not, and a security officer reads nothing else here. A kiosk,
// a scoped or other role, a patient's token or none is refused.
func (s *Server) authorize(r *http.Request, typ string) (app.Actor, *storage.FHIRToken, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return app.Actor{}, nil, fairslot.Errorf(fairslot.Unauthorized, "an Authorization: Bearer token is required: a SMART Backend Services access token (POST %s%s)", Prefix, TokenPath)
	}
	if _, _, signed := s.App.TokenClaims(tok); !signed {
		// Not a fairslot session token: a FHIR client's, or nothing.
		k, err := s.App.AuthenticateFHIR(r.Context(), tok)
		if err != nil {
			return app.Actor{}, nil, err
		}
		return app.FHIRClientActor(k.ClientID, httpapi.RequestID(r)), &k, nil
	}
	a, err := s.API.Actor(r, tok)
	if err != nil {
		return a, nil, err
	}
	if typ == auditType {
		if a.Kind != storage.StaffToken || a.Role != fairslot.Security {
			return a, nil, fairslot.Errorf(fairslot.Forbidden, "AuditEvent is open to security officers' sessions and to SMART system clients with a system/AuditEvent scope only")
		}
		return a, nil, nil
	}
	if a.Kind != storage.StaffToken || a.Role != fairslot.Admin {
		return a, nil, fairslot.Errorf(fairslot.Forbidden, "the FHIR facade is open to SMART system clients and hospital-wide admin sessions only (AuditEvent: security officers)")
	}
	if a.Scope != (app.Scope{}) {
		return a, nil, fairslot.Errorf(fairslot.Forbidden, "the FHIR facade is open to hospital-wide admin sessions only; this account is scoped")
	}
	return a, nil, nil
}

// actorKey carries a request's actor in its context.
type actorKey struct{}

// actor is the use cases' actor for the facade's reads.
func (s *Server) actor(r *http.Request) app.Actor {
	a, _ := r.Context().Value(actorKey{}).(app.Actor)
	return a
}

// authorized runs fn for a request whose token allows perm on typ.
func (s *Server) authorized(typ string, perm byte, fn handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, grant, err := s.authorize(r, typ)
		if c, ok := r.Context().Value(callKey{}).(*call); ok {
			c.actor = a
		}
		if err != nil {
			return err
		}
		ctx := context.WithValue(r.Context(), actorKey{}, a)
		if grant != nil {
			ctx = context.WithValue(ctx, grantKey{}, grant)
		}
		r = r.WithContext(ctx)
		if perm != 0 { // 0: fn checks the permission its input asks for
			if err := permit(r, typ, perm); err != nil {
				return err
			}
		}
		if err := checkFormat(r); err != nil {
			return err
		}
		return fn(w, r)
	}
}

// checkFormat refuses a _format or Accept the facade cannot answer in.
func checkFormat(r *http.Request) error {
	switch f := r.URL.Query().Get("_format"); f {
	case "", "json", "application/json", "application/fhir+json":
	default:
		return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "_format %q is not supported: only JSON", f))
	}
	return nil
}

// codedError gives an error the OperationOutcome issue code that says more
// than its kind's (not-supported, too-costly); its HTTP status is still its
// kind's.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func coded(code string, err error) error { return &codedError{code, err} }

// issueCodes maps every error kind to its OperationOutcome issue code.
var issueCodes = map[fairslot.Kind]string{
	fairslot.Invalid:           "invalid",
	fairslot.Unauthorized:      "login",
	fairslot.Forbidden:         "forbidden",
	fairslot.NotFound:          "not-found",
	fairslot.Conflict:          "conflict",
	fairslot.Limited:           "throttled",
	fairslot.ChallengeRequired: "security",
	fairslot.Gone:              "expired",
	fairslot.TooLarge:          "too-long",
	fairslot.Unavailable:       "transient",
	fairslot.Internal:          "exception",
}

// outcome is the OperationOutcome of err: its kind's issue code (or a more
// precise one), its safe message, and the request ID to quote.
func outcome(err error, requestID string) OperationOutcome {
	code := issueCodes[fairslot.ErrorKind(err)]
	var c *codedError
	if errors.As(err, &c) {
		code = c.code
	}
	msg := fairslot.ErrorMessage(err)
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{{Severity: "error", Code: code,
		Details: &CodeableConcept{Text: msg}, Diagnostics: "request " + requestID}}}
}

func (s *Server) adapt(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		// The status comes from the API's one kind-to-status mapping, which
		// also logs internal errors and sets Retry-After.
		code := s.API.Failed(w, r, err)
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", bearerChallenge(r))
		}
		write(w, code, outcome(err, httpapi.RequestID(r)))
	})
}

// bearerChallenge is the WWW-Authenticate of a 401 (RFC 6750 §3): the
// realm alone to a request with no bearer token (§3.1: it gets no error
// code), and invalid_token to one whose token is unknown, expired or
// revoked — the one reason the facade answers 401 to a bearer token.
func bearerChallenge(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		return `Bearer realm="` + realm + `", error="invalid_token", error_description="the access token is invalid, expired or revoked"`
	}
	return `Bearer realm="` + realm + `"`
}

func write(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// base is the facade's absolute URL for this request.
func (s *Server) base(r *http.Request) string {
	if s.Base != "" {
		return strings.TrimSuffix(s.Base, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix
}

func (s *Server) now() time.Time { return s.App.Now().In(s.App.Location) }

func (s *Server) view(ctx context.Context, fn func(tx storage.Tx) error) error {
	return s.App.Store.View(ctx, fn)
}
