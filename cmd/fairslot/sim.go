package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
)

// simulation is what 'serve --demo --sim' adds for cmd/fairsim, which talks
// to the server over HTTP only: the storm's sessions, and the demo's
// outgoing messages (login codes) readable over HTTP, on the internal
// listener. It exists only in demo mode, whose messages are never sent.
type simulation struct {
	storm  demo.Storm
	outbox *outbox
	clock  *demo.Clock // the service's clock
}

// outbox keeps the last message to each phone, at most maxOutbox phones.
type outbox struct {
	mu sync.Mutex
	m  map[string]string
}

const maxOutbox = 100_000

// simNotifier keeps each message in the simulation's outbox, for
// cmd/fairsim to read (app.Service.Notifier: told of every message once it
// is committed). It is installed with --demo --sim only; the demo's log
// provider (internal/notify) shows messages in the log otherwise.
type simNotifier struct{ outbox *outbox }

func (n simNotifier) Notify(_ context.Context, phone, text string) error {
	n.outbox.mu.Lock()
	defer n.outbox.mu.Unlock()
	if len(n.outbox.m) >= maxOutbox {
		clear(n.outbox.m)
	}
	n.outbox.m[phone] = text
	return nil
}

// seedSimulation adds the storm to the demo hospital, and its next release
// reopensIn after the first when that is not 0.
func seedSimulation(ctx context.Context, svc *app.Service, clock *demo.Clock, opensIn, window time.Duration, slots int, reopensIn time.Duration) (*simulation, error) {
	opens := svc.Now().Add(opensIn)
	st, err := demo.SeedStorm(ctx, svc, opens, window, slots)
	if err != nil {
		return nil, err
	}
	if reopensIn > 0 {
		if err := demo.SeedLater(ctx, svc, &st, opens.Add(reopensIn), window); err != nil {
			return nil, err
		}
	}
	return &simulation{storm: st, outbox: &outbox{m: map[string]string{}}, clock: clock}, nil
}

// handler serves the simulation's endpoints in front of h:
// GET /demo/storm and GET /demo/messages/{phone}.
func (s *simulation) handler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /demo/storm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.storm)
	})
	mux.HandleFunc("GET /demo/clock", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.clock.State())
	})
	// Forward only: a simulation skips the hours between a night's
	// bindings and the morning's release; nothing it does can go back.
	mux.HandleFunc("POST /demo/clock", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ To time.Time }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&in); err != nil || in.To.IsZero() {
			http.Error(w, `want {"to": "RFC 3339 time"}`, http.StatusBadRequest)
			return
		}
		s.clock.Advance(in.To)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.clock.State())
	})
	mux.HandleFunc("GET /demo/messages/{phone}", func(w http.ResponseWriter, r *http.Request) {
		p, err := fairslot.NormalizePhone(r.PathValue("phone"))
		s.outbox.mu.Lock()
		text, ok := s.outbox.m[p]
		s.outbox.mu.Unlock()
		if err != nil || !ok {
			http.Error(w, "no message", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(text))
	})
	return mux
}
