// Package fhirclient runs a real FHIR client (fhir-kit-client, under Node)
// against the fairslot binary's FHIR facade: issue 16's end-to-end flow
// (internal/e2e says where other end-to-end tests go).
package fhirclient

import (
	"testing"

	"github.com/fairslot/fairslot/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
