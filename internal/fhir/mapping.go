package fhir

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// Extensions on Slot: how many places the window has, and how many are left
// to book online. fairslot's own URLs (urn), until a hospital publishes
// StructureDefinitions for them.
const (
	extPlaces    = "urn:fairslot:fhir:StructureDefinition:slot-places"
	extRemaining = "urn:fairslot:fhir:StructureDefinition:slot-places-remaining"
)

// Identifier systems of the patients' identity documents: fairslot's own
// namespaces (no national OID is claimed), and the v2-0203 type.
var idSystems = map[fairslot.IDType]struct{ system, v2, text string }{
	fairslot.IDResident:  {"urn:fairslot:identifier:cn-resident-id", "NI", "Chinese resident identity card (GB 11643)"},
	fairslot.IDPassport:  {"urn:fairslot:identifier:passport", "PPN", "Passport"},
	fairslot.IDVNCitizen: {"urn:fairslot:identifier:vn-cccd", "NI", "Vietnamese citizen identity card (CCCD)"},
	fairslot.IDHKMacau:   {"urn:fairslot:identifier:hk-macau-permit", "", "Mainland travel permit for Hong Kong and Macau residents"},
}

const v2IdentifierType = "http://terminology.hl7.org/CodeSystem/v2-0203"

// toFHIR maps every booking status to its Appointment status. fairslot's
// checked_in (arrived, holding a ticket, waiting) is FHIR's "arrived"; its
// called (called into the room, the encounter may begin) is FHIR's
// "checked-in". An expired hold is a cancelled appointment, told apart by
// its cancelationReason.
var toFHIR = map[fairslot.Status]string{
	fairslot.Held:      "pending",
	fairslot.Confirmed: "booked",
	fairslot.CheckedIn: "arrived",
	fairslot.Called:    "checked-in",
	fairslot.Completed: "fulfilled",
	fairslot.Cancelled: "cancelled",
	fairslot.Expired:   "cancelled",
	fairslot.NoShow:    "noshow",
}

// statusWaitlist is the Appointment status of a waitlist place.
const statusWaitlist = "waitlist"

// appointmentStatuses are the R4 Appointment status codes.
var appointmentStatuses = []string{"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
	"entered-in-error", "checked-in", "waitlist"}

// fromFHIR maps an Appointment status code back to the booking statuses it
// stands for (none for proposed and entered-in-error, which fairslot never
// has), and whether it means waitlist places; an unknown code is Invalid.
func fromFHIR(code string) (statuses []fairslot.Status, waitlist bool, err error) {
	known := false
	for _, c := range appointmentStatuses {
		known = known || c == code
	}
	if !known {
		return nil, false, fairslot.Errorf(fairslot.Invalid, "unknown Appointment status %q", code)
	}
	for _, s := range fairslot.Statuses {
		if toFHIR[s] == code {
			statuses = append(statuses, s)
		}
	}
	return statuses, code == statusWaitlist, nil
}

func instant(t time.Time, loc *time.Location) string { return t.In(loc).Format(time.RFC3339) }

func ref(kind string, id any) *Reference {
	return &Reference{Reference: fmt.Sprintf("%s/%v", kind, id)}
}

func organization(h fairslot.Hospital) Organization {
	return Organization{ResourceType: "Organization", ID: fmt.Sprint(h.ID), Active: true, Name: h.Name}
}

func campusID(id int64) string { return "campus-" + strconv.FormatInt(id, 10) }

func roomID(sessionID int64) string { return "room-" + strconv.FormatInt(sessionID, 10) }

var (
	siteType = &CodeableConcept{Coding: []Coding{{System: "http://terminology.hl7.org/CodeSystem/location-physical-type", Code: "si", Display: "Site"}}}
	roomType = &CodeableConcept{Coding: []Coding{{System: "http://terminology.hl7.org/CodeSystem/location-physical-type", Code: "ro", Display: "Room"}}}
)

func campusLocation(c fairslot.Campus) Location {
	return Location{ResourceType: "Location", ID: campusID(c.ID), Status: "active", Name: c.Name, Mode: "instance",
		PhysicalType: siteType, ManagingOrganization: ref("Organization", c.HospitalID)}
}

// roomLocation is the room a session is held in: rooms are free text on a
// session, so each session's room is its own Location, part of its campus.
func roomLocation(sess fairslot.Session, campus int64) Location {
	return Location{ResourceType: "Location", ID: roomID(sess.ID), Status: "active", Name: sess.Room, Mode: "instance",
		PhysicalType: roomType, PartOf: ref("Location", campusID(campus))}
}

func healthcareService(d fairslot.Department, hospital int64) HealthcareService {
	return HealthcareService{ResourceType: "HealthcareService", ID: fmt.Sprint(d.ID), Active: true, Name: d.Name,
		Identifier: []Identifier{{System: "urn:fairslot:department-code", Value: d.Code}},
		ProvidedBy: ref("Organization", hospital), Location: []Reference{*ref("Location", campusID(d.CampusID))}}
}

func practitioner(d fairslot.Doctor) Practitioner {
	return Practitioner{ResourceType: "Practitioner", ID: fmt.Sprint(d.ID), Active: true, Name: []HumanName{{Use: "official", Text: d.Name}}}
}

var titleText = map[fairslot.Title]string{fairslot.Expert: "Expert (专家)", fairslot.General: "General (普通)"}

func practitionerRole(d fairslot.Doctor, dept fairslot.Department, hospital int64) PractitionerRole {
	return PractitionerRole{ResourceType: "PractitionerRole", ID: fmt.Sprint(d.ID), Active: true,
		Practitioner: *ref("Practitioner", d.ID), Organization: ref("Organization", hospital),
		Code:              []CodeableConcept{{Coding: []Coding{{System: "urn:fairslot:doctor-title", Code: string(d.Title)}}, Text: titleText[d.Title]}},
		Location:          []Reference{*ref("Location", campusID(dept.CampusID))},
		HealthcareService: []Reference{*ref("HealthcareService", dept.ID)}}
}

func serviceType(dept fairslot.Department) []CodeableConcept {
	return []CodeableConcept{{Coding: []Coding{{System: "urn:fairslot:department-code", Code: dept.Code}}, Text: dept.Name}}
}

func schedule(v app.SessionView, dept fairslot.Department, loc *time.Location) Schedule {
	return Schedule{ResourceType: "Schedule", ID: fmt.Sprint(v.ID), Active: true, ServiceType: serviceType(dept),
		Actor: []Reference{
			{Reference: "Practitioner/" + fmt.Sprint(v.DoctorID), Display: v.Doctor.Name},
			{Reference: "Location/" + roomID(v.ID), Display: v.Room},
			{Reference: "HealthcareService/" + fmt.Sprint(dept.ID), Display: dept.Name},
		},
		PlanningHorizon: &Period{Start: instant(v.Start, loc), End: instant(v.End, loc)},
		Comment:         fmt.Sprintf("%s %s clinic, room %s", v.Date, v.Period, v.Room)}
}

// slotID names window n (from 1) of a session.
func slotID(sessionID int64, n int) string { return fmt.Sprintf("%d-%d", sessionID, n) }

// slotStatus is a window's Slot status at now: busy-unavailable once the
// window ended or online booking for the session closed; free while a
// place is left to book online; busy when all are taken (or held, or kept
// for on-site and referral quotas).
func slotStatus(v app.SessionView, w fairslot.Window, now time.Time) string {
	switch {
	case !w.End.After(now) || !now.Before(v.Closes):
		return "busy-unavailable"
	case w.Remaining > 0:
		return "free"
	}
	return "busy"
}

func slot(v app.SessionView, dept fairslot.Department, n int, w fairslot.Window, now time.Time, loc *time.Location) Slot {
	places, remaining := w.Capacity, w.Remaining
	st := slotStatus(v, w, now)
	if st == "busy-unavailable" {
		remaining = 0
	}
	comment := fmt.Sprintf("%d of %d places left to book online", remaining, places)
	switch {
	case v.Release.Mode == fairslot.Draw:
		comment += "; places are allocated by a draw"
	case now.Before(v.Opens) && st != "busy-unavailable":
		comment += "; online booking opens " + instant(v.Opens, loc)
	}
	return Slot{ResourceType: "Slot", ID: slotID(v.ID, n),
		Extension:   []Extension{{URL: extPlaces, ValueUnsignedInt: &places}, {URL: extRemaining, ValueUnsignedInt: &remaining}},
		ServiceType: serviceType(dept), Schedule: Reference{Reference: "Schedule/" + fmt.Sprint(v.ID)},
		Status: st, Start: instant(w.Start, loc), End: instant(w.End, loc), Comment: comment}
}

// participantStatus is the patient's participation: tentative while held
// (unpaid), needs-action on a waitlist, accepted otherwise.
func participantStatus(s fairslot.Status) string {
	if s == fairslot.Held {
		return "tentative"
	}
	return "accepted"
}

// appointment maps a booking, with its session, doctor, department and
// slot window number.
func appointment(b fairslot.Booking, sess fairslot.Session, doc fairslot.Doctor, dept fairslot.Department, window int,
	slotStart, slotEnd time.Time, loc *time.Location) Appointment {
	a := Appointment{ResourceType: "Appointment", ID: fmt.Sprint(b.ID), Status: toFHIR[b.Status],
		ServiceType: serviceType(dept),
		Description: fmt.Sprintf("%s, %s (%s), %s %s", dept.Name, doc.Name, doc.Title, sess.Date, sess.Period),
		Start:       instant(slotStart, loc), End: instant(slotEnd, loc),
		Slot:    []Reference{{Reference: "Slot/" + slotID(sess.ID, window)}},
		Created: instant(b.CreatedAt, loc),
		Participant: []Participant{
			{Actor: ref("Patient", b.PatientID), Required: "required", Status: participantStatus(b.Status)},
			{Actor: &Reference{Reference: "Practitioner/" + fmt.Sprint(doc.ID), Display: doc.Name}, Required: "required", Status: "accepted"},
			{Actor: &Reference{Reference: "Location/" + roomID(sess.ID), Display: sess.Room}, Required: "required", Status: "accepted"},
		}}
	switch b.Status {
	case fairslot.Expired:
		a.CancelationReason = &CodeableConcept{Coding: []Coding{{System: "urn:fairslot:booking-status", Code: string(fairslot.Expired)}},
			Text: "the unpaid hold expired"}
	case fairslot.Cancelled:
		a.CancelationReason = &CodeableConcept{Coding: []Coding{{System: "urn:fairslot:booking-status", Code: string(fairslot.Cancelled)}},
			Text: "cancelled"}
	}
	return a
}

// waitlistID names a waitlist place, apart from the bookings' plain ids.
func waitlistID(id int64) string { return "w" + strconv.FormatInt(id, 10) }

// waitlistAppointment maps a waitlist place: the patient waits for a freed
// place in one session, or in any session of a doctor on a date.
func waitlistAppointment(w fairslot.WaitlistEntry, doc fairslot.Doctor, from, to time.Time, loc *time.Location) Appointment {
	a := Appointment{ResourceType: "Appointment", ID: waitlistID(w.ID), Status: statusWaitlist,
		Description: fmt.Sprintf("waitlist for %s on %s", doc.Name, w.Date),
		Created:     instant(w.CreatedAt, loc),
		Participant: []Participant{
			{Actor: ref("Patient", w.PatientID), Required: "required", Status: "needs-action"},
			{Actor: &Reference{Reference: "Practitioner/" + fmt.Sprint(doc.ID), Display: doc.Name}, Required: "required", Status: "accepted"},
		},
		RequestedPeriod: []Period{{Start: instant(from, loc), End: instant(to, loc)}}}
	if !w.Open() {
		a.Status = "cancelled"
		a.CancelationReason = &CodeableConcept{Text: "the waitlist place closed: " + w.Outcome}
	}
	return a
}

// patient maps a masked patient: the ID number's system says which
// document it is, and meta.security says the values are redacted.
func patient(p fairslot.Patient) Patient {
	sys := idSystems[p.IDType]
	id := Identifier{Use: "official", System: sys.system, Value: p.IDNumber, Type: &CodeableConcept{Text: sys.text}}
	if sys.v2 != "" {
		id.Type.Coding = []Coding{{System: v2IdentifierType, Code: sys.v2}}
	}
	return Patient{ResourceType: "Patient", ID: fmt.Sprint(p.ID), Active: true,
		Meta:       &Meta{Security: []Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", Code: "REDACT", Display: "redact"}}},
		Identifier: []Identifier{id}, Name: []HumanName{{Use: "official", Text: p.Name}}}
}

// nameMatches is FHIR's string search: the name, from its start or from
// the start of one of its words, starts with the value, ignoring case.
func nameMatches(name, value string) bool {
	name, value = strings.ToLower(name), strings.ToLower(value)
	for i := range name {
		if (i == 0 || name[i-1] == ' ') && strings.HasPrefix(name[i:], value) {
			return true
		}
	}
	return false
}
