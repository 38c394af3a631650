package postgres_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func watchdogFor(t *testing.T, dsn string, cancel, terminate time.Duration) *postgres.Watchdog {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.As(t, dsn, postgres.WatchdogRole))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &postgres.Watchdog{Pool: pool, Log: quiet, CancelAfter: cancel, TerminateAfter: terminate}
}

// TestIncidentReplayTableLock replays incident I3 with the default
// thresholds: a session with the owner's credentials (a stolen password)
// takes LOCK TABLE bookings IN EXCLUSIVE MODE and sits in its transaction.
// Online writes fail fast; the watchdog cancels, then terminates the
// blocker; writes succeed again, and the audit log says who it was.
func TestIncidentReplayTableLock(t *testing.T) {
	ctx := context.Background()
	online, dsn := openAsOnline(t, postgres.Options{LockTimeout: 500 * time.Millisecond})
	defer online.Close()
	wd := watchdogFor(t, dsn, 0, 0) // defaults: 5s, 10s
	wctx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	go wd.Run(wctx, 500*time.Millisecond)

	write := func() error {
		return online.Update(ctx, func(tx storage.Tx) error {
			_, err := tx.ExpireHolds(ctx, 0, time.Now()) // an UPDATE of bookings
			return err
		})
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	rogue, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OwnerRole))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close(ctx)
	if _, err := rogue.Exec(ctx, "SET application_name = 'perf-monitor'; BEGIN; LOCK TABLE fairslot.bookings IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()

	var failed, slowest time.Duration
	var recovered time.Duration
	for time.Since(locked) < 60*time.Second { // a guard against a hang, not a speed target
		start := time.Now()
		err := write()
		if took := time.Since(start); took > slowest {
			slowest = took
		}
		if err == nil {
			recovered = time.Since(locked)
			break
		}
		if fairslot.ErrorKind(err) != fairslot.Unavailable {
			t.Fatalf("a blocked write failed with %v; want the busy error", err)
		}
		failed++
		if err := online.View(ctx, func(tx storage.Tx) error { _, err := tx.SessionBookings(ctx, 1); return err }); err != nil {
			t.Errorf("a read failed while writes were blocked: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if recovered == 0 {
		t.Fatal("writes never recovered")
	}
	if err := rogue.Ping(ctx); err == nil {
		t.Error("the blocking session is still alive")
	}
	t.Logf("lock to recovery: %.1f s with default thresholds (incident I3: 94 minutes); %d writes refused meanwhile, the slowest in %.2f s",
		recovered.Seconds(), failed, slowest.Seconds())

	var evs []struct{ action, detail string }
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rows, err := admin.Query(ctx, `SELECT action, detail FROM fairslot.audit_events WHERE actor = 'system:watchdog' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, d string
		rows.Scan(&a, &d)
		evs = append(evs, struct{ action, detail string }{a, d})
	}
	if len(evs) != 2 || evs[0].action != "watchdog.cancel" || evs[1].action != "watchdog.terminate" {
		t.Fatalf("watchdog audit records = %v; want a cancel then a terminate", evs)
	}
	var d map[string]string
	json.Unmarshal([]byte(evs[1].detail), &d)
	if d["user"] != postgres.OwnerRole || d["application_name"] != "perf-monitor" || d["query"] == "" || d["xact_start"] == "" {
		t.Errorf("the audit record does not say who blocked: %v", d)
	}
	t.Logf("audit record: %s %s", evs[1].action, evs[1].detail)
	if s := wd.Stats(); s.Cancelled != 1 || s.Terminated != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// An impostor holding the job lock (with a stolen password, setting any
// application_name it likes) is ended too; report-only mode records it
// without touching it.
func TestWatchdogEndsJobLockImpostor(t *testing.T) {
	ctx := context.Background()
	s, dsn := openAsOnline(t, postgres.Options{})
	defer s.Close()
	rogue, err := pgx.Connect(ctx, pgtest.As(t, dsn, postgres.OwnerRole))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close(ctx)
	rogue.Exec(ctx, "SET application_name = 'fairslot node-1'")
	var key int64 = 15<<56 | 1 // the sweep job's lock
	if _, err := rogue.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	report := watchdogFor(t, dsn, 100*time.Millisecond, 200*time.Millisecond)
	report.ReportOnly = true
	for i := 0; i < 4; i++ {
		report.Check(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	if report.Stats().Reported == 0 || rogue.Ping(ctx) != nil {
		t.Fatalf("report-only: stats %+v, impostor alive: %v", report.Stats(), rogue.Ping(ctx) == nil)
	}
	wd := watchdogFor(t, dsn, 100*time.Millisecond, 200*time.Millisecond)
	for i := 0; i < 10 && rogue.Ping(ctx) == nil; i++ {
		wd.Check(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	if rogue.Ping(ctx) == nil {
		t.Error("the impostor holding the job lock is still alive")
	}
}

// Two nodes: exactly one leads at a time; when the leader goes, the other
// takes over.
func TestJobLeadershipFailsOver(t *testing.T) {
	ctx := context.Background()
	_, dsn := openAsOnline(t, postgres.Options{})
	online := pgtest.As(t, dsn, postgres.OnlineRole)
	var leading atomic.Int32
	var mu sync.Mutex
	ran := map[string]int{}
	overlap := false
	start := func(node string) (*postgres.Store, context.CancelFunc, chan struct{}) {
		s, err := postgres.Open(ctx, online, postgres.Options{AppName: "fairslot " + node})
		if err != nil {
			t.Fatal(err)
		}
		jctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		j := s.NewJobs(node, quiet)
		j.Interval = 100 * time.Millisecond
		go func() {
			defer close(done)
			j.Run(jctx, func(ctx context.Context) {
				if leading.Add(1) > 1 {
					overlap = true
				}
				mu.Lock()
				ran[node]++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				leading.Add(-1)
			})
		}()
		return s, cancel, done
	}
	a, stopA, doneA := start("node-a")
	defer a.Close()
	time.Sleep(400 * time.Millisecond)
	b, stopB, doneB := start("node-b")
	defer b.Close()
	defer func() { stopB(); <-doneB }()
	time.Sleep(500 * time.Millisecond)
	if who, _ := a.Leader(ctx); who != "node-a" {
		t.Fatalf("leader = %q, want node-a", who)
	}
	mu.Lock()
	if ran["node-b"] != 0 {
		t.Errorf("node-b ran jobs while node-a led: %v", ran)
	}
	mu.Unlock()
	stopA()
	<-doneA
	for i := 0; i < 50; i++ {
		if who, _ := b.Leader(ctx); who == "node-b" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if ran["node-b"] == 0 {
		t.Errorf("node-b never took over: %v", ran)
	}
	if overlap {
		t.Error("two nodes ran jobs at once")
	}
}
