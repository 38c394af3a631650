package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// TestPaymentsMigration migrates a database holding payments of the old
// schema: a confirmed booking's stays settled, a cancelled booking's (whose
// refund the old schema never recorded) becomes refunding for the sweep.
func TestPaymentsMigration(t *testing.T) {
	ctx := context.Background()
	dsn, _ := pgtest.Fresh(t)
	s, err := Open(ctx, dsn, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The schema as it was before 0006.
	files, err := migrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `CREATE SCHEMA fairslot;
		CREATE TABLE fairslot.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_ms bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range files {
		if m.Version >= 6 {
			break
		}
		body, _ := migrations.ReadFile(m.Path)
		if _, err := s.pool.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", m.Path, err)
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO fairslot.schema_migrations VALUES ($1, $2, 0)`, m.Version, m.Path); err != nil {
			t.Fatal(err)
		}
	}
	storagetest.PaymentsMigration(t, s, func(key string, bookingID int64, ref string, at time.Time) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO fairslot.payments (key, booking_id, amount_cents, provider, provider_ref, created_ms)
			VALUES ($1, $2, 5000, 'sandbox', $3, $4)`, key, bookingID, ref, at.UnixMilli())
		return err
	}, func() error { return s.Migrate(ctx) })
}
