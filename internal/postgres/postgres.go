// Package postgres is the storage backend for production and multi-node
// deployments: PostgreSQL through jackc/pgx/v5, tables in the schema
// "fairslot". It passes the same conformance suite as the embedded store.
// Every UPDATE and DELETE, and every advisory lock, goes through an owner
// function (migrations), so the online role can run without any right that
// could lock out other writers beyond its own transaction; what it (or any
// role but a superuser) still blocks, the lock watchdog ends. Writes run at
// READ COMMITTED; where SQLite's single writer serializes, transaction-scoped
// advisory locks serialize per patient, account and session. It must never
// hold plaintext personal data.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the store. The zero value is usable.
type Options struct {
	Location *time.Location
	// AppName is the application_name of every connection (the node's name).
	AppName string
	// LockTimeout bounds how long one transaction waits for locks, all its
	// waits together, before the request fails with Unavailable (default
	// 2s; see boundedTx for the margin); StatementTimeout bounds a statement
	// (default 10s); IdleInTxTimeout ends a session left idle in a
	// transaction (default 30s).
	LockTimeout, StatementTimeout, IdleInTxTimeout time.Duration
	MaxConns                                       int32 // default 10
	// NodeKey proves this process's heartbeats and migrations to the lock
	// watchdog (a key derived from the keyset: vault.Key(NodeKeyPurpose)).
	// Without it Migrate runs unproven, and Leader and Jobs refuse to work.
	NodeKey []byte
}

// Store is the PostgreSQL backend.
type Store struct {
	pool        *pgxpool.Pool
	loc         *time.Location
	lockTimeout time.Duration
	nodeKey     []byte
	appName     string
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL). It does not migrate.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.Location == nil {
		o.Location = time.UTC // never the host's zone: callers pass the hospital's
	}
	if o.AppName == "" {
		o.AppName = "fairslot"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.LockTimeout, 2*time.Second)
	def(&o.StatementTimeout, 10*time.Second)
	def(&o.IdleInTxTimeout, 30*time.Second)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err) // pgx keeps passwords out of its errors
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["application_name"] = o.AppName
	rp["search_path"] = "fairslot"
	rp["lock_timeout"] = strconv.FormatInt(o.LockTimeout.Milliseconds(), 10)
	rp["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(o.IdleInTxTimeout.Milliseconds(), 10)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, loc: o.Location, lockTimeout: o.LockTimeout, nodeKey: o.NodeKey, appName: o.AppName}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) Close() error { s.pool.Close(); return nil }

func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return formatError(fmt.Errorf("ping: %w", err))
	}
	return nil
}

// Update runs fn in one READ COMMITTED transaction.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{}, fn)
}

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(storage.Tx) error) error {
	ptx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return formatError(fmt.Errorf("begin: %w", err))
	}
	if err := fn(&tx{tx: newBoundedTx(ptx, s.lockTimeout), loc: s.loc}); err != nil {
		ptx.Rollback(context.WithoutCancel(ctx))
		return formatError(err)
	}
	if err := ptx.Commit(ctx); err != nil {
		return formatError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Migrate applies each pending numbered migration in its own transaction,
// holding an advisory lock so that two nodes starting at once take turns.
// With Options.NodeKey it registers as a proven migration first (from
// migration 0005 on), so the lock watchdog leaves it alone and ends instead
// whatever session it waits for; without, it is a session like any other.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, migrations)
}

// migrateLockWait bounds how long Migrate keeps trying to take a lock.
const migrateLockWait = 2 * time.Minute

func (s *Store) migrate(ctx context.Context, fsys fs.FS) error {
	files, err := storage.Migrations(fsys, "migrations/*.sql")
	if err != nil {
		return err
	}
	// Up to date: nothing to do, and no rights needed (the online role
	// cannot create a schema, even one that exists).
	if applied, err := s.appliedVersion(ctx); err == nil && applied == files[len(files)-1].Version {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return formatError(err)
	}
	defer func() {
		// Close rather than return the connection: its registration as a
		// proven migration must end with it, and so must the migration lock.
		c := context.WithoutCancel(ctx)
		conn.Exec(c, `DELETE FROM fairslot.nodes WHERE pid = pg_backend_pid()`)
		conn.Conn().Close(c)
		conn.Release()
	}()
	registered := s.registerMigration(ctx, conn)
	deadline := time.Now().Add(migrateLockWait)
	if err := retryLocked(ctx, deadline, func() error {
		_, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey(lockMigrate, 0))
		return err
	}); err != nil {
		return formatError(fmt.Errorf("migration lock: %w", err))
	}
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS fairslot;
		CREATE TABLE IF NOT EXISTS fairslot.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_ms bigint NOT NULL)`); err != nil {
		return formatError(fmt.Errorf("migrations table: %w", err))
	}
	for _, m := range files {
		err := retryLocked(ctx, deadline, func() error {
			return pgx.BeginFunc(ctx, conn, func(t pgx.Tx) error {
				var n int
				if err := t.QueryRow(ctx, `SELECT count(*) FROM fairslot.schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil || n > 0 {
					return err
				}
				body, err := fs.ReadFile(fsys, m.Path)
				if err != nil {
					return err
				}
				if _, err := t.Exec(ctx, string(body)); err != nil {
					return fmt.Errorf("%s: %w", m.Path, err)
				}
				_, err = t.Exec(ctx, `INSERT INTO fairslot.schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)`,
					m.Version, m.Path, time.Now().UnixMilli())
				return err
			})
		})
		if err != nil {
			return formatError(fmt.Errorf("migrate: %w", err))
		}
		if !registered {
			registered = s.registerMigration(ctx, conn) // the schema may only now have heartbeat()
		}
	}
	return nil
}

// registerMigration writes a proven migration row for conn's session, and
// reports whether it could: not without a node key, nor on a schema from
// before migration 0005.
func (s *Store) registerMigration(ctx context.Context, conn *pgxpool.Conn) bool {
	if len(s.nodeKey) == 0 {
		return false
	}
	b, err := self(ctx, conn)
	if err != nil {
		return false
	}
	_, err = heartbeat(ctx, conn, s.nodeKey, b, s.appName, kindMigrate)
	return err == nil
}

// retryLocked runs fn until it succeeds, fails otherwise than by a lock
// timeout, or deadline passes. A migration waiting for a table's lock makes
// online work queue behind it, so each attempt waits no longer than the
// lock timeout, and the pause between attempts lets the queue drain;
// meanwhile the watchdog, walking from the queued online work through the
// proven migration, ends the session that holds the lock.
func retryLocked(ctx context.Context, deadline time.Time, fn func() error) error {
	for {
		err := fn()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55P03" || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int, err error) {
	files, err := migrationFiles()
	if err != nil {
		return 0, 0, err
	}
	latest = files[len(files)-1].Version
	applied, err = s.appliedVersion(ctx)
	return applied, latest, err
}

func (s *Store) appliedVersion(ctx context.Context) (int, error) {
	var applied int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM fairslot.schema_migrations`).Scan(&applied)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // no table, no schema
		return 0, nil
	}
	if err != nil {
		return 0, formatError(fmt.Errorf("schema version: %w", err))
	}
	return applied, nil
}

func migrationFiles() ([]storage.Migration, error) {
	return storage.Migrations(migrations, "migrations/*.sql")
}

// Advisory lock classes; a key is the class in the top byte and an id below.
// Transactions lock through fairslot.xact_lock, which takes only the classes
// from lockPatient to lockTickets (migration 0005): a new class there needs
// a migration too.
const (
	lockMigrate = iota + 1
	lockPatient
	lockAccount
	lockSession
	lockTickets
)

func lockKey(class int64, id int64) int64 { return class<<56 | id&(1<<56-1) }

// ErrBusy is the user-facing error for a write that waited too long for a lock.
var ErrBusy = storage.ErrBusy

// formatError turns driver errors the caller can act on into fairslot
// errors: lock contention into ErrBusy, a condition of the database server
// an operator must act on into a storage.Fault.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var fe *fairslot.Error
	if errors.As(err, &fe) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		// Lock timeout, statement timeout or cancel, serialization, deadlock;
		// and a session the watchdog ended (a node's own connection that sat
		// idle in a transaction while blocking others): retry in a moment.
		case "55P03", "57014", "40001", "40P01", "57P01":
			return fmt.Errorf("%w (%v)", ErrBusy, err)
		case "FS001":
			return fmt.Errorf("%w (%v)", fairslot.Errorf(fairslot.Conflict, "that change of a booking's state is not allowed"), err)
		case "53100": // disk_full
			return &storage.Fault{Reason: storage.DiskFull, Err: err}
		case "53200", "53000": // out_of_memory, insufficient_resources
			return &storage.Fault{Reason: storage.OutOfMemory, Err: err}
		case "53300", "53400": // too_many_connections, configuration_limit_exceeded
			return &storage.Fault{Reason: storage.TooManyConns, Err: err}
		case "25006": // read_only_sql_transaction: connected to a standby
			return &storage.Fault{Reason: storage.ReadOnly, Err: err}
		case "58030": // io_error
			return &storage.Fault{Reason: storage.IOError, Err: err}
		case "XX001", "XX002": // data_corrupted, index_corrupted
			return &storage.Fault{Reason: storage.Corrupt, Err: err}
		case "57P02", "57P03": // crash_shutdown, cannot_connect_now (57P01, a terminated session, is busy above)
			return &storage.Fault{Reason: storage.Unreachable, Err: err}
		}
		if strings.HasPrefix(pe.Code, "08") { // connection_exception and its subclasses
			return &storage.Fault{Reason: storage.Unreachable, Err: err}
		}
	}
	// A server that cannot be reached never answers with a code: the dial
	// fails, or the connection breaks under a statement. A request's own
	// cancellation or deadline is not the server's fault.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &storage.Fault{Reason: storage.Unreachable, Err: err}
	}
	return err
}

// isCancelled reports whether err is the refusal of a claim on a cancelled
// session (migration 0023).
func isCancelled(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "FS004"
}

// isUnique reports whether err violates the named unique constraint or index.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}
