package fhir_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/fhir"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

// subScopes are what a subscribing client is registered and asks for.
const subScopes = "system/Subscription.crds system/Appointment.rs"

// send makes a FHIR request with a token and a JSON body ("" for none),
// sending any answer to the validator.
func (e *env) send(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != fhir.ContentType {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		e.v.add(b)
	}
	return resp.StatusCode, resp.Header, b
}

func subscriptionJSON(criteria, endpoint string) string {
	b, _ := json.Marshal(map[string]any{"resourceType": "Subscription", "status": "requested", "reason": "HIS follows its clinics",
		"criteria": criteria, "channel": map[string]any{"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"}})
	return string(b)
}

// subscribed is a created subscription: its id and signing key.
type subscribed struct {
	id  string
	key []byte
}

func (e *env) subscribe(t *testing.T, token, criteria, endpoint string) subscribed {
	t.Helper()
	code, h, b := e.send(t, "POST", "/fhir/R4/Subscription", token, subscriptionJSON(criteria, endpoint))
	if code != http.StatusCreated {
		t.Fatalf("create Subscription: %d %s", code, b)
	}
	var res struct {
		ID        string
		Status    string
		Extension []struct{ URL, ValueBase64Binary string }
	}
	json.Unmarshal(b, &res)
	if res.Status != "active" || h.Get("Location") != "https://fhir.example/fhir/R4/Subscription/"+res.ID {
		t.Errorf("created Subscription: status %q, Location %q", res.Status, h.Get("Location"))
	}
	if len(res.Extension) != 1 || res.Extension[0].URL != "urn:fairslot:fhir:StructureDefinition:subscription-signing-key" {
		t.Fatalf("created Subscription has no signing key: %s", b)
	}
	key, err := base64.StdEncoding.DecodeString(res.Extension[0].ValueBase64Binary)
	if err != nil || len(key) != 32 {
		t.Fatalf("signing key %q: %v", res.Extension[0].ValueBase64Binary, err)
	}
	return subscribed{res.ID, key}
}

// receiver is a subscriber's endpoint: it records every POST and answers
// by its current behaviour.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []delivered
	fail func(w http.ResponseWriter, r *http.Request) bool // true: it answered (a failure)
}

type delivered struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivered{r.Header.Clone(), b})
		fail := rc.fail
		rc.mu.Unlock()
		if fail != nil && fail(w, r) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

func (e *env) deliverer(t *testing.T) *fhir.Deliverer {
	return &fhir.Deliverer{App: e.svc, Policy: fhir.SubscriptionPolicy{AllowLoopback: true},
		Retry: notify.Retry{Backoff: time.Second, MaxBackoff: time.Minute, SendTimeout: 300 * time.Millisecond, MaxAttempts: 5}}
}

func (e *env) pass(t *testing.T, d *fhir.Deliverer) int {
	t.Helper()
	n, err := d.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) deliveryStates(t *testing.T, sub string) []storage.FHIRDeliveryState {
	t.Helper()
	var out []storage.FHIRDeliveryState
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { out, err = tx.FHIRDeliveries(ctx, sub); return err }); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNotification checks a delivered notification: signed with key, an
// id-only history Bundle about want (e.g. Appointment/12), nothing else.
func (e *env) checkNotification(t *testing.T, d delivered, sub subscribed, want string) {
	t.Helper()
	e.checkNotificationAt(t, d, sub, want, e.now)
}

// checkNotificationAt is checkNotification for a notification sent at at.
func (e *env) checkNotificationAt(t *testing.T, d delivered, sub subscribed, want string, at time.Time) {
	t.Helper()
	e.v.add(d.body)
	if err := fhir.Verify(sub.key, d.header.Get(fhir.SignatureHeader), d.body, at, 5*time.Minute); err != nil {
		t.Errorf("signature: %v (header %q)", err, d.header.Get(fhir.SignatureHeader))
	}
	if err := fhir.Verify([]byte("another key of thirty-two bytes!"), d.header.Get(fhir.SignatureHeader), d.body, at, 5*time.Minute); err == nil {
		t.Error("the signature verifies under another key")
	}
	if d.header.Get("X-Fairslot-Subscription") != sub.id || d.header.Get("Content-Type") != "application/fhir+json; charset=utf-8" {
		t.Errorf("headers %v", d.header)
	}
	var b struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string
			Resource json.RawMessage
		}
	}
	if err := json.Unmarshal(d.body, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType != "Bundle" || b.Type != "history" || len(b.Entry) != 2 {
		t.Fatalf("notification %s", d.body)
	}
	if got := b.Entry[1].FullURL; got != "https://fhir.example/fhir/R4/"+want || b.Entry[1].Resource != nil {
		t.Errorf("focus entry %q with resource %s, want %s id-only", got, b.Entry[1].Resource, want)
	}
	// Minimisation: nothing of the patient (no name, phone, ID) travels.
	// The phone is sought whole: a part as short as "138" turns up in a
	// random bundle id now and then.
	for _, leak := range []string{"Patient", "张", "13800138000", residentID[:6]} {
		if bytes.Contains(d.body, []byte(leak)) {
			t.Errorf("the notification carries %q: %s", leak, d.body)
		}
	}
}

func TestSubscriptionCreateReadDelete(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	rc := newReceiver(t)
	sub := e.subscribe(t, tok, "Appointment?practitioner=Practitioner/1", rc.srv.URL+"/hook")

	code, _, b := e.send(t, "GET", "/fhir/R4/Subscription/"+sub.id, tok, "")
	if code != 200 || !strings.Contains(string(b), `"status":"active"`) || strings.Contains(string(b), "signing-key") {
		t.Fatalf("read: %d %s (the key is given once, at creation)", code, b)
	}
	golden(t, "subscription", bytes.ReplaceAll(bytes.ReplaceAll(b, []byte(sub.id), []byte("ID")), []byte(rc.srv.URL), []byte("http://receiver")))
	code, _, b = e.send(t, "GET", "/fhir/R4/Subscription", tok, "")
	if code != 200 || !strings.Contains(string(b), `"total":1`) {
		t.Errorf("search: %d %s", code, b)
	}

	// Another client neither sees nor deletes it.
	other := e.register(t, jose.RS384, strings.Fields(subScopes)...)
	otherTok := e.smartToken(t, other, subScopes)
	if code, _, b := e.send(t, "GET", "/fhir/R4/Subscription/"+sub.id, otherTok, ""); code != 404 {
		t.Errorf("another client reads it: %d %s", code, b)
	}
	if code, _, b := e.send(t, "DELETE", "/fhir/R4/Subscription/"+sub.id, otherTok, ""); code != 404 {
		t.Errorf("another client deletes it: %d %s", code, b)
	}
	if code, _, b := e.send(t, "GET", "/fhir/R4/Subscription", otherTok, ""); code != 200 || !strings.Contains(string(b), `"total":0`) {
		t.Errorf("another client's search: %d %s", code, b)
	}

	if code, _, b := e.send(t, "DELETE", "/fhir/R4/Subscription/"+sub.id, tok, ""); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, _, b := e.send(t, "GET", "/fhir/R4/Subscription/"+sub.id, tok, ""); code != 410 {
		t.Errorf("read after delete: %d %s", code, b)
	}
	if code, _, b := e.send(t, "DELETE", "/fhir/R4/Subscription/"+sub.id, tok, ""); code != 410 {
		t.Errorf("second delete: %d %s", code, b)
	}
	// Creating and deleting are audited, with the client as actor.
	var actions []string
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		evs, err := tx.AuditEvents(ctx, 0, 10000)
		for _, ev := range evs {
			if strings.HasPrefix(ev.Action, "fhir.subscription.") && ev.Actor == "fhir-client:"+c.id {
				actions = append(actions, ev.Action)
			}
		}
		return err
	})
	if strings.Join(actions, " ") != "fhir.subscription.create fhir.subscription.delete" {
		t.Errorf("audited %v", actions)
	}
}

func TestSubscriptionScopes(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	body := subscriptionJSON("Appointment", rc.srv.URL)
	readOnly := e.register(t, jose.ES384, "system/Appointment.rs", "system/Subscription.rs")
	noAppointments := e.register(t, jose.RS384, "system/Subscription.crud")
	for _, c := range []struct {
		name, token string
	}{
		{"no create on Subscription", e.smartToken(t, readOnly, "system/Appointment.rs system/Subscription.rs")},
		{"no read on Appointment", e.smartToken(t, noAppointments, "system/Subscription.crud")},
		{"an admin's session: no endpoint of its own", e.admin},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, b := e.send(t, "POST", "/fhir/R4/Subscription", c.token, body)
			if code != 403 || !strings.Contains(string(b), `"code":"forbidden"`) {
				t.Errorf("got %d %s, want a 403 OperationOutcome", code, b)
			}
		})
	}
	if code, _, b := e.send(t, "DELETE", "/fhir/R4/Subscription/x", e.smartToken(t, readOnly, "system/Subscription.rs"), ""); code != 403 {
		t.Errorf("delete without d: %d %s", code, b)
	}
}

func TestSubscriptionRefused(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	rc := newReceiver(t)
	edit := func(fn func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal([]byte(subscriptionJSON("Appointment", rc.srv.URL)), &m)
		fn(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	channel := func(k string, v any) string {
		return edit(func(m map[string]any) { m["channel"].(map[string]any)[k] = v })
	}
	for _, c := range []struct {
		name, body, code string
	}{
		{"criteria on Patient", subscriptionJSON("Patient", rc.srv.URL), "not-supported"},
		{"criteria by patient", subscriptionJSON("Appointment?patient=Patient/1", rc.srv.URL), "not-supported"},
		{"criteria by status", subscriptionJSON("Appointment?status=booked", rc.srv.URL), "not-supported"},
		{"two practitioners", subscriptionJSON("Appointment?practitioner=1&practitioner=2", rc.srv.URL), "not-supported"},
		{"an unknown practitioner", subscriptionJSON("Appointment?practitioner=Practitioner/99999", rc.srv.URL), "invalid"},
		{"an unknown department", subscriptionJSON("Appointment?service-type=NOPE", rc.srv.URL), "invalid"},
		{"websocket", channel("type", "websocket"), "not-supported"},
		{"full resources", channel("_payload", map[string]any{"extension": []any{map[string]any{
			"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": "full-resource"}}}), "not-supported"},
		{"headers of the client's", channel("header", []string{"Authorization: Bearer x"}), "not-supported"},
		{"an end", edit(func(m map[string]any) { m["end"] = "2027-01-01T00:00:00Z" }), "not-supported"},
		{"no reason", edit(func(m map[string]any) { delete(m, "reason") }), "invalid"},
		{"status off", edit(func(m map[string]any) { m["status"] = "off" }), "invalid"},
		{"an unknown element", edit(func(m map[string]any) { m["topic"] = "x" }), "invalid"},
		{"not JSON", "{", "invalid"},
		{"a private address", channel("endpoint", "https://10.1.2.3/hook"), "invalid"},
		{"a link-local address (cloud metadata)", channel("endpoint", "https://169.254.169.254/latest"), "invalid"},
		{"an IPv6 unique local address", channel("endpoint", "https://[fd00::1]/hook"), "invalid"},
		{"CGNAT shared space", channel("endpoint", "https://100.64.1.1/hook"), "invalid"},
		{"http to a public address", channel("endpoint", "http://93.184.215.14/hook"), "invalid"},
		{"credentials in the URL", channel("endpoint", "https://user:pw@93.184.215.14/hook"), "invalid"},
		{"a relative URL", channel("endpoint", "/hook"), "invalid"},
		{"ftp", channel("endpoint", "ftp://93.184.215.14/hook"), "invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, b := e.send(t, "POST", "/fhir/R4/Subscription", tok, c.body)
			if code != 400 || !strings.Contains(string(b), `"code":"`+c.code+`"`) {
				t.Errorf("got %d %s, want 400 %s", code, b, c.code)
			}
		})
	}
	if subs, _ := e.svc.FHIRSubscriptions(ctx, app.System); len(subs) != 0 {
		t.Errorf("refused subscriptions were stored: %v", subs)
	}
}

func TestSubscriptionPolicy(t *testing.T) {
	hospital := fhir.SubscriptionPolicy{AllowNets: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}
	for _, c := range []struct {
		policy   fhir.SubscriptionPolicy
		endpoint string
		ok       bool
	}{
		{fhir.SubscriptionPolicy{}, "https://93.184.215.14/h", true},
		{fhir.SubscriptionPolicy{}, "https://127.0.0.1/h", false},
		{fhir.SubscriptionPolicy{}, "https://[::1]/h", false},
		{fhir.SubscriptionPolicy{}, "https://[::ffff:10.0.0.1]/h", false},
		{fhir.SubscriptionPolicy{}, "https://0.0.0.0/h", false},
		{hospital, "https://10.20.3.4/h", true},
		{hospital, "https://10.21.3.4/h", false},
		{hospital, "http://10.20.3.4/h", false},
		{fhir.SubscriptionPolicy{AllowLoopback: true}, "http://127.0.0.1:8080/h", true},
	} {
		if err := fhir.CheckEndpoint(c.policy, c.endpoint); (err == nil) != c.ok {
			t.Errorf("%+v %s: %v, want ok %v", c.policy, c.endpoint, err, c.ok)
		}
	}
}

func TestSubscriptionDelivery(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	rc, elsewhere := newReceiver(t), newReceiver(t)
	sess := e.bookable(t)
	all := e.subscribe(t, tok, "Appointment", rc.srv.URL+"/hook")
	e.subscribe(t, tok, fmt.Sprintf("Appointment?practitioner=Practitioner/%d", otherDoctor(t, e, sess.Doctor.ID)), elsewhere.srv.URL)
	dept, _ := e.svc.Department(ctx, sess.DepartmentID)
	mine := e.subscribe(t, tok, fmt.Sprintf("Appointment?practitioner=%d&service-type=urn:fairslot:department-code|%s", sess.Doctor.ID, dept.Code), rc.srv.URL+"/mine")

	_, b, _ := e.booked(t) // held: one change
	d := e.deliverer(t)
	if n := e.pass(t, d); n != 2 {
		t.Fatalf("the hold made %d deliveries, want 2 (all Appointments, and this doctor's)", n)
	}
	got := rc.deliveries()
	if len(got) != 2 {
		t.Fatalf("received %d notifications, want 2", len(got))
	}
	for _, g := range got {
		s := all
		if strings.HasSuffix(g.header.Get("X-Fairslot-Subscription"), mine.id) {
			s = mine
		}
		e.checkNotification(t, g, s, fmt.Sprintf("Appointment/%d", b.ID))
	}
	if len(elsewhere.deliveries()) != 0 {
		t.Error("a subscription to another doctor was told")
	}
	// Nothing twice: another pass, and a restarted server's deliverer,
	// send nothing more; a lease that lapses finds the delivery sent.
	e.now = e.now.Add(time.Hour)
	e.pass(t, d)
	e.pass(t, e.deliverer(t))
	if n := len(rc.deliveries()); n != 2 {
		t.Errorf("after two more passes %d notifications, want still 2", n)
	}
	// The database keeps one delivery per change and subscription: the same
	// audited change fanned out again writes nothing.
	st := e.deliveryStates(t, all.id)
	if len(st) != 1 || st[0].Status != storage.OutboxSent || st[0].Attempts != 1 || st[0].Action != "booking.hold" {
		t.Fatalf("deliveries %+v", st)
	}
	e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		n, err := tx.FanOutFHIRChange(ctx, storage.FHIRChange{Seq: st[0].EventSeq, Kind: "booking", ID: b.ID, Action: "booking.hold", At: e.now})
		if err != nil || n != 0 {
			t.Errorf("the same change fanned out again: %d deliveries, %v", n, err)
		}
		return nil
	})

	// Cancelling is the next change.
	acct, _ := e.svc.OpenAccount(ctx, app.System, demo.PatientPhone)
	if _, err := e.svc.Cancel(ctx, acct, b.ID); err != nil {
		t.Fatal(err)
	}
	e.pass(t, d)
	if got := rc.deliveries(); len(got) != 4 {
		t.Fatalf("after the cancel %d notifications, want 4", len(got))
	} else {
		e.checkNotification(t, got[2], subscriptionFor(got[2], all, mine), fmt.Sprintf("Appointment/%d", b.ID))
	}
	if st := e.deliveryStates(t, all.id); len(st) != 2 || st[1].Action != "booking.cancel" {
		t.Errorf("deliveries %+v", st)
	}
}

// otherDoctor is a demo doctor who is not id.
func otherDoctor(t *testing.T, e *env, id int64) int64 {
	t.Helper()
	ds, err := e.svc.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		docs, _ := e.svc.Doctors(ctx, d.ID)
		for _, doc := range docs {
			if doc.ID != id {
				return doc.ID
			}
		}
	}
	t.Fatal("the demo has one doctor")
	return 0
}

func subscriptionFor(d delivered, subs ...subscribed) subscribed {
	for _, s := range subs {
		if d.header.Get("X-Fairslot-Subscription") == s.id {
			return s
		}
	}
	return subscribed{}
}

// TestSubscriptionRetry: the receiver answers 500, then does not answer in
// time, then is not listening at all, then takes it: four attempts of one
// delivery, the same delivery id each time, one success, no more.
func TestSubscriptionRetry(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var mu sync.Mutex
	var got []delivered
	mode := "500"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivered{r.Header.Clone(), b})
		m := mode
		mu.Unlock()
		switch m {
		case "500":
			w.WriteHeader(500)
		case "hang":
			<-r.Context().Done() // the deliverer's send timeout ends it
		default:
			w.WriteHeader(200)
		}
	})
	serve := func() *http.Server {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: handler}
		go srv.Serve(l)
		return srv
	}
	srv := serve()
	sub := e.subscribe(t, tok, "Appointment", "http://"+addr+"/hook")
	_, b, _ := e.booked(t)
	d := e.deliverer(t)
	next := func(m string) {
		t.Helper()
		mu.Lock()
		mode = m
		mu.Unlock()
		e.now = e.now.Add(10 * time.Minute) // past the lease
		e.pass(t, d)
	}
	next("500")
	next("hang")
	srv.Close()
	next("refused")
	srv = serve()
	defer srv.Close()
	next("ok")
	okAt := e.now
	next("ok")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("the receiver saw %d attempts, want 3 (500, timeout, success; the refused one never arrived)", len(got))
	}
	for _, g := range got {
		if g.header.Get("X-Fairslot-Delivery") != got[0].header.Get("X-Fairslot-Delivery") {
			t.Error("a retry has another delivery id")
		}
	}
	e.checkNotificationAt(t, got[2], sub, fmt.Sprintf("Appointment/%d", b.ID), okAt)
	st := e.deliveryStates(t, sub.id)
	if len(st) != 1 || st[0].Status != storage.OutboxSent || st[0].Attempts != 4 {
		t.Errorf("deliveries %+v, want one sent after 4 attempts", st)
	}
	if s := d.Stats(); s.Sent != 1 || s.Retried != 3 || s.Dead != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestSubscriptionErrorAfterAttempts: a receiver that always fails puts
// its subscription in error after MaxAttempts, with the reason; it gets
// nothing more.
func TestSubscriptionErrorAfterAttempts(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	rc := newReceiver(t)
	rc.fail = func(w http.ResponseWriter, _ *http.Request) bool { w.WriteHeader(503); return true }
	sub := e.subscribe(t, tok, "Appointment", rc.srv.URL)
	_, b, _ := e.booked(t)
	d := e.deliverer(t)
	d.MaxAttempts = 3
	for range 5 {
		e.now = e.now.Add(10 * time.Minute)
		e.pass(t, d)
	}
	if n := len(rc.deliveries()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	tok = e.smartToken(t, c, subScopes) // the first expired meanwhile
	code, _, body := e.send(t, "GET", "/fhir/R4/Subscription/"+sub.id, tok, "")
	if code != 200 || !strings.Contains(string(body), `"status":"error"`) || !strings.Contains(string(body), "503") {
		t.Fatalf("after the attempts: %d %s, want status error naming the 503", code, body)
	}
	acct, _ := e.svc.OpenAccount(ctx, app.System, demo.PatientPhone)
	if _, err := e.svc.Cancel(ctx, acct, b.ID); err != nil {
		t.Fatal(err)
	}
	if st := e.deliveryStates(t, sub.id); len(st) != 1 || st[0].Status != storage.OutboxDead {
		t.Errorf("deliveries %+v: a subscription in error gets no more", st)
	}
	if !audited(t, e, "fhir.subscription.error", "fhir-subscription:"+sub.id) {
		t.Error("the error is not audited")
	}
}

func audited(t *testing.T, e *env, action, subject string) bool {
	t.Helper()
	var evs []audit.Event
	e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { evs, err = tx.AuditEvents(ctx, 0, 100000); return err })
	for _, ev := range evs {
		if ev.Action == action && ev.Subject == subject {
			return true
		}
	}
	return false
}

// TestSubscriptionRevokedClient: a revoked client's subscriptions get
// nothing, neither changes after the revocation nor those pending at it.
func TestSubscriptionRevokedClient(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	rc := newReceiver(t)
	sub := e.subscribe(t, tok, "Appointment", rc.srv.URL)
	_, b, _ := e.booked(t) // pending when the client is revoked
	if err := e.svc.RevokeFHIRClient(ctx, app.System, c.id); err != nil {
		t.Fatal(err)
	}
	acct, _ := e.svc.OpenAccount(ctx, app.System, demo.PatientPhone)
	if _, err := e.svc.Cancel(ctx, acct, b.ID); err != nil {
		t.Fatal(err)
	}
	e.pass(t, e.deliverer(t))
	if n := len(rc.deliveries()); n != 0 {
		t.Errorf("a revoked client's receiver got %d notifications", n)
	}
	if st := e.deliveryStates(t, sub.id); len(st) != 1 || st[0].Status != storage.OutboxDead || !strings.Contains(st[0].Error, "revoked") {
		t.Errorf("deliveries %+v: the pending one dropped, none for the cancel", st)
	}
}

// TestSubscriptionAddressCheckedOnConnect: an endpoint whose address the
// deliverer's policy refuses — a name that resolved to an allowed address
// when the subscription was made, and to a refused one now — is never
// connected to; the subscription goes to error.
func TestSubscriptionAddressCheckedOnConnect(t *testing.T) {
	e := newEnv(t)
	c := e.register(t, jose.ES384, strings.Fields(subScopes)...)
	tok := e.smartToken(t, c, subScopes)
	rc := newReceiver(t)
	sub := e.subscribe(t, tok, "Appointment", rc.srv.URL)
	e.booked(t)
	d := e.deliverer(t)
	d.Policy = fhir.SubscriptionPolicy{} // loopback not allowed
	e.pass(t, d)
	if n := len(rc.deliveries()); n != 0 {
		t.Errorf("the refused address got %d notifications", n)
	}
	code, _, body := e.send(t, "GET", "/fhir/R4/Subscription/"+sub.id, tok, "")
	if code != 200 || !strings.Contains(string(body), `"status":"error"`) || !strings.Contains(string(body), "not allowed") {
		t.Errorf("%d %s, want the subscription in error, naming the address", code, body)
	}
}
