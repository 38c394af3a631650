package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
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
	api := &httpapi.Server{App: e.svc, Log: log, Ready: e.store.Ping, Door: door}
	srv := httptest.NewServer(door.Wrap(api.Handler(), false))
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

	// Risk events make the account's challenges harder: 2 bits each.
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
	err = e.store.Update(ctx, func(tx storage.Tx) error {
		for range 2 {
			if err := tx.AppendRisk(ctx, &storage.RiskEvent{At: e.clock.Now(), Kind: "rebook_after_cancel", AccountID: account, SessionID: session}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := difficulty(); d != 16 {
		t.Errorf("difficulty with 2 risk events = %d, want 16", d)
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

// TestPublicHandlerHasNoStaffAPI: with an internal listener for staff, the
// public one has no staff endpoint at all, login included.
func TestPublicHandlerHasNoStaffAPI(t *testing.T) {
	e := newEnv(t)
	api := &httpapi.Server{App: e.svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: e.store.Ping}
	for _, tt := range []struct {
		h    http.Handler
		want int
	}{{api.PublicHandler(), 404}, {api.Handler(), 401}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/api/v1/staff/login", strings.NewReader(`{"username":"desk","password":"wrong-password"}`))
		r.Header.Set("Content-Type", "application/json")
		tt.h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("POST /api/v1/staff/login = %d, want %d", w.Code, tt.want)
		}
	}
	w := httptest.NewRecorder()
	api.PublicHandler().ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/departments", nil))
	if w.Code != 200 {
		t.Errorf("public GET /api/v1/departments = %d", w.Code)
	}
}
