package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestThroughTheFrontDoor serves the API behind the real door: a booking
// without a solved challenge is refused before it reaches the database, the
// Go solver gets it through, an account with risk events gets harder
// challenges, and the per-patient limit answers 429 with Retry-After.
func TestThroughTheFrontDoor(t *testing.T) {
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	door, err := frontdoor.New(context.Background(), frontdoor.Default(), e.svc.Vault.Key, func(tok string) (string, int64, bool) {
		kind, id, ok := e.svc.TokenClaims(tok)
		return string(kind), id, ok
	}, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	door.Challenged = httpapi.Challenged
	decisions := &fakeRisk{levels: map[int64]int{}}
	api := &httpapi.Server{App: e.svc, Log: log, Ready: e.store.Ping, Door: door, Risk: decisions}
	srv := httptest.NewServer(door.Wrap(api.Handler(frontdoor.SingleListener), frontdoor.SingleListener))
	defer srv.Close()

	tok := e.patientToken(t, "13900139000")
	kind, account, ok := e.svc.TokenClaims(tok)
	if !ok || kind != storage.AccountToken {
		t.Fatalf("TokenClaims of a login token = %v %v %v", kind, account, ok)
	}
	if _, _, ok := e.svc.TokenClaims(tok[:len(tok)-2] + "AA"); ok {
		t.Error("a token with a changed tag is accepted")
	}
	c := &apiclient.Client{Base: srv.URL, Token: tok}
	resp, err := c.Do(ctx, "POST", "/api/v1/patients", map[string]string{"name": "王小二", "id_type": "cn_resident", "id_number": "110105201501010017"}, nil, false)
	if err != nil || resp.Status != 201 {
		t.Fatalf("bind through the door: %v %v", resp, err)
	}
	var p struct{ ID int64 }
	resp.Decode(&p)
	const session = 44 // the afternoon session of department 2 today
	hold := map[string]int64{"session_id": session, "patient_id": p.ID}

	// No challenge (a plain request, no solver): 428, and nothing booked.
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/bookings", strings.NewReader(`{"session_id":44,"patient_id":`+strconv.FormatInt(p.ID, 10)+`}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	raw, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw.Body.Close()
	if raw.StatusCode != 428 {
		t.Fatalf("booking without a challenge: %d", raw.StatusCode)
	}
	if resp, _ := c.Do(ctx, "GET", "/api/v1/bookings", nil, nil, false); string(resp.Body) != "{\"bookings\":[]}\n" {
		t.Fatalf("a refused booking left something: %s", resp.Body)
	}
	// The Go solver answers the 428 and books.
	resp, err = c.Do(ctx, "POST", "/api/v1/bookings", hold, nil, false)
	if err != nil || resp.Status != 201 || c.Solved != 1 {
		t.Fatalf("booking with the solver: %v %v (solved %d)", resp, err, c.Solved)
	}

	// The account's risk decision makes its challenges harder: 2 bits a
	// level. Its own binding and booking (risk events now) do not.
	difficulty := func() int {
		resp, err := c.Do(ctx, "GET", "/api/v1/challenge", nil, nil, false)
		var ch struct{ Bits int }
		if err != nil || resp.Status != 200 || resp.Decode(&ch) != nil {
			t.Fatalf("GET /api/v1/challenge: %v %v", resp, err)
		}
		return ch.Bits
	}
	if d := difficulty(); d != 12 {
		t.Errorf("difficulty with no risk = %d, want 12", d)
	}
	decisions.set(account, 2)
	if d := difficulty(); d != 16 {
		t.Errorf("difficulty at risk level 2 = %d, want 16", d)
	}

	// The per-patient limit (burst 10) on a route that names the patient.
	var last *apiclient.Response
	for i := range 11 {
		last, _ = c.Do(ctx, "POST", "/api/v1/waitlist", map[string]int64{"session_id": session, "patient_id": p.ID}, map[string]string{"X-Try": strconv.Itoa(i)}, false)
	}
	if last.Status != 429 || last.Header.Get("Retry-After") == "" {
		t.Errorf("11th waitlist request for one patient: %d %q %s; want 429 with Retry-After", last.Status, last.Header.Get("Retry-After"), last.Body)
	}
}

// TestListenersServeTheirOwn: beside an internal listener, the public one
// has no staff endpoint (login included) and no display, and the internal
// one has none of the patients' API, so that it is no way around the public
// rules; the only listener of a server without an internal one has all.
func TestListenersServeTheirOwn(t *testing.T) {
	e := newEnv(t)
	api := &httpapi.Server{App: e.svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: e.store.Ping}
	routes := []struct {
		method, path string
		exists       int // the status when the route is served
	}{
		{"POST", "/api/v1/staff/login", 401},
		{"POST", "/api/v1/staff/check-in", 401},
		{"GET", "/api/v1/display/departments/1", 200},
		{"GET", "/api/v1/departments", 200},
		{"GET", "/api/v1/sessions/1", 200},
		{"GET", "/api/v1/challenge", 404}, // served, but off without a door
		{"POST", "/api/v1/auth/code", 400},
		{"GET", "/api/v1/patients", 401},
		{"POST", "/api/v1/bookings", 401},
		{"POST", "/api/v1/sessions/1/draw/entries", 401},
		{"GET", "/healthz", 200},
		{"POST", "/api/v1/auth/logout", 401}, // everyone's, staff included
	}
	served := map[frontdoor.Listener]func(path string) bool{
		frontdoor.SingleListener: func(string) bool { return true },
		frontdoor.PublicListener: func(p string) bool {
			return !strings.HasPrefix(p, "/api/v1/staff/") && !strings.HasPrefix(p, "/api/v1/display/")
		},
		frontdoor.InternalListener: func(p string) bool {
			return p == "/healthz" || p == "/api/v1/auth/logout" || strings.HasPrefix(p, "/api/v1/staff/") || strings.HasPrefix(p, "/api/v1/display/")
		},
	}
	for l, serves := range served {
		h := api.Handler(l)
		for _, rt := range routes {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(`{"username":"desk","password":"wrong-password"}`))
			r.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(w, r)
			want := 404
			if serves(rt.path) {
				want = rt.exists
			}
			if w.Code != want || (want == 404 && !strings.Contains(w.Body.String(), "no such endpoint") && rt.exists != 404) {
				t.Errorf("%v listener: %s %s = %d %s, want %d", l, rt.method, rt.path, w.Code, w.Body, want)
			}
		}
	}
}

// TestRevokedTokensLoseTheirLane: the door lanes a token by what it can
// check without the database — its signature, its expiry and the
// revocation set — so a staff token that was logged out (on this node, or
// on another that shares the database) or has expired puts nobody in the
// staff lane: its requests are limited and challenged like anyone's.
func TestRevokedTokensLoseTheirLane(t *testing.T) {
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Another node: its own service over the same database and keyset.
	other := &app.Service{Store: e.svc.Store, Vault: e.svc.Vault, Policy: e.svc.Policy, Calling: e.svc.Calling,
		Payments: e.svc.Payments, Now: e.clock.Now, Location: loc, Log: log, Display: app.NewBroker()}
	door := func(svc *app.Service) *httptest.Server {
		d, err := frontdoor.New(context.Background(), frontdoor.Default(), svc.Vault.Key, func(tok string) (string, int64, bool) {
			kind, id, ok := svc.TokenClaims(tok)
			return string(kind), id, ok
		}, prometheus.NewRegistry(), log)
		if err != nil {
			t.Fatal(err)
		}
		d.Challenged = httpapi.Challenged
		api := &httpapi.Server{App: svc, Log: log, Ready: e.store.Ping, Door: d}
		srv := httptest.NewServer(d.Wrap(api.Handler(frontdoor.SingleListener), frontdoor.SingleListener))
		t.Cleanup(srv.Close)
		return srv
	}
	here, there := door(e.svc), door(other)
	login := func() string {
		resp, err := (&apiclient.Client{Base: here.URL}).Do(ctx, "POST", "/api/v1/staff/login", map[string]string{"username": "desk", "password": "fairslot-demo"}, nil, false)
		var out struct{ Token string }
		if err != nil || resp.Status != 200 || resp.Decode(&out) != nil {
			t.Fatalf("staff login: %v %v", resp, err)
		}
		return out.Token
	}
	// A booking request is challenged in every lane but the staff lane: a
	// staff token gets past the door (and is then refused by the use case,
	// 401: bookings are for patients), any other gets 428.
	lane := func(srv *httptest.Server, tok string) string {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/bookings", strings.NewReader(`{"session_id":1,"patient_id":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return map[int]string{401: "staff", 428: "challenged"}[resp.StatusCode] + fmt.Sprintf(" (%d)", resp.StatusCode)
	}
	tok := login()
	if got := lane(here, tok); got != "staff (401)" {
		t.Fatalf("a valid staff token: %s, want the staff lane", got)
	}
	if got := lane(there, tok); got != "staff (401)" {
		t.Fatalf("a valid staff token on the other node: %s, want the staff lane", got)
	}
	resp, err := (&apiclient.Client{Base: here.URL, Token: tok}).Do(ctx, "POST", "/api/v1/auth/logout", nil, nil, false)
	if err != nil || resp.Status != 204 {
		t.Fatalf("logout: %v %v", resp, err)
	}
	if got := lane(here, tok); got != "challenged (428)" {
		t.Errorf("a revoked staff token on the node that revoked it: %s, want challenged", got)
	}
	if err := other.LoadRevocations(ctx); err != nil { // what FollowRevocations does every second
		t.Fatal(err)
	}
	if got := lane(there, tok); got != "challenged (428)" {
		t.Errorf("a revoked staff token on another node after its poll: %s, want challenged", got)
	}
	// A node whose clock is two minutes behind logs a token out, after this
	// node's own logout above: this node still learns of it on its poll
	// (revocations are read by the database's clock, not the nodes').
	behind := &app.Service{Store: e.svc.Store, Vault: e.svc.Vault, Policy: e.svc.Policy, Calling: e.svc.Calling,
		Payments: e.svc.Payments, Now: func() time.Time { return e.clock.Now().Add(-2 * time.Minute) }, Location: loc, Log: log, Display: app.NewBroker()}
	tok2 := login()
	if err := behind.Logout(ctx, app.Actor{}, tok2); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := e.svc.LoadRevocations(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := lane(here, tok2); got != "challenged (428)" {
		t.Errorf("a staff token revoked by a node whose clock is behind, after this node's poll: %s, want challenged", got)
	}
	// A restarted node reads the revocations before it serves.
	fresh := &app.Service{Store: e.svc.Store, Vault: e.svc.Vault, Now: e.clock.Now, Location: loc, Log: log}
	if err := fresh.LoadRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := fresh.TokenClaims(tok); ok {
		t.Error("a restarted node takes a revoked token")
	}
	// Expired: a staff token lives 12 hours.
	tok = login()
	e.clock.Add(13 * time.Hour)
	if got := lane(here, tok); got != "challenged (428)" {
		t.Errorf("an expired staff token: %s, want challenged", got)
	}
}

// TestStreamsOnlyFromThePool: a display stream is served only to a request
// the door admitted to its stream pool; one that reached the handler any
// other way (a spelling of the path the door did not know as a stream)
// would hold a lane's place for as long as it stays open, and is refused.
func TestStreamsOnlyFromThePool(t *testing.T) {
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		streamed func(*http.Request) bool
		want     int
	}{{httpapi.Streamed, 200}, {func(*http.Request) bool { return false }, 503}} {
		d, err := frontdoor.New(context.Background(), frontdoor.Default(), e.svc.Vault.Key, func(string) (string, int64, bool) { return "", 0, false },
			prometheus.NewRegistry(), log)
		if err != nil {
			t.Fatal(err)
		}
		d.Streamed = tt.streamed
		api := &httpapi.Server{App: e.svc, Log: log, Ready: e.store.Ping, Door: d, BoardRefresh: time.Hour}
		srv := httptest.NewServer(d.Wrap(api.Handler(frontdoor.InternalListener), frontdoor.InternalListener))
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/display/departments/1/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.want {
			t.Errorf("a stream the door took for a stream: %v; got %d, want %d", tt.want == 200, resp.StatusCode, tt.want)
		}
		cancel()
		resp.Body.Close()
		srv.Close()
	}
}

// fakeRisk is the risk monitor's decisions: a PowLevel per account.
type fakeRisk struct {
	mu     sync.Mutex
	levels map[int64]int
}

func (f *fakeRisk) set(account int64, level int) {
	f.mu.Lock()
	f.levels[account] = level
	f.mu.Unlock()
}

func (f *fakeRisk) Decision(account int64) risk.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return risk.Decision{PowLevel: f.levels[account], RateFactor: 1}
}
