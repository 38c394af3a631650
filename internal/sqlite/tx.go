package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

// tx implements storage.Tx on one SQLite transaction.
type tx struct {
	tx    *sql.Tx
	loc   *time.Location
	stmts *stmtCache
	// detached: statements ignore their caller's cancellation, because the
	// transaction is shared with other requests (group commit).
	detached bool
	depth    int // of nested Savepoint calls
}

// stmtCache keeps one prepared statement per query text for a pool, so a
// transaction does not parse and plan the same SQL on every call. A query
// seen for the first time runs unprepared and is prepared after its
// transaction ends: the writer pool has a single connection, which the
// transaction holds, so preparing on the pool inside it would deadlock.
type stmtCache struct {
	db      *sql.DB
	m       sync.Map // query → *sql.Stmt
	pending sync.Map // query → struct{}
}

// prepare prepares the queries first seen since the last call.
func (c *stmtCache) prepare(ctx context.Context) {
	c.pending.Range(func(q, _ any) bool {
		c.pending.Delete(q)
		if _, ok := c.m.Load(q); ok {
			return true
		}
		if s, err := c.db.PrepareContext(ctx, q.(string)); err == nil {
			if _, loaded := c.m.LoadOrStore(q, s); loaded {
				s.Close()
			}
		}
		return true
	})
}

func (t *tx) context(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt returns query prepared on the transaction's connection (database/sql
// reuses the pool statement's preparation there), or nil on a first sight.
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if s, ok := t.stmts.m.Load(query); ok {
		return t.tx.StmtContext(ctx, s.(*sql.Stmt))
	}
	t.stmts.pending.Store(query, struct{}{})
	return nil
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// insert runs an INSERT and returns the new row id.
func (t *tx) insert(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// one scans a single row, turning "no rows" into a NotFound error naming what.
func one(row *sql.Row, what string, dest ...any) error {
	err := row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return fairslot.Errorf(fairslot.NotFound, "%s not found", what)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// all runs a query and scans every row with scan.
func all[T any](ctx context.Context, t *tx, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// nullIf stores a zero value as NULL.
func nullIf[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func (t *tx) at(ms int64) time.Time { return time.UnixMilli(ms).In(t.loc) }

func (t *tx) atNull(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return t.at(ms.Int64)
}

// AppendAudit appends e and sets its Seq. Times keep millisecond precision,
// so At is truncated to what will be read back.
func (t *tx) AppendAudit(ctx context.Context, e *audit.Event) error {
	e.At = e.At.Truncate(time.Millisecond)
	detail := "{}"
	if len(e.Detail) > 0 {
		detail = string(mustJSON(e.Detail))
	}
	seq, err := t.insert(ctx, `INSERT INTO audit_events (at_ms, actor, action, subject, detail, request_id) VALUES (?, ?, ?, ?, ?, ?)`,
		ms(e.At), e.Actor, e.Action, e.Subject, detail, e.RequestID)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	e.Seq = seq
	return nil
}

func (t *tx) AuditEvents(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error) {
	return all(ctx, t, t.scanAudit, `SELECT seq, at_ms, actor, action, subject, detail, request_id FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
}

func (t *tx) Setting(ctx context.Context, key string) (string, error) {
	var v string
	return v, one(t.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key), "setting", &v)
}

func (t *tx) PutSetting(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

func (t *tx) scanAudit(r *sql.Rows) (audit.Event, error) {
	var e audit.Event
	var at int64
	var detail string
	if err := r.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &detail, &e.RequestID); err != nil {
		return e, err
	}
	e.At = t.at(at)
	if detail != "{}" {
		if err := unmarshalJSON(detail, &e.Detail); err != nil {
			return e, err
		}
	}
	return e, nil
}

// fhirTrail is the FHIR audit trail's predicate (storage.AuditQuery).
const fhirTrail = `(action = 'fhir.call' OR actor LIKE 'fhir-client:%' OR subject LIKE 'fhir-client:%')`

func (t *tx) FHIRAudit(ctx context.Context, q storage.AuditQuery) ([]audit.Event, int, error) {
	where := []string{fhirTrail}
	var args []any
	in := func(col string, vs []string) {
		if len(vs) == 0 {
			return
		}
		where = append(where, col+` IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(vs)), ", ")+`)`)
		for _, v := range vs {
			args = append(args, v)
		}
	}
	if q.Seq != 0 {
		where, args = append(where, `seq = ?`), append(args, q.Seq)
	}
	if !q.From.IsZero() {
		where, args = append(where, `at_ms >= ?`), append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, `at_ms < ?`), append(args, ms(q.To))
	}
	in(`actor`, q.Actors)
	in(`subject`, q.Subjects)
	if len(q.Operations) > 0 {
		where = append(where, `action = 'fhir.call'`)
		in(`json_extract(detail, '$.operation')`, q.Operations)
	}
	cond := strings.Join(where, ` AND `)
	var total int
	if err := t.queryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit events: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	evs, err := all(ctx, t, t.scanAudit, `SELECT seq, at_ms, actor, action, subject, detail, request_id FROM audit_events WHERE `+cond+
		` ORDER BY seq LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...)
	return evs, total, err
}
