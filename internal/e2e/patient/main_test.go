// Package patient holds the browser tests of the patient's pages on a
// phone: draws and waitlists and their messages, binding a patient, the
// forms' errors (internal/e2e says where other browser tests go).
package patient

import (
	"testing"

	"github.com/fairslot/fairslot/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// run is e2e.Run with this package's steps as methods.
type run struct{ *e2e.Run }

func newRun(t *testing.T, s *e2e.Server) *run { return &run{e2e.NewRun(t, s)} }
