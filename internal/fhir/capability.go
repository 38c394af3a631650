package fhir

import (
	"net/http"
	"slices"
	"strings"
)

// CapabilityStatement says exactly what the facade supports, built from the
// same tables the routes are: a type is listed with read and search-type
// only when it has both; the search parameters are the searchers' own.
type CapabilityStatement struct {
	ResourceType   string          `json:"resourceType"`
	Status         string          `json:"status"`
	Date           string          `json:"date"`
	Publisher      string          `json:"publisher"`
	Kind           string          `json:"kind"`
	Software       *Software       `json:"software,omitempty"`
	Implementation *Implementation `json:"implementation,omitempty"`
	FHIRVersion    string          `json:"fhirVersion"`
	Format         []string        `json:"format"`
	Rest           []Rest          `json:"rest"`
}

// Software names the server.
type Software struct {
	Name string `json:"name"`
}

// Implementation is this instance.
type Implementation struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

// Rest is the facade's REST interface.
type Rest struct {
	Mode          string         `json:"mode"`
	Documentation string         `json:"documentation,omitempty"`
	Security      *RestSecurity  `json:"security,omitempty"`
	Resource      []RestResource `json:"resource"`
}

// RestSecurity says how clients authenticate.
type RestSecurity struct {
	// Extension is SMART's oauth-uris: where the token endpoint is.
	Extension   []Extension       `json:"extension,omitempty"`
	Service     []CodeableConcept `json:"service,omitempty"`
	Description string            `json:"description"`
}

// RestResource is one supported type.
type RestResource struct {
	Type          string            `json:"type"`
	Interaction   []Interaction     `json:"interaction"`
	SearchInclude []string          `json:"searchInclude,omitempty"`
	SearchParam   []SearchParamDecl `json:"searchParam,omitempty"`
	Operation     []OperationDecl   `json:"operation,omitempty"` // IHE Scheduling's, on Appointment (scheduling.go)
}

// Interaction is a supported interaction.
type Interaction struct {
	Code string `json:"code"`
}

// SearchParamDecl is a supported search parameter.
type SearchParamDecl struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// capabilityDate is when this statement last changed (a release of the facade).
const capabilityDate = "2026-12-01"

const securityText = "SMART Backend Services: a system registered by the hospital (fairslot fhir clients add) gets a " +
	"five-minute access token at the token endpoint with a client_credentials grant and a private_key_jwt assertion " +
	"(RS384 or ES384), and may then read and search within its system scopes (system/Slot.rs, system/Patient.r, ...; " +
	"SMART v1 .read is accepted) and book through IHE Scheduling's operations with system/Appointment.s ($find), .c " +
	"($hold, $book of a new place) and .u ($book of a held place, cancelling); see .well-known/smart-configuration. The session token of a fairslot admin with no " +
	"campus, department or doctor scope may also read everything but AuditEvent. Served only on the internal (staff) listener; every " +
	"call with a token is audited, and the FHIR audit trail (every call, every act of a client) is served as AuditEvent " +
	"(IHE BALP's RESTful patterns) to a security officer's session and to clients with system/AuditEvent.rs, which " +
	"a wildcard scope does not grant."

// security is the statement's security: SMART's oauth-uris extension
// naming the token endpoint, and the SMART-on-FHIR service code.
func (s *Server) security(r *http.Request) *RestSecurity {
	return &RestSecurity{
		Extension: []Extension{{URL: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			Extension: []Extension{{URL: "token", ValueURI: s.base(r) + TokenPath}}}},
		Service: []CodeableConcept{{Coding: []Coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service",
			Code: "SMART-on-FHIR"}}, Text: "SMART Backend Services (OAuth 2.0 client credentials, private_key_jwt)"}},
		Description: securityText}
}

func (s *Server) capabilityStatement(r *http.Request) CapabilityStatement {
	var res []RestResource
	searches := s.searches()
	for _, t := range s.types() {
		rr := RestResource{Type: t, Interaction: []Interaction{{Code: "read"}}}
		if sr, ok := searches[t]; ok {
			rr.Interaction = append(rr.Interaction, Interaction{Code: "search-type"})
			rr.SearchInclude = sr.includes
			for _, p := range sr.params {
				rr.SearchParam = append(rr.SearchParam, SearchParamDecl{Name: p.name, Type: p.typ, Documentation: p.doc})
			}
			rr.SearchParam = append(rr.SearchParam,
				SearchParamDecl{Name: "_count", Type: "number", Documentation: "page size, default 20, at most 100"},
				SearchParamDecl{Name: "_offset", Type: "number", Documentation: "where the page starts (the next link carries it)"})
		}
		if t == "Appointment" {
			rr.Operation = operationDecls()
		}
		res = append(res, rr)
	}
	// Subscriptions (subscription.go): a client's own, rest-hook, id-only.
	res = append(res, RestResource{Type: "Subscription", Interaction: []Interaction{{Code: "create"}, {Code: "read"},
		{Code: "delete"}, {Code: "search-type"}}})
	slices.SortFunc(res, func(a, b RestResource) int { return strings.Compare(a.Type, b.Type) })
	return CapabilityStatement{ResourceType: "CapabilityStatement", Status: "active", Date: capabilityDate,
		Publisher: "fairslot", Kind: "instance", Software: &Software{Name: "fairslot"},
		Implementation: &Implementation{Description: "fairslot FHIR R4 facade (read, search, IHE Scheduling $find, $hold, $book; Subscriptions)", URL: s.base(r)},
		FHIRVersion:    "4.0.1", Format: []string{"application/fhir+json", "json"},
		Rest: []Rest{{Mode: "server", Documentation: "Reads and searches; books only through IHE Scheduling's operations on Appointment, " +
			"under every rule a patient's booking meets. Unknown search and operation parameters are refused (400), never ignored. " +
			subscriptionDoc, Security: s.security(r), Resource: res}}}
}

// types are the resource types the facade reads, sorted.
func (s *Server) types() []string {
	types := []string{"Patient"}
	for t := range s.readers() {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) error {
	if err := checkFormat(r); err != nil {
		return err
	}
	return write(w, http.StatusOK, s.capabilityStatement(r))
}
