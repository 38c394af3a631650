package fhir_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/storage"
)

// auditBundle is the part of an AuditEvent searchset the tests read.
type auditBundle struct {
	Total int
	Link  []struct{ Relation, URL string }
	Entry []struct {
		FullURL  string
		Resource auditEventJSON
	}
}

type auditEventJSON struct {
	ResourceType string
	ID           string
	Type         struct{ System, Code string }
	Subtype      []struct{ System, Code string }
	Action       string
	Outcome      string
	Agent        []struct {
		Who struct {
			Type       string
			Identifier struct{ System, Value string }
		}
		Requestor bool
	}
	Entity []struct {
		What  *struct{ Reference string }
		Role  *struct{ Code string }
		Query string
	}
}

func (e *env) auditSearch(t *testing.T, path, token string) auditBundle {
	t.Helper()
	code, body := e.get(t, path, token)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	var b auditBundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// trail reads the audit log as stored, for the tests to compare with.
func (e *env) trail(t *testing.T) []audit.Event {
	t.Helper()
	var evs []audit.Event
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { evs, err = tx.AuditEvents(ctx, 0, 1<<20); return err }); err != nil {
		t.Fatal(err)
	}
	return evs
}

var (
	hexRequestID = regexp.MustCompile(`"[0-9a-f]{16}"`)
	seqID        = regexp.MustCompile(`"id": "[0-9]+"`)
	seqURL       = regexp.MustCompile(`AuditEvent/[0-9]+`)
)

// auditGolden compares an AuditEvent with its golden file, with what
// changes from run to run (the client's random id, the request ID) and
// what other branches' demo records shift (the seq) written as names.
func auditGolden(t *testing.T, name string, body []byte, clientID string) {
	t.Helper()
	var v any
	json.Unmarshal(body, &v)
	b, _ := json.MarshalIndent(v, "", "  ")
	b = []byte(strings.ReplaceAll(string(b), clientID, "CLIENT-ID"))
	b = hexRequestID.ReplaceAll(b, []byte(`"REQUEST-ID"`))
	b = seqID.ReplaceAll(b, []byte(`"id": "SEQ"`))
	b = seqURL.ReplaceAll(b, []byte(`AuditEvent/SEQ`))
	golden(t, name, b)
}

// notes keeps the last message per phone, for a patient's login code.
type notes struct {
	mu   sync.Mutex
	last map[string]string
}

func (n *notes) Notify(_ context.Context, phone, text string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last[phone] = text
	return nil
}

func (e *env) patientToken(t *testing.T) string {
	t.Helper()
	n := &notes{last: map[string]string{}}
	e.svc.Notifier = n
	if err := e.svc.RequestLoginCode(ctx, app.Actor{}, demo.PatientPhone); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	code := regexp.MustCompile(`\d{6}`).FindString(n.last[demo.PatientPhone])
	n.mu.Unlock()
	toks, _, err := e.svc.PatientLogin(ctx, app.Actor{}, demo.PatientPhone, code)
	if err != nil {
		t.Fatalf("patient login with code %q: %v", code, err)
	}
	return toks.Access
}

// TestAuditEventTrail: a client's calls and acts are AuditEvents a
// security officer reads, searches by date, agent, entity, subtype and
// action, and pages through; each maps as BALP's RESTful patterns do.
func TestAuditEventTrail(t *testing.T) {
	e := newSchedEnv(t)
	sess := e.bookable(t)
	security := e.staffToken(t, "security")

	// The client's calls: a $find, a $hold, a read, a refused read.
	find := fmt.Sprintf("/fhir/R4/Appointment/$find?start=2026-12-10&end=2026-12-11&practitioner=Practitioner/%d", sess.DoctorID)
	code, body := e.get(t, find, e.tok)
	var fb struct {
		Entry []struct{ Resource map[string]any }
	}
	if json.Unmarshal(body, &fb); code != 200 || len(fb.Entry) == 0 {
		t.Fatalf("$find = %d %s", code, body)
	}
	code, held := e.post(t, "/fhir/R4/Appointment/$hold", e.tok, refParams("Appointment/"+fb.Entry[0].Resource["id"].(string), e.me()), "hold-audit")
	if code != 200 {
		t.Fatalf("$hold = %d %v", code, held["_raw"])
	}
	if code, body := e.get(t, fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), e.tok); code != 200 {
		t.Fatalf("slot read = %d %s", code, body)
	}
	if code, _ := e.get(t, fmt.Sprintf("/fhir/R4/Patient/%d", e.patient.ID), e.tok); code != 403 {
		t.Fatalf("patient read without the scope = %d", code)
	}
	agent := "fhir-client:" + e.client.id

	// Every record of the client is an AuditEvent, paged oldest first.
	var want []string
	for _, ev := range e.trail(t) {
		if ev.Actor == agent {
			want = append(want, fmt.Sprint(ev.Seq))
		}
	}
	if len(want) < 6 { // a token, $find, $hold and its booking.hold, a read, a refused read
		t.Fatalf("the client has %d audit records: %v", len(want), want)
	}
	var got []string
	next := "/fhir/R4/AuditEvent?agent=Device/" + e.client.id + "&_count=2"
	for pages := 0; next != ""; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		b := e.auditSearch(t, next, security)
		if b.Total != len(want) {
			t.Errorf("total %d, want %d (the reader's own calls are not the client's)", b.Total, len(want))
		}
		if len(b.Entry) > 2 {
			t.Errorf("a page of %d, _count 2", len(b.Entry))
		}
		next = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = strings.TrimPrefix(l.URL, "https://fhir.example")
			}
		}
		for _, en := range b.Entry {
			r := en.Resource
			got = append(got, r.ID)
			if en.FullURL != "https://fhir.example/fhir/R4/AuditEvent/"+r.ID || r.ResourceType != "AuditEvent" {
				t.Errorf("entry %s: %+v", en.FullURL, r)
			}
			if w := r.Agent[0].Who; w.Type != "Device" || w.Identifier.Value != e.client.id || !r.Agent[0].Requestor {
				t.Errorf("AuditEvent/%s: first agent %+v, want the client as the requestor", r.ID, r.Agent[0])
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged through %v, want %v", got, want)
	}
	// The same client, named as the audit log names it.
	if b := e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+url.QueryEscape(agent)+"&_count=100", security); b.Total != len(want) {
		t.Errorf("agent=%s: total %d, want %d", agent, b.Total, len(want))
	}

	// By subtype and action: the $hold call; the reads.
	b := e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&subtype=$hold", security)
	if b.Total != 1 || b.Entry[0].Resource.Action != "E" || b.Entry[0].Resource.Outcome != "0" || b.Entry[0].Resource.Type.Code != "rest" {
		t.Fatalf("subtype=$hold: %+v", b)
	}
	holdCall := b.Entry[0].Resource.ID
	b = e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&action=R", security)
	if b.Total != 2 {
		t.Errorf("action=R: total %d, want the slot read and the refused patient read", b.Total)
	}
	outcomes := map[string]bool{}
	for _, en := range b.Entry {
		outcomes[en.Resource.Outcome] = true
		if sub := en.Resource.Subtype[0]; sub.Code != "read" || sub.System != "http://hl7.org/fhir/restful-interaction" {
			t.Errorf("a read's subtype %+v", sub)
		}
	}
	if !outcomes["0"] || !outcomes["4"] {
		t.Errorf("outcomes %v, want 0 (the read) and 4 (the refused one)", outcomes)
	}
	if b := e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&subtype=operation&action=E", security); b.Total != 2 {
		t.Errorf("subtype=operation&action=E: total %d, want $find and $hold", b.Total)
	}
	// A search's query is its entity, base64 as received.
	b = e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&subtype=$find", security)
	var query string
	for _, en := range b.Entry[0].Resource.Entity {
		if en.Role != nil && en.Role.Code == "24" {
			q, _ := base64.StdEncoding.DecodeString(en.Query)
			query = string(q)
		}
	}
	if !strings.Contains(query, fmt.Sprintf("practitioner=Practitioner/%d", sess.DoctorID)) {
		t.Errorf("the $find's query entity holds %q", query)
	}

	// By entity: the held appointment's booking record, the client's act.
	heldID := held["id"].(string)
	b = e.auditSearch(t, "/fhir/R4/AuditEvent?entity=Appointment/"+heldID, security)
	if b.Total < 1 {
		t.Fatalf("entity=Appointment/%s: nothing", heldID)
	}
	var act string
	for _, en := range b.Entry {
		r := en.Resource
		if r.Subtype[0].System == "urn:fairslot:audit-action" && r.Subtype[0].Code == "booking.hold" {
			act = r.ID
		}
	}
	if act == "" {
		t.Fatalf("entity=Appointment/%s: no booking.hold act in %+v", heldID, b.Entry)
	}

	// By date: a call a day later is the only one on that day.
	e.now = e.now.Add(24 * time.Hour)
	later := e.smartToken(t, e.client, "system/Slot.rs")
	security = e.staffToken(t, "security") // a staff session does not last a day
	if code, body := e.get(t, fmt.Sprintf("/fhir/R4/Slot/%d-1", sess.ID), later); code != 200 {
		t.Fatalf("slot read = %d %s", code, body)
	}
	b = e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&date=ge2026-12-11&date=lt2026-12-12", security)
	if b.Total != 2 { // the token and the read
		t.Errorf("date=ge2026-12-11&date=lt2026-12-12: total %d, want 2", b.Total)
	}
	if b := e.auditSearch(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&date=lt2026-12-11", security); b.Total != len(want) {
		t.Errorf("date=lt2026-12-11: total %d, want %d", b.Total, len(want))
	}

	// Read by id, and the golden files of a call and of an act.
	code, body = e.get(t, "/fhir/R4/AuditEvent/"+holdCall, security)
	if code != 200 {
		t.Fatalf("read AuditEvent/%s = %d %s", holdCall, code, body)
	}
	auditGolden(t, "auditevent-call", body, e.client.id)
	code, body = e.get(t, "/fhir/R4/AuditEvent/"+act, security)
	if code != 200 {
		t.Fatalf("read AuditEvent/%s = %d %s", act, code, body)
	}
	auditGolden(t, "auditevent-act", body, e.client.id)
	_, body = e.get(t, "/fhir/R4/AuditEvent?agent="+e.client.id+"&subtype=$find", security)
	auditGolden(t, "search-auditevent", body, e.client.id)
	// No names or ID numbers: the records hold none.
	for _, path := range []string{"/fhir/R4/AuditEvent?_count=100", "/fhir/R4/AuditEvent/" + act} {
		_, body := e.get(t, path, security)
		for _, secret := range []string{residentID, patientName, "13800138000"} {
			if strings.Contains(string(body), secret) {
				t.Errorf("%s shows %q", path, secret)
			}
		}
	}
	// A record outside the FHIR trail (the security officer's login) is
	// not found; nor is an id that is no record's.
	var login int64
	for _, ev := range e.trail(t) {
		if strings.HasPrefix(ev.Actor, "staff:") && strings.Contains(ev.Action, "login") {
			login = ev.Seq
		}
	}
	for _, id := range []string{fmt.Sprint(login), "999999", "abc", "0"} {
		if code, body := e.get(t, "/fhir/R4/AuditEvent/"+id, security); code != 404 {
			t.Errorf("AuditEvent/%s = %d %s, want 404", id, code, body)
		}
	}
	// Bad parameters are refused, not ignored.
	for _, q := range []string{"action=X", "entity=Appointment", "date=2026-13-45", "type=rest", "_sort=date"} {
		if code, body := e.get(t, "/fhir/R4/AuditEvent?"+q, security); code != 400 {
			t.Errorf("AuditEvent?%s = %d %s, want 400", q, code, body)
		}
	}
	// The reading is itself audited, as the security officer's.
	var reads int
	var officer string
	for _, ev := range e.trail(t) {
		if ev.Action == "fhir.call" && ev.Detail["type"] == "AuditEvent" && strings.HasPrefix(ev.Actor, "staff:") {
			reads++
			officer = ev.Actor
		}
	}
	if reads < 10 {
		t.Errorf("%d audited AuditEvent calls by the security officer", reads)
	}
	// A staff member's calls, by the audit log's name for them.
	b = e.auditSearch(t, "/fhir/R4/AuditEvent?_count=1&agent="+url.QueryEscape(officer), security)
	if b.Total != reads || b.Entry[0].Resource.Agent[0].Who.Type != "Practitioner" {
		t.Errorf("agent=%s: total %d, want %d, each a Practitioner's: %+v", officer, b.Total, reads, b.Entry)
	}
}

// TestAuditEventReaders: the security officer and a client with a
// system/AuditEvent scope read the trail; an admin, every other role, a
// patient, a client without the scope (a wildcard too) and no token are
// refused, and the security officer reads nothing else.
func TestAuditEventReaders(t *testing.T) {
	e := newEnv(t)
	auditor := e.register(t, jose.ES384, "system/AuditEvent.rs")
	auditTok := e.smartToken(t, auditor, "system/AuditEvent.rs")
	v1 := e.register(t, jose.RS384, "system/AuditEvent.read")
	v1Tok := e.smartToken(t, v1, "system/AuditEvent.read")
	slots := e.register(t, jose.ES384, "system/Slot.rs")
	slotTok := e.smartToken(t, slots, "system/Slot.rs")
	wild := e.register(t, jose.ES384, "system/*.rs")
	wildTok := e.smartToken(t, wild, "system/*.rs")
	if code, m := e.askToken(t, wild.assertion(t, e.now, nil), "system/AuditEvent.rs"); code != 400 || m["error"] != "invalid_scope" {
		t.Errorf("a wildcard client asking for system/AuditEvent.rs: %d %v, want invalid_scope", code, m)
	}
	security := e.staffToken(t, "security")
	patient := e.patientToken(t)

	var some string // an AuditEvent to read
	for _, ev := range e.trail(t) {
		if ev.Action == "fhir.token" {
			some = fmt.Sprint(ev.Seq)
		}
	}
	search, read := "/fhir/R4/AuditEvent?_count=5", "/fhir/R4/AuditEvent/"+some
	for _, c := range []struct {
		who, token string
		want       int
	}{
		{"security", security, 200},
		{"a client with system/AuditEvent.rs", auditTok, 200},
		{"a client with system/AuditEvent.read", v1Tok, 200},
		{"admin", e.admin, 403},
		{"desk", e.staffToken(t, "desk"), 403},
		{"nurse", e.staffToken(t, "nurse"), 403},
		{"doctor", e.staffToken(t, "doctor"), 403},
		{"kiosk", e.staffToken(t, "kiosk"), 403},
		{"patient", patient, 403},
		{"a client with system/Slot.rs", slotTok, 403},
		{"a client with system/*.rs", wildTok, 403},
		{"no token", "", 401},
		{"a made-up token", "not-a-token", 401},
	} {
		for _, path := range []string{search, read} {
			code, body := e.get(t, path, c.token)
			if code != c.want {
				t.Errorf("%s: GET %s = %d %s, want %d", c.who, path, code, body, c.want)
			}
			if c.want != 200 {
				var oo struct {
					ResourceType string
					Issue        []struct{ Code string }
				}
				if json.Unmarshal(body, &oo); oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 ||
					oo.Issue[0].Code != map[int]string{401: "login", 403: "forbidden"}[c.want] {
					t.Errorf("%s: GET %s: %s, want an OperationOutcome", c.who, path, body)
				}
			}
		}
	}
	// The security officer and the auditing client read nothing else.
	for _, tok := range []string{security, auditTok} {
		for _, path := range []string{"/fhir/R4/Slot?_count=1", "/fhir/R4/Practitioner/1", "/fhir/R4/Organization/1"} {
			if code, body := e.get(t, path, tok); code != 403 {
				t.Errorf("GET %s = %d %s, want 403", path, code, body)
			}
		}
	}
	// SMART's configuration and the CapabilityStatement list AuditEvent.
	resp, err := http.Get(e.srv.URL + "/fhir/R4/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Scopes []string `json:"scopes_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&conf)
	resp.Body.Close()
	if !slices.Contains(conf.Scopes, "system/AuditEvent.rs") {
		t.Errorf("smart-configuration scopes %v lack system/AuditEvent.rs", conf.Scopes)
	}
	m := e.getOK(t, "/fhir/R4/metadata")
	var found bool
	for _, r := range m["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		r := r.(map[string]any)
		if r["type"] == "AuditEvent" {
			found = len(r["interaction"].([]any)) == 2 && len(r["searchParam"].([]any)) >= 5
		}
	}
	if !found {
		t.Error("the CapabilityStatement does not list AuditEvent with read, search-type and its parameters")
	}
}
