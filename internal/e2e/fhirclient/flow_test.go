package fhirclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/e2e"
)

// The patient the system books for: bound in the patients' app first, as
// the facade requires, and named to it by identity document and name.
const (
	patientPhone  = "13900000016"
	patientName   = "欧阳娜娜"
	residentIDSys = "urn:fairslot:identifier:cn-resident-id"
)

// The scopes of a system that books and follows its bookings, and of one
// that reads and follows but may not book.
const (
	bookingScopes  = "system/Slot.rs system/Schedule.rs system/Appointment.crus system/Subscription.crds"
	readOnlyScopes = "system/Slot.rs system/Schedule.rs system/Appointment.rs system/Subscription.crds"
)

// nodeReady reports whether the flow can run here, or why not; in CI it
// must (the test fails instead of skipping), as the validator's check.
func nodeReady(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not installed"
	} else if _, err := os.Stat(e2e.RootPath(t, "testdata", "js", "node_modules", "fhir-kit-client")); err != nil {
		why = "testdata/js/node_modules/fhir-kit-client is absent (run: npm ci --prefix testdata/js)"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run the FHIR client's flow: %s", why)
	}
	t.Skipf("the FHIR client's flow cannot run: %s", why)
}

// TestFHIRClientFlow: fhir-kit-client, a FHIR client other systems use,
// drives IHE Scheduling's whole flow against the real binary — metadata,
// free Slots, $find, a Subscription, $hold, $book, read, cancel, and the
// signed notifications of the hold, booking and cancellation
// (testdata/js/fhir-flow.mjs checks each answer) — as a system registered with `fairslot fhir clients
// add`, with a SMART Backend Services token; the patient's own account then
// shows the booking the system made and cancelled, and every resource the
// client received passes the independent validator. A client without the
// scope to book is stopped at $hold with the server's 403, and the script
// says so.
func TestFHIRClientFlow(t *testing.T) {
	nodeReady(t)
	bin := e2e.Binary(t)
	dir := t.TempDir()
	s := e2e.StartServer(t, bin, dir, []string{"--staff-addr", "127.0.0.1:0"})
	internal := "http://" + s.Logged(t, "the internal listener's address",
		regexp.MustCompile(`msg="staff, kiosks and displays on the internal listener" url=(\S+)`), 0)
	base := internal + "/fhir/R4"

	// The patient binds their identity in the app, as they would before a
	// hospital system may book for them.
	tok := s.Login(t, patientPhone)
	idNumber := e2e.ResidentID(7)
	if code, body, err := s.Post("/api/v1/patients", tok, "", fmt.Sprintf(`{"name":%q,"id_type":"cn_resident","id_number":%q}`, patientName, idNumber)); err != nil || code != 201 {
		t.Fatalf("bind the patient: %d %v %v", code, body, err)
	}

	his := register(t, bin, dir, "HIS", bookingScopes)
	summary, stderr, err := runFlow(t, base, his.token(t, base, bookingScopes), idNumber)
	if err != nil {
		t.Fatalf("fhir-flow.mjs: %v\n%s\nsummary: %s", err, stderr, summary.raw)
	}
	t.Logf("fhir-flow.mjs: %s", summary.raw)

	// The steps ran in order and each ended where the flow says.
	var names []string
	for _, st := range summary.Steps {
		names = append(names, st.Step)
	}
	if want := []string{"metadata", "slots", "find", "subscribe", "hold", "book", "read", "cancel", "notified"}; !slices.Equal(names, want) {
		t.Fatalf("steps %v, want %v", names, want)
	}
	step := func(name string) flowStep { return summary.Steps[slices.Index(names, name)] }
	appt := step("hold").Appointment
	for name, want := range map[string]string{"hold": "pending", "book": "booked", "read": "booked", "cancel": "cancelled"} {
		if st := step(name); st.Status != want || st.Appointment != appt {
			t.Errorf("step %s: %s %s, want %s %s", name, st.Appointment, st.Status, appt, want)
		}
	}
	if got := step("metadata").TokenURL; got != base+"/auth/token" {
		t.Errorf("the client discovered the token endpoint %q, want %s", got, base+"/auth/token")
	}

	// Told apart from the script: the patient's own account holds the
	// booking the system made, cancelled, on the Slot the system chose.
	id := strings.TrimPrefix(appt, "Appointment/")
	resp, err := (&apiclient.Client{Base: s.URL, Token: tok}).Do(context.Background(), "GET", "/api/v1/bookings", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Bookings []struct {
			ID          int64     `json:"id"`
			Status      string    `json:"status"`
			WindowStart time.Time `json:"window_start"`
		} `json:"bookings"`
	}
	if err := resp.Decode(&list); err != nil || resp.Status != 200 {
		t.Fatalf("GET /api/v1/bookings: %d %s %v", resp.Status, resp.Body, err)
	}
	slotStart, err := time.Parse(time.RFC3339, step("slots").Start)
	if err != nil {
		t.Fatalf("the slots step's start %q: %v", step("slots").Start, err)
	}
	if len(list.Bookings) != 1 || fmt.Sprint(list.Bookings[0].ID) != id || list.Bookings[0].Status != "cancelled" || !list.Bookings[0].WindowStart.Equal(slotStart) {
		t.Errorf("the patient's bookings: %s; want booking %s, cancelled, at %s", resp.Body, id, slotStart)
	}

	received := summary.received

	// A client that may read (and subscribe) but not book gets as far as
	// its Subscription, and the script stops at $hold with the server's
	// refusal, saying so.
	reader := register(t, bin, dir, "Referral portal", readOnlyScopes)
	summary, stderr, err = runFlow(t, base, reader.token(t, base, readOnlyScopes), idNumber)
	var exit *exec.ExitError
	if !(errors.As(err, &exit) && exit.ExitCode() == 1) || summary.OK || summary.Failed.Step != "hold" ||
		!strings.Contains(summary.Failed.Error, "HTTP 403") || !strings.Contains(summary.Failed.Error, "system/Appointment.c") ||
		!strings.Contains(stderr, "step hold: HTTP 403") {
		t.Errorf("a read-only client's flow: %v, summary %s, stderr %q; want exit 1 at step hold with the 403's reason", err, summary.raw, stderr)
	}

	// Every resource the clients received, the refusal too, is valid R4.
	validate(t, append(received, summary.received...))
}

// system is a FHIR client registered with the CLI, and its private key.
type system struct {
	id  string
	key *ecdsa.PrivateKey
}

// register registers a system with a new ES384 key through the real CLI,
// `fairslot fhir clients add`, on the running server's data directory.
func register(t *testing.T, bin, dir, name, scopes string) system {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: string(jose.ES384), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	jwk := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwk, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "fhir", "clients", "add", "--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json"),
		"--name", name, "--jwk", jwk, "--scopes", scopes).CombinedOutput()
	m := regexp.MustCompile(`client_id: (\S+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("fairslot fhir clients add: %v\n%s", err, out)
	}
	return system{id: string(m[1]), key: key}
}

// token gets an access token the SMART Backend Services way: the token
// endpoint from .well-known/smart-configuration, a client_credentials grant
// with a private_key_jwt assertion (iss = sub = client_id, aud = the token
// endpoint, a jti, five minutes at most).
func (c system) token(t *testing.T, base, scopes string) string {
	t.Helper()
	var conf struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	getJSON(t, base+"/.well-known/smart-configuration", &conf)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: c.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{conf.TokenEndpoint},
		Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute)), ID: fmt.Sprintf("%x", jti)}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(conf.TokenEndpoint, url.Values{"grant_type": {"client_credentials"}, "scope": {scopes},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token endpoint %s: %d %s", conf.TokenEndpoint, resp.StatusCode, b)
	}
	if tok.Scope != scopes {
		t.Fatalf("granted %q, asked for %q", tok.Scope, scopes)
	}
	return tok.AccessToken
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
}

// flowStep is one step of the script's summary: the fields the test reads.
type flowStep struct {
	Step        string `json:"step"`
	Appointment string `json:"appointment"`
	Status      string `json:"status"`
	Start       string `json:"start"`
	TokenURL    string `json:"tokenUrl"`
}

type flowSummary struct {
	OK     bool       `json:"ok"`
	Steps  []flowStep `json:"steps"`
	Failed struct {
		Step  string `json:"step"`
		Error string `json:"error"`
	} `json:"failed"`
	raw      string
	received [][]byte // every resource the client received
}

// runFlow runs testdata/js/fhir-flow.mjs with the token in its
// environment: its summary, its stderr, and how it exited.
func runFlow(t *testing.T, base, token, idNumber string) (flowSummary, string, error) {
	t.Helper()
	received := filepath.Join(t.TempDir(), "received.jsonl")
	cmd := exec.Command("node", "fhir-flow.mjs")
	cmd.Dir = e2e.RootPath(t, "testdata", "js")
	cmd.Env = append(os.Environ(), "FHIR_BASE_URL="+base, "FHIR_BEARER_TOKEN="+token,
		"FHIR_PATIENT_IDENTIFIER="+residentIDSys+"|"+idNumber, "FHIR_PATIENT_NAME="+patientName, "FHIR_FLOW_RECEIVED="+received)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var sum flowSummary
	sum.raw = strings.TrimSpace(stdout.String())
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); jerr != nil && err == nil {
		t.Fatalf("fhir-flow.mjs printed no JSON summary: %v\n%s\n%s", jerr, stdout.Bytes(), stderr.Bytes())
	}
	if b, rerr := os.ReadFile(received); rerr == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			sum.received = append(sum.received, slices.Clone(sc.Bytes()))
		}
	}
	return sum, stderr.String(), err
}

// validate sends every resource to the independent validator
// (testdata/js/fhir-validate.mjs, which internal/fhir's tests use): any
// error fails the test.
func validate(t *testing.T, resources [][]byte) {
	t.Helper()
	if len(resources) == 0 {
		t.Fatal("the client received no resources to validate")
	}
	if _, err := os.Stat(e2e.RootPath(t, "testdata", "js", "node_modules", "@medplum", "core")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the FHIR validator: %v", err)
		}
		t.Logf("FHIR validation of %d resources SKIPPED: testdata/js/node_modules/@medplum/core is absent", len(resources))
		return
	}
	cmd := exec.Command("node", "--experimental-websocket", "fhir-validate.mjs")
	cmd.Dir = e2e.RootPath(t, "testdata", "js")
	cmd.Stdin = bytes.NewReader(append(bytes.Join(resources, []byte("\n")), '\n'))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if exit, ok := err.(*exec.ExitError); err != nil && !(ok && exit.ExitCode() == 1) {
		t.Fatalf("fhir-validate.mjs: %v\n%s", err, stderr.Bytes())
	}
	answered := 0
	for line := range bytes.Lines(out) {
		var r struct {
			Input  int      `json:"input"`
			Errors []string `json:"errors"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("fhir-validate.mjs printed %q: %v", line, err)
		}
		answered++
		if len(r.Errors) > 0 {
			t.Errorf("FHIR validator: %s\n  in: %.400s", strings.Join(r.Errors, "; "), resources[r.Input])
		}
	}
	if answered != len(resources) {
		t.Fatalf("fhir-validate.mjs answered %d of %d resources: %s", answered, len(resources), stderr.Bytes())
	}
	t.Logf("fhir-validate.mjs checked the %d resources the clients received", answered)
}
