package fhir

// The resources the facade emits, as small hand-written structs holding
// only the elements it fills. Field order is the spec's element order, so
// the JSON reads like the spec's examples.

// Reference points at another resource.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Coding is a code from a code system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a concept given by codes and/or text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a business identifier.
type Identifier struct {
	Use    string           `json:"use,omitempty"`
	Type   *CodeableConcept `json:"type,omitempty"`
	System string           `json:"system,omitempty"`
	Value  string           `json:"value,omitempty"`
}

// Period is a time range.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Extension carries what the base resource has no element for.
type Extension struct {
	URL              string      `json:"url"`
	Extension        []Extension `json:"extension,omitempty"`
	ValueUnsignedInt *int        `json:"valueUnsignedInt,omitempty"`
	ValueURI         string      `json:"valueUri,omitempty"`
}

// HumanName is a person's name.
type HumanName struct {
	Use  string `json:"use,omitempty"`
	Text string `json:"text,omitempty"`
}

// Organization is the hospital.
type Organization struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Active       bool   `json:"active"`
	Name         string `json:"name"`
}

// Location is a campus, or a session's room within one.
type Location struct {
	ResourceType         string           `json:"resourceType"`
	ID                   string           `json:"id"`
	Status               string           `json:"status"`
	Name                 string           `json:"name"`
	Mode                 string           `json:"mode"`
	PhysicalType         *CodeableConcept `json:"physicalType,omitempty"`
	ManagingOrganization *Reference       `json:"managingOrganization,omitempty"`
	PartOf               *Reference       `json:"partOf,omitempty"`
}

// HealthcareService is a department.
type HealthcareService struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []Identifier `json:"identifier,omitempty"`
	Active       bool         `json:"active"`
	ProvidedBy   *Reference   `json:"providedBy,omitempty"`
	Location     []Reference  `json:"location,omitempty"`
	Name         string       `json:"name"`
}

// Practitioner is a doctor as a person.
type Practitioner struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Active       bool        `json:"active"`
	Name         []HumanName `json:"name"`
}

// PractitionerRole is a doctor's role in a department: their title.
type PractitionerRole struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Active            bool              `json:"active"`
	Practitioner      Reference         `json:"practitioner"`
	Organization      *Reference        `json:"organization,omitempty"`
	Code              []CodeableConcept `json:"code,omitempty"`
	Location          []Reference       `json:"location,omitempty"`
	HealthcareService []Reference       `json:"healthcareService,omitempty"`
}

// Schedule is one doctor's clinic session.
type Schedule struct {
	ResourceType    string            `json:"resourceType"`
	ID              string            `json:"id"`
	Active          bool              `json:"active"`
	ServiceType     []CodeableConcept `json:"serviceType,omitempty"`
	Actor           []Reference       `json:"actor"`
	PlanningHorizon *Period           `json:"planningHorizon,omitempty"`
	Comment         string            `json:"comment,omitempty"`
}

// Slot is one time window of a session, with its places.
type Slot struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Extension    []Extension       `json:"extension,omitempty"`
	ServiceType  []CodeableConcept `json:"serviceType,omitempty"`
	Schedule     Reference         `json:"schedule"`
	Status       string            `json:"status"`
	Start        string            `json:"start"`
	End          string            `json:"end"`
	Comment      string            `json:"comment,omitempty"`
}

// Participant is one party to an appointment.
type Participant struct {
	Actor    *Reference `json:"actor,omitempty"`
	Required string     `json:"required,omitempty"`
	Status   string     `json:"status"`
}

// Appointment is a booking, or a place on a waitlist.
type Appointment struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Identifier        []Identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status"`
	CancelationReason *CodeableConcept  `json:"cancelationReason,omitempty"`
	ServiceType       []CodeableConcept `json:"serviceType,omitempty"`
	Description       string            `json:"description,omitempty"`
	Start             string            `json:"start,omitempty"`
	End               string            `json:"end,omitempty"`
	Slot              []Reference       `json:"slot,omitempty"`
	Created           string            `json:"created,omitempty"`
	Participant       []Participant     `json:"participant"`
	RequestedPeriod   []Period          `json:"requestedPeriod,omitempty"`
}

// Patient is a real-name identity, masked.
type Patient struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Meta         *Meta        `json:"meta,omitempty"`
	Identifier   []Identifier `json:"identifier,omitempty"`
	Active       bool         `json:"active"`
	Name         []HumanName  `json:"name,omitempty"`
}

// Meta carries security labels.
type Meta struct {
	Security []Coding `json:"security,omitempty"`
}

// Bundle is a search result.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []BundleLink  `json:"link"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is a paging link.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one resource of a Bundle.
type BundleEntry struct {
	FullURL  string       `json:"fullUrl"`
	Resource any          `json:"resource"`
	Search   *EntrySearch `json:"search,omitempty"`
}

// EntrySearch says why an entry is in a searchset.
type EntrySearch struct {
	Mode string `json:"mode"`
}

// OperationOutcome reports an error.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one problem of an OperationOutcome.
type Issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
}
