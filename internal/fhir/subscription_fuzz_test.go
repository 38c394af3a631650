package fhir_test

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/fhir"
)

// FuzzReadSubscription: whatever a client posts, the reader does not
// panic, refuses with a client error (never an internal one), and accepts
// only a rest-hook Subscription with a reason, criteria and no headers of
// the client's.
func FuzzReadSubscription(f *testing.F) {
	f.Add(subscriptionJSON("Appointment", "https://his.example/hook"))
	f.Add(`{"resourceType":"Subscription","status":"requested","reason":"r","criteria":"Appointment","channel":{"type":"rest-hook","header":["a"]}}`)
	f.Add(`{"resourceType":"Subscription","channel":{"_payload":{"extension":[{"url":"x","valueCode":"full-resource"}]}}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		s, err := fhir.ReadSubscription(body)
		if err != nil {
			if k := fairslot.ErrorKind(err); k != fairslot.Invalid && k != fairslot.TooLarge {
				t.Fatalf("refused as %s: %v", k, err)
			}
			return
		}
		if s.ResourceType != "Subscription" || s.Channel.Type != "rest-hook" || s.Reason == "" || s.Criteria == "" || len(s.Channel.Header) > 0 || s.End != "" {
			t.Fatalf("accepted %+v", s)
		}
	})
}

// FuzzVerify: a signature header from anyone never panics the verifier,
// and what verifies under the key verifies under no other.
func FuzzVerify(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	other := []byte("fedcba9876543210fedcba9876543210")
	now := time.Unix(1796866800, 0)
	f.Add(fhir.Sign(key, now.Unix(), []byte("{}")), "{}")
	f.Add("t=,v1=", "")
	f.Add("t=1796866800,v1=zz,v1=00", "x")
	f.Fuzz(func(t *testing.T, header, body string) {
		if fhir.Verify(key, header, []byte(body), now, 5*time.Minute) == nil && fhir.Verify(other, header, []byte(body), now, 5*time.Minute) == nil {
			t.Fatalf("%q verifies under two keys", header)
		}
	})
}
