package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Watchdog finds database sessions that block fairslot and ends them: any
// session that blocks an online session (incident I3's LOCK TABLE), and any
// session that holds one of fairslot's job locks without being a live node
// (application_name proves nothing: any client can set it). A blocker seen
// for CancelAfter gets its query cancelled; still blocking at
// TerminateAfter, its session is terminated. Each action is logged and
// appended to the audit log with who the blocker was. It runs on one node
// at a time (the job leader) and needs a role in pg_signal_backend and
// pg_read_all_stats (fairslot_watchdog).
type Watchdog struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// CancelAfter and TerminateAfter default to 5s and 10s.
	CancelAfter, TerminateAfter time.Duration
	// ReportOnly logs and records blockers but signals no one.
	ReportOnly bool
	// Allow lists database users never touched (besides live fairslot nodes
	// and the online role, whose sessions are bounded by their own timeouts).
	Allow []string
	// Online is the role whose sessions are protected (default fairslot_online).
	Online string

	mu      sync.Mutex
	tracked map[string]*tracked // by pid and backend start: a pid can be reused

	cancelled, terminated, reported atomic.Int64
}

type tracked struct {
	firstSeen, lastSeen time.Time
	cancelled           bool
}

// Blocker is a session the watchdog found, as it was recorded.
type Blocker struct {
	PID          int32     `json:"pid"`
	User         string    `json:"user"`
	ClientAddr   string    `json:"client_addr"`
	AppName      string    `json:"application_name"`
	BackendStart time.Time `json:"backend_start"`
	XactStart    time.Time `json:"xact_start,omitzero"`
	State        string    `json:"state"`
	Query        string    `json:"query"`
	Reason       string    `json:"reason"`
}

// OpenWatchdog connects a watchdog with its own small pool (it must keep
// working when the online pool is exhausted by blocked requests).
func OpenWatchdog(ctx context.Context, dsn, node string, log *slog.Logger) (*Watchdog, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("watchdog: parse dsn: %w", err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["application_name"] = "fairslot watchdog " + node
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "5000"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	return &Watchdog{Pool: pool, Log: log}, nil
}

// WatchdogStats counts the watchdog's actions since start.
type WatchdogStats struct{ Cancelled, Terminated, Reported int64 }

func (w *Watchdog) Stats() WatchdogStats {
	return WatchdogStats{w.cancelled.Load(), w.terminated.Load(), w.reported.Load()}
}

// blockersSQL finds the sessions to act on: those that block an online
// session, and those that hold a fairslot job lock without being a live
// node. Live nodes, the online role, allow-listed users and the watchdog
// itself are never blockers.
const blockersSQL = `
WITH live AS (
	SELECT pid FROM fairslot.nodes WHERE heartbeat_at > clock_timestamp() - interval '15 seconds'
), found AS (
	SELECT b.pid, 'blocks fairslot online sessions' AS reason
	FROM pg_stat_activity w CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
	WHERE w.usename = $1 AND w.datname = current_database()
	UNION
	SELECT l.pid, 'holds a fairslot job lock without being a live fairslot node'
	FROM pg_locks l
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($2)
)
SELECT a.pid, coalesce(a.usename, ''), coalesce(host(a.client_addr), 'local'), coalesce(a.application_name, ''),
	a.backend_start, a.xact_start, coalesce(a.state, ''), coalesce(left(a.query, 300), ''), string_agg(DISTINCT f.reason, '; ')
FROM found f JOIN pg_stat_activity a ON a.pid = f.pid
WHERE a.pid <> pg_backend_pid() AND a.pid NOT IN (SELECT pid FROM live)
	AND coalesce(a.usename, '') <> $1 AND NOT (coalesce(a.usename, '') = ANY($3))
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`

// Check scans once and acts on what it finds; Run calls it every interval.
func (w *Watchdog) Check(ctx context.Context) error {
	online := w.Online
	if online == "" {
		online = OnlineRole
	}
	rows, err := w.Pool.Query(ctx, blockersSQL, online, jobKeys(), append([]string{}, w.Allow...))
	if err != nil {
		return fmt.Errorf("watchdog scan: %w", err)
	}
	blockers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (b Blocker, err error) {
		var xact *time.Time
		err = r.Scan(&b.PID, &b.User, &b.ClientAddr, &b.AppName, &b.BackendStart, &xact, &b.State, &b.Query, &b.Reason)
		if xact != nil {
			b.XactStart = *xact
		}
		return b, err
	})
	if err != nil {
		return fmt.Errorf("watchdog scan: %w", err)
	}
	now := time.Now()
	cancelAfter, terminateAfter := w.CancelAfter, w.TerminateAfter
	if cancelAfter == 0 {
		cancelAfter = 5 * time.Second
	}
	if terminateAfter == 0 {
		terminateAfter = 10 * time.Second
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tracked == nil {
		w.tracked = map[string]*tracked{}
	}
	for _, b := range blockers {
		key := fmt.Sprint(b.PID, b.BackendStart.UnixNano())
		t := w.tracked[key]
		if t == nil {
			t = &tracked{firstSeen: now}
			w.tracked[key] = t
		}
		t.lastSeen = now
		blocked := now.Sub(t.firstSeen)
		switch {
		case blocked >= terminateAfter:
			w.act(ctx, "terminate", b, blocked)
			delete(w.tracked, key)
		case blocked >= cancelAfter && !t.cancelled:
			w.act(ctx, "cancel", b, blocked)
			t.cancelled = true
		}
	}
	// A blocker stays tracked through short gaps (no online session was
	// waiting at that instant); one gone for a while starts afresh.
	for k, t := range w.tracked {
		if now.Sub(t.lastSeen) > cancelAfter {
			delete(w.tracked, k)
		}
	}
	return nil
}

// act cancels or terminates a blocker (or only reports it) and records it.
func (w *Watchdog) act(ctx context.Context, action string, b Blocker, blocked time.Duration) {
	done := action
	if w.ReportOnly {
		done = "report"
		w.reported.Add(1)
	} else {
		fn := map[string]string{"cancel": "pg_cancel_backend", "terminate": "pg_terminate_backend"}[action]
		var ok bool
		if err := w.Pool.QueryRow(ctx, `SELECT `+fn+`($1)`, b.PID).Scan(&ok); err != nil || !ok {
			w.Log.Error("watchdog could not signal a blocking session", "action", action, "pid", b.PID, "user", b.User, "err", err)
			return
		}
		if action == "cancel" {
			w.cancelled.Add(1)
		} else {
			w.terminated.Add(1)
		}
	}
	w.Log.Warn("watchdog: a session blocks fairslot", "action", done, "pid", b.PID, "user", b.User, "client_addr", b.ClientAddr,
		"application_name", b.AppName, "backend_start", b.BackendStart, "xact_start", b.XactStart, "state", b.State,
		"query", b.Query, "reason", b.Reason, "blocking_for", blocked.Round(time.Millisecond))
	detail, _ := json.Marshal(map[string]string{
		"pid": fmt.Sprint(b.PID), "user": b.User, "client_addr": b.ClientAddr, "application_name": b.AppName,
		"backend_start": b.BackendStart.UTC().Format(time.RFC3339Nano), "xact_start": b.XactStart.UTC().Format(time.RFC3339Nano),
		"state": b.State, "query": b.Query, "reason": b.Reason, "blocking_ms": fmt.Sprint(blocked.Milliseconds()),
	})
	if _, err := w.Pool.Exec(ctx, `INSERT INTO fairslot.audit_events (at_ms, actor, action, subject, detail) VALUES ($1, 'system:watchdog', $2, $3, $4)`,
		time.Now().UnixMilli(), "watchdog."+done, fmt.Sprintf("session:%d", b.PID), string(detail)); err != nil {
		w.Log.Error("watchdog could not record its action", "err", err)
	}
}

// Run checks every interval until ctx ends.
func (w *Watchdog) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := w.Check(ctx); err != nil && ctx.Err() == nil {
			w.Log.Error("watchdog", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// The job locks: session-level advisory locks a node holds while it runs
// jobs that must run once across nodes.
const (
	JobSweep = iota + 1 // hold expiry, no-shows, the watchdog
)

const lockJob = 15

func jobKey(job int64) int64 { return lockKey(lockJob, job) }

func jobKeys() []int64 { return []int64{jobKey(JobSweep)} }
