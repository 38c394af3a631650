package fhir_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

const tokenURL = "https://fhir.example/fhir/R4/auth/token" // newEnv's Base and the token path

// smartClient is a registered system client and its private key.
type smartClient struct {
	id  string
	alg jose.SignatureAlgorithm
	key any // private
	kid string
}

func genKey(t testing.TB, alg jose.SignatureAlgorithm) any {
	t.Helper()
	var k any
	var err error
	switch alg {
	case jose.ES384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.RS384:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func publicJWKS(t testing.TB, kid string, alg jose.SignatureAlgorithm, priv any) []byte {
	t.Helper()
	var pub any
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register adds a client with a new key of alg and the given scopes.
func (e *env) register(t testing.TB, alg jose.SignatureAlgorithm, scopes ...string) smartClient {
	t.Helper()
	key := genKey(t, alg)
	kid := "k-" + string(alg)
	c, err := e.svc.AddFHIRClient(ctx, app.System, "HIS "+string(alg), publicJWKS(t, kid, alg, key), scopes)
	if err != nil {
		t.Fatal(err)
	}
	return smartClient{id: c.ID, alg: alg, key: key, kid: kid}
}

// assertion signs the client's assertion with claims changed by edit.
func (c smartClient) assertion(t testing.TB, now time.Time, edit func(*jwt.Claims)) string {
	t.Helper()
	cl := jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{tokenURL}, Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)),
		ID: fmt.Sprintf("jti-%d", time.Now().UnixNano())}
	if edit != nil {
		edit(&cl)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: c.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.kid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// askToken posts to the token endpoint: the status and the decoded JSON.
func (e *env) askToken(t testing.TB, assertion, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion}, "scope": {scope}}
	resp, err := http.PostForm(e.srv.URL+"/fhir/R4/auth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token endpoint answered %d %s: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, m
}

func TestSMARTToken(t *testing.T) {
	e := newEnvTB(t)
	es := e.register(t, jose.ES384, "system/Slot.rs", "system/Appointment.r")
	rs := e.register(t, jose.RS384, "system/Slot.read")
	other := genKey(t, jose.ES384)
	revoked := e.register(t, jose.ES384, "system/Slot.rs")
	if err := e.svc.RevokeFHIRClient(ctx, app.System, revoked.id); err != nil {
		t.Fatal(err)
	}
	replayed := es.assertion(t, e.now, nil)
	if code, m := e.askToken(t, replayed, "system/Slot.rs"); code != 200 {
		t.Fatalf("first use of an assertion: %d %v", code, m)
	}
	header := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	payload, _ := json.Marshal(map[string]any{"iss": es.id, "sub": es.id, "aud": tokenURL, "exp": e.now.Add(time.Minute).Unix(), "jti": "none-1"})
	algNone := header(`{"alg":"none","typ":"JWT","kid":"k-ES384"}`) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a shared secret of 32 bytes!!!!!")}, (&jose.SignerOptions{}).WithHeader("kid", "k-ES384"))
	hs256, _ := jwt.Signed(hs).Claims(jwt.Claims{Issuer: es.id, Subject: es.id, Audience: jwt.Audience{tokenURL},
		Expiry: jwt.NewNumericDate(e.now.Add(time.Minute)), ID: "hs-1"}).Serialize()

	for _, c := range []struct {
		name      string
		assertion string
		scope     string
		wantCode  int
		wantError string // "" for a token
		wantScope string
	}{
		{"ES384 granted the intersection", es.assertion(t, e.now, nil), "system/Slot.rs system/Patient.r system/Appointment.rs", 200, "", "system/Slot.rs system/Appointment.r"},
		{"RS384 with v1 scopes", rs.assertion(t, e.now, nil), "system/Slot.read", 200, "", "system/Slot.rs"},
		{"signed by another key", smartClient{es.id, jose.ES384, other, es.kid}.assertion(t, e.now, nil), "system/Slot.rs", 401, "invalid_client", ""},
		{"expired beyond the leeway", es.assertion(t, e.now, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.now.Add(-61 * time.Second)) }), "system/Slot.rs", 401, "invalid_client", ""},
		{"exp too far away", es.assertion(t, e.now, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.now.Add(time.Hour)) }), "system/Slot.rs", 401, "invalid_client", ""},
		{"wrong aud", es.assertion(t, e.now, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.example/token"} }), "system/Slot.rs", 401, "invalid_client", ""},
		{"sub not the client", es.assertion(t, e.now, func(c *jwt.Claims) { c.Subject = rs.id }), "system/Slot.rs", 401, "invalid_client", ""},
		{"iss another client, signed by this one's key", es.assertion(t, e.now, func(c *jwt.Claims) { c.Issuer, c.Subject = rs.id, rs.id }), "system/Slot.rs", 401, "invalid_client", ""},
		{"no jti", es.assertion(t, e.now, func(c *jwt.Claims) { c.ID = "" }), "system/Slot.rs", 401, "invalid_client", ""},
		{"replayed jti", replayed, "system/Slot.rs", 400, "invalid_grant", ""},
		{"revoked client", revoked.assertion(t, e.now, nil), "system/Slot.rs", 401, "invalid_client", ""},
		{"unknown client", smartClient{"nobody", jose.ES384, other, "k"}.assertion(t, e.now, nil), "system/Slot.rs", 401, "invalid_client", ""},
		{"alg none", algNone, "system/Slot.rs", 401, "invalid_client", ""},
		{"alg HS256", hs256, "system/Slot.rs", 401, "invalid_client", ""},
		{"scope not allowed", es.assertion(t, e.now, nil), "system/Patient.r", 400, "invalid_scope", ""},
		{"malformed scope", es.assertion(t, e.now, nil), "patient/Slot.rs", 400, "invalid_scope", ""},
		{"no scope", es.assertion(t, e.now, nil), "", 400, "invalid_scope", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, m := e.askToken(t, c.assertion, c.scope)
			if code != c.wantCode || m["error"] != nilIfEmpty(c.wantError) {
				t.Fatalf("got %d %v, want %d error %q", code, m, c.wantCode, c.wantError)
			}
			if c.wantError == "" {
				if m["scope"] != c.wantScope || m["token_type"] != "bearer" || m["expires_in"] != 300.0 || m["access_token"] == "" {
					t.Errorf("token response %v, want scope %q, bearer, 300 s", m, c.wantScope)
				}
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// token gets an access token for the client's scopes.
func (e *env) smartToken(t testing.TB, c smartClient, scope string) string {
	t.Helper()
	code, m := e.askToken(t, c.assertion(t, e.now, nil), scope)
	if code != 200 {
		t.Fatalf("token: %d %v", code, m)
	}
	return m["access_token"].(string)
}

func TestSMARTScopes(t *testing.T) {
	e := newEnvTB(t)
	p, b, sess := e.booked(t)
	slots := e.register(t, jose.ES384, "system/Slot.rs", "system/Appointment.s")
	tok := e.smartToken(t, slots, "system/Slot.rs system/Appointment.s")
	revoked := e.register(t, jose.RS384, "system/Slot.rs")
	revTok := e.smartToken(t, revoked, "system/Slot.rs")
	if err := e.svc.RevokeFHIRClient(ctx, app.System, revoked.id); err != nil {
		t.Fatal(err)
	}
	expiring := e.smartToken(t, slots, "system/Slot.rs")
	for _, c := range []struct {
		name, path, token string
		want              int
		wantIssue         string
	}{
		{"slot read", fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), tok, 200, ""},
		{"slot search", fmt.Sprintf("/fhir/R4/Slot?schedule=Schedule/%d", sess.ID), tok, 200, ""},
		{"patient read outside the scopes", fmt.Sprintf("/fhir/R4/Patient/%d", p.ID), tok, 403, "forbidden"},
		{"appointment read with only search", fmt.Sprintf("/fhir/R4/Appointment/%d", b.ID), tok, 403, "forbidden"},
		{"patient through _include", fmt.Sprintf("/fhir/R4/Appointment?patient=Patient/%d&_include=Appointment:patient", p.ID), tok, 403, "forbidden"},
		{"schedule through _include", fmt.Sprintf("/fhir/R4/Slot?schedule=Schedule/%d&_include=Slot:schedule", sess.ID), tok, 403, "forbidden"},
		{"no token", fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), "", 401, "login"},
		{"made-up token", fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), "not-a-token", 401, "login"},
		{"token of a revoked client", fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), revTok, 401, "login"},
		{"staff admin still reads a patient", fmt.Sprintf("/fhir/R4/Patient/%d", p.ID), e.admin, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.get(t, c.path, c.token)
			if code != c.want {
				t.Fatalf("GET %s = %d %s, want %d", c.path, code, body, c.want)
			}
			if c.wantIssue != "" {
				var oo struct {
					ResourceType string
					Issue        []struct{ Code string }
				}
				if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != c.wantIssue {
					t.Errorf("body %s, want an OperationOutcome with issue %s", body, c.wantIssue)
				}
			}
		})
	}
	e.now = e.now.Add(5 * time.Minute)
	if code, body := e.get(t, fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), expiring); code != 401 {
		t.Errorf("a token after its 5 minutes: %d %s, want 401", code, body)
	}

	// Every call with a token is audited once, with the client, the
	// interaction, the query and the status.
	var evs []audit.Event
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { evs, err = tx.AuditEvents(ctx, 0, 100000); return err }); err != nil {
		t.Fatal(err)
	}
	var calls []audit.Event
	for _, ev := range evs {
		if ev.Action == "fhir.call" {
			calls = append(calls, ev)
		}
	}
	if len(calls) != 10 { // every call above but the one with no token
		t.Errorf("%d fhir.call audit records, want 10: %+v", len(calls), calls)
	}
	want := map[string]bool{
		fmt.Sprintf("fhir-client:%s fhir:Slot/%d-1 read 200", slots.id, sess.ID): false,
		fmt.Sprintf("fhir-client:%s fhir:Patient/%d read 403", slots.id, p.ID):   false,
		fmt.Sprintf("fhir-client:%s fhir:Appointment search-type 403", slots.id): false,
		fmt.Sprintf("anonymous fhir:Slot/%d-1 read 401", sess.ID):                false,
		fmt.Sprintf("staff:%d fhir:Patient/%d read 200", adminID(t, e), p.ID):    false,
	}
	for _, ev := range calls {
		k := fmt.Sprintf("%s %s %s %s", ev.Actor, ev.Subject, ev.Detail["operation"], ev.Detail["status"])
		if _, ok := want[k]; ok {
			want[k] = true
		}
		if strings.HasPrefix(ev.Actor, "fhir-client:") && ev.Detail["client"] == "" {
			t.Errorf("audit record %+v names no client", ev)
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no audit record %q", k)
		}
	}
	if n := countAction(evs, "fhir.token"); n != 3 {
		t.Errorf("%d fhir.token audit records, want 3 (one per token issued)", n)
	}
}

func countAction(evs []audit.Event, action string) int {
	n := 0
	for _, ev := range evs {
		if ev.Action == action {
			n++
		}
	}
	return n
}

func adminID(t *testing.T, e *env) int64 {
	t.Helper()
	st, err := e.svc.StaffByUsername(ctx, app.System, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}

func TestSMARTConfiguration(t *testing.T) {
	e := newEnvTB(t)
	resp, err := http.Get(e.srv.URL + "/fhir/R4/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		TokenEndpoint string   `json:"token_endpoint"`
		Capabilities  []string `json:"capabilities"`
		Scopes        []string `json:"scopes_supported"`
		Algs          []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if got.TokenEndpoint != tokenURL || !strings.Contains(strings.Join(got.Capabilities, " "), "client-confidential-asymmetric") ||
		!strings.Contains(strings.Join(got.Scopes, " "), "system/Slot.rs") || strings.Join(got.Algs, " ") != "RS384 ES384" {
		t.Errorf("smart-configuration = %+v", got)
	}
	// Every scope a write needs is listed, so a client can discover it.
	for _, want := range []string{"system/Appointment.cu", "system/Subscription.crds", "system/AuditEvent.rs"} {
		if !slices.Contains(got.Scopes, want) {
			t.Errorf("smart-configuration's scopes lack %s: %v", want, got.Scopes)
		}
	}
}

// BenchmarkSlotReadSMART: one Slot read with a SMART client's token, each
// call audited (a write transaction of its own). Reports p50 and p99:
//
//	go test ./internal/fhir -run '^$' -bench SlotReadSMART -benchtime 300x
func BenchmarkSlotReadSMART(b *testing.B) {
	e := newEnvTB(b)
	c := e.register(b, jose.ES384, "system/Slot.rs")
	tok := e.smartToken(b, c, "system/Slot.rs")
	vs, err := e.svc.Sessions(ctx, storage.SessionFilter{From: "2026-12-10", To: "2026-12-10"})
	if err != nil || len(vs) == 0 {
		b.Fatal(err)
	}
	url := fmt.Sprintf("%s/fhir/R4/Slot/%d-1", e.srv.URL, vs[0].ID)
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s = %d", url, resp.StatusCode)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[min(len(ds)-1, len(ds)*99/100)].Microseconds())/1000, "p99-ms")
}
