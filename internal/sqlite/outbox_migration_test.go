package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
)

// TestOutboxMigration: messages written before 0014 were handed to the
// notifier by the request that wrote them, so the dispatcher never sends
// them again; a message written afterwards is due at once.
func TestOutboxMigration(t *testing.T) {
	ctx := context.Background()
	s := migratedBefore(t, 14)
	at := time.Date(2026, 12, 10, 8, 0, 0, 0, time.UTC)
	if _, err := s.write.ExecContext(ctx, `INSERT INTO outbox (ref, channel, recipient_sealed, body_sealed, created_ms) VALUES ('old', 'sms', x'00', x'00', ?)`, at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx storage.Tx) error {
		return tx.AppendOutbox(ctx, storage.OutboxMessage{Ref: "new", Channel: "sms", RecipientSealed: []byte{0}, BodySealed: []byte{0}, CreatedAt: at})
	}); err != nil {
		t.Fatal(err)
	}
	var due []storage.OutboxMessage
	var backlog int
	if err := s.View(ctx, func(tx storage.Tx) (err error) {
		if due, err = tx.DueOutbox(ctx, at.Add(time.Hour), 10); err != nil {
			return err
		}
		backlog, err = tx.OutboxBacklog(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Ref != "new" || backlog != 1 {
		t.Errorf("due after the migration = %+v (backlog %d), want only the new message", due, backlog)
	}
}
