// Package journey holds the browser test of a whole visit, once per
// language: the patient books and pays on a phone, the kiosk checks in,
// the doctor calls, the board shows it (internal/e2e says where other
// browser tests go).
package journey

import (
	"slices"
	"sync"
	"testing"

	"github.com/fairslot/fairslot/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// run is e2e.Run with this package's steps as methods.
type run struct {
	*e2e.Run
	board *latencies // the board's latency per journey, reported
}

// latencies are the board's, gathered from journeys running side by side.
type latencies struct {
	mu   sync.Mutex
	list []string
}

func (l *latencies) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, s)
}

func (l *latencies) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.list))
}
