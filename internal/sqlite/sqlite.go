// Package sqlite is the embedded storage backend: SQLite through the pure-Go
// modernc.org/sqlite driver, in WAL mode, in a data directory. Every write is
// one BEGIN IMMEDIATE transaction on a single writer connection, with a busy
// timeout so another process's lock makes writes fail fast while reads go on.
// It must never hold plaintext personal data: it stores what it is given.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the store. The zero value is usable.
type Options struct {
	// Location is the hospital's time zone; times read back are in it.
	Location *time.Location
	// BusyTimeout is how long a write waits for another writer's lock before
	// failing with Unavailable (default 5s).
	BusyTimeout time.Duration
	// Synchronous is SQLite's synchronous pragma: FULL (default) makes every
	// commit durable across power loss; NORMAL only across process crashes.
	Synchronous string
	// ReadConns bounds the read pool (default 4).
	ReadConns int
	// Replicated turns the writer's automatic WAL checkpoints off: the
	// replicator (Litestream, internal/replica) decides when the WAL is
	// checkpointed, after it has shipped the frames. Nothing in this package
	// checkpoints explicitly, and nothing may truncate or restart the WAL.
	Replicated bool
}

// Store is the SQLite backend.
type Store struct {
	write, read           *sql.DB
	writeStmts, readStmts *stmtCache
	loc                   *time.Location

	writes     chan *writeReq // to the writer goroutine
	closing    chan struct{}  // closed by Close
	writerDone chan struct{}  // closed when the writer has stopped
	closeOnce  sync.Once

	commits, committedWrites atomic.Int64
}

var _ storage.Store = (*Store)(nil)

// FileName is the database file's name inside the data directory.
const FileName = "fairslot.db"

// Open opens (creating if needed) the database in dir. It does not migrate.
func Open(dir string, o Options) (*Store, error) {
	if o.Location == nil {
		o.Location = time.UTC // never the host's zone: callers pass the hospital's
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	switch strings.ToUpper(o.Synchronous) {
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be FULL, NORMAL or EXTRA, not %q", o.Synchronous)
	}
	if o.ReadConns == 0 {
		o.ReadConns = 4
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// Create the file ourselves so that it is never readable by others.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	} else {
		f.Close()
	}
	var extra []string
	if o.Replicated {
		extra = append(extra, "wal_autocheckpoint(0)")
	}
	write, err := sql.Open("sqlite", DSN(path, o, "immediate", extra...))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// One writer connection: in-process writers queue in database/sql rather
	// than spin on SQLite's lock; other processes wait for busy_timeout.
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", DSN(path, o, "deferred", "query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	read.SetMaxOpenConns(o.ReadConns)
	// Keep every read connection: database/sql keeps 2 idle by default, and
	// reopening one reruns the pragmas and loses its prepared statements.
	read.SetMaxIdleConns(o.ReadConns)
	s := &Store{write: write, read: read, writeStmts: &stmtCache{db: write}, readStmts: &stmtCache{db: read}, loc: o.Location,
		writes: make(chan *writeReq), closing: make(chan struct{}), writerDone: make(chan struct{})}
	go s.writer()
	if err := s.Ping(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DSN is the driver connection string the store uses for the database file
// at path: WAL, foreign keys, the busy timeout and synchronous setting of o
// (filled in by Open), the transaction lock mode and extra pragmas. It is
// exported so that benchmarks can measure a baseline on identical settings.
func DSN(path string, o Options, txlock string, extra ...string) string {
	q := url.Values{}
	q.Add("_txlock", txlock)
	for _, p := range append([]string{
		"busy_timeout(" + strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10) + ")",
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"synchronous(" + o.Synchronous + ")",
	}, extra...) {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Close stops the writer (after its current batch) and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.writerDone
	for _, c := range []*stmtCache{s.readStmts, s.writeStmts} {
		c.m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	}
	return errors.Join(s.read.Close(), s.write.Close())
}

func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return formatError(fmt.Errorf("ping: %w", err))
	}
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	sqlTx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return formatError(fmt.Errorf("begin: %w", err))
	}
	err = fn(&tx{tx: sqlTx, loc: s.loc, stmts: s.readStmts})
	if err != nil {
		sqlTx.Rollback()
	} else if err = sqlTx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	s.readStmts.prepare(ctx)
	return formatError(err)
}

// Migrate applies each pending numbered migration in its own transaction.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)`); err != nil {
		return formatError(fmt.Errorf("migrations table: %w", err))
	}
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	for _, m := range files {
		err := func() error {
			t, err := s.write.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer t.Rollback()
			var n int
			if err := t.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			body, err := migrations.ReadFile(m.Path)
			if err != nil {
				return err
			}
			if _, err := t.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", m.Path, err)
			}
			if _, err := t.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)`,
				m.Version, m.Path, time.Now().UnixMilli()); err != nil {
				return err
			}
			return t.Commit()
		}()
		if err != nil {
			return formatError(fmt.Errorf("migrate: %w", err))
		}
	}
	return nil
}

// SchemaVersion reports the applied and the latest migration numbers.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int, err error) {
	files, err := migrationFiles()
	if err != nil {
		return 0, 0, err
	}
	latest = files[len(files)-1].Version
	err = s.read.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, latest, nil
	}
	if err != nil {
		return 0, latest, formatError(fmt.Errorf("schema version: %w", err))
	}
	return applied, latest, nil
}

func migrationFiles() ([]storage.Migration, error) {
	return storage.Migrations(migrations, "migrations/*.sql")
}

// ErrBusy is the user-facing error for a write that could not get the lock.
var ErrBusy = storage.ErrBusy

// faults maps SQLite's primary result codes for conditions of the storage
// itself to their reasons: none passes by waiting a few seconds, each needs
// an operator (free space, remount, replace a disk).
var faults = map[int]storage.Reason{
	sqlite3.SQLITE_FULL:     storage.DiskFull,
	sqlite3.SQLITE_READONLY: storage.ReadOnly, // and READONLY_RECOVERY, _CANTLOCK, _DBMOVED, _DIRECTORY...
	sqlite3.SQLITE_IOERR:    storage.IOError,  // and every IOERR_*
	sqlite3.SQLITE_NOLFS:    storage.IOError,
	sqlite3.SQLITE_NOMEM:    storage.OutOfMemory,
	sqlite3.SQLITE_CANTOPEN: storage.CannotOpen,
	sqlite3.SQLITE_PERM:     storage.CannotOpen,
	sqlite3.SQLITE_NOTADB:   storage.CannotOpen,
	sqlite3.SQLITE_CORRUPT:  storage.Corrupt,
}

// formatError turns driver errors the caller can act on into fairslot errors:
// lock contention into ErrBusy, a fault of the storage into a
// storage.Fault; others are returned unchanged (internal).
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var fe *fairslot.Error
	if errors.As(err, &fe) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		primary := se.Code() & 0xff
		switch primary {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w (%v)", ErrBusy, err)
		}
		if r, ok := faults[primary]; ok {
			return &storage.Fault{Reason: r, Err: err}
		}
	}
	return err
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation naming
// column (table.column).
func isUnique(err error, column string) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return (c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) &&
		strings.Contains(se.Error(), column)
}

// isCancelled reports whether err is the refusal of a claim on a cancelled
// session (migration 0023).
func isCancelled(err error) bool {
	return isTrigger(err) && strings.Contains(err.Error(), "session is cancelled")
}

// isTrigger reports whether err was raised by a trigger's RAISE(ABORT).
func isTrigger(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_TRIGGER
}
