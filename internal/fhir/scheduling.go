package fhir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// IHE Scheduling (issue 16, item 2): ITI-115 $find, ITI-116 $hold and
// ITI-117 $book on Appointment, and cancelling through $book as the profile
// allows. A system books for a patient it names by identity document and
// name (app.ForPatient), through the patient's own use cases, so every rule
// a patient meets holds: identity limits, the release time and cut-off, the
// quotas kept for on-site and referral patients, cancelled and full
// sessions, the waitlist — and a draw, which a system enters as a patient
// does: $hold or $book on a draw session whose entry window is open enters
// the draw and answers an Appointment "proposed" (the place is not the
// patient's until the draw allocates it; "waitlist" is kept for waitlist
// places, as mapping.go maps them). A refusal carries the reason the patient
// would read, as an OperationOutcome from the one error-kind mapping.
//
// Idempotency is the JSON API's: the Idempotency-Key header (else the
// appointment-resource's identifier) is the booking's request key and the
// payment's key, so a retried $hold or $book returns what the first made
// and books and charges nothing more. Keys are the client's own
// (app.SystemKeyPrefix) and mark the bookings it made: a client confirms or
// cancels only those.

// The operations' canonical URLs, as IHE publishes them.
const (
	opFind = "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-find"
	opHold = "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-hold"
	opBook = "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-book"
)

// Parameters is an operation's input.
type Parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []Parameter `json:"parameter,omitempty"`
}

// Parameter is one named input value or resource.
type Parameter struct {
	Name           string          `json:"name"`
	ValueDateTime  string          `json:"valueDateTime,omitempty"`
	ValueDate      string          `json:"valueDate,omitempty"`
	ValueString    string          `json:"valueString,omitempty"`
	ValueBoolean   *bool           `json:"valueBoolean,omitempty"`
	ValueInteger   *int            `json:"valueInteger,omitempty"`
	ValueReference *Reference      `json:"valueReference,omitempty"`
	ValueCoding    *Coding         `json:"valueCoding,omitempty"`
	Resource       json.RawMessage `json:"resource,omitempty"`
}

// operation is one of the operations, for the routes, the audit and the
// CapabilityStatement.
type operation struct {
	name, canonical, doc string
}

var operations = []operation{
	{"find", opFind, "ITI-115: free places as proposed Appointments. start and end (dateTime, required), practitioner " +
		"(Practitioner/{id}), specialty (a department code, system urn:fairslot:department-code), location " +
		"(Location/campus-{id}), _count. GET with these as query parameters, or POST a Parameters resource. Needs system/Appointment.s."},
	{"hold", opHold, "ITI-116: hold a place for a patient, unpaid, until the hold expires. appointment-reference (a proposed " +
		"Appointment of $find) or appointment-resource (an Appointment naming its Slot), and patient (a Patient resource with " +
		"the identifier and name of an identity document on record). A draw session is entered, not held (Appointment " +
		"proposed); waitlist=true joins a full session's waitlist (Appointment waitlist). Idempotency-Key makes a retry " +
		"safe. Every rule a patient's booking meets applies. Needs system/Appointment.c."},
	{"book", opBook, "ITI-117: book — a held Appointment (appointment-reference, needs system/Appointment.u) is paid and " +
		"booked; a proposed one (with patient, needs system/Appointment.c) is held and paid at once; an appointment-resource " +
		"with an id and status cancelled cancels that booking (system/Appointment.u). The fee is charged through the " +
		"hospital's payment provider, keyed by the Idempotency-Key. A client confirms and cancels only the bookings it made."},
}

// scheduling adds the operations' routes to mux.
func (s *Server) scheduling(mux *http.ServeMux) {
	op := func(pattern, name string, perm byte, fn handler) {
		mux.Handle(pattern, s.auditedAs("Appointment", "$"+name, s.adapt(s.authorized("Appointment", perm, fn))))
	}
	op("GET "+Prefix+"/Appointment/$find", "find", 's', s.find)
	op("POST "+Prefix+"/Appointment/$find", "find", 's', s.find)
	op("POST "+Prefix+"/Appointment/$hold", "hold", 'c', s.hold)
	// $book's permission depends on what it books: checked inside.
	op("POST "+Prefix+"/Appointment/$book", "book", 0, s.book)
}

// limitClient applies the front door's per-client limit to the request's
// FHIR client (an admin's staff session has the staff lane's allowance).
func (s *Server) limitClient(r *http.Request) error {
	a := s.actor(r)
	if a.Client == "" {
		return nil
	}
	return s.API.LimitClient(r.Context(), a.Client)
}

// readParameters reads an operation's Parameters body; every parameter's
// name must be one of known, each at most once.
func readParameters(r *http.Request, known ...string) (map[string]Parameter, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
			return nil, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "the body must be application/fhir+json"))
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return nil, fairslot.Errorf(fairslot.TooLarge, "the body must be a Parameters resource of at most 64 KiB")
	}
	var p Parameters
	if err := json.Unmarshal(b, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, coded("structure", fairslot.Errorf(fairslot.Invalid, "the body must be a FHIR Parameters resource in JSON"))
	}
	out := map[string]Parameter{}
	for _, prm := range p.Parameter {
		if !contains(known, prm.Name) {
			return nil, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "the parameter %q is not supported here (supported: %s)", prm.Name, strings.Join(known, ", ")))
		}
		if _, dup := out[prm.Name]; dup {
			return nil, fairslot.Errorf(fairslot.Invalid, "the parameter %q may be given once", prm.Name)
		}
		out[prm.Name] = prm
	}
	return out, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// findInput is $find's parameters.
type findInput struct {
	start, end   time.Time
	doctor       int64
	department   string // a department code
	campus       int64
	count        int
	unknownMatch bool // a reference that names nothing: no match
}

var findParams = []string{"start", "end", "practitioner", "specialty", "location", "_count"}

func (s *Server) findInput(r *http.Request) (findInput, error) {
	in := findInput{count: defaultCount}
	vals := map[string]string{}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		for k, vs := range q {
			if k == "_format" {
				continue
			}
			if !contains(findParams, k) {
				return in, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "$find does not support the parameter %q", k))
			}
			if len(vs) > 1 {
				return in, fairslot.Errorf(fairslot.Invalid, "the parameter %q may be given once", k)
			}
			vals[k] = vs[0]
		}
	} else {
		ps, err := readParameters(r, findParams...)
		if err != nil {
			return in, err
		}
		for k, p := range ps {
			switch {
			case p.ValueDateTime != "":
				vals[k] = p.ValueDateTime
			case p.ValueDate != "":
				vals[k] = p.ValueDate
			case p.ValueReference != nil:
				vals[k] = p.ValueReference.Reference
			case p.ValueCoding != nil:
				if p.ValueCoding.System != "" && p.ValueCoding.System != "urn:fairslot:department-code" {
					return in, fairslot.Errorf(fairslot.Invalid, "specialty must be a department code (system urn:fairslot:department-code)")
				}
				vals[k] = p.ValueCoding.Code
			case p.ValueInteger != nil:
				vals[k] = strconv.Itoa(*p.ValueInteger)
			case p.ValueString != "":
				vals[k] = p.ValueString
			}
		}
	}
	loc := s.App.Location
	at := func(name string) (time.Time, error) {
		v := vals[name]
		if v == "" {
			return time.Time{}, fairslot.Errorf(fairslot.Invalid, "$find needs %s (a date or a dateTime with its offset)", name)
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			return t, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return t, fairslot.Errorf(fairslot.Invalid, "%s must be a date (YYYY-MM-DD) or a dateTime with its offset", name)
		}
		return t, nil
	}
	var err error
	if in.start, err = at("start"); err != nil {
		return in, err
	}
	if in.end, err = at("end"); err != nil {
		return in, err
	}
	if !in.end.After(in.start) {
		return in, fairslot.Errorf(fairslot.Invalid, "end must be after start")
	}
	if v := vals["practitioner"]; v != "" {
		id, ok := strings.CutPrefix(v, "Practitioner/")
		if !ok {
			return in, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "practitioner must reference a Practitioner"))
		}
		if in.doctor, err = strconv.ParseInt(id, 10, 64); err != nil {
			in.unknownMatch = true
		}
	}
	if v := vals["location"]; v != "" {
		id, ok := strings.CutPrefix(v, "Location/campus-")
		if !ok {
			return in, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "location must reference a campus (Location/campus-{id})"))
		}
		if in.campus, err = strconv.ParseInt(id, 10, 64); err != nil {
			in.unknownMatch = true
		}
	}
	in.department = vals["specialty"]
	if v := vals["_count"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return in, fairslot.Errorf(fairslot.Invalid, "_count must be a whole number of at least 0")
		}
		in.count = min(n, maxCount)
	}
	return in, nil
}

// find is ITI-115: the free places of the sessions in [start, end) that
// match, one proposed Appointment per time window with a place left to take
// now — first come once booking has opened, or by entering an open draw.
func (s *Server) find(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitClient(r); err != nil {
		return err
	}
	in, err := s.findInput(r)
	if err != nil {
		return err
	}
	ctx, loc, now := r.Context(), s.App.Location, s.now()
	b := Bundle{ResourceType: "Bundle", Type: "searchset", Link: []BundleLink{{Relation: "self", URL: s.base(r) + "/Appointment/$find"}}}
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		b.Link[0].URL += "?" + r.URL.RawQuery
	}
	if in.unknownMatch {
		return write(w, http.StatusOK, b)
	}
	f := storage.SessionFilter{DoctorID: in.doctor, CampusID: in.campus,
		From: in.start.In(loc).Format(time.DateOnly), To: in.end.Add(-time.Nanosecond).In(loc).Format(time.DateOnly)}
	vs, err := s.App.Sessions(ctx, f)
	if fairslot.ErrorKind(err) == fairslot.Invalid {
		return coded("too-costly", err)
	}
	if err != nil {
		return err
	}
	depts := map[int64]fairslot.Department{}
	var all []Appointment
	for _, v := range vs {
		if v.Cancelled() || !(v.Release.Bookable || v.Release.EntriesOpen) {
			continue
		}
		dept, err := s.cachedDepartment(ctx, v.DepartmentID, depts)
		if err != nil {
			return err
		}
		if in.department != "" && dept.Code != in.department {
			continue
		}
		for i, win := range v.Windows {
			if win.Start.Before(in.start) || !win.Start.Before(in.end) || slotStatus(v, win, now) != "free" {
				continue
			}
			all = append(all, proposed(v, dept, i+1, win, loc))
		}
	}
	b.Total = len(all)
	for _, a := range all[:min(in.count, len(all))] {
		b.Entry = append(b.Entry, BundleEntry{FullURL: s.base(r) + "/Appointment/" + a.ID, Resource: a, Search: &EntrySearch{Mode: "match"}})
	}
	return write(w, http.StatusOK, b)
}

// proposedID names a proposed appointment: window n of a session's Slot.
func proposedID(sessionID int64, n int) string { return "p" + slotID(sessionID, n) }

// proposed is a place $find offers: window n of session v.
func proposed(v app.SessionView, dept fairslot.Department, n int, w fairslot.Window, loc *time.Location) Appointment {
	desc := fmt.Sprintf("%s, %s (%s), %s %s", dept.Name, v.Doctor.Name, v.Doctor.Title, v.Date, v.Period)
	if v.Release.Mode == fairslot.Draw {
		desc += fmt.Sprintf("; places are allocated by a draw: $hold or $book enters it until %s", instant(v.Release.EntryCloses, loc))
	}
	return Appointment{ResourceType: "Appointment", ID: proposedID(v.ID, n), Status: "proposed", ServiceType: serviceType(dept),
		Description: desc, Start: instant(w.Start, loc), End: instant(w.End, loc),
		Slot: []Reference{{Reference: "Slot/" + slotID(v.ID, n)}},
		Participant: []Participant{
			{Actor: &Reference{Reference: "Practitioner/" + fmt.Sprint(v.DoctorID), Display: v.Doctor.Name}, Required: "required", Status: "accepted"},
			{Actor: &Reference{Reference: "Location/" + roomID(v.ID), Display: v.Room}, Required: "required", Status: "accepted"},
		}}
}

// drawID names a patient's entry into a session's draw.
func drawID(sessionID, entryID int64) string { return fmt.Sprintf("d%d-%d", sessionID, entryID) }

// drawAppointment is a patient's entry into a session's draw: proposed
// until the draw allocates the places; then cancelled if it lost or could
// not be served, or still proposed, naming the booking it won (held until
// paid, in the patient's app).
func drawAppointment(e fairslot.Entry, v app.SessionView, dept fairslot.Department, loc *time.Location) Appointment {
	a := Appointment{ResourceType: "Appointment", ID: drawID(v.ID, e.ID), Status: "proposed", ServiceType: serviceType(dept),
		Description: fmt.Sprintf("entered the draw for %s, %s (%s), %s %s; places are drawn after %s, and a place won must then be paid",
			dept.Name, v.Doctor.Name, v.Doctor.Title, v.Date, v.Period, instant(v.Release.EntryCloses, loc)),
		Created: instant(e.CreatedAt, loc),
		Participant: []Participant{
			{Actor: ref("Patient", e.PatientID), Required: "required", Status: "needs-action"},
			{Actor: &Reference{Reference: "Practitioner/" + fmt.Sprint(v.DoctorID), Display: v.Doctor.Name}, Required: "required", Status: "accepted"},
		},
		RequestedPeriod: []Period{{Start: instant(v.Start, loc), End: instant(v.End, loc)}}}
	switch e.Outcome {
	case fairslot.Won:
		a.Description = fmt.Sprintf("won the draw for %s, %s (%s), %s %s: the place is Appointment/%d",
			dept.Name, v.Doctor.Name, v.Doctor.Title, v.Date, v.Period, e.BookingID)
	case fairslot.Lost, fairslot.Skipped:
		a.Status = "cancelled"
		a.CancelationReason = &CodeableConcept{Coding: []Coding{{System: "urn:fairslot:draw-outcome", Code: string(e.Outcome)}},
			Text: strings.TrimSuffix("the draw did not give this entry a place: "+string(e.Outcome)+" "+e.Reason, " ")}
	}
	return a
}

// drawEntry reads a draw entry's Appointment, d{session}-{entry}.
func (s *Server) drawEntry(ctx context.Context, id string) (Appointment, error) {
	rest, _ := strings.CutPrefix(id, "d")
	p, ok := parsePlace(rest)
	if !ok {
		return Appointment{}, fairslot.Errorf(fairslot.NotFound, "Appointment/%s not found", id)
	}
	var e fairslot.Entry
	err := s.view(ctx, func(tx storage.Tx) error {
		es, err := tx.Entries(ctx, p.session)
		for _, x := range es {
			if x.ID == int64(p.window) {
				e = x
			}
		}
		return err
	})
	if err != nil || e.ID == 0 {
		return Appointment{}, firstNotFound(err, fmt.Sprintf("Appointment/%s not found", id))
	}
	v, err := s.App.Session(ctx, p.session)
	if err != nil {
		return Appointment{}, err
	}
	dept, err := s.department(ctx, v.DepartmentID)
	return drawAppointment(e, v, dept, s.App.Location), err
}

// placeRef is the place a $hold or $book asks for: a session's window.
type placeRef struct {
	session int64
	window  int
}

// appointmentRef reads a reference to an Appointment: its id.
func appointmentRef(ref string) (string, error) {
	if i := strings.LastIndex(ref, "Appointment/"); i >= 0 {
		return ref[i+len("Appointment/"):], nil
	}
	if ref == "" || strings.Contains(ref, "/") {
		return "", fairslot.Errorf(fairslot.Invalid, "appointment-reference must reference an Appointment")
	}
	return ref, nil
}

// parsePlace reads a proposed appointment's id, p{session}-{window}, or a
// Slot reference, {session}-{window}.
func parsePlace(id string) (placeRef, bool) {
	sid, num, ok := strings.Cut(id, "-")
	n, err1 := strconv.ParseInt(sid, 10, 64)
	w, err2 := strconv.Atoi(num)
	if !ok || err1 != nil || err2 != nil || n <= 0 || w <= 0 {
		return placeRef{}, false
	}
	return placeRef{n, w}, true
}

// request is a $hold's or $book's input.
type request struct {
	existing string    // the id of an Appointment that exists (a booking)
	place    *placeRef // a place to take
	cancel   bool      // appointment-resource with status cancelled
	patient  *app.PatientInput
	waitlist bool
	key      string // the client's idempotency key, "" for none
}

// inAppointment is what an appointment-resource may say.
type inAppointment struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Status       string       `json:"status"`
	Identifier   []Identifier `json:"identifier"`
	Slot         []Reference  `json:"slot"`
}

// inPatient is what the patient parameter's Patient must say.
type inPatient struct {
	ResourceType string `json:"resourceType"`
	Identifier   []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Name []struct {
		Text   string   `json:"text"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
}

func (s *Server) readRequest(r *http.Request) (request, error) {
	var req request
	ps, err := readParameters(r, "appointment-reference", "appointment-resource", "patient", "waitlist")
	if err != nil {
		return req, err
	}
	ref, hasRef := ps["appointment-reference"]
	res, hasRes := ps["appointment-resource"]
	switch {
	case hasRef == hasRes:
		return req, fairslot.Errorf(fairslot.Invalid, "give one of appointment-reference and appointment-resource")
	case hasRef:
		if ref.ValueReference == nil {
			return req, fairslot.Errorf(fairslot.Invalid, "appointment-reference must be a valueReference")
		}
		id, err := appointmentRef(ref.ValueReference.Reference)
		if err != nil {
			return req, err
		}
		if rest, ok := strings.CutPrefix(id, "p"); ok {
			p, ok := parsePlace(rest)
			if !ok {
				return req, fairslot.Errorf(fairslot.NotFound, "Appointment/%s not found", id)
			}
			req.place = &p
		} else {
			req.existing = id
		}
	default:
		var a inAppointment
		if err := json.Unmarshal(res.Resource, &a); err != nil || a.ResourceType != "Appointment" {
			return req, coded("structure", fairslot.Errorf(fairslot.Invalid, "appointment-resource must be an Appointment"))
		}
		if len(a.Identifier) > 0 && a.Identifier[0].Value != "" {
			req.key = a.Identifier[0].System + "|" + a.Identifier[0].Value
		}
		switch {
		case a.ID != "" && a.Status == "cancelled":
			req.existing, req.cancel = a.ID, true
		case a.ID != "":
			return req, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "an appointment-resource with an id may only cancel it (status cancelled); to book, name the Slot"))
		case len(a.Slot) != 1:
			return req, fairslot.Errorf(fairslot.Invalid, "appointment-resource must name exactly one Slot")
		case a.Status != "" && a.Status != "proposed" && a.Status != "pending":
			return req, fairslot.Errorf(fairslot.Invalid, "a new appointment-resource has status proposed or pending, not %q", a.Status)
		default:
			id, ok := strings.CutPrefix(a.Slot[0].Reference, "Slot/")
			p, valid := parsePlace(id)
			if !ok || !valid {
				return req, fairslot.Errorf(fairslot.NotFound, "%s not found", a.Slot[0].Reference)
			}
			req.place = &p
		}
	}
	if p, ok := ps["patient"]; ok {
		var pt inPatient
		if err := json.Unmarshal(p.Resource, &pt); err != nil || pt.ResourceType != "Patient" {
			return req, coded("structure", fairslot.Errorf(fairslot.Invalid, "patient must be a Patient resource"))
		}
		in, err := patientInput(pt)
		if err != nil {
			return req, err
		}
		req.patient = &in
	}
	if p, ok := ps["waitlist"]; ok {
		if p.ValueBoolean == nil {
			return req, fairslot.Errorf(fairslot.Invalid, "waitlist must be a valueBoolean")
		}
		req.waitlist = *p.ValueBoolean
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		req.key = k
	}
	if req.place != nil && req.patient == nil {
		return req, fairslot.Errorf(fairslot.Invalid, "patient is required to take a place: a Patient with the identifier and name of an identity document on record")
	}
	return req, nil
}

// patientInput reads the identity a Patient names: its identifier in one
// of the identity documents' systems, and its name as on the document.
func patientInput(p inPatient) (app.PatientInput, error) {
	var in app.PatientInput
	for _, id := range p.Identifier {
		for typ, sys := range idSystems {
			if id.System == sys.system {
				if in.IDType != "" {
					return in, fairslot.Errorf(fairslot.Invalid, "patient must carry one identity document's identifier")
				}
				in.IDType, in.IDNumber = typ, id.Value
			}
		}
	}
	if in.IDType == "" {
		var systems []string
		for _, t := range []fairslot.IDType{fairslot.IDResident, fairslot.IDPassport, fairslot.IDVNCitizen, fairslot.IDHKMacau} {
			systems = append(systems, idSystems[t].system)
		}
		return in, fairslot.Errorf(fairslot.Invalid, "patient must carry an identifier of one of the systems %s", strings.Join(systems, ", "))
	}
	if len(p.Name) == 0 {
		return in, fairslot.Errorf(fairslot.Invalid, "patient must carry the name on the identity document (name.text)")
	}
	in.Name = p.Name[0].Text
	if in.Name == "" {
		in.Name = p.Name[0].Family + strings.Join(p.Name[0].Given, "")
	}
	return in, nil
}

// clientKey is the request key of a client's request: its own key, or a
// new one (no idempotency, but the booking is still marked as the
// client's).
func clientKey(client, key string) string {
	if key == "" {
		b := make([]byte, 12)
		rand.Read(b)
		key = "auto-" + hex.EncodeToString(b)
	}
	return app.SystemKeyPrefix(client) + key
}

// systemClient is the request's FHIR client; an admin's staff session,
// which may read everything, does not book for patients.
func (s *Server) systemClient(r *http.Request) (app.Actor, error) {
	a := s.actor(r)
	if a.Client == "" {
		return a, fairslot.Errorf(fairslot.Forbidden, "only a SMART system client (system/Appointment scopes) books through FHIR; staff book at the desk")
	}
	return a, nil
}

// hold is ITI-116.
func (s *Server) hold(w http.ResponseWriter, r *http.Request) error {
	a, err := s.systemClient(r)
	if err != nil {
		return err
	}
	if err := s.limitClient(r); err != nil {
		return err
	}
	req, err := s.readRequest(r)
	if err != nil {
		return err
	}
	if req.place == nil {
		return fairslot.Errorf(fairslot.Invalid, "$hold takes a proposed Appointment of $find (appointment-reference) or an appointment-resource naming its Slot")
	}
	res, _, err := s.take(r, a, req)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, res)
}

// take holds the requested place for the patient — or enters the session's
// draw, or joins its waitlist when asked and the session is full. booking
// is the held booking's id, 0 for a draw entry or a waitlist place.
func (s *Server) take(r *http.Request, a app.Actor, req request) (Appointment, int64, error) {
	ctx := r.Context()
	acting, patientID, err := s.App.ForPatient(ctx, a, *req.patient)
	if err != nil {
		return Appointment{}, 0, err
	}
	if err := s.API.LimitPatient(ctx, patientID); err != nil {
		return Appointment{}, 0, err
	}
	v, err := s.App.Session(ctx, req.place.session)
	if err != nil || req.place.window > len(v.Windows) {
		return Appointment{}, 0, firstNotFound(err, fmt.Sprintf("Slot/%s not found", slotID(req.place.session, req.place.window)))
	}
	if v.Release.Mode == fairslot.Draw && v.Release.Drawn.IsZero() {
		// A draw is entered, never jumped: the patient's entry, refused
		// as the patient's would be (before or after the entry window).
		e, err := s.App.EnterDraw(ctx, acting, app.EntryInput{SessionID: v.ID, PatientID: patientID})
		if err != nil {
			return Appointment{}, 0, err
		}
		res, err := s.drawEntry(ctx, drawID(v.ID, e.ID))
		return res, 0, err
	}
	if req.waitlist && v.Remaining == 0 {
		wv, err := s.App.JoinWaitlist(ctx, acting, app.WaitInput{SessionID: v.ID, PatientID: patientID})
		if err != nil {
			return Appointment{}, 0, err
		}
		res, err := s.readers()["Appointment"](ctx, waitlistID(wv.ID))
		if err != nil {
			return Appointment{}, 0, err
		}
		return res.(Appointment), 0, nil
	}
	bv, err := s.App.Hold(ctx, acting, app.HoldInput{SessionID: v.ID, PatientID: patientID,
		WindowStart: v.Windows[req.place.window-1].Start, RequestKey: clientKey(a.Client, req.key)})
	if err != nil {
		return Appointment{}, 0, err
	}
	res, err := s.readers()["Appointment"](ctx, strconv.FormatInt(bv.ID, 10))
	if err != nil {
		return Appointment{}, 0, err
	}
	return res.(Appointment), bv.ID, nil
}

func firstNotFound(err error, msg string) error {
	if err == nil || fairslot.ErrorKind(err) == fairslot.NotFound {
		return fairslot.Errorf(fairslot.NotFound, "%s", msg)
	}
	return err
}

// book is ITI-117: pay and book a held appointment, hold and book a place
// at once, or cancel a booking.
func (s *Server) book(w http.ResponseWriter, r *http.Request) error {
	a, err := s.systemClient(r)
	if err != nil {
		return err
	}
	req, err := s.readRequest(r)
	if err != nil {
		return err
	}
	perm := byte('c')
	if req.existing != "" {
		perm = 'u'
	}
	if err := permit(r, "Appointment", perm); err != nil {
		return err
	}
	if err := s.limitClient(r); err != nil {
		return err
	}
	ctx := r.Context()
	id := int64(0)
	if req.existing != "" {
		if id, err = numericID("Appointment", req.existing); err != nil {
			if strings.HasPrefix(req.existing, "w") || strings.HasPrefix(req.existing, "d") {
				return coded("not-supported", fairslot.Errorf(fairslot.Invalid,
					"a waitlist place or draw entry is left in the patient's app, not through FHIR"))
			}
			return err
		}
	}
	var payKey string
	switch {
	case req.cancel:
		acting, err := s.App.ForBooking(ctx, a, id)
		if err != nil {
			return notFound(err, "Appointment", req.existing)
		}
		if _, err := s.App.Cancel(ctx, acting, id); err != nil {
			return err
		}
		return s.answer(w, r, id)
	case req.existing != "":
		payKey = req.key
		if payKey == "" {
			payKey = "book-" + req.existing // one payment per booking
		}
	default:
		res, held, err := s.take(r, a, req)
		if err != nil || held == 0 {
			if err != nil {
				return err
			}
			return write(w, http.StatusOK, res) // a draw entry or a waitlist place: nothing to pay yet
		}
		id, payKey = held, req.key
		if payKey == "" {
			payKey = "book-" + strconv.FormatInt(held, 10)
		}
	}
	acting, err := s.App.ForBooking(ctx, a, id)
	if err != nil {
		return notFound(err, "Appointment", strconv.FormatInt(id, 10))
	}
	if _, err := s.App.Pay(ctx, acting, id, clientKey(a.Client, payKey)); err != nil {
		return err
	}
	return s.answer(w, r, id)
}

// answer writes a booking's Appointment as it now stands.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, id int64) error {
	res, err := s.readers()["Appointment"](r.Context(), strconv.FormatInt(id, 10))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, res)
}

// operationDecls are the operations for the CapabilityStatement.
func operationDecls() []OperationDecl {
	var out []OperationDecl
	for _, op := range operations {
		out = append(out, OperationDecl{Name: op.name, Definition: op.canonical, Documentation: op.doc})
	}
	return out
}

// OperationDecl is a supported operation in the CapabilityStatement.
type OperationDecl struct {
	Name          string `json:"name"`
	Definition    string `json:"definition"`
	Documentation string `json:"documentation,omitempty"`
}
