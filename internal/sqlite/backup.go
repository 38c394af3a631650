package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
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

// vacuumInto runs VACUUM INTO on a connection of its own, opened read-only
// (mode=ro): the pool's read connections are query_only, which SQLite
// applies to VACUUM INTO's new file too.
func (s *Store) vacuumInto(ctx context.Context, path string) error {
	var src string
	if err := s.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&src); err != nil {
		return err
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
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
