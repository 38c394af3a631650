package fhir

import (
	"context"
	"net/http"
	"strings"

	"github.com/fairslot/fairslot"
)

// ToFHIR, FromFHIR and IssueCode expose the mappings to the tests.
func ToFHIR(s fairslot.Status) string { return toFHIR[s] }

var FromFHIR = fromFHIR

func IssueCode(k fairslot.Kind) string { return issueCodes[k] }

// Grant exposes the scope intersection to the tests.
func Grant(requested string, allowed []string) ([]string, bool) { return grant(requested, allowed) }

// CheckEndpoint exposes the endpoint check to the tests.
func CheckEndpoint(p SubscriptionPolicy, endpoint string) error {
	return p.checkEndpoint(context.Background(), endpoint)
}

// ReadSubscription exposes the Subscription reader to the fuzz test.
func ReadSubscription(body string) (Subscription, error) {
	r, _ := http.NewRequest("POST", "/fhir/R4/Subscription", strings.NewReader(body))
	return readSubscription(r)
}
