package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// TestBoardLabelUniqueInTheDatabase: a write that goes around IssueTicket
// (a bug, a hand-run statement) still cannot put one label twice on a
// department's board.
func TestBoardLabelUniqueInTheDatabase(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	k := storagetest.TicketsOfTwoRooms(t, s)
	_, err = s.write.ExecContext(ctx, `UPDATE tickets SET prefix = ? WHERE id = ?`, k[0].Prefix, k[1].ID)
	if !isUnique(err, "tickets.department_id") {
		t.Errorf("B001 relabelled A001 beside the other room's A001: %v; want a unique violation", err)
	}
}
