package fhir

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// Subscriptions (issue 16, item 4): a system client with
// system/Subscription.c (and read of Appointment, which every notification
// is about) POSTs an R4 Subscription with channel rest-hook and criteria
// Appointment, Appointment?practitioner=… and/or Appointment?service-type=…;
// it is active at once (the endpoint is checked, not called). Each change
// to a matching booking or waitlist place is then POSTed to the endpoint
// by the job leader (subscription_deliver.go): an id-only notification —
// the Appointment's reference and nothing else, so a notification carries
// no personal data and no more than the client could read with its own
// scopes, and a receiver always reads the Appointment's current state, in
// whatever order retried notifications arrive — signed with a key given to
// the client once, when the subscription is made.

// subscriptionDoc is the CapabilityStatement's word on Subscriptions.
const subscriptionDoc = "Subscription (system/Subscription.c plus system/Appointment.r): channel rest-hook to an https " +
	"endpoint on a public address (or a network the hospital allows), criteria Appointment, Appointment?practitioner=" +
	"Practitioner/<id> and/or Appointment?service-type=<department code>; active at once. Every change to a matching " +
	"Appointment is POSTed as an id-only history Bundle (a Parameters with the event, and the Appointment's reference), " +
	"signed in the " + SignatureHeader + " header (t=<unix seconds>,v1=<hex HMAC-SHA256 over \"<t>.<body>\"> with the key " +
	"returned once, base64, in the created Subscription's extension " + extSigningKey + "), retried with backoff; after " +
	"8 failed attempts the Subscription is in error."

// Extension URLs of the Subscription.
const (
	// extPayloadContent is the Subscriptions Backport IG's payload content
	// (on channel.payload): fairslot sends id-only.
	extPayloadContent = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"
	// extSigningKey carries the subscription's HMAC-SHA256 key, base64, in
	// the answer to its creation only.
	extSigningKey = "urn:fairslot:fhir:StructureDefinition:subscription-signing-key"
)

// SignatureHeader is the header that signs a notification:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(key, t + "." + body)>".
const SignatureHeader = "X-Fairslot-Signature"

// SubscriptionPolicy says which endpoints a Subscription may name. By
// default only https to a public address: an endpoint on a private,
// link-local, loopback or otherwise special address is refused (a client
// must not make fairslot call into the hospital's own network, or a cloud
// metadata service, for it), at creation and again at every connection
// (so a name that later resolves elsewhere gains nothing). A hospital whose
// receivers are on its own network lists those networks.
type SubscriptionPolicy struct {
	// AllowNets are networks endpoints may be in though they are private
	// (e.g. 10.20.0.0/16, the HIS's segment). https still.
	AllowNets []netip.Prefix
	// AllowLoopback lets an endpoint be on the loopback interface, over
	// http too: for tests and a receiver on the same host.
	AllowLoopback bool
}

// allowed reports whether an endpoint may be at addr.
func (p SubscriptionPolicy) allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.IsLoopback() {
		return p.AllowLoopback
	}
	for _, n := range p.AllowNets {
		if n.Contains(addr) {
			return true
		}
	}
	return addr.IsGlobalUnicast() && !addr.IsPrivate() && !special(addr)
}

// specialNets are global unicast by Go's reckoning but not the public
// Internet: shared address space (CGNAT), benchmarking, documentation,
// 6to4 and NAT64 relays, and the v4 "this network".
var specialNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("240.0.0.0/4"), netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("2002::/16"), netip.MustParsePrefix("100::/64"),
}

func special(addr netip.Addr) bool {
	for _, n := range specialNets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// control refuses, at connect time, an address the policy does not allow.
func (p SubscriptionPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("subscription endpoint %s: %w", address, err)
	}
	if !p.allowed(ap.Addr()) {
		return errRefusedAddress{ap.Addr()}
	}
	return nil
}

type errRefusedAddress struct{ addr netip.Addr }

func (e errRefusedAddress) Error() string {
	return fmt.Sprintf("the endpoint's address %s is private, loopback, link-local or special, and not allowed by the hospital", e.addr)
}

// checkEndpoint checks a Subscription's endpoint: an absolute https URL
// (http only to loopback, when allowed) with no credentials, whose host
// resolves only to addresses the policy allows.
func (p SubscriptionPolicy) checkEndpoint(ctx context.Context, raw string) error {
	bad := func(format string, args ...any) error {
		return fairslot.Errorf(fairslot.Invalid, "channel.endpoint: "+format, args...)
	}
	u, err := url.Parse(raw)
	switch {
	case len(raw) > 2000:
		return bad("at most 2000 characters")
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return bad("must be an absolute https URL")
	case u.User != nil:
		return bad("must not carry credentials")
	case u.Fragment != "":
		return bad("must not have a fragment")
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("must be https")
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if addrs, err = net.DefaultResolver.LookupNetIP(rctx, "ip", host); err != nil || len(addrs) == 0 {
			return bad("its host %q does not resolve", host)
		}
	}
	for _, a := range addrs {
		if !p.allowed(a) {
			return bad("%v", errRefusedAddress{a})
		}
		if u.Scheme == "http" && !a.Unmap().IsLoopback() {
			return bad("must be https (http only to the loopback interface)")
		}
	}
	return nil
}

// criteria is what a Subscription's criteria select.
type criteria struct {
	doctor, department int64 // 0: any
}

// parseCriteria reads the criteria fairslot supports: Appointment, with at
// most one practitioner (Practitioner/<id> or <id>) and one service-type
// (a department's code, with or without its system), nothing else.
func (s *Server) parseCriteria(ctx context.Context, raw string) (criteria, error) {
	unsupported := func(format string, args ...any) error {
		return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "criteria: "+format+
			"; supported: Appointment, Appointment?practitioner=Practitioner/<id>, Appointment?service-type=<department code>, or both", args...))
	}
	typ, query, _ := strings.Cut(raw, "?")
	if typ != "Appointment" {
		return criteria{}, unsupported("%q is not about Appointment", raw)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return criteria{}, unsupported("the query %q cannot be read", query)
	}
	var c criteria
	for name, vs := range q {
		if len(vs) != 1 || vs[0] == "" || strings.Contains(vs[0], ",") {
			return criteria{}, unsupported("%s must be given once, with one value", name)
		}
		v := vs[0]
		switch name {
		case "practitioner":
			id, err := strconv.ParseInt(strings.TrimPrefix(v, "Practitioner/"), 10, 64)
			if err != nil || id <= 0 {
				return criteria{}, unsupported("practitioner %q is not Practitioner/<id>", v)
			}
			c.doctor = id
		case "service-type":
			code := strings.TrimPrefix(v, "urn:fairslot:department-code|")
			if strings.Contains(code, "|") {
				return criteria{}, unsupported("service-type %q: the system must be urn:fairslot:department-code", v)
			}
			ds, err := s.App.Departments(ctx)
			if err != nil {
				return criteria{}, err
			}
			for _, d := range ds {
				if d.Code == code {
					c.department = d.ID
				}
			}
			if c.department == 0 {
				return criteria{}, fairslot.Errorf(fairslot.Invalid, "criteria: no department has the code %q", code)
			}
		default:
			return criteria{}, unsupported("the parameter %q is not supported", name)
		}
	}
	return c, nil
}

// Subscription is the R4 resource.
type Subscription struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id,omitempty"`
	Meta         json.RawMessage     `json:"meta,omitempty"`
	Text         json.RawMessage     `json:"text,omitempty"`
	Extension    []SubExtension      `json:"extension,omitempty"`
	Status       string              `json:"status"`
	Contact      json.RawMessage     `json:"contact,omitempty"`
	End          string              `json:"end,omitempty"`
	Reason       string              `json:"reason"`
	Criteria     string              `json:"criteria"`
	Error        string              `json:"error,omitempty"`
	Channel      SubscriptionChannel `json:"channel"`
}

// SubscriptionChannel is where and how notifications go.
type SubscriptionChannel struct {
	Type     string           `json:"type"`
	Endpoint string           `json:"endpoint,omitempty"`
	Payload  string           `json:"payload,omitempty"`
	PayloadX *PrimitiveExt    `json:"_payload,omitempty"`
	Header   []string         `json:"header,omitempty"`
	Extra    *json.RawMessage `json:"extension,omitempty"`
}

// PrimitiveExt is the extensions of a primitive value.
type PrimitiveExt struct {
	Extension []SubExtension `json:"extension"`
}

// SubExtension is an extension with a code or base64 value.
type SubExtension struct {
	URL               string `json:"url"`
	ValueCode         string `json:"valueCode,omitempty"`
	ValueBase64Binary string `json:"valueBase64Binary,omitempty"`
}

func idOnly() *PrimitiveExt {
	return &PrimitiveExt{Extension: []SubExtension{{URL: extPayloadContent, ValueCode: "id-only"}}}
}

// subscription maps a stored subscription.
func subscription(sub storage.FHIRSubscription) Subscription {
	out := Subscription{ResourceType: "Subscription", ID: sub.ID, Status: sub.Status, Reason: sub.Reason, Criteria: sub.Criteria,
		Channel: SubscriptionChannel{Type: "rest-hook", Endpoint: sub.Endpoint, Payload: "application/fhir+json", PayloadX: idOnly()}}
	if sub.Status == storage.FHIRSubError {
		out.Error = sub.Error
	}
	return out
}

// subscriptionRoutes adds the Subscription interactions to the facade.
func (s *Server) subscriptionRoutes(route func(pattern, typ string, perm byte, fn handler)) {
	route("POST "+Prefix+"/Subscription", "Subscription", 'c', s.createSubscription)
	route("GET "+Prefix+"/Subscription/{id}", "Subscription", 'r', func(w http.ResponseWriter, r *http.Request) error {
		sub, err := s.App.FHIRSubscription(r.Context(), s.actor(r), r.PathValue("id"))
		if err != nil {
			return err
		}
		if sub.Status == storage.FHIRSubOff {
			return fairslot.Errorf(fairslot.Gone, "this Subscription was deleted")
		}
		return write(w, http.StatusOK, subscription(sub))
	})
	route("GET "+Prefix+"/Subscription", "Subscription", 's', func(w http.ResponseWriter, r *http.Request) error {
		for k := range r.URL.Query() {
			if k != "_format" {
				return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "Subscription search takes no parameters (%s): it lists this client's subscriptions", k))
			}
		}
		subs, err := s.App.FHIRSubscriptions(r.Context(), s.actor(r))
		if err != nil {
			return err
		}
		b := Bundle{ResourceType: "Bundle", Type: "searchset", Total: len(subs), Link: []BundleLink{{Relation: "self", URL: s.base(r) + "/Subscription"}}}
		for _, sub := range subs {
			b.Entry = append(b.Entry, BundleEntry{FullURL: s.base(r) + "/Subscription/" + sub.ID, Resource: subscription(sub), Search: &EntrySearch{Mode: "match"}})
		}
		return write(w, http.StatusOK, b)
	})
	route("DELETE "+Prefix+"/Subscription/{id}", "Subscription", 'd', func(w http.ResponseWriter, r *http.Request) error {
		if err := s.App.DeleteFHIRSubscription(r.Context(), s.actor(r), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// maxSubscriptionBody bounds a Subscription a client may POST.
const maxSubscriptionBody = 64 << 10

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) error {
	// Every notification is about an Appointment: a client that may not
	// read them may not be told of them either.
	if err := permit(r, "Appointment", 'r'); err != nil {
		return err
	}
	in, err := readSubscription(r)
	if err != nil {
		return err
	}
	c, err := s.parseCriteria(r.Context(), in.Criteria)
	if err != nil {
		return err
	}
	if err := s.Subscriptions.checkEndpoint(r.Context(), in.Channel.Endpoint); err != nil {
		return err
	}
	sub, err := s.App.CreateFHIRSubscription(r.Context(), s.actor(r), app.FHIRSubscriptionInput{Criteria: in.Criteria,
		DoctorID: c.doctor, DepartmentID: c.department, Reason: in.Reason, Endpoint: in.Channel.Endpoint, Base: s.base(r)})
	if err != nil {
		return err
	}
	out := subscription(sub)
	out.Extension = []SubExtension{{URL: extSigningKey, ValueBase64Binary: base64.StdEncoding.EncodeToString(s.App.FHIRSubscriptionKey(sub.ID))}}
	w.Header().Set("Location", s.base(r)+"/Subscription/"+sub.ID)
	w.Header().Set("Cache-Control", "no-store") // the signing key
	return write(w, http.StatusCreated, out)
}

// readSubscription reads and checks a posted Subscription: what fairslot
// cannot honour is refused, not ignored.
func readSubscription(r *http.Request) (Subscription, error) {
	invalid := func(format string, args ...any) error { return fairslot.Errorf(fairslot.Invalid, format, args...) }
	notSupported := func(format string, args ...any) error {
		return coded("not-supported", fairslot.Errorf(fairslot.Invalid, format, args...))
	}
	var in Subscription
	body, err := readBody(r, maxSubscriptionBody)
	if err != nil {
		return in, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, invalid("the body is not a Subscription fairslot can read: %s", jsonProblem(err))
	}
	switch {
	case in.ResourceType != "Subscription":
		return in, invalid("resourceType must be Subscription")
	case in.Status != "requested" && in.Status != "active":
		return in, invalid("status must be requested (the server makes it active)")
	case in.Reason == "":
		return in, invalid("reason is required")
	case in.Criteria == "":
		return in, invalid("criteria is required")
	case in.End != "":
		return in, notSupported("end is not supported: delete the Subscription when it is no longer wanted")
	case in.Channel.Type != "rest-hook":
		return in, notSupported("channel.type must be rest-hook")
	case in.Channel.Payload != "" && in.Channel.Payload != "application/fhir+json":
		return in, notSupported("channel.payload must be application/fhir+json")
	case len(in.Channel.Header) > 0:
		return in, notSupported("channel.header is not supported: notifications are signed (%s) instead", SignatureHeader)
	case in.Channel.Extra != nil || len(in.Extension) > 0:
		return in, notSupported("extensions are not supported on a Subscription")
	}
	if in.Channel.PayloadX != nil {
		for _, x := range in.Channel.PayloadX.Extension {
			if x.URL == extPayloadContent && x.ValueCode != "id-only" {
				return in, notSupported("payload content %q is not supported: notifications are id-only", x.ValueCode)
			}
		}
	}
	return in, nil
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fairslot.Errorf(fairslot.TooLarge, "the body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, fairslot.Errorf(fairslot.Invalid, "the body could not be read")
	}
	return buf.Bytes(), nil
}

// jsonProblem is a decoding error without the decoder's Go type names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("JSON syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unsupported element " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not JSON"
}
