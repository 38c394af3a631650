package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// TestPaymentsMigration migrates a database holding payments of the old
// schema: a confirmed booking's stays settled, a cancelled booking's (whose
// refund the old schema never recorded) becomes refunding for the sweep.
func TestPaymentsMigration(t *testing.T) {
	ctx := context.Background()
	s := migratedBefore(t, 4)
	storagetest.PaymentsMigration(t, s, func(key string, bookingID int64, ref string, at time.Time) error {
		_, err := s.write.ExecContext(ctx, `INSERT INTO payments (key, booking_id, amount_cents, provider, provider_ref, created_ms)
			VALUES (?, ?, 5000, 'sandbox', ?, ?)`, key, bookingID, ref, at.UnixMilli())
		return err
	}, func() error { return s.Migrate(ctx) })
}

// migratedBefore opens a fresh store with the migrations before version
// applied, as a database from before it would be; closed after the test.
func migratedBefore(t *testing.T, version int) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	files, err := migrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range files {
		if m.Version >= version {
			break
		}
		body, _ := migrations.ReadFile(m.Path)
		if _, err := s.write.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", m.Path, err)
		}
		if _, err := s.write.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Path); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
