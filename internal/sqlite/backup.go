package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"

	msqlite "modernc.org/sqlite"
)

// Snapshot writes a consistent copy of the database to path, which must not
// exist, with VACUUM INTO on a read connection: it reads one WAL snapshot
// and never takes the write lock, so writers go on while it runs. The copy
// is created mode 0600, as the database is.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	f.Close()
	if err := s.vacuumInto(ctx, path); err != nil {
		os.Remove(path)
		return formatError(fmt.Errorf("snapshot: %w", err))
	}
	return nil
}

// SnapshotPaced writes the same consistent copy as Snapshot, but with
// SQLite's online backup a run of pages at a time, calling yield between
// two runs (a backup taken while serving sleeps there, leaving the CPU to
// the bookings). The copy is read in one read transaction held on a
// read-only connection of its own from the first page to the last, so it
// is one WAL snapshot, as VACUUM INTO's, and writers go on meanwhile; the
// WAL cannot be checkpointed past that snapshot until the copy is done.
// Unlike VACUUM INTO it copies free pages too.
func (s *Store) SnapshotPaced(ctx context.Context, path string, pages int, yield func(context.Context) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	f.Close()
	if err := s.backupInto(ctx, path, pages, yield); err != nil {
		os.Remove(path)
		return formatError(fmt.Errorf("snapshot: %w", err))
	}
	return nil
}

func (s *Store) backupInto(ctx context.Context, path string, pages int, yield func(context.Context) error) error {
	db, err := s.readOnly(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// The read transaction the backup's steps all read in.
	if _, err := c.ExecContext(ctx, `BEGIN`); err != nil {
		return err
	}
	defer c.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
	var n int
	if err := c.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return err
	}
	// The copy is staged, then packed and deleted: it needs no fsync of
	// its own (the archive made from it is synced).
	dst := "file:" + path + "?" + url.Values{"_pragma": {"synchronous(off)"}}.Encode()
	return c.Raw(func(dc any) error {
		bc, ok := dc.(interface {
			NewBackup(string) (*msqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("the driver's connection %T has no online backup", dc)
		}
		bk, err := bc.NewBackup(dst)
		if err != nil {
			return err
		}
		for more := true; more && err == nil; {
			if more, err = bk.Step(int32(max(pages, 1))); err == nil && more {
				err = yield(ctx)
			}
		}
		return errors.Join(err, bk.Finish())
	})
}

// readOnly opens the database file on a pool of its own, read-only.
func (s *Store) readOnly(ctx context.Context) (*sql.DB, error) {
	var src string
	if err := s.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&src); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	return sql.Open("sqlite", "file:"+src+"?"+q.Encode())
}

// vacuumInto runs VACUUM INTO on a connection of its own, opened read-only
// (mode=ro): the pool's read connections are query_only, which SQLite
// applies to VACUUM INTO's new file too.
func (s *Store) vacuumInto(ctx context.Context, path string) error {
	db, err := s.readOnly(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, path)
	return err
}

// TableCounts returns every table's number of rows, read in one
// transaction.
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, formatError(fmt.Errorf("table counts: %w", err))
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	counts := make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM "`+n+`"`).Scan(&c); err != nil {
			return nil, formatError(fmt.Errorf("table counts: %s: %w", n, err))
		}
		counts[n] = c
	}
	return counts, nil
}
