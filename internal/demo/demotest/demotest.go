// Package demotest gives the edges' tests (the JSON API, the pages) a
// service over the demo hospital on a fresh embedded store. Only tests
// import it.
package demotest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/queue"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/vault"
)

// Service opens a store and a keyset in a temporary directory of t,
// migrates the store and seeds the demo hospital, in the zone loc with the
// clock now, sending messages to n. The store closes when the test ends.
func Service(t testing.TB, loc *time.Location, now func() time.Time, n app.Notifier, log *slog.Logger) (*app.Service, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "data"), sqlite.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(filepath.Join(dir, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &app.Service{Store: st, Vault: v, Policy: booking.Default(), Calling: queue.Default(), Payments: payment.NewSandbox(),
		Notifier: n, Now: now, Location: loc, Log: log, Display: app.NewBroker(),
		DemoMode: true} // the demo's staff and their published password, as serve --demo
	if err := demo.Seed(ctx, svc); err != nil {
		t.Fatal(err)
	}
	return svc, st
}
