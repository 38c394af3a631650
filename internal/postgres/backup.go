package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot/internal/storage"
)

// Snapshot is one exported database snapshot, for a backup: pg_dump
// --snapshot=ID dumps exactly what Tx reads and Counts counted.
type Snapshot struct {
	ID      string
	Tx      storage.Tx
	Counts  map[string]int64 // rows of every table of the schema
	Version int              // the schema version applied
}

// WithSnapshot runs fn in a read-only REPEATABLE READ transaction whose
// snapshot is exported (pg_export_snapshot), with the statement and idle
// timeouts lifted for it alone: a dump of a large database takes a while,
// and it blocks no writer (it holds ACCESS SHARE locks only).
func (s *Store) WithSnapshot(ctx context.Context, fn func(Snapshot) error) error {
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return formatError(fmt.Errorf("snapshot: %w", err))
	}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	var snap Snapshot
	if _, err := ptx.Exec(ctx, `SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0`); err != nil {
		return formatError(fmt.Errorf("snapshot: %w", err))
	}
	if err := ptx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snap.ID); err != nil {
		return formatError(fmt.Errorf("snapshot: %w", err))
	}
	if err := ptx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM fairslot.schema_migrations`).Scan(&snap.Version); err != nil {
		return formatError(fmt.Errorf("snapshot: schema version: %w", err))
	}
	if snap.Counts, err = tableCounts(ctx, ptx); err != nil {
		return err
	}
	snap.Tx = &tx{tx: newBoundedTx(ptx, s.lockTimeout), loc: s.loc}
	return fn(snap)
}

// TableCounts returns the rows of every table of the schema, read in one
// snapshot.
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	if _, err := ptx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	return tableCounts(ctx, ptx)
}

func tableCounts(ctx context.Context, ptx pgx.Tx) (map[string]int64, error) {
	rows, err := ptx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'fairslot' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`)
	if err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, formatError(fmt.Errorf("table counts: %w", err))
	}
	counts := make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := ptx.QueryRow(ctx, `SELECT count(*) FROM fairslot.`+pgx.Identifier{n}.Sanitize()).Scan(&c); err != nil {
			return nil, formatError(fmt.Errorf("table counts: %s: %w", n, err))
		}
		counts[n] = c
	}
	return counts, nil
}
