package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NodeKeyPurpose names the key a node proves its heartbeats with. Callers
// derive it from the keyset (vault.Key(NodeKeyPurpose)), so every node that
// holds the keyset holds it, and nobody who lacks the keyset does: not the
// online role, not the owner, not a DBA.
const NodeKeyPurpose = "node-heartbeat"

// liveFor is how old a serve node's last proven heartbeat may be, by the
// database's clock, for the node to count as live. Nodes beat every second;
// a node whose clock is further than this from the database's never counts.
const liveFor = 15 * time.Second

// The kinds of node row.
const (
	kindServe   = "serve"   // a serve node's job connection
	kindMigrate = "migrate" // a migration's connection, for as long as it lives
)

// querier is what a pool, a pooled connection and a transaction share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// backend identifies one database session: a pid is reused once its
// session ends, the pair is not.
type backend struct {
	PID   int32
	Start time.Time
}

// self returns the backend q's session runs in. Every role sees its own
// session's backend_start.
func self(ctx context.Context, q querier) (backend, error) {
	var b backend
	err := q.QueryRow(ctx, `SELECT pid, backend_start FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid()`).Scan(&b.PID, &b.Start)
	if err != nil {
		return b, fmt.Errorf("identify own session: %w", err)
	}
	return b, nil
}

// nodeMAC is the proof in a node row: an HMAC-SHA256 under key of the
// backend the row is stored under, the node's name and kind, and its clock.
// The pid comes from the database (heartbeat() records the caller's own),
// so a MAC copied from another row proves nothing for the copier's session;
// the backend start makes it useless to a later session given the same pid;
// the clock makes an old row, refreshed by someone with rights on the table,
// stale all the same.
func nodeMAC(key []byte, b backend, name, kind string, atMs int64) []byte {
	msg := []byte("fairslot node heartbeat v1\x00")
	msg = binary.BigEndian.AppendUint32(msg, uint32(b.PID))
	msg = binary.BigEndian.AppendUint64(msg, uint64(b.Start.UnixMicro()))
	msg = binary.BigEndian.AppendUint64(msg, uint64(atMs))
	for _, s := range []string{name, kind} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(s)))
		msg = append(msg, s...)
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// heartbeat registers b, the session q runs in, as a node of the given kind
// and returns the database's clock.
func heartbeat(ctx context.Context, q querier, key []byte, b backend, name, kind string) (time.Time, error) {
	if len(key) == 0 {
		return time.Time{}, errors.New("no node key: a node proves its heartbeat with a key derived from the keyset")
	}
	at := time.Now().UnixMilli()
	var dbNow time.Time
	err := q.QueryRow(ctx, `SELECT fairslot.heartbeat($1, $2, $3, $4)`, name, kind, at, nodeMAC(key, b, name, kind, at)).Scan(&dbNow)
	return dbNow, err
}

// nodeRow is a row of fairslot.nodes with the start of the backend it
// names, as the reader sees it in pg_stat_activity (zero when it sees none).
type nodeRow struct {
	Backend    backend
	Name, Kind string
	AtMs       int64
	MAC        []byte
}

// proven reports whether the row was written, by a holder of key, from the
// session it names, and, for a serve node, recently by the database's clock
// now. A migration writes once, before it starts, and is proven for as long
// as its session lives: it cannot beat while it runs a statement.
func (r nodeRow) proven(key []byte, now time.Time) bool {
	if len(key) == 0 || r.Backend.Start.IsZero() || !hmac.Equal(r.MAC, nodeMAC(key, r.Backend, r.Name, r.Kind, r.AtMs)) {
		return false
	}
	switch r.Kind {
	case kindMigrate:
		return true
	case kindServe:
		age := now.Sub(time.UnixMilli(r.AtMs))
		return age <= liveFor && age >= -liveFor
	}
	return false
}

// provenNodes returns the proven rows of fairslot.nodes by pid. The reader
// must see the backend_start of the nodes' sessions: its own role's, or all
// with pg_read_all_stats.
func provenNodes(ctx context.Context, q querier, key []byte) (map[int32]nodeRow, error) {
	rows, err := q.Query(ctx, `SELECT n.pid, a.backend_start, n.name, n.kind, n.at_ms, n.mac, clock_timestamp()
		FROM fairslot.nodes n JOIN pg_catalog.pg_stat_activity a ON a.pid = n.pid`)
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	defer rows.Close()
	out := map[int32]nodeRow{}
	for rows.Next() {
		var r nodeRow
		var start *time.Time
		var now time.Time
		if err := rows.Scan(&r.Backend.PID, &start, &r.Name, &r.Kind, &r.AtMs, &r.MAC, &now); err != nil {
			return nil, fmt.Errorf("read nodes: %w", err)
		}
		if start != nil {
			r.Backend.Start = *start
		}
		if r.proven(key, now) {
			out[r.Backend.PID] = r
		}
	}
	return out, rows.Err()
}

// holder is the session holding a job lock.
type holder struct {
	PID          int32
	User         string
	AppName      string
	BackendStart time.Time // zero when the reader may not see it
	Node         string    // the proven node's name; empty when it is not one
}

// jobHolderSQL finds the session holding job lock $1 in this database.
const jobHolderSQL = `SELECT l.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''), a.backend_start
	FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
		AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
	LIMIT 1`

// jobHolder returns who holds the job's lock, if anyone, and whether it is
// a proven live serve node.
func jobHolder(ctx context.Context, q querier, key []byte, job int64) (h holder, held bool, err error) {
	var start *time.Time
	err = q.QueryRow(ctx, jobHolderSQL, jobKey(job)).Scan(&h.PID, &h.User, &h.AppName, &start)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("job lock holder: %w", err)
	}
	if start != nil {
		h.BackendStart = *start
	}
	nodes, err := provenNodes(ctx, q, key)
	if err != nil {
		return h, true, err
	}
	if n, ok := nodes[h.PID]; ok && n.Kind == kindServe {
		h.Node = n.Name
	}
	return h, true, nil
}

// Leader reports which node holds the job lock now, if any: only a proven
// live node counts, so a session that took the lock, or wrote itself into
// the nodes table, is no leader. It needs Options.NodeKey.
func (s *Store) Leader(ctx context.Context) (string, error) {
	if len(s.nodeKey) == 0 {
		return "", errors.New("postgres: Leader needs Options.NodeKey to tell a proven node from an impostor")
	}
	h, _, err := jobHolder(ctx, s.pool, s.nodeKey, JobSweep)
	return h.Node, formatError(err)
}
