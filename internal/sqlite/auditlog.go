package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) AuditTreeSize(ctx context.Context) (int64, error) {
	var n int64
	err := t.queryRow(ctx, `SELECT coalesce(max(leaf) + 1, 0) FROM audit_leaves`).Scan(&n)
	return n, err
}

// AuditUnleafed: one writer commits records in seq order, so every record
// after the last leaf's is committed and next in commit order.
func (t *tx) AuditUnleafed(ctx context.Context, limit int) ([]storage.AuditLeaf, error) {
	rows, err := t.query(ctx, `SELECT seq, at_ms, actor, action, subject, detail, request_id FROM audit_events
		WHERE seq > coalesce((SELECT seq FROM audit_leaves ORDER BY leaf DESC LIMIT 1), 0) ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.AuditLeaf
	for rows.Next() {
		var seq, at int64
		var actor, action, subject, detail, rid sql.RawBytes
		if err := rows.Scan(&seq, &at, &actor, &action, &subject, &detail, &rid); err != nil {
			return nil, err
		}
		out = append(out, storage.AuditLeaf{Leaf: -1, Seq: seq,
			Canonical: audit.AppendCanonical(nil, seq, at, string(actor), string(action), string(subject), string(detail), string(rid))})
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
	for i, seq := range seqs {
		if _, err := t.exec(ctx, `INSERT INTO audit_leaves (leaf, seq) VALUES (?, ?)`, first+int64(i), seq); err != nil {
			if isUnique(err, "audit_leaves") {
				return fairslot.Errorf(fairslot.Conflict, "audit record %d already has a leaf", seq)
			}
			return fmt.Errorf("append audit leaf: %w", err)
		}
	}
	return t.insertHashes(ctx, hashIndex, hashes)
}

func (t *tx) insertHashes(ctx context.Context, index int64, hashes []byte) error {
	if len(hashes)%32 != 0 {
		return fmt.Errorf("audit hashes: %d bytes is not a whole number of hashes", len(hashes))
	}
	if len(hashes) == 0 {
		return nil
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_hashes (idx, hashes) VALUES (?, ?)`, index, hashes); err != nil {
		if isUnique(err, "audit_hashes") {
			return fairslot.Errorf(fairslot.Conflict, "audit hash %d is already stored", index)
		}
		return fmt.Errorf("store audit hashes: %w", err)
	}
	return nil
}

func (t *tx) AuditHashes(ctx context.Context, indexes []int64) ([]byte, error) {
	return storage.ReadHashRuns(indexes, func(i int64) (int64, []byte, error) {
		var first int64
		var run []byte
		err := one(t.queryRow(ctx, `SELECT idx, hashes FROM audit_hashes WHERE idx <= ? ORDER BY idx DESC LIMIT 1`, i), fmt.Sprintf("audit hash %d", i), &first, &run)
		return first, run, err
	})
}

// auditLeavesPacked reads each leaf and its record in one column. The
// driver makes a Go value (a string, or a boxed integer) for every column of
// every row, under the connection's mutex, and on millions of rows that was
// most of a verification's CPU. So a record whose columns have their
// declared types comes packed: its leaf, record number and time in decimal,
// its five texts' lengths in bytes, each followed by a space, then the texts
// themselves, byte for byte. Any other row (a leaf without its record, a
// column of another type) comes as its leaf number alone and is read column
// by column as before, as is a packed row that does not parse. Either way
// the canonical bytes are built in Go from the columns' bytes
// (audit.AppendCanonical); SQLite only concatenates them.
const auditLeavesPacked = `SELECT CASE WHEN typeof(l.seq) = 'integer' AND typeof(e.seq) = 'integer'
		AND typeof(e.at_ms) = 'integer' AND typeof(e.actor) = 'text' AND typeof(e.action) = 'text'
		AND typeof(e.subject) = 'text' AND typeof(e.detail) = 'text' AND typeof(e.request_id) = 'text'
	THEN l.leaf || ' ' || l.seq || ' ' || e.at_ms || ' ' || octet_length(e.actor) || ' ' || octet_length(e.action) || ' '
		|| octet_length(e.subject) || ' ' || octet_length(e.detail) || ' ' || octet_length(e.request_id) || ' '
		|| e.actor || e.action || e.subject || e.detail || e.request_id
	ELSE l.leaf END
FROM audit_leaves l LEFT JOIN audit_events e ON e.seq = l.seq WHERE l.leaf >= ? AND l.leaf < ? ORDER BY l.leaf`

func (t *tx) AuditLeaves(ctx context.Context, from, to int64, fn func(storage.AuditLeaf) error) error {
	rows, err := t.query(ctx, auditLeavesPacked, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	var packed sql.RawBytes // reused: Scan copies into it
	var buf []byte
	for rows.Next() {
		if err := rows.Scan(&packed); err != nil {
			return err
		}
		l, b, ok := unpackAuditLeaf(packed, buf[:0])
		if !ok {
			// Read by column: the leaf number leads the packed column.
			num, _, _ := bytes.Cut(packed, []byte(" "))
			leaf, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil {
				return fmt.Errorf("audit leaves: %q is neither a packed record nor a leaf number", packed)
			}
			if err := t.auditLeavesByColumn(ctx, leaf, leaf+1, fn); err != nil {
				return err
			}
			continue
		}
		buf = b
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// unpackAuditLeaf reads auditLeavesPacked's column and appends the record's
// canonical bytes to buf; ok is false when p is not a whole packed record.
func unpackAuditLeaf(p []byte, buf []byte) (l storage.AuditLeaf, _ []byte, ok bool) {
	var n [8]int64
	for i := range n {
		j := bytes.IndexByte(p, ' ')
		if j <= 0 {
			return l, buf, false
		}
		v, err := strconv.ParseInt(string(p[:j]), 10, 64)
		if err != nil || v < 0 && i != 2 { // only the time can be negative
			return l, buf, false
		}
		n[i], p = v, p[j+1:]
	}
	var f [5][]byte
	for i := range f {
		k := n[3+i]
		if k > int64(len(p)) {
			return l, buf, false
		}
		f[i], p = p[:k], p[k:]
	}
	if len(p) != 0 {
		return l, buf, false
	}
	buf = audit.AppendCanonical(buf, n[1], n[2], f[0], f[1], f[2], f[3], f[4])
	return storage.AuditLeaf{Leaf: n[0], Seq: n[1], Canonical: buf}, buf, true
}

// auditLeavesByColumn is AuditLeaves reading every column as its own value.
func (t *tx) auditLeavesByColumn(ctx context.Context, from, to int64, fn func(storage.AuditLeaf) error) error {
	rows, err := t.query(ctx, `SELECT l.leaf, l.seq, e.seq, e.at_ms, e.actor, e.action, e.subject, e.detail, e.request_id
		FROM audit_leaves l LEFT JOIN audit_events e ON e.seq = l.seq WHERE l.leaf >= ? AND l.leaf < ? ORDER BY l.leaf`, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	var buf []byte
	// Reused from row to row (Scan copies into them), and given to
	// AppendCanonical as bytes: no allocation of ours per row.
	var seq, at sql.NullInt64
	var actor, action, subject, detail, rid sql.RawBytes
	for rows.Next() {
		var l storage.AuditLeaf
		if err := rows.Scan(&l.Leaf, &l.Seq, &seq, &at, &actor, &action, &subject, &detail, &rid); err != nil {
			return err
		}
		if seq.Valid {
			buf = audit.AppendCanonical(buf[:0], seq.Int64, at.Int64, actor, action, subject, detail, rid)
			l.Canonical = buf
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *tx) AddAuditCheckpoint(ctx context.Context, c storage.AuditCheckpoint) error {
	_, err := t.exec(ctx, `INSERT INTO audit_checkpoints (size, note, created_ms) VALUES (?, ?, ?)`, c.Size, string(c.Note), ms(c.CreatedAt))
	if isUnique(err, "audit_checkpoints") {
		var note string
		if err := one(t.queryRow(ctx, `SELECT note FROM audit_checkpoints WHERE size = ?`, c.Size), "audit checkpoint", &note); err != nil {
			return err
		}
		if note == string(c.Note) {
			return nil
		}
		return fairslot.Errorf(fairslot.Conflict, "another checkpoint of size %d is stored", c.Size)
	}
	return err
}

func (t *tx) AuditCheckpoints(ctx context.Context) ([]storage.AuditCheckpoint, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.AuditCheckpoint, error) {
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
	err := one(t.queryRow(ctx, `SELECT size, note, created_ms FROM audit_checkpoints ORDER BY size DESC LIMIT 1`), "audit checkpoint", &c.Size, &note, &created)
	c.Note, c.CreatedAt = []byte(note), t.at(created)
	return c, err
}
