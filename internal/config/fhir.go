package config

import (
	"fmt"
	"net/netip"
)

// FHIR configures the FHIR facade's Subscriptions (internal/fhir,
// subscription.go; issue 16, item 4).
type FHIR struct {
	// SubscriptionNetworks are the private networks (CIDR, e.g.
	// "10.20.0.0/16", the HIS's segment) a Subscription's endpoint may be
	// in. By default none: an endpoint must be https on a public address,
	// so that a registered system cannot make fairslot call into the
	// hospital's network (or a cloud metadata service) for it. Loopback
	// and link-local addresses are never allowed.
	SubscriptionNetworks []string `json:"subscription_networks"`
	// Loopback lets endpoints be on this host's loopback interface, over
	// http too. No configuration file sets it: only `serve --demo`, whose
	// receivers (a tour's, the end-to-end tests') run on the same host.
	Loopback bool `json:"-"`
}

// Networks are SubscriptionNetworks parsed.
func (f FHIR) Networks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range f.SubscriptionNetworks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("fhir.subscription_networks: %q is not a network such as 10.20.0.0/16", s)
		}
		a := p.Addr()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() || p.Bits() < 8 {
			return nil, fmt.Errorf("fhir.subscription_networks: %s may not be allowed (loopback, link-local, unspecified, multicast, or wider than /8)", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
