package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Watchdog finds database sessions that block fairslot and ends them,
// whatever role they connected as, fairslot_online included: incident I3's
// LOCK TABLE, a row lock, an uncommitted insert left idle, an advisory lock,
// a long ACCESS SHARE lock in front of a migration. It walks the graph of
// lock waits from every waiting online session (a request, a node's
// heartbeat) through whoever they wait for, soft blockers too, to the
// sessions at its ends. It also ends any session that holds a job lock without being
// a proven live node. It never touches its own session, proven live nodes'
// job connections and proven migrations (it walks on through them to what
// they wait for), nor the users in Allow. A proven node is one whose
// heartbeat carries a valid MAC under NodeKey (nodes.go): application_name,
// a role or a row in fairslot.nodes prove nothing alone.
//
// A blocker seen for CancelAfter has its query cancelled, or its session
// terminated if it sits idle (a cancel does nothing to a session between
// statements); still blocking at TerminateAfter, it is terminated. A
// blocker that cannot be signalled, a superuser's session, is logged as an
// ALERT and audited once, with what it holds. Each action is logged and
// appended to the audit log with who the blocker was. It needs a role in
// pg_signal_backend and pg_read_all_stats (fairslot_watchdog).
type Watchdog struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// NodeKey verifies nodes' heartbeats (Options.NodeKey); without it no
	// session counts as a live node.
	NodeKey []byte
	// Node names the node this watchdog runs on, in its log and audit.
	Node string
	// CancelAfter and TerminateAfter default to 5s and 10s.
	CancelAfter, TerminateAfter time.Duration
	// ReportOnly logs and records blockers but signals no one.
	ReportOnly bool
	// Allow lists database users never touched.
	Allow []string
	// Online is the role whose waiting sessions are protected (default
	// fairslot_online).
	Online string

	mu      sync.Mutex
	tracked map[string]*tracked

	cancelled, terminated, reported, alerted atomic.Int64
}

// tracked is what the watchdog remembers of one blocker.
type tracked struct {
	firstSeen, lastSeen time.Time
	cancelled           bool // its query was cancelled (or, report-only, would have been)
	done                bool // alerted, or reported as to be terminated: nothing more to do
}

// Blocker is a session the watchdog found, as it was recorded.
type Blocker struct {
	PID          int32     `json:"pid"`
	User         string    `json:"user"`
	Superuser    bool      `json:"superuser,omitzero"`
	BackendType  string    `json:"backend_type"`
	ClientAddr   string    `json:"client_addr"`
	AppName      string    `json:"application_name"`
	BackendStart time.Time `json:"backend_start"`
	XactStart    time.Time `json:"xact_start,omitzero"`
	State        string    `json:"state"`
	Query        string    `json:"query"`
	Locks        string    `json:"locks"`
	Reason       string    `json:"reason"`
}

// idle reports whether the blocker sits between statements: a cancel would
// do nothing to it.
func (b Blocker) idle() bool { return strings.HasPrefix(b.State, "idle") }

// signallable reports whether pg_signal_backend can end the session:
// superusers' sessions and background processes are beyond it.
func (b Blocker) signallable() bool { return !b.Superuser && b.BackendType == "client backend" }

// trackKey names a blocker across scans. The online role holds locks only
// inside transactions (its advisory locks are transaction-level; the job
// lock is the one exception, held outside any transaction) and a healthy
// fairslot transaction is short, so its sessions are tracked per
// transaction: a busy pool connection that blocks others for a moment in
// one transaction after another is never mistaken for one long blocker. Any
// other role may hold session-level locks across transactions, so its
// sessions are tracked per session: a pid is reused, a pid and backend
// start are not.
func trackKey(b Blocker, online string) string {
	key := fmt.Sprint(b.PID, "/", b.BackendStart.UnixMicro())
	if b.User == online {
		key += fmt.Sprint("/", b.XactStart.UnixMicro())
	}
	return key
}

// verdict is what the watchdog does about a blocker on one scan.
type verdict int

const (
	wait      verdict = iota
	cancel            // cancel its query
	terminate         // end its session
	alert             // it cannot be signalled: say so, once
)

// decide is the watchdog's rule for a blocker seen blocking for blocked.
func decide(b Blocker, t tracked, blocked, cancelAfter, terminateAfter time.Duration) verdict {
	switch {
	case blocked < cancelAfter || t.done:
		return wait
	case !b.signallable():
		return alert
	case blocked >= terminateAfter || b.idle():
		return terminate
	case !t.cancelled:
		return cancel
	}
	return wait
}

// OpenWatchdog connects a watchdog with its own small pool (it must keep
// working when the online pool is exhausted by blocked requests). key
// verifies nodes' heartbeats (vault.Key(NodeKeyPurpose)).
func OpenWatchdog(ctx context.Context, dsn, node string, key []byte, log *slog.Logger) (*Watchdog, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("watchdog: parse dsn: %w", err)
	}
	cfg.MaxConns = 1 // every node runs one; a scan, its signals and records go one after another
	rp := cfg.ConnConfig.RuntimeParams
	rp["application_name"] = "fairslot watchdog " + node
	rp["statement_timeout"] = "5000"
	// Its scans take no lock anyone holds; recording an action appends to
	// the audit table, and a lock there must not stall the next scan.
	rp["lock_timeout"] = "1000"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	var prepared int
	if err := pool.QueryRow(ctx, `SELECT current_setting('max_prepared_transactions')::int`).Scan(&prepared); err == nil && prepared > 0 {
		log.Warn("max_prepared_transactions is above 0: a prepared transaction holds its locks with no session the watchdog could end; keep it at 0 unless something needs it",
			"max_prepared_transactions", prepared)
	}
	return &Watchdog{Pool: pool, Log: log, NodeKey: key, Node: node}, nil
}

// WatchdogStats counts the watchdog's actions since start.
type WatchdogStats struct{ Cancelled, Terminated, Reported, Alerted int64 }

func (w *Watchdog) Stats() WatchdogStats {
	return WatchdogStats{w.cancelled.Load(), w.terminated.Load(), w.reported.Load(), w.alerted.Load()}
}

// blockersSQL finds the sessions to act on: every session in the graph of
// lock waits that starts at the waiting sessions of the online role ($1),
// and every session holding a job lock ($2) that is not a proven node ($4). pg_blocking_pids names hard blockers (holding a
// conflicting lock) and soft ones (queued ahead for a conflicting lock), so
// the walk goes from an online query queued behind a migration, through
// the migration, to the ACCESS SHARE holder the migration waits for. Proven
// nodes, allowed users and the scanning session are walked through but not
// returned.
const blockersSQL = `
WITH RECURSIVE graph(pid) AS (
	SELECT b.pid FROM pg_stat_activity w CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
	WHERE w.datname = current_database() AND w.wait_event_type = 'Lock' AND w.usename = $1
	UNION
	SELECT b.pid FROM graph g JOIN pg_stat_activity w ON w.pid = g.pid AND w.wait_event_type = 'Lock'
		CROSS JOIN LATERAL unnest(pg_blocking_pids(g.pid)) AS b(pid)
), found(pid, reason) AS (
	SELECT pid, 'blocks fairslot online sessions' FROM graph
	UNION ALL
	SELECT l.pid, 'holds a fairslot job lock without being a proven live node' FROM pg_locks l
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($2)
), reasons AS (
	SELECT pid, string_agg(DISTINCT reason, '; ') AS reason FROM found GROUP BY pid
)
SELECT a.pid, coalesce(a.usename, ''), coalesce(r.rolsuper, false), coalesce(a.backend_type, ''),
	coalesce(host(a.client_addr), 'local'), coalesce(a.application_name, ''), a.backend_start, a.xact_start,
	coalesce(a.state, ''), coalesce(left(a.query, 300), ''),
	coalesce((SELECT left(string_agg(DISTINCT h.mode || ' on ' || CASE h.locktype
			WHEN 'relation' THEN coalesce(h.relation::regclass::text, h.relation::text)
			WHEN 'advisory' THEN 'advisory key ' || CASE WHEN h.objsubid = 1
				THEN (((h.classid::bigint << 32) | h.objid::bigint) >> 56) || ':' || (((h.classid::bigint << 32) | h.objid::bigint) & 72057594037927935)
				ELSE h.classid || ',' || h.objid END
			WHEN 'transactionid' THEN 'its transaction ' || h.transactionid || ' (row locks, uncommitted rows)'
			ELSE h.locktype END, '; '), 500)
		FROM pg_locks h WHERE h.pid = a.pid AND h.granted AND h.locktype <> 'virtualxid'), ''),
	f.reason
FROM reasons f JOIN pg_stat_activity a ON a.pid = f.pid
LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.pid <> pg_backend_pid() AND NOT (a.pid = ANY($4)) AND NOT (coalesce(a.usename, '') = ANY($3))`

// Check scans once and acts on what it finds; Run calls it every interval.
func (w *Watchdog) Check(ctx context.Context) error { return w.check(ctx, 0) }

// check scans once, acting on blockers delay later than the thresholds say:
// a node that does not lead (Jobs) is the leader's backstop.
func (w *Watchdog) check(ctx context.Context, delay time.Duration) error {
	online := w.Online
	if online == "" {
		online = OnlineRole
	}
	// A lock on the nodes table must not blind the watchdog: unable to read
	// it (its pool's lock timeout is short), it counts no node as proven
	// and goes on; the session holding that lock blocks the nodes'
	// heartbeats, so it is among those ended.
	nodes, nodesErr := provenNodes(ctx, w.Pool, w.NodeKey)
	if nodesErr != nil {
		nodesErr = fmt.Errorf("watchdog: no node counts as proven this time: %w", nodesErr)
	}
	proven := make([]int32, 0, len(nodes))
	for pid := range nodes {
		proven = append(proven, pid)
	}
	rows, err := w.Pool.Query(ctx, blockersSQL, online, jobKeys(), append([]string{}, w.Allow...), proven)
	if err != nil {
		return errors.Join(nodesErr, fmt.Errorf("watchdog scan: %w", err))
	}
	blockers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (b Blocker, err error) {
		var xact *time.Time
		err = r.Scan(&b.PID, &b.User, &b.Superuser, &b.BackendType, &b.ClientAddr, &b.AppName, &b.BackendStart, &xact,
			&b.State, &b.Query, &b.Locks, &b.Reason)
		if xact != nil {
			b.XactStart = *xact
		}
		return b, err
	})
	if err != nil {
		return errors.Join(nodesErr, fmt.Errorf("watchdog scan: %w", err))
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
		key := trackKey(b, online)
		t := w.tracked[key]
		if t == nil {
			t = &tracked{firstSeen: now}
			w.tracked[key] = t
		}
		t.lastSeen = now
		blocked := now.Sub(t.firstSeen)
		switch v := decide(b, *t, blocked, cancelAfter+delay, terminateAfter+delay); {
		case v == alert:
			w.alert(ctx, b, blocked, "it cannot be signalled: a superuser's session or a background process")
			t.done = true
		case v == wait:
		case w.ReportOnly:
			w.record(ctx, "report", b, blocked)
			w.reported.Add(1)
			t.cancelled, t.done = true, v == terminate
		case v == cancel:
			if w.signal(ctx, "cancel", b, blocked) {
				t.cancelled = true
			} else {
				t.done = true
			}
		case v == terminate:
			if w.signal(ctx, "terminate", b, blocked) {
				delete(w.tracked, key) // if it lingers, it is a blocker afresh
			} else {
				t.done = true
			}
		}
	}
	// A blocker stays tracked through short gaps (no online session was
	// waiting at that instant); one gone for a while starts afresh. One
	// alerted about is remembered for an hour, so it is alerted about once.
	for k, t := range w.tracked {
		keep := cancelAfter
		if t.done {
			keep = time.Hour
		}
		if now.Sub(t.lastSeen) > keep {
			delete(w.tracked, k)
		}
	}
	return nodesErr
}

// signal cancels or terminates a blocker and records it. When the signal
// fails it alerts instead, and reports false.
func (w *Watchdog) signal(ctx context.Context, action string, b Blocker, blocked time.Duration) bool {
	fn := map[string]string{"cancel": "pg_cancel_backend", "terminate": "pg_terminate_backend"}[action]
	var ok bool
	if err := w.Pool.QueryRow(ctx, `SELECT `+fn+`($1)`, b.PID).Scan(&ok); err != nil {
		w.alert(ctx, b, blocked, fmt.Sprintf("the watchdog could not %s it: %v", action, err))
		return false
	}
	if !ok { // gone already
		return true
	}
	if action == "cancel" {
		w.cancelled.Add(1)
	} else {
		w.terminated.Add(1)
	}
	w.record(ctx, action, b, blocked)
	return true
}

// alert says, once per blocker, that a session blocks fairslot and the
// watchdog cannot end it, with what it holds and who is behind it.
func (w *Watchdog) alert(ctx context.Context, b Blocker, blocked time.Duration, why string) {
	w.alerted.Add(1)
	w.Log.Error("ALERT: a session blocks fairslot and the watchdog cannot end it; end it by hand (pg_terminate_backend as a superuser)",
		"why", why, "pid", b.PID, "user", b.User, "superuser", b.Superuser, "backend_type", b.BackendType, "client_addr", b.ClientAddr,
		"application_name", b.AppName, "backend_start", b.BackendStart, "xact_start", b.XactStart, "state", b.State,
		"query", b.Query, "locks", b.Locks, "reason", b.Reason, "blocking_for", blocked.Round(time.Millisecond))
	w.audit(ctx, "alert", b, blocked)
}

// record logs and audits an action taken (or, report-only, one that would
// have been).
func (w *Watchdog) record(ctx context.Context, action string, b Blocker, blocked time.Duration) {
	w.Log.Warn("watchdog: a session blocks fairslot", "action", action, "pid", b.PID, "user", b.User, "client_addr", b.ClientAddr,
		"application_name", b.AppName, "backend_start", b.BackendStart, "xact_start", b.XactStart, "state", b.State,
		"query", b.Query, "locks", b.Locks, "reason", b.Reason, "blocking_for", blocked.Round(time.Millisecond))
	w.audit(ctx, action, b, blocked)
}

// audit appends the action to the audit log. The watchdog's pool has a
// short lock timeout: a lock on the audit table delays it by that at most.
func (w *Watchdog) audit(ctx context.Context, action string, b Blocker, blocked time.Duration) {
	detail, _ := json.Marshal(map[string]string{
		"pid": fmt.Sprint(b.PID), "user": b.User, "superuser": fmt.Sprint(b.Superuser), "backend_type": b.BackendType,
		"client_addr": b.ClientAddr, "application_name": b.AppName,
		"backend_start": b.BackendStart.UTC().Format(time.RFC3339Nano), "xact_start": b.XactStart.UTC().Format(time.RFC3339Nano),
		"state": b.State, "query": b.Query, "locks": b.Locks, "reason": b.Reason,
		"blocking_ms": fmt.Sprint(blocked.Milliseconds()), "watchdog_node": w.Node,
	})
	if _, err := w.Pool.Exec(ctx, `INSERT INTO fairslot.audit_events (at_ms, actor, action, subject, detail) VALUES ($1, 'system:watchdog', $2, $3, $4)`,
		time.Now().UnixMilli(), "watchdog."+action, fmt.Sprintf("session:%d", b.PID), string(detail)); err != nil {
		w.Log.Error("watchdog could not record its action", "action", action, "pid", b.PID, "err", err)
	}
}

// Run checks every interval until ctx ends. Jobs.Run runs the watchdog of a
// serve node; Run is for a watchdog alone.
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
	JobSweep = iota + 1 // hold expiry, no-shows, draws
)

// lockJob is the job locks' class; fairslot.try_job_lock takes only these.
const lockJob = 15

func jobKey(job int64) int64 { return lockKey(lockJob, job) }

func jobKeys() []int64 { return []int64{jobKey(JobSweep)} }
