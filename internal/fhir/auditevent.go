package fhir

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

// The FHIR audit trail as AuditEvent resources (issue 16 item 3: "every
// FHIR call audited, IHE BALP-style AuditEvent available to the security
// role"). Each resource is one record of fairslot's tamper-evident audit
// log, its id the record's seq, mapped as IHE's Basic Audit Log Patterns
// (BALP) map a RESTful interaction: nothing is stored twice, and nothing is
// shown that the record does not hold (records hold no names or ID
// numbers). The trail (storage.AuditQuery) is every fhir.call record, every
// act of a FHIR client (actor fhir-client:<id>: its bookings, payments,
// cancellations and tokens) and every change to a client's registration.
// Other records — patients' and staff's own work — stay with the audit
// log's own tools.
//
// Who reads it: a security officer's staff session, and a system client
// with an explicit system/AuditEvent scope (a wildcard system/*.rs does not
// reach it). An admin, who reads clinical data on the facade, does not read
// the audit of that reading here: BALP's separation of the auditor from
// the audited (authorize). Reading the trail is itself a fhir.call, and so
// in the trail.

// auditType is the resource type of the audit trail.
const auditType = "AuditEvent"

// AuditEvent is one record of the FHIR audit trail (R4 element order).
type AuditEvent struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Type         Coding       `json:"type"`
	Subtype      []Coding     `json:"subtype,omitempty"`
	Action       string       `json:"action,omitempty"`
	Recorded     string       `json:"recorded"`
	Outcome      string       `json:"outcome,omitempty"`
	OutcomeDesc  string       `json:"outcomeDesc,omitempty"`
	Agent        []AuditAgent `json:"agent"`
	Source       AuditSource  `json:"source"`
	Entity       []AuditEnt   `json:"entity,omitempty"`
}

// AuditAgent is an actor of an audited event.
type AuditAgent struct {
	Type      *CodeableConcept `json:"type,omitempty"`
	Who       *Reference       `json:"who,omitempty"`
	Requestor bool             `json:"requestor"`
}

// AuditSource is who recorded the event.
type AuditSource struct {
	Site     string    `json:"site,omitempty"`
	Observer Reference `json:"observer"`
	Type     []Coding  `json:"type,omitempty"`
}

// AuditEnt is a thing an audited event used or changed.
type AuditEnt struct {
	What        *Reference    `json:"what,omitempty"`
	Type        *Coding       `json:"type,omitempty"`
	Role        *Coding       `json:"role,omitempty"`
	Description string        `json:"description,omitempty"`
	Query       string        `json:"query,omitempty"` // base64
	Detail      []AuditDetail `json:"detail,omitempty"`
}

// AuditDetail is one name and value of a record's detail.
type AuditDetail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

// Code systems the mapping uses.
const (
	csEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	csInteraction = "http://hl7.org/fhir/restful-interaction"
	csDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	csIHEEvent    = "urn:ihe:event-type-code"
	csEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	csObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	csSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	csRoleType    = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	csBALPEntity  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	// fairslot's own: an audit action ("booking.hold"), and the
	// namespaces of the actors and subjects a record names.
	csAuditAction = "urn:fairslot:audit-action"
)

// iheTransactions are IHE Scheduling's transactions, by operation.
var iheTransactions = map[string]Coding{
	"$find": {System: csIHEEvent, Code: "ITI-115", Display: "Find Potential Appointments"},
	"$hold": {System: csIHEEvent, Code: "ITI-116", Display: "Hold Appointment"},
	"$book": {System: csIHEEvent, Code: "ITI-117", Display: "Book Appointment"},
}

var (
	systemObject   = &Coding{System: csEntityType, Code: "2", Display: "System Object"}
	person         = &Coding{System: csEntityType, Code: "1", Display: "Person"}
	roleDomain     = &Coding{System: csObjectRole, Code: "4", Display: "Domain Resource"}
	roleQuery      = &Coding{System: csObjectRole, Code: "24", Display: "Query"}
	rolePatient    = &Coding{System: csObjectRole, Code: "1", Display: "Patient"}
	requestIDType  = &Coding{System: csBALPEntity, Code: "XrequestId", Display: "X-Request-Id"}
	applicationSrv = Coding{System: csSourceType, Code: "4", Display: "Application Server"}
)

// actorRef names a record's actor ("fhir-client:abc", "staff:3") as an
// agent: a client is a Device, a staff login a Practitioner, each by an
// identifier in fairslot's namespace (the facade serves neither as a
// resource of its own); the agent type is BALP's Source Role ID for a
// client and a human user for a person.
func actorRef(actor string) (*Reference, *CodeableConcept) {
	kind, id, _ := strings.Cut(actor, ":")
	switch kind {
	case "fhir-client":
		return &Reference{Type: "Device", Identifier: &Identifier{System: "urn:fairslot:fhir-client", Value: id}},
			&CodeableConcept{Coding: []Coding{{System: csDICOM, Code: "110153", Display: "Source Role ID"}}}
	case "staff":
		return &Reference{Type: "Practitioner", Identifier: &Identifier{System: "urn:fairslot:staff", Value: id}},
			&CodeableConcept{Coding: []Coding{{System: csRoleType, Code: "humanuser", Display: "human user"}}}
	case "account":
		return &Reference{Identifier: &Identifier{System: "urn:fairslot:account", Value: id}},
			&CodeableConcept{Coding: []Coding{{System: csRoleType, Code: "humanuser", Display: "human user"}}}
	}
	return &Reference{Identifier: &Identifier{System: "urn:fairslot:audit-actor", Value: actor}, Display: actor}, nil
}

// outcomeOf is R4's outcome code of an HTTP status: 0 success, 4 a
// refused or invalid request, 8 a server failure.
func outcomeOf(status string) string {
	n, _ := strconv.Atoi(status)
	switch {
	case n >= 500:
		return "8"
	case n >= 400:
		return "4"
	}
	return "0"
}

// auditEvent maps one record of the trail; org is the hospital, the
// observer that recorded it.
func auditEvent(e audit.Event, org Reference, loc *time.Location) AuditEvent {
	who, agentType := actorRef(e.Actor)
	ae := AuditEvent{ResourceType: auditType, ID: strconv.FormatInt(e.Seq, 10),
		Recorded: e.At.In(loc).Format("2006-01-02T15:04:05.000Z07:00"), Outcome: "0",
		Agent:  []AuditAgent{{Type: agentType, Who: who, Requestor: true}},
		Source: AuditSource{Site: "fairslot", Observer: org, Type: []Coding{applicationSrv}}}
	if e.Action == "fhir.call" {
		restCall(&ae, e)
	} else {
		act(&ae, e)
	}
	if e.RequestID != "" {
		// BALP's transaction entity: the request ID, to find the call
		// among the server's logs and the records it made.
		ae.Entity = append(ae.Entity, AuditEnt{What: &Reference{Identifier: &Identifier{Value: e.RequestID}}, Type: requestIDType})
	}
	return ae
}

// restCall maps a fhir.call record as BALP's RESTful patterns do: type
// rest, the interaction as subtype, the client (Source Role ID) and the
// server (Destination Role ID) as agents, the resource read or the query
// (base64, as received) as entities, the status as outcome.
func restCall(ae *AuditEvent, e audit.Event) {
	d := e.Detail
	op, typ := d["operation"], d["type"]
	ae.Type = Coding{System: csEventType, Code: "rest", Display: "RESTful Operation"}
	if ihe, ok := iheTransactions[op]; ok {
		ae.Subtype = []Coding{{System: csInteraction, Code: "operation", Display: "operation"}, ihe}
		ae.Action = "E"
	} else {
		ae.Subtype = []Coding{{System: csInteraction, Code: op, Display: op}}
		ae.Action = map[string]string{"read": "R", "search-type": "E"}[op]
	}
	ae.Outcome, ae.OutcomeDesc = outcomeOf(d["status"]), "HTTP "+d["status"]
	ae.Agent = append(ae.Agent, AuditAgent{Type: &CodeableConcept{Coding: []Coding{{System: csDICOM, Code: "110152", Display: "Destination Role ID"}}},
		Who: &Reference{Display: "fairslot FHIR R4 facade"}, Requestor: false})
	if _, id, ok := strings.Cut(e.Subject, "/"); ok {
		ent := AuditEnt{What: &Reference{Reference: typ + "/" + id}, Type: systemObject, Role: roleDomain}
		if typ == "Patient" {
			ent.Type, ent.Role = person, rolePatient
		}
		ae.Entity = append(ae.Entity, ent)
	}
	if q, ok := d["query"]; ok {
		path := typ
		if _, ok := iheTransactions[op]; ok {
			path += "/" + op
		}
		ae.Entity = append(ae.Entity, AuditEnt{Type: systemObject, Role: roleQuery, Description: path + "?" + q,
			Query: base64.StdEncoding.EncodeToString([]byte(q))})
		// BALP's patient query: the patient a search names is an entity.
		if v, err := url.ParseQuery(q); err == nil {
			if p := strings.TrimPrefix(v.Get("patient"), "Patient/"); p != "" && typ == "Appointment" {
				if _, err := strconv.ParseInt(p, 10, 64); err == nil {
					ae.Entity = append(ae.Entity, AuditEnt{What: &Reference{Reference: "Patient/" + p}, Type: person, Role: rolePatient})
				}
			}
		}
	}
	if len(ae.Entity) == 0 { // an operation posted without a query
		ae.Entity = append(ae.Entity, AuditEnt{Type: systemObject, Role: roleDomain, Description: typ + "/" + op})
	}
}

// act maps any other record of the trail — a client's booking, payment,
// token, or a change to a client — with a DICOM event type, fairslot's
// action as subtype, and its subject and detail as the entity. It has no
// action code: fairslot's actions do not map one to one to C/R/U/D/E.
func act(ae *AuditEvent, e audit.Event) {
	switch {
	case e.Action == "fhir.token":
		ae.Type = Coding{System: csDICOM, Code: "110114", Display: "User Authentication"}
	case e.Action == "fhir.token_refused": // tokenlimit.go
		ae.Type = Coding{System: csDICOM, Code: "110114", Display: "User Authentication"}
		ae.Outcome = outcomeOf(e.Detail["status"])
	case strings.HasPrefix(e.Action, "fhir.client."):
		ae.Type = Coding{System: csDICOM, Code: "110136", Display: "Security Roles Changed"}
	default:
		ae.Type = Coding{System: csDICOM, Code: "110110", Display: "Patient Record"}
	}
	ae.Subtype = []Coding{{System: csAuditAction, Code: e.Action}}
	ent := AuditEnt{Type: systemObject, Description: e.Subject}
	kind, id, _ := strings.Cut(e.Subject, ":")
	switch kind {
	case "booking":
		ent.What, ent.Role = &Reference{Reference: "Appointment/" + id}, roleDomain
	case "fhir-client":
		ent.What = &Reference{Type: "Device", Identifier: &Identifier{System: "urn:fairslot:fhir-client", Value: id}}
	default:
		ent.What = &Reference{Identifier: &Identifier{System: "urn:fairslot:audit-subject", Value: e.Subject}}
	}
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ent.Detail = append(ent.Detail, AuditDetail{Type: k, ValueString: e.Detail[k]})
	}
	ae.Entity = append(ae.Entity, ent)
}

// observer is the hospital as the trail's observer.
func (s *Server) observer(ctx context.Context) (Reference, error) {
	var org Reference
	err := s.view(ctx, func(tx storage.Tx) error {
		h, err := s.hospital(ctx, tx)
		org = Reference{Reference: fmt.Sprintf("Organization/%d", h.ID), Display: h.Name}
		return err
	})
	return org, err
}

// readAuditEvent reads one record of the trail by its seq.
func (s *Server) readAuditEvent(ctx context.Context, id string) (any, error) {
	seq, err := numericID(auditType, id)
	if err != nil {
		return nil, err
	}
	var evs []audit.Event
	if err := s.view(ctx, func(tx storage.Tx) (err error) {
		evs, _, err = tx.FHIRAudit(ctx, storage.AuditQuery{Seq: seq, Limit: 1})
		return err
	}); err != nil {
		return nil, err
	}
	if len(evs) == 0 { // no such record, or one outside the FHIR trail
		return nil, fairslot.Errorf(fairslot.NotFound, "%s/%s not found", auditType, id)
	}
	org, err := s.observer(ctx)
	if err != nil {
		return nil, err
	}
	return auditEvent(evs[0], org, s.App.Location), nil
}

// auditSearcher is AuditEvent's search, paged in the database: the trail
// grows with every call (this search's own too), so it is read oldest
// first, by seq, and a page once read stays the same.
func (s *Server) auditSearcher() searcher {
	return searcher{
		params: []searchParam{
			{"date", "date", "when the event was recorded: ge, gt, le, lt or eq a date or dateTime (ANDed when repeated)"},
			{"agent", "reference", "who acted: Device/{client id} (or the bare client id), or the audit log's actor (fhir-client:{id}, staff:{id}); a comma separates alternatives"},
			{"entity", "reference", "what was read or changed: Type/id (Appointment/{id} also finds the booking's own records), or Device/{client id}"},
			{"subtype", "token", "the interaction: read, search-type, operation, or an operation's name ($find, $hold, $book); a comma separates alternatives"},
			{"action", "token", "R (reads) or E (searches and operations) of the FHIR calls"},
		},
		page: s.searchAuditEvents,
	}
}

func (s *Server) searchAuditEvents(r *http.Request, q url.Values, offset, count int) ([]found, int, error) {
	ctx := r.Context()
	when, err := dateParam("date", q["date"], s.App.Location)
	if err != nil {
		return nil, 0, err
	}
	aq := storage.AuditQuery{From: when.from, To: when.to, Offset: offset, Limit: max(count, 1)} // 0 is no limit
	if v := q.Get("agent"); v != "" {
		for _, a := range strings.Split(v, ",") {
			aq.Actors = append(aq.Actors, agentActor(a))
		}
	}
	if v := q.Get("entity"); v != "" {
		typ, id, ok := strings.Cut(v, "/")
		if !ok || typ == "" || id == "" {
			return nil, 0, fairslot.Errorf(fairslot.Invalid, "entity must be a reference Type/id")
		}
		switch typ {
		case "Device":
			aq.Subjects = []string{"fhir-client:" + strings.TrimPrefix(id, "fhir-client-")}
		case "Appointment":
			aq.Subjects = []string{"fhir:" + v, "booking:" + id}
		default:
			aq.Subjects = []string{"fhir:" + v}
		}
	}
	var ops []string
	if v := q.Get("subtype"); v != "" {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimPrefix(t, csInteraction+"|")
			if t == "operation" {
				ops = append(ops, "$find", "$hold", "$book")
			} else {
				ops = append(ops, t)
			}
		}
	}
	if v := q.Get("action"); v != "" {
		var byAction []string
		for _, a := range strings.Split(v, ",") {
			switch a {
			case "R":
				byAction = append(byAction, "read")
			case "E":
				byAction = append(byAction, "search-type", "$find", "$hold", "$book")
			case "C", "U", "D":
				// No FHIR call of the facade's creates, updates or deletes
				// by itself: operations are E, as BALP has them.
			default:
				return nil, 0, fairslot.Errorf(fairslot.Invalid, "action must be C, R, U, D or E")
			}
		}
		if ops == nil {
			ops = byAction
		} else {
			ops = slices.DeleteFunc(ops, func(o string) bool { return !slices.Contains(byAction, o) })
		}
		if len(ops) == 0 {
			ops = []string{""} // matches no call
		}
	}
	aq.Operations = ops
	var evs []audit.Event
	var total int
	if err := s.view(ctx, func(tx storage.Tx) (err error) {
		evs, total, err = tx.FHIRAudit(ctx, aq)
		return err
	}); err != nil {
		return nil, 0, err
	}
	org, err := s.observer(ctx)
	if err != nil {
		return nil, 0, err
	}
	out := make([]found, 0, len(evs))
	for _, e := range evs[:min(count, len(evs))] {
		ae := auditEvent(e, org, s.App.Location)
		out = append(out, found{auditType, ae.ID, ae})
	}
	return out, total, nil
}

// agentActor reads an agent search value as the audit log's actor.
func agentActor(v string) string {
	switch {
	case strings.HasPrefix(v, "Device/"):
		return "fhir-client:" + strings.TrimPrefix(strings.TrimPrefix(v, "Device/"), "fhir-client-")
	case strings.HasPrefix(v, "Practitioner/staff-"):
		return "staff:" + strings.TrimPrefix(v, "Practitioner/staff-")
	case strings.Contains(v, ":"):
		return v // fhir-client:{id}, staff:{id}, account:{id}, system
	}
	return "fhir-client:" + v
}
