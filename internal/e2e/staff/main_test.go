// Package staff holds the browser tests of the staff's pages: the console,
// the doctor's room, the waiting room's board, the session cancel page,
// the risk review (internal/e2e says where other browser tests go).
package staff

import (
	"testing"

	"github.com/fairslot/fairslot/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// run is e2e.Run with this package's steps as methods.
type run struct{ *e2e.Run }

func newRun(t *testing.T, s *e2e.Server) *run { return &run{e2e.NewRun(t, s)} }
