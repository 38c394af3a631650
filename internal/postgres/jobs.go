package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Jobs runs the work that must run on one node at a time, and the node's
// lock watchdog. Every node keeps one dedicated connection on which it
// writes its proven heartbeat (nodes.go) and tries the job lock, a
// session-level advisory lock: the node holding it is the leader and runs
// lead every interval. When the leader dies its connection closes,
// PostgreSQL releases the lock, and another node takes it on its next tick.
//
// No one squats the job lock: every node checks every tick that the lock is
// held by a proven live node. A holder that is not one (a session that took
// the lock, a leader whose heartbeat stopped) is a blocker to its watchdog,
// which ends it, after which the node takes the lock; without a watchdog
// the node logs an ALERT, once per holder. A leader whose heartbeat cannot
// be written gives up the lead, closing its connection, rather than run on
// while the others count it dead.
type Jobs struct {
	Pool *pgxpool.Pool
	Node string
	// Key proves the heartbeats (Options.NodeKey); a node without it
	// cannot prove it is live, and does not run.
	Key      []byte
	Log      *slog.Logger
	Interval time.Duration // default 1s
	// Watchdog, if set, checks every interval. The leader acts at its
	// thresholds; another node, while a proven live node leads, acts
	// backstop later (two intervals), so one action is usually taken once
	// but is still taken when the leader fails to.
	Watchdog *Watchdog

	mu       sync.Mutex
	lead     context.Context // while leading: ends when the lead does
	endLead  context.CancelFunc
	lastBeat time.Time // the last heartbeat written
	// skewWarned is when a clock far from the database's was last logged.
	skewWarned time.Time

	provenLeader atomic.Bool // at the last tick, a proven live node held the job lock
	nudge        chan struct{}
}

// NewJobs returns the job runner of a store's pool, proving its heartbeats
// with the store's NodeKey.
func (s *Store) NewJobs(node string, log *slog.Logger) *Jobs {
	return &Jobs{Pool: s.pool, Node: node, Key: s.nodeKey, Log: log}
}

// Leading reports whether this node leads now: it holds the job lock and
// its last heartbeat is recent.
func (j *Jobs) Leading() bool { return j.leaderContext() != nil }

func (j *Jobs) interval() time.Duration {
	if j.Interval == 0 {
		return time.Second
	}
	return j.Interval
}

// leadStale is how old this node's last heartbeat may be for it to lead on:
// well inside liveFor, after which the others count it dead and end it.
const leadStale = liveFor / 3

// leaderContext returns a context that ends when this node stops leading,
// or nil when it does not lead now.
func (j *Jobs) leaderContext() context.Context {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lead == nil || time.Since(j.lastBeat) > leadStale {
		return nil
	}
	return j.lead
}

// Run beats, leads and watches until ctx ends, calling lead every interval
// while this node leads, with a context that ends when it stops leading.
// The heartbeat, the lead and the watchdog run apart, so a long sweep
// delays neither the heartbeat nor the watchdog. Run owns its connection
// and closes it, releasing the lock, on return.
func (j *Jobs) Run(ctx context.Context, lead func(ctx context.Context)) {
	if len(j.Key) == 0 {
		j.Log.Error("job runner: no node key, so this node cannot prove it is live; it runs no jobs and no watchdog", "node", j.Node)
		return
	}
	j.nudge = make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if j.Watchdog != nil {
		wg.Go(func() { j.watch(ctx) })
	}
	wg.Go(func() { j.runLead(ctx, lead) })
	j.beat(ctx)
}

// beat writes the heartbeat and tries the lock every interval.
func (j *Jobs) beat(ctx context.Context) {
	var c *jobConn
	defer j.drop(&c)
	t := time.NewTicker(j.interval())
	defer t.Stop()
	for {
		if err := j.tick(ctx, &c); err != nil && ctx.Err() == nil {
			j.Log.Warn("job runner: heartbeat or job lock failed; the connection is closed and the lead, if held, given up",
				"node", j.Node, "err", err)
			j.drop(&c)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// jobConn is the node's dedicated connection and its session.
type jobConn struct {
	conn    *pgxpool.Conn
	backend backend
	squat   int32 // the last squatter alerted about, without a watchdog
}

// drop closes the connection, and with it releases the job lock.
func (j *Jobs) drop(c **jobConn) {
	if *c != nil {
		// Close rather than return it: the pool must not hand out a
		// connection that still holds the job lock.
		(*c).conn.Conn().Close(context.Background())
		(*c).conn.Release()
		*c = nil
	}
	j.provenLeader.Store(false)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lead != nil {
		j.endLead()
		j.lead, j.endLead = nil, nil
		j.Log.Info("job leadership released", "node", j.Node)
	}
}

func (j *Jobs) tick(ctx context.Context, c **jobConn) error {
	if *c == nil {
		conn, err := j.Pool.Acquire(ctx)
		if err != nil {
			return err
		}
		b, err := self(ctx, conn)
		if err != nil {
			conn.Release()
			return err
		}
		*c = &jobConn{conn: conn, backend: b}
	}
	// A heartbeat that hangs must not leave this node leading on: bound it
	// well inside the time others count it live.
	hctx, cancel := context.WithTimeout(ctx, leadStale)
	defer cancel()
	sent := time.Now()
	dbNow, err := heartbeat(hctx, (*c).conn, j.Key, (*c).backend, j.Node, kindServe)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	j.mu.Lock()
	if skew := dbNow.Sub(sent); (skew > liveFor/3 || skew < -liveFor/3) && time.Since(j.skewWarned) > time.Minute {
		j.skewWarned = time.Now()
		j.Log.Warn("this node's clock is far from the database's: past 15 s other nodes will not count it live",
			"node", j.Node, "skew", skew.Round(time.Millisecond))
	}
	j.lastBeat = sent
	leading := j.lead != nil
	j.mu.Unlock()
	if leading {
		j.provenLeader.Store(true)
		return nil
	}
	var got bool
	if err := (*c).conn.QueryRow(ctx, `SELECT fairslot.try_job_lock($1)`, JobSweep).Scan(&got); err != nil {
		return fmt.Errorf("job lock: %w", err)
	}
	if got {
		j.mu.Lock()
		j.lead, j.endLead = context.WithCancel(ctx)
		j.mu.Unlock()
		j.provenLeader.Store(true)
		j.Log.Info("job leadership taken: this node runs the sweeps, and its watchdog acts first", "node", j.Node)
		select {
		case j.nudge <- struct{}{}:
		default:
		}
		return nil
	}
	h, held, err := jobHolder(ctx, (*c).conn, j.Key, JobSweep)
	if err != nil {
		return err
	}
	j.provenLeader.Store(held && h.Node != "")
	if held && h.Node == "" && j.Watchdog == nil && h.PID != (*c).squat {
		(*c).squat = h.PID
		j.Log.Error("ALERT: a session that is not a proven live node holds the job lock, so no sweep or draw runs; with no watchdog_db this node cannot end it",
			"node", j.Node, "pid", h.PID, "user", h.User, "application_name", h.AppName, "backend_start", h.BackendStart)
	}
	return nil
}

// runLead calls lead every interval while this node leads, and at once
// when it takes the lead.
func (j *Jobs) runLead(ctx context.Context, lead func(ctx context.Context)) {
	t := time.NewTicker(j.interval())
	defer t.Stop()
	for {
		if lctx := j.leaderContext(); lctx != nil {
			lead(lctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-j.nudge:
		}
	}
}

// watch runs the node's watchdog every interval.
func (j *Jobs) watch(ctx context.Context) {
	t := time.NewTicker(j.interval())
	defer t.Stop()
	for {
		var delay time.Duration
		if !j.Leading() && j.provenLeader.Load() {
			delay = 2 * j.interval()
		}
		if err := j.Watchdog.check(ctx, delay); err != nil && ctx.Err() == nil {
			j.Log.Error("watchdog", "node", j.Node, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
