package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) AuditTreeSize(ctx context.Context) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT coalesce(max(leaf) + 1, 0) FROM audit_leaves`).Scan(&n)
	return n, err
}

// AuditUnleafed takes records in (xid, seq) order, and only those whose
// transaction is older than every transaction still running (below the
// snapshot's xmin): those are finished, so no record still to commit can
// sort before them, and rolled-back ones are simply never seen. Leaf order
// is then fixed once given, and has no gaps.
func (t *tx) AuditUnleafed(ctx context.Context, limit int) ([]storage.AuditLeaf, error) {
	const cols = `SELECT e.seq, e.at_ms, e.actor, e.action, e.subject, e.detail, e.request_id FROM audit_events e
		WHERE e.xid < pg_snapshot_xmin(pg_current_snapshot())`
	var lastXid string
	var lastSeq int64
	err := t.tx.QueryRow(ctx, `SELECT e.xid::text, e.seq FROM audit_leaves l JOIN audit_events e ON e.seq = l.seq
		ORDER BY l.leaf DESC LIMIT 1`).Scan(&lastXid, &lastSeq)
	var rows pgx.Rows
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		rows, err = t.tx.Query(ctx, cols+` ORDER BY e.xid, e.seq LIMIT $1`, limit)
	case err == nil:
		// One row comparison, so that the (xid, seq) index bounds the scan.
		rows, err = t.tx.Query(ctx, cols+` AND (e.xid, e.seq) > ($2::xid8, $3) ORDER BY e.xid, e.seq LIMIT $1`, limit, lastXid, lastSeq)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.AuditLeaf
	for rows.Next() {
		var seq, at int64
		var actor, action, subject, detail, rid string
		if err := rows.Scan(&seq, &at, &actor, &action, &subject, &detail, &rid); err != nil {
			return nil, err
		}
		out = append(out, storage.AuditLeaf{Leaf: -1, Seq: seq, Canonical: audit.AppendCanonical(nil, seq, at, actor, action, subject, detail, rid)})
	}
	return out, rows.Err()
}

func (t *tx) AppendAuditLeaves(ctx context.Context, first int64, seqs []int64, hashIndex int64, hashes []byte) error {
	size, err := t.AuditTreeSize(ctx)
	if err != nil {
		return err
	}
	if size != first {
		return fairslot.Errorf(fairslot.Conflict, "the audit log has %d leaves, not %d: another leafer ran", size, first)
	}
	if len(hashes)%32 != 0 {
		return fmt.Errorf("audit hashes: %d bytes is not a whole number of hashes", len(hashes))
	}
	leaves := make([]int64, len(seqs))
	for i := range leaves {
		leaves[i] = first + int64(i)
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_leaves (leaf, seq) SELECT * FROM unnest($1::bigint[], $2::bigint[])`, leaves, seqs); err != nil {
		if isUnique(err, "audit_leaves_pkey") || isUnique(err, "audit_leaves_seq_key") {
			return fairslot.Errorf(fairslot.Conflict, "another leafer gave these leaves")
		}
		return fmt.Errorf("append audit leaves: %w", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_hashes (idx, hashes) VALUES ($1, $2)`, hashIndex, hashes); err != nil {
		if isUnique(err, "audit_hashes_pkey") {
			return fairslot.Errorf(fairslot.Conflict, "audit hashes already stored")
		}
		return fmt.Errorf("store audit hashes: %w", err)
	}
	return nil
}

func (t *tx) AuditHashes(ctx context.Context, indexes []int64) ([]byte, error) {
	return storage.ReadHashRuns(indexes, func(i int64) (int64, []byte, error) {
		var first int64
		var run []byte
		err := one(t.tx.QueryRow(ctx, `SELECT idx, hashes FROM audit_hashes WHERE idx <= $1 ORDER BY idx DESC LIMIT 1`, i), fmt.Sprintf("audit hash %d", i), &first, &run)
		return first, run, err
	})
}

func (t *tx) AuditLeaves(ctx context.Context, from, to int64, fn func(storage.AuditLeaf) error) error {
	rows, err := t.tx.Query(ctx, `SELECT l.leaf, l.seq, e.seq, e.at_ms, e.actor, e.action, e.subject, e.detail, e.request_id
		FROM audit_leaves l LEFT JOIN audit_events e ON e.seq = l.seq WHERE l.leaf >= $1 AND l.leaf < $2 ORDER BY l.leaf`, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	var buf []byte
	for rows.Next() {
		var l storage.AuditLeaf
		var seq, at *int64
		var actor, action, subject, detail, rid *string
		if err := rows.Scan(&l.Leaf, &l.Seq, &seq, &at, &actor, &action, &subject, &detail, &rid); err != nil {
			return err
		}
		if seq != nil {
			buf = audit.AppendCanonical(buf[:0], *seq, *at, *actor, *action, *subject, *detail, *rid)
			l.Canonical = buf
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *tx) AddAuditCheckpoint(ctx context.Context, c storage.AuditCheckpoint) error {
	n, err := t.exec(ctx, `INSERT INTO audit_checkpoints (size, note, created_ms) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING`,
		c.Size, string(c.Note), ms(c.CreatedAt))
	if err != nil || n == 1 {
		return err
	}
	var note string
	if err := one(t.tx.QueryRow(ctx, `SELECT note FROM audit_checkpoints WHERE size = $1`, c.Size), "audit checkpoint", &note); err != nil {
		return err
	}
	if note != string(c.Note) {
		return fairslot.Errorf(fairslot.Conflict, "another checkpoint of size %d is stored", c.Size)
	}
	return nil
}

func (t *tx) AuditCheckpoints(ctx context.Context) ([]storage.AuditCheckpoint, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.AuditCheckpoint, error) {
		var c storage.AuditCheckpoint
		var note string
		var created int64
		err := r.Scan(&c.Size, &note, &created)
		c.Note, c.CreatedAt = []byte(note), t.at(created)
		return c, err
	}, `SELECT size, note, created_ms FROM audit_checkpoints ORDER BY size`)
}

func (t *tx) LatestAuditCheckpoint(ctx context.Context) (storage.AuditCheckpoint, error) {
	var c storage.AuditCheckpoint
	var note string
	var created int64
	err := one(t.tx.QueryRow(ctx, `SELECT size, note, created_ms FROM audit_checkpoints ORDER BY size DESC LIMIT 1`), "audit checkpoint", &c.Size, &note, &created)
	c.Note, c.CreatedAt = []byte(note), t.at(created)
	return c, err
}
