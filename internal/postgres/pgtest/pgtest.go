// Package pgtest gives tests a fresh PostgreSQL database on the server named
// by FAIRSLOT_TEST_POSTGRES, and skips them, saying so, when it is not set.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Fresh creates an empty database, dropped when the test ends, and returns
// its URL as the test server's user and a function giving it as another
// role (the test server trusts local connections; a deployment gives each
// role its password).
func Fresh(t testing.TB) (admin string, as func(role string) string) {
	t.Helper()
	dsn := Require(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "fairslot_t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), func(role string) string { return As(t, u.String(), role) }
}

// As returns dsn with its user replaced by role.
func As(t testing.TB, dsn, role string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// Require returns the test server's URL, or skips the test saying why.
func Require(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("FAIRSLOT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("FAIRSLOT_TEST_POSTGRES is not set: skipping a PostgreSQL test (CI sets it)")
	}
	return dsn
}
