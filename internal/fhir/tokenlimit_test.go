package fhir_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

// tokenServer serves the facade over e's service with token limits set by
// limits, taking each request's address from its X-Test-Peer header (as a
// trusted proxy's would be), so a test can send from many networks.
func (e *env) tokenServer(t *testing.T, limits func(*fhir.TokenLimits)) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fhir.Server{App: e.svc, API: &httpapi.Server{App: e.svc, Log: log}, Base: "https://fhir.example/fhir/R4"}
	if limits != nil {
		limits(&f.TokenLimits)
	}
	h := f.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.Header.Get("X-Test-Peer"); p != "" {
			r.RemoteAddr = p + ":4000"
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// tokenForm is a client-credentials request with an assertion.
func tokenForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion}, "scope": {scope}}
}

// postToken posts body to base's token endpoint from peer ("": the TCP
// peer): the status, the headers and the decoded JSON.
func postToken(t *testing.T, base, peer, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/fhir/R4/auth/token", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if peer != "" {
		req.Header.Set("X-Test-Peer", peer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token endpoint answered %d %s: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, resp.Header, m
}

const formType = "application/x-www-form-urlencoded"

// refusals are the audit records of refused token requests.
func refusals(t *testing.T, e *env) []audit.Event {
	t.Helper()
	var evs []audit.Event
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { evs, err = tx.AuditEvents(ctx, 0, 1_000_000); return err }); err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, ev := range evs {
		if ev.Action == "fhir.token_refused" {
			out = append(out, ev)
		}
	}
	return out
}

// newClientID is a well-formed client id no client has.
func newClientID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestSMARTAssertionLeeway(t *testing.T) {
	e := newEnvTB(t)
	c := e.register(t, jose.ES384, "system/Slot.rs")
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(e.now.Add(d)) }
	for _, tc := range []struct {
		name string
		edit func(*jwt.Claims)
		want int
	}{
		{"exp a minute ago: within the leeway", func(cl *jwt.Claims) { cl.Expiry = at(-time.Minute) }, 200},
		{"exp 61 s ago", func(cl *jwt.Claims) { cl.Expiry = at(-61 * time.Second) }, 401},
		{"exp 6 min away: five and the leeway", func(cl *jwt.Claims) { cl.Expiry = at(6 * time.Minute) }, 200},
		{"exp 6 min 1 s away", func(cl *jwt.Claims) { cl.Expiry = at(6*time.Minute + time.Second) }, 401},
		{"nbf a minute ahead", func(cl *jwt.Claims) { cl.NotBefore = at(time.Minute) }, 200},
		{"nbf 61 s ahead", func(cl *jwt.Claims) { cl.NotBefore = at(61 * time.Second) }, 401},
		{"iat a minute ahead", func(cl *jwt.Claims) { cl.IssuedAt = at(time.Minute) }, 200},
		{"iat 61 s ahead", func(cl *jwt.Claims) { cl.IssuedAt = at(61 * time.Second) }, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := e.askToken(t, c.assertion(t, e.now, tc.edit), "system/Slot.rs")
			if code != tc.want {
				t.Errorf("got %d %v, want %d", code, m, tc.want)
			}
		})
	}

	// A jti is remembered as long as its assertion is accepted: replayed
	// after its exp but within the leeway, it is still refused.
	a := c.assertion(t, e.now, func(cl *jwt.Claims) { cl.Expiry = at(time.Minute) })
	if code, m := e.askToken(t, a, "system/Slot.rs"); code != 200 {
		t.Fatalf("first use: %d %v", code, m)
	}
	e.now = e.now.Add(time.Minute + 30*time.Second)
	if code, m := e.askToken(t, a, "system/Slot.rs"); code != 400 || m["error"] != "invalid_grant" {
		t.Errorf("replayed 30 s after its exp: %d %v, want 400 invalid_grant", code, m)
	}
}

func TestSMARTTokenRefusalsAudited(t *testing.T) {
	e := newEnv(t) // the AuditEvents with refusals are validated
	c := e.register(t, jose.ES384, "system/Slot.rs")
	revoked := e.register(t, jose.RS384, "system/Slot.rs")
	if err := e.svc.RevokeFHIRClient(ctx, app.System, revoked.id); err != nil {
		t.Fatal(err)
	}
	unknown := smartClient{newClientID(), jose.ES384, genKey(t, jose.ES384), "k"}
	badSig := smartClient{c.id, jose.ES384, genKey(t, jose.ES384), c.kid}.assertion(t, e.now, nil)
	replayed := c.assertion(t, e.now, nil)
	if code, m := e.askToken(t, replayed, "system/Slot.rs"); code != 200 {
		t.Fatalf("first use: %d %v", code, m)
	}
	wrongGrant := tokenForm(c.assertion(t, e.now, nil), "system/Slot.rs")
	wrongGrant.Set("grant_type", "password")
	huge := tokenForm(c.assertion(t, e.now, nil), "system/Slot.rs").Encode() + "&pad=" + strings.Repeat("x", 1<<20)
	cases := []struct {
		name, contentType, body string
		wantCode                int
		wantError, wantReason   string
		wantClient              string // "" for none
	}{
		{"bad signature", formType, tokenForm(badSig, "system/Slot.rs").Encode(), 401, "invalid_client", "bad signature", c.id},
		{"unknown well-formed client", formType, tokenForm(unknown.assertion(t, e.now, nil), "system/Slot.rs").Encode(), 401, "invalid_client", "unknown client", unknown.id},
		{"unknown ill-formed client", formType, tokenForm(smartClient{"nobody", jose.ES384, unknown.key, "k"}.assertion(t, e.now, nil), "system/Slot.rs").Encode(), 401, "invalid_client", "unknown client", ""},
		{"revoked client", formType, tokenForm(revoked.assertion(t, e.now, nil), "system/Slot.rs").Encode(), 401, "invalid_client", "revoked client", revoked.id},
		{"replayed jti", formType, tokenForm(replayed, "system/Slot.rs").Encode(), 400, "invalid_grant", "replayed jti", c.id},
		{"scope not granted", formType, tokenForm(c.assertion(t, e.now, nil), "system/Patient.r").Encode(), 400, "invalid_scope", "no scope granted", c.id},
		{"malformed scope", formType, tokenForm(c.assertion(t, e.now, nil), "patient/Slot.rs").Encode(), 400, "invalid_scope", "malformed scope", c.id},
		{"expired", formType, tokenForm(c.assertion(t, e.now, func(cl *jwt.Claims) { cl.Expiry = jwt.NewNumericDate(e.now.Add(-time.Hour)) }), "system/Slot.rs").Encode(), 401, "invalid_client", "expired", c.id},
		{"wrong grant type", formType, wrongGrant.Encode(), 400, "unsupported_grant_type", "grant type", c.id},
		{"not a JWT", formType, tokenForm("not.a.jwt", "system/Slot.rs").Encode(), 401, "invalid_client", "assertion not a JWT of an accepted algorithm", ""},
		{"a body of 1 MiB", formType, huge, 400, "invalid_request", "malformed or oversized body", ""},
		{"not a form", "application/json", `{"grant_type":"client_credentials"}`, 400, "unsupported_grant_type", "grant type", ""},
	}
	before := len(refusals(t, e))
	for _, tc := range cases {
		code, h, m := postToken(t, e.srv.URL, "", tc.contentType, tc.body)
		if code != tc.wantCode || m["error"] != tc.wantError {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, m, tc.wantCode, tc.wantError)
		}
		if code == 401 && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: a 401 with no WWW-Authenticate", tc.name)
		}
	}
	got := refusals(t, e)[before:]
	if len(got) != len(cases) {
		t.Fatalf("%d fhir.token_refused records, want %d (one per refusal): %+v", len(got), len(cases), got)
	}
	for i, tc := range cases {
		ev := got[i]
		wantSubject := "fhir:token"
		if tc.wantClient != "" {
			wantSubject = "fhir-client:" + tc.wantClient
		}
		if ev.Actor != "anonymous" || ev.Subject != wantSubject || ev.Detail["error"] != tc.wantError || ev.Detail["reason"] != tc.wantReason ||
			ev.Detail["client"] != tc.wantClient || ev.Detail["status"] != strconv.Itoa(tc.wantCode) || ev.RequestID == "" {
			t.Errorf("%s: record %+v, want anonymous on %s, error %s, reason %q, client %q", tc.name, ev, wantSubject, tc.wantError, tc.wantReason, tc.wantClient)
		}
		// The address as a keyed hash, as risk events carry it; never the
		// address, the assertion or anything else the requester sent.
		if p := ev.Detail["prefix"]; len(p) < 32 || strings.Contains(p, "127.") {
			t.Errorf("%s: prefix %q, want a keyed hash of the address prefix", tc.name, p)
		}
		for k, v := range ev.Detail {
			if strings.Contains(v, "eyJ") || strings.Contains(v, "nobody") || strings.Contains(v, "xxxx") {
				t.Errorf("%s: detail %s = %q holds what the requester sent", tc.name, k, v)
			}
		}
	}
	// A security officer finds the refusals in the FHIR audit trail too,
	// as failed authentications.
	sec := e.staffToken(t, "security")
	_, body := e.get(t, "/fhir/R4/AuditEvent?_count=100", sec)
	if !strings.Contains(string(body), "fhir.token_refused") {
		t.Errorf("the AuditEvent trail has no fhir.token_refused: %.400s", body)
	}
}

func TestSMARTTokenRateLimit(t *testing.T) {
	e := newEnvTB(t)
	c := e.register(t, jose.ES384, "system/Slot.rs")
	base := e.tokenServer(t, nil) // the defaults

	// A client asking for a token every 4 minutes, or every minute, from
	// one address, is never limited.
	for i := range 40 {
		code, _, m := postToken(t, base, "10.1.1.5", formType, tokenForm(c.assertion(t, e.now, nil), "system/Slot.rs").Encode())
		if code != 200 {
			t.Fatalf("request %d, every 4 minutes: %d %v", i+1, code, m)
		}
		e.now = e.now.Add(4 * time.Minute)
	}
	for i := range 70 {
		code, _, m := postToken(t, base, "10.1.1.5", formType, tokenForm(c.assertion(t, e.now, nil), "system/Slot.rs").Encode())
		if code != 200 {
			t.Fatalf("request %d, every minute: %d %v", i+1, code, m)
		}
		e.now = e.now.Add(time.Minute)
	}

	// A flood of made-up client ids from one network meets the address's
	// limit; a flood in the client's name from rotating networks meets
	// the client's. Each is refused 429 with Retry-After and an OAuth
	// error, and leaves one summary record per window, not one per
	// request.
	floods := []struct {
		name   string
		peer   func(i int) string
		claim  func() smartClient
		limit  string
		within int // requests the limit lets through (the burst)
	}{
		{"rotating client ids, one address", func(int) string { return "192.0.2.7" },
			func() smartClient { return smartClient{newClientID(), jose.ES384, c.key, c.kid} }, "address", 60},
		{"one client id, rotating addresses", func(i int) string { return fmt.Sprintf("10.%d.%d.9", 100+i/250, i%250) },
			func() smartClient { return smartClient{c.id, jose.ES384, genKey(t, jose.ES384), c.kid} }, "client", 20},
	}
	for _, fl := range floods {
		t.Run(fl.name, func(t *testing.T) {
			before := len(refusals(t, e))
			limited := 0
			for i := range fl.within + 40 {
				code, h, m := postToken(t, base, fl.peer(i), formType, tokenForm(fl.claim().assertion(t, e.now, nil), "system/Slot.rs").Encode())
				if i < fl.within {
					if code != 401 {
						t.Fatalf("request %d within the burst: %d %v, want 401", i+1, code, m)
					}
					continue
				}
				if code != 429 || m["error"] != "temporarily_unavailable" || h.Get("Retry-After") == "" || h.Get("Content-Type") != "application/json" {
					t.Fatalf("request %d past the burst: %d %v Retry-After %q, want 429 temporarily_unavailable with Retry-After", i+1, code, m, h.Get("Retry-After"))
				}
				if s, _ := strconv.Atoi(h.Get("Retry-After")); s < 1 {
					t.Errorf("Retry-After %q", h.Get("Retry-After"))
				}
				limited++
			}
			got := refusals(t, e)[before:]
			summaries := 0
			for _, ev := range got {
				if ev.Detail["summary"] != "" {
					summaries++
					if ev.Detail["error"] != "temporarily_unavailable" || ev.Detail["reason"] != "rate limited by "+fl.limit || ev.Detail["status"] != "429" {
						t.Errorf("summary record %+v", ev)
					}
				}
			}
			if len(got) != fl.within+1 || summaries != 1 {
				t.Errorf("%d records (%d summaries) for %d refusals, %d of them limited; want %d and 1 summary", len(got), summaries, fl.within+40, limited, fl.within+1)
			}
		})
	}
	// The client's own network and name were not flooded: it still gets
	// its token after the flood of made-up ids (another address). After
	// the flood in its name, it waits like the flood: the price of a
	// limit keyed by a claim that the signature has not yet proved.
	e.now = e.now.Add(time.Hour)
	if code, _, m := postToken(t, base, "10.1.1.5", formType, tokenForm(c.assertion(t, e.now, nil), "system/Slot.rs").Encode()); code != 200 {
		t.Errorf("the client an hour after the floods: %d %v", code, m)
	}
}

// TestSMARTTokenAuditBounded: a flood from rotating addresses with rotating
// client ids meets neither limit; the audit budget bounds its records, and
// one record per window says how many went unrecorded.
func TestSMARTTokenAuditBounded(t *testing.T) {
	e := newEnvTB(t)
	key := genKey(t, jose.ES384)
	base := e.tokenServer(t, func(l *fhir.TokenLimits) { l.Records = gate.Limit{Rate: 1, Per: time.Hour, Burst: 10} })
	before := len(refusals(t, e))
	const n = 60
	for i := range n {
		a := smartClient{newClientID(), jose.ES384, key, "k"}.assertion(t, e.now, nil)
		if code, _, m := postToken(t, base, fmt.Sprintf("10.%d.%d.1", 50+i/250, i%250), formType, tokenForm(a, "system/Slot.rs").Encode()); code != 401 {
			t.Fatalf("request %d: %d %v", i+1, code, m)
		}
	}
	got := refusals(t, e)[before:]
	if len(got) != 11 {
		t.Fatalf("%d records for %d refusals, want 10 (the budget) and one summary", len(got), n)
	}
	if s := got[10].Detail["summary"]; !strings.Contains(s, "not recorded since the last such record: 1;") {
		t.Errorf("budget summary %+v", got[10])
	}
	// The next window's summary counts the rest.
	e.now = e.now.Add(11 * time.Minute)
	a := smartClient{newClientID(), jose.ES384, key, "k"}.assertion(t, e.now, nil)
	postToken(t, base, "10.99.0.1", formType, tokenForm(a, "system/Slot.rs").Encode())
	got = refusals(t, e)[before:]
	if len(got) != 12 || !strings.Contains(got[11].Detail["summary"], fmt.Sprintf("not recorded since the last such record: %d;", n-11+1)) {
		t.Errorf("after the window: %d records, the last %+v; want 12, counting %d", len(got), got[len(got)-1], n-11+1)
	}
}

func TestFHIRWWWAuthenticate(t *testing.T) {
	e := newEnvTB(t)
	c := e.register(t, jose.ES384, "system/Slot.rs")
	tok := e.smartToken(t, c, "system/Slot.rs")
	for _, tc := range []struct {
		name, auth string
		advance    time.Duration
		want       string
	}{
		{"no token", "", 0, `Bearer realm="fairslot-fhir"`},
		{"another scheme", "Basic dXNlcjpwYXNz", 0, `Bearer realm="fairslot-fhir"`},
		{"made-up token", "Bearer not-a-token", 0, `Bearer realm="fairslot-fhir", error="invalid_token"`},
		{"expired token", "Bearer " + tok, 6 * time.Minute, `Bearer realm="fairslot-fhir", error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.now = e.now.Add(tc.advance)
			req, _ := http.NewRequest("GET", e.srv.URL+"/fhir/R4/Slot?schedule=Schedule/1", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.HasPrefix(got, tc.want) {
				t.Errorf("%d WWW-Authenticate %q, want 401 %s", resp.StatusCode, got, tc.want)
			}
		})
	}
	// The token endpoint's invalid_client 401: a challenge of the scheme
	// the client tried in Authorization (RFC 6749 §5.2), else the realm's.
	bad := tokenForm("not.a.jwt", "system/Slot.rs").Encode()
	for _, tc := range []struct{ auth, want string }{
		{"", `Bearer realm="fairslot-fhir"`},
		{"Basic Zm9vOmJhcg==", `Basic realm="fairslot-fhir"`},
		{`Ba"sic x`, `Bearer realm="fairslot-fhir"`},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/fhir/R4/auth/token", strings.NewReader(bad))
		req.Header.Set("Content-Type", formType)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != tc.want {
			t.Errorf("token endpoint with Authorization %q: %d WWW-Authenticate %q, want 401 %s", tc.auth, resp.StatusCode, got, tc.want)
		}
	}
}
