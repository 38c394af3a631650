package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Role names. The owner owns the schema and runs migrations; the online
// role, used by serve, may read, insert and call the state-changing
// functions, and so holds no right that takes a lock stronger than ROW
// EXCLUSIVE; the watchdog may see and signal other sessions.
const (
	OwnerRole    = "fairslot_owner"
	OnlineRole   = "fairslot_online"
	WatchdogRole = "fairslot_watchdog"
	// RekeyRole re-seals and re-indexes after a key rotation: it may read
	// the tables and call reseal and reindex_blind, which the online role
	// may not (with them it could point any account's blind index at its
	// own phone, or overwrite any sealed value).
	RekeyRole = "fairslot_rekey"
)

// RolesSQL creates the roles (if missing), hands every object of the schema
// to the owner and grants the others exactly what they need. It is what
// 'fairslot migrate' runs after the migrations, and what --print-sql prints
// for a DBA. Passwords are left to the DBA (ALTER ROLE ... PASSWORD).
var RolesSQL = `
-- Roles belong to the whole server: another database, or another node,
-- may be doing the same at this moment. Each statement ignores exactly the
-- errors of someone else having just done it.
DO $$
BEGIN
	BEGIN CREATE ROLE fairslot_owner LOGIN;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
	BEGIN CREATE ROLE fairslot_online LOGIN CONNECTION LIMIT 200;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
	BEGIN CREATE ROLE fairslot_watchdog LOGIN;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
	BEGIN CREATE ROLE fairslot_rekey LOGIN CONNECTION LIMIT 20;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
	-- Defaults for every online session, whatever the client sets up. Every
	-- node runs a watchdog on one connection.
	BEGIN
		ALTER ROLE fairslot_watchdog CONNECTION LIMIT 20;
		ALTER ROLE fairslot_online SET lock_timeout = '2s';
		ALTER ROLE fairslot_online SET statement_timeout = '10s';
		ALTER ROLE fairslot_online SET idle_in_transaction_session_timeout = '30s';
		ALTER ROLE fairslot_online SET search_path = fairslot;
		ALTER ROLE fairslot_rekey SET lock_timeout = '2s';
		ALTER ROLE fairslot_rekey SET statement_timeout = '60s';
		ALTER ROLE fairslot_rekey SET search_path = fairslot;
	EXCEPTION WHEN internal_error OR unique_violation THEN NULL; END;
	BEGIN GRANT pg_signal_backend, pg_read_all_stats TO fairslot_watchdog;
	EXCEPTION WHEN internal_error OR unique_violation THEN NULL; END;
END $$;

-- The rest is this database's: one migration at a time.
SELECT pg_advisory_xact_lock(` + migrateLockSQL + `);
ALTER SCHEMA fairslot OWNER TO fairslot_owner;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'fairslot' AND c.relkind IN ('r', 'p', 'v', 'm') LOOP
		EXECUTE format('ALTER TABLE fairslot.%I OWNER TO fairslot_owner', r.relname);
	END LOOP;
	FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'fairslot' LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO fairslot_owner', r.f);
	END LOOP;
END $$;

REVOKE ALL ON SCHEMA fairslot FROM PUBLIC;
GRANT USAGE ON SCHEMA fairslot TO fairslot_online, fairslot_watchdog, fairslot_rekey;
REVOKE ALL ON ALL TABLES IN SCHEMA fairslot FROM fairslot_online, fairslot_watchdog, fairslot_rekey;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA fairslot TO fairslot_online;
REVOKE INSERT ON fairslot.schema_migrations FROM fairslot_online;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA fairslot FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA fairslot TO fairslot_online;
-- Re-sealing and re-indexing are the rekey role's (and the owner's) alone.
REVOKE EXECUTE ON FUNCTION fairslot.reseal(text, text, bigint, bytea, bytea), fairslot.reindex_blind(text, text, bigint, bytea, bytea),
	fairslot.put_rekey_state(text, text) FROM fairslot_online;
GRANT SELECT ON ALL TABLES IN SCHEMA fairslot TO fairslot_rekey;
GRANT EXECUTE ON FUNCTION fairslot.reseal(text, text, bigint, bytea, bytea), fairslot.reindex_blind(text, text, bigint, bytea, bytea),
	fairslot.put_rekey_state(text, text), fairslot.put_setting(text, text) TO fairslot_rekey;

-- The retention purge erases patients' data: the rekey role's (and the
-- owner's) alone, as re-sealing is; it records what it did in the audit log.
REVOKE EXECUTE ON FUNCTION fairslot.purge_patient(bigint, bigint, bigint), fairslot.purge_outbox(bigint),
	fairslot.purge_risk_appeals(bigint) FROM fairslot_online;
GRANT EXECUTE ON FUNCTION fairslot.purge_patient(bigint, bigint, bigint), fairslot.purge_outbox(bigint), fairslot.purge_risk_appeals(bigint),
	fairslot.patient_activity(bigint), fairslot.xact_lock(bigint) TO fairslot_rekey;
GRANT INSERT ON fairslot.audit_events TO fairslot_rekey;

GRANT SELECT ON fairslot.nodes TO fairslot_watchdog;
GRANT INSERT ON fairslot.audit_events TO fairslot_watchdog;
-- A node row is written only through heartbeat(), which records the
-- caller's own session (its MAC is what proves a node, all the same).
REVOKE INSERT ON fairslot.nodes FROM fairslot_online;

-- Advisory locks only through the owner's functions (xact_lock,
-- try_job_lock): no one else may call the raw functions in this database
-- (pg_proc is per database), so no session of the online role can hold an
-- advisory lock beyond its transaction but the job lock. Only the functions'
-- owner, a superuser, can revoke them; anyone else is told what that leaves
-- open instead of failing. Migrate and the lock above call them as the
-- owner (or a superuser): a DBA who is not one runs 'fairslot migrate' as a
-- member of fairslot_owner.
DO $$
DECLARE f regprocedure;
BEGIN
	IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		RAISE WARNING 'fairslot: % is not a superuser and cannot revoke EXECUTE on pg_advisory_lock and its kin from PUBLIC', current_user
			USING DETAIL = 'Any role, fairslot_online included, can still take advisory locks on fairslot''s keys that outlive its transactions; the lock watchdog ends such a session when it blocks registration, as any other.',
			HINT = 'Have a superuser run this script (fairslot migrate --print-sql) once in this database.';
		RETURN;
	END IF;
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
		WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_(try_)?advisory_' LOOP
		EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO fairslot_owner', f);
	END LOOP;
END $$;
`

// migrateLockSQL is the migration lock's key as SQL, shared with Migrate.
var migrateLockSQL = fmt.Sprint(lockKey(lockMigrate, 0))

// SetupRoles runs RolesSQL. The connecting user needs CREATEROLE and the
// right to change the objects' owner (a superuser, or the DBA's admin role).
// Roles are shared by the whole server, so two databases (or two nodes)
// setting them up at once can collide on the catalogue; that is retried.
func (s *Store) SetupRoles(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if _, err = s.pool.Exec(ctx, RolesSQL); err == nil || !concurrentCatalogUpdate(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(50*(attempt+1)) * time.Millisecond):
		}
	}
	if err != nil {
		return formatError(fmt.Errorf("roles: %w", err))
	}
	return nil
}

// RoleWarnings reports what the roles set-up could not do here: today,
// whether the online role may still call the raw advisory lock functions
// (RolesSQL was run by a DBA who is not a superuser).
func (s *Store) RoleWarnings(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_(try_)?advisory_'
		AND has_function_privilege($1, p.oid, 'EXECUTE') ORDER BY 1`, OnlineRole)
	if err != nil {
		return nil, formatError(fmt.Errorf("role warnings: %w", err))
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, formatError(fmt.Errorf("role warnings: %w", err))
	}
	if len(open) == 0 {
		return nil, nil
	}
	return []string{fmt.Sprintf("%s may still call %d advisory lock functions (%s, ...) directly, so a session with its credentials can hold "+
		"an advisory lock on a fairslot key beyond its transaction; the lock watchdog ends it when it blocks registration. "+
		"Only a superuser can revoke them: have one run 'fairslot migrate' (or the SQL of --print-sql) once in this database",
		OnlineRole, len(open), open[0])}, nil
}

// concurrentCatalogUpdate reports the errors of two sessions changing the
// same role at once: a duplicate role name, "tuple concurrently updated".
func concurrentCatalogUpdate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "XX000" || pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "42710")
}

// MigrationsSQL returns every migration's SQL in order, for --print-sql.
func MigrationsSQL() (string, error) {
	files, err := migrationFiles()
	if err != nil {
		return "", err
	}
	out := "CREATE SCHEMA IF NOT EXISTS fairslot;\nCREATE TABLE IF NOT EXISTS fairslot.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_ms bigint NOT NULL);\n"
	for _, m := range files {
		body, err := migrations.ReadFile(m.Path)
		if err != nil {
			return "", err
		}
		out += fmt.Sprintf("\n-- %s\n%s\nINSERT INTO fairslot.schema_migrations VALUES (%d, '%s', (extract(epoch from now()) * 1000)::bigint) ON CONFLICT DO NOTHING;\n",
			m.Path, body, m.Version, m.Path)
	}
	return out, nil
}
