package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
)

// TestOnlineRoleCannotRewriteStaffAuth: with the online credentials a stolen
// connection cannot unlock an account, clear or replace its second factor,
// move its TOTP step back or un-spend a recovery code by a direct UPDATE;
// and the guards hold even for the functions' owner.
func TestOnlineRoleCannotRewriteStaffAuth(t *testing.T) {
	ctx := context.Background()
	s, dsn := openAsOnline(t, postgres.Options{})
	s.Close()
	conn, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OnlineRole))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO fairslot.staff (username, name, role, password_hash) VALUES ('x', 'X', 'admin', 'h') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE fairslot.staff SET locked_ms = NULL",
		"UPDATE fairslot.staff SET totp_sealed = NULL, totp_pending_sealed = NULL",
		"UPDATE fairslot.staff SET totp_last_step = 0",
		"UPDATE fairslot.staff SET password_hash = 'mine'",
		"UPDATE fairslot.staff SET enrol_code_hash = NULL, enrol_code_expires_ms = NULL",
		"UPDATE fairslot.staff_recovery_codes SET used_ms = NULL",
		"UPDATE fairslot.staff_sessions SET ended_ms = NULL",
	} {
		_, err := conn.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("as %s: %s = %v; want insufficient_privilege", postgres.OnlineRole, stmt, err)
		}
	}
	// Through the functions: a step only forward.
	var n int64
	if err := conn.QueryRow(ctx, `SELECT fairslot.staff_set_totp_pending($1, '\x01')`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("staff_set_totp_pending = %d, %v", n, err)
	}
	// An enrolment is confirmed only with the enrolment code, which it spends.
	code := `'\x` + strings.Repeat("ab", 32) + `'::bytea`
	if err := conn.QueryRow(ctx, `SELECT fairslot.staff_confirm_totp($1, '\x01', `+code+`, 100, ARRAY[]::bytea[], 1)`, id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("staff_confirm_totp without an enrolment code = %d, %v; want 0 rows", n, err)
	}
	if err := conn.QueryRow(ctx, `SELECT fairslot.staff_set_enrol_code($1, `+code+`, 10)`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("staff_set_enrol_code = %d, %v", n, err)
	}
	if err := conn.QueryRow(ctx, `SELECT fairslot.staff_confirm_totp($1, '\x01', `+code+`, 100, ARRAY[]::bytea[], 1)`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("staff_confirm_totp = %d, %v", n, err)
	}
	if _, err := conn.Exec(ctx, `SELECT fairslot.staff_confirm_totp($1, '\x01', 100, ARRAY[]::bytea[], 1)`, id); err == nil {
		t.Error("the confirm without an enrolment code is still there")
	}
	if err := conn.QueryRow(ctx, `SELECT fairslot.staff_use_totp_step($1, 100)`, id).Scan(&n); err != nil || n != 0 {
		t.Errorf("a used step again = %d, %v; want 0 rows", n, err)
	}
	owner, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OwnerRole))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, `UPDATE fairslot.staff SET totp_last_step = 5 WHERE id = $1`, id); err == nil {
		t.Error("the owner moved a TOTP step back")
	}
}
