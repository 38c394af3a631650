package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
)

// Every *_sealed column of the schema is in storage.SealedColumns and in
// the reseal function's own list; the online role cannot re-seal anything
// else through it, nor update a sealed column directly.
func TestEverySealedColumnIsListed(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	s, dsn := openAsOnline(t, postgres.Options{})
	defer s.Close()
	owner, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	rows, err := owner.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'fairslot' AND column_name LIKE '%\_sealed'`)
	if err != nil {
		t.Fatal(err)
	}
	var found [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			t.Fatal(err)
		}
		found = append(found, c)
	}
	rows.Close()
	if len(found) != len(storage.SealedColumns) {
		t.Errorf("the schema has %d sealed columns, the list %d: %v", len(found), len(storage.SealedColumns), found)
	}
	online, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OnlineRole))
	if err != nil {
		t.Fatal(err)
	}
	defer online.Close(ctx)
	for _, c := range found {
		if !slices.ContainsFunc(storage.SealedColumns, func(l storage.SealedColumn) bool { return l.Table == c[0] && l.Column == c[1] }) {
			t.Errorf("%s.%s is sealed but not in storage.SealedColumns", c[0], c[1])
		}
		// reseal knows it: on no row it changes nothing, without an error.
		var n int64
		if err := online.QueryRow(ctx, `SELECT fairslot.reseal($1, $2, -1, '\x01', '\x0100000002')`, c[0], c[1]).Scan(&n); err != nil || n != 0 {
			t.Errorf("reseal(%s, %s) on no row = %d, %v", c[0], c[1], n, err)
		}
		if _, err := online.Exec(ctx, `UPDATE fairslot.`+c[0]+` SET `+c[1]+` = NULL`); err == nil {
			t.Errorf("the online role updated %s.%s directly", c[0], c[1])
		}
	}
	for _, bad := range [][2]string{{"patients", "ref"}, {"staff", "password_hash"}, {"audit_events", "detail"}} {
		if _, err := online.Exec(ctx, `SELECT fairslot.reseal($1, $2, 1, '\x01', '\x0100000002')`, bad[0], bad[1]); err == nil {
			t.Errorf("reseal accepted %s.%s", bad[0], bad[1])
		}
	}
	if _, err := online.Exec(ctx, `SELECT fairslot.reindex_blind('staff', 'username', 1, '\x00', '\x00000000000000000000000000000000')`); err == nil {
		t.Error("reindex_blind accepted staff.username")
	}
}
