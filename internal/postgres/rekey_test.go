package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// The rekey role runs the re-keying contract with SELECT and its functions.
func TestConformanceAsRekeyRole(t *testing.T) {
	pgtest.Require(t)
	storagetest.RunRekey(t, func(t *testing.T) (storage.Store, storage.Store) {
		s, dsn := openAsOnline(t, postgres.Options{}) // migrated, roles set up
		rk, err := postgres.Open(context.Background(), pgtest.As(t, dsn, postgres.RekeyRole), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s, rk
	})
}

// Every *_sealed column of the schema is in storage.SealedColumns and in
// the reseal function's own list. The online role may not call reseal,
// reindex_blind or put_rekey_state (with them it could point a victim's
// blind index at its own phone and log in as them, overwrite any sealed
// value, or claim the indexes rebuilt), nor write a keys. setting, nor
// update a sealed column directly; the rekey role may call them, but only
// for the listed columns.
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
	conn := func(role string) *pgx.Conn {
		c, err := pgx.Connect(ctx, pgtest.As(t, dsn, role))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	online, rekey := conn(postgres.OnlineRole), conn(postgres.RekeyRole)
	for _, c := range found {
		if !slices.ContainsFunc(storage.SealedColumns, func(l storage.SealedColumn) bool { return l.Table == c[0] && l.Column == c[1] }) {
			t.Errorf("%s.%s is sealed but not in storage.SealedColumns", c[0], c[1])
		}
		// reseal knows it: on no row it changes nothing, without an error.
		var n int64
		if err := rekey.QueryRow(ctx, `SELECT fairslot.reseal($1, $2, -1, '\x01', '\x0100000002')`, c[0], c[1]).Scan(&n); err != nil || n != 0 {
			t.Errorf("reseal(%s, %s) on no row as the rekey role = %d, %v", c[0], c[1], n, err)
		}
		if _, err := online.Exec(ctx, `UPDATE fairslot.`+c[0]+` SET `+c[1]+` = NULL`); err == nil {
			t.Errorf("the online role updated %s.%s directly", c[0], c[1])
		}
		if _, err := rekey.Exec(ctx, `UPDATE fairslot.`+c[0]+` SET `+c[1]+` = NULL`); err == nil {
			t.Errorf("the rekey role updated %s.%s directly", c[0], c[1])
		}
	}
	for _, q := range []string{
		`SELECT fairslot.reseal('accounts', 'phone_sealed', 1, '\x01', '\x0100000002')`,
		`SELECT fairslot.reindex_blind('accounts', 'phone_index', 1, '\x00', '\x00000000000000000000000000000000')`,
		`SELECT fairslot.put_rekey_state('keys.index_verified', '1')`,
		`SELECT fairslot.put_setting('keys.index_verified', '1')`,
	} {
		if _, err := online.Exec(ctx, q); err == nil {
			t.Errorf("the online role ran %s", q)
		}
	}
	if _, err := online.Exec(ctx, `SELECT fairslot.put_setting('keys.node.n1', '{}')`); err != nil {
		t.Errorf("the online role cannot report its node's keys: %v", err)
	}
	for _, bad := range [][2]string{{"patients", "ref"}, {"staff", "password_hash"}, {"audit_events", "detail"}} {
		if _, err := rekey.Exec(ctx, `SELECT fairslot.reseal($1, $2, 1, '\x01', '\x0100000002')`, bad[0], bad[1]); err == nil {
			t.Errorf("reseal accepted %s.%s", bad[0], bad[1])
		}
	}
	if _, err := rekey.Exec(ctx, `SELECT fairslot.reindex_blind('staff', 'username', 1, '\x00', '\x00000000000000000000000000000000')`); err == nil {
		t.Error("reindex_blind accepted staff.username")
	}
}
