package postgres

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Jobs runs the work that must run on one node at a time. Every node keeps
// one dedicated connection on which it writes its heartbeat and tries the
// job lock, a session-level advisory lock: the node holding it is the
// leader and runs lead on each tick. When the leader dies its connection
// closes, PostgreSQL releases the lock, and another node takes it on its
// next tick.
type Jobs struct {
	Pool     *pgxpool.Pool
	Node     string
	Log      *slog.Logger
	Interval time.Duration // default 1s

	leading atomic.Bool
}

// Leading reports whether this node holds the job lock now.
func (j *Jobs) Leading() bool { return j.leading.Load() }

// NewJobs returns the job runner of a store's pool.
func (s *Store) NewJobs(node string, log *slog.Logger) *Jobs {
	return &Jobs{Pool: s.pool, Node: node, Log: log}
}

// Run ticks until ctx ends, calling lead while this node holds the job lock.
// It owns its connection and releases it, and with it the lock, on return.
func (j *Jobs) Run(ctx context.Context, lead func(ctx context.Context)) {
	interval := j.Interval
	if interval == 0 {
		interval = time.Second
	}
	var conn *pgxpool.Conn
	leader := false
	drop := func() {
		if conn != nil {
			// Close rather than return it: the pool must not hand out a
			// connection that still holds the job lock.
			conn.Conn().Close(context.Background())
			conn.Release()
			conn = nil
		}
		if leader {
			j.Log.Info("job leadership released", "node", j.Node)
		}
		leader = false
		j.leading.Store(false)
	}
	defer drop()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := j.tick(ctx, &conn, &leader); err != nil && ctx.Err() == nil {
			j.Log.Warn("job runner: lost its connection; retrying", "node", j.Node, "err", err)
			drop()
		}
		j.leading.Store(leader)
		if leader {
			lead(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (j *Jobs) tick(ctx context.Context, conn **pgxpool.Conn, leader *bool) error {
	if *conn == nil {
		c, err := j.Pool.Acquire(ctx)
		if err != nil {
			return err
		}
		*conn = c
	}
	if _, err := (*conn).Exec(ctx, `SELECT fairslot.heartbeat($1, 'serve')`, j.Node); err != nil {
		return err
	}
	if *leader {
		return nil
	}
	if err := (*conn).QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, jobKey(JobSweep)).Scan(leader); err != nil {
		return err
	}
	if *leader {
		j.Log.Info("job leadership taken: this node runs the sweeps and the lock watchdog", "node", j.Node)
	}
	return nil
}

// Leader reports which node holds the job lock now, if any.
func (s *Store) Leader(ctx context.Context) (string, error) {
	var node string
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT n.name FROM pg_locks l JOIN fairslot.nodes n ON n.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1), '')`, jobKey(JobSweep)).Scan(&node)
	return node, formatError(err)
}
