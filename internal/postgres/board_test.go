package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// TestBoardLabelUniqueInTheDatabase: even the owner, writing around
// IssueTicket, cannot put one label twice on a department's board.
func TestBoardLabelUniqueInTheDatabase(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	s, dsn := openTest(t, postgres.Options{})
	defer s.Close()
	k := storagetest.TicketsOfTwoRooms(t, s)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE fairslot.tickets SET prefix = $1 WHERE id = $2`, k[0].Prefix, k[1].ID)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "tickets_board" {
		t.Errorf("B001 relabelled A001 beside the other room's A001: %v; want a violation of tickets_board", err)
	}
}
