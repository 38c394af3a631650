package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

func openTest(t *testing.T, o postgres.Options) (*postgres.Store, string) {
	t.Helper()
	dsn, _ := pgtest.Fresh(t)
	s, err := postgres.Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, dsn
}

func TestConformance(t *testing.T) {
	pgtest.Require(t)
	open := func(t *testing.T) storage.Store {
		s, _ := openTest(t, postgres.Options{})
		return s
	}
	storagetest.Run(t, open)
	storagetest.RunRekey(t, func(t *testing.T) (storage.Store, storage.Store) {
		s, dsn := openTest(t, postgres.Options{})
		rk, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s, rk
	})
}

// TestTableLockFailsWritesFastAndRecovers replays incident I3's lock: a
// session with the owner's rights holds LOCK TABLE ... IN EXCLUSIVE MODE.
// Writes fail within the lock timeout with the clear busy error, reads go
// on, and writes work again the moment the lock is gone, with no restart.
func TestTableLockFailsWritesFastAndRecovers(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTest(t, postgres.Options{LockTimeout: 300 * time.Millisecond})
	defer s.Close()
	write := func() error {
		return s.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, "k", time.Now().String()) })
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	rogue, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close(ctx)
	lock, err := rogue.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE fairslot.settings IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	err = write()
	if fairslot.ErrorKind(err) != fairslot.Unavailable || fairslot.ErrorMessage(err) != postgres.ErrBusy.Message {
		t.Errorf("write under the lock: %v; want the busy error", err)
	}
	if err := s.View(ctx, func(tx storage.Tx) error { _, err := tx.Setting(ctx, "k"); return err }); err != nil {
		t.Errorf("a read under an EXCLUSIVE lock failed: %v", err)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Errorf("write after the lock was released: %v", err)
	}
}

// openAsOnline migrates a fresh database as the admin, sets up the roles,
// and opens it as the online role.
func openAsOnline(t *testing.T, o postgres.Options) (*postgres.Store, string) {
	t.Helper()
	admin, dsn := openTest(t, o)
	defer admin.Close()
	if err := admin.SetupRoles(context.Background()); err != nil {
		t.Fatal(err)
	}
	online := pgtest.As(t, dsn, postgres.OnlineRole)
	s, err := postgres.Open(context.Background(), online, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, dsn
}

// The online role runs the whole contract with SELECT, INSERT and EXECUTE.
func TestConformanceAsOnlineRole(t *testing.T) {
	pgtest.Require(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openAsOnline(t, postgres.Options{})
		return s
	})
}

// TestOnlineRoleCannotLockTables: with the online credentials, LOCK TABLE in
// EXCLUSIVE mode, a direct UPDATE or DELETE, and TRUNCATE are all refused.
func TestOnlineRoleCannotLockTables(t *testing.T) {
	ctx := context.Background()
	s, dsn := openAsOnline(t, postgres.Options{})
	s.Close()
	conn, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OnlineRole))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'fairslot' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 10 {
		t.Fatalf("tables = %v, %v", tables, err)
	}
	for _, table := range tables {
		for _, stmt := range []string{
			"LOCK TABLE fairslot." + table + " IN EXCLUSIVE MODE",
			"LOCK TABLE fairslot." + table + " IN ACCESS EXCLUSIVE MODE",
			"DELETE FROM fairslot." + table,
			"TRUNCATE fairslot." + table,
		} {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tx.Exec(ctx, stmt)
			tx.Rollback(ctx)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Errorf("as %s: %s = %v; want insufficient_privilege", postgres.OnlineRole, stmt, err)
			}
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE fairslot.bookings SET status = 'completed'"); err == nil {
		t.Error("the online role may UPDATE bookings directly")
	}
}

// Several databases set up the shared roles at once (as parallel test
// packages, or two nodes migrating, do): all must succeed.
func TestConcurrentRoleSetup(t *testing.T) {
	ctx := context.Background()
	var stores []*postgres.Store
	for i := 0; i < 4; i++ {
		s, _ := openTest(t, postgres.Options{})
		defer s.Close()
		stores = append(stores, s)
	}
	errs := make(chan error, len(stores)*3)
	for round := 0; round < 3; round++ {
		for _, s := range stores {
			go func() { errs <- s.SetupRoles(ctx) }()
		}
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestBlockedWriteFailsWithinLockTimeout: a write that waits for one lock,
// gets it just before the lock timeout, then waits for another, fails
// within the lock timeout and a small margin, not once per lock. (Before,
// lock_timeout bounded each wait alone: here 2.5 s + 3 s.)
func TestBlockedWriteFailsWithinLockTimeout(t *testing.T) {
	const lockTimeout, release = 3 * time.Second, 2500 * time.Millisecond
	r := newReplay(t)
	r.online.Close()
	online, err := postgres.Open(r.ctx, pgtest.As(t, r.dsn, postgres.OnlineRole), postgres.Options{LockTimeout: lockTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer online.Close()
	r.online = online
	first, _, _ := r.connect(postgres.OwnerRole, fmt.Sprintf("SELECT pg_advisory_lock(%d)", postgres.SessionLockKey(r.session.ID)))
	r.connect(postgres.OwnerRole, "BEGIN", "LOCK TABLE fairslot.bookings IN EXCLUSIVE MODE")
	unlocked := make(chan struct{})
	defer func() { <-unlocked }() // before the session is closed
	go func() {
		defer close(unlocked)
		time.Sleep(release)
		first.Exec(r.ctx, fmt.Sprintf("SELECT pg_advisory_unlock(%d)", postgres.SessionLockKey(r.session.ID)))
	}()
	start := time.Now()
	err = r.book() // the session's lock (2.5 s), then the insert under the table lock
	took := time.Since(start)
	if fairslot.ErrorKind(err) != fairslot.Unavailable || fairslot.ErrorMessage(err) != postgres.ErrBusy.Message {
		t.Fatalf("a write behind two locks: %v; want the busy error", err)
	}
	t.Logf("a write behind two locks in turn failed after %.2f s with lock timeout %v (per-wait bounds alone: at least %v)",
		took.Seconds(), lockTimeout, release+lockTimeout)
	if took >= release+lockTimeout {
		t.Errorf("the write waited %.2f s: each lock wait was bounded alone", took.Seconds())
	}
}

// A transaction that runs longer than the lock timeout without waiting for
// a lock (seeding the demo, a large draw) is not failed by the bound.
func TestLongUnblockedTransactionSucceeds(t *testing.T) {
	r := newReplay(t)
	r.online.Close()
	online, err := postgres.Open(r.ctx, pgtest.As(t, r.dsn, postgres.OnlineRole), postgres.Options{LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer online.Close()
	start := time.Now()
	err = online.Update(r.ctx, func(tx storage.Tx) error {
		for time.Since(start) < time.Second {
			if err := tx.PutSetting(r.ctx, "k", time.Now().String()); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := tx.FreeSlot(r.ctx, storage.SlotQuery{SessionID: r.session.ID, Now: time.Now()}); err != nil {
			return err
		}
		_, err := tx.ExpireHolds(r.ctx, 0, time.Now())
		return err
	})
	if err != nil {
		t.Errorf("a long transaction that never waited failed: %v", err)
	}
}

// TestAdvisoryLocksOnlyThroughOwnerFunctions: after 'fairslot migrate' (as
// a superuser), the online role may call none of the raw advisory lock
// functions, and the owner's functions take only fairslot's transaction
// locks and job locks.
func TestAdvisoryLocksOnlyThroughOwnerFunctions(t *testing.T) {
	ctx := context.Background()
	s, dsn := openAsOnline(t, postgres.Options{})
	defer s.Close()
	conn, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OnlineRole))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var all, open int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE has_function_privilege(p.oid, 'EXECUTE'))
		FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_(try_)?advisory_'`).Scan(&all, &open); err != nil {
		t.Fatal(err)
	}
	if all < 20 || open != 0 {
		t.Errorf("the online role may call %d of %d advisory lock functions; want none", open, all)
	}
	if w, err := s.RoleWarnings(ctx); err != nil || len(w) != 0 {
		t.Errorf("RoleWarnings = %q, %v; want none", w, err)
	}
	for _, q := range []string{
		fmt.Sprintf("SELECT fairslot.xact_lock(%d)", postgres.JobLockKey),
		fmt.Sprintf("SELECT fairslot.xact_lock(%d)", postgres.MigrateLockKey),
		"SELECT fairslot.xact_lock(-1)",
		"SELECT fairslot.try_job_lock(2)",
	} {
		var pe *pgconn.PgError
		if _, err := conn.Exec(ctx, q); !errors.As(err, &pe) || pe.Code != "22023" {
			t.Errorf("%s = %v; want invalid_parameter_value", q, err)
		}
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("BEGIN; SELECT fairslot.xact_lock(%d); COMMIT", postgres.SessionLockKey(1))); err != nil {
		t.Errorf("a session's transaction lock: %v", err)
	}
}

// TestRolesByNonSuperuserDBA: a DBA with CREATEROLE who is not a superuser
// runs 'fairslot migrate'. Setting up the roles succeeds with a clear
// warning that the raw advisory lock functions could not be revoked, and
// RoleWarnings says so for the migrate command to print.
func TestRolesByNonSuperuserDBA(t *testing.T) {
	ctx := context.Background()
	roles, _ := openTest(t, postgres.Options{})
	if err := roles.SetupRoles(ctx); err != nil { // the fairslot roles exist on the server
		t.Fatal(err)
	}
	roles.Close()
	dba := "fairslot_t_dba_" + strings.ToLower(rand.Text()[:8])
	server := pgtest.Require(t)
	t.Cleanup(func() { // after the test database is dropped: roles are the server's
		c, err := pgx.Connect(ctx, server)
		if err == nil {
			_, err = c.Exec(ctx, "DROP ROLE IF EXISTS "+dba)
			c.Close(ctx)
		}
		if err != nil {
			t.Errorf("drop the test's role %s: %v", dba, err)
		}
	})
	dsn, _ := pgtest.Fresh(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var db string
	admin.QueryRow(ctx, "SELECT current_database()").Scan(&db)
	for _, q := range []string{"CREATE ROLE " + dba + " LOGIN CREATEROLE", "GRANT fairslot_owner TO " + dba, "GRANT CREATE ON DATABASE " + db + " TO " + dba} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	asDBA := pgtest.As(t, dsn, dba)
	s, err := postgres.Open(ctx, asDBA, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate as a DBA: %v", err)
	}
	cfg, err := pgx.ParseConfig(asDBA)
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if n.Severity == "WARNING" {
			notices = append(notices, n.Message)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, postgres.RolesSQL); err != nil {
		t.Fatalf("the roles' SQL as a DBA who is not a superuser: %v", err)
	}
	if len(notices) != 1 || !strings.HasPrefix(notices[0], "fairslot: "+dba+" is not a superuser and cannot revoke") {
		t.Errorf("warnings = %q; want the one about the advisory lock functions", notices)
	}
	w, err := s.RoleWarnings(ctx)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "superuser") {
		t.Errorf("RoleWarnings = %q, %v; want one saying a superuser must revoke", w, err)
	}
	t.Logf("warning: %s", w)

	// Once a superuser has revoked them, the DBA (a member of
	// fairslot_owner) still migrates and sets the roles up.
	if _, err := admin.Exec(ctx, postgres.RolesSQL); err != nil {
		t.Fatal(err)
	}
	if w, err := s.RoleWarnings(ctx); err != nil || len(w) != 0 {
		t.Errorf("after a superuser's run, RoleWarnings = %q, %v; want none", w, err)
	}
	if err := postgres.MigrateWith(ctx, s, "0099_later.sql", "CREATE TABLE fairslot.later (id int)"); err != nil {
		t.Errorf("a later migration as the DBA: %v", err)
	}
	if _, err := conn.Exec(ctx, postgres.RolesSQL); err != nil {
		t.Errorf("the roles' SQL as the DBA, after the revocation: %v", err)
	}
}
