package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/testlog"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// acceptance is the bound: online booking resumes within 15 s of
// the lock, with the default settings.
const acceptance = 15 * time.Second

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// watchdogFor opens a watchdog as serve does, with its default thresholds.
func watchdogFor(t *testing.T, dsn string, key []byte, log *slog.Logger) *postgres.Watchdog {
	t.Helper()
	wd, err := postgres.OpenWatchdog(context.Background(), pgtest.As(t, dsn, postgres.WatchdogRole), "node-1", key, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wd.Pool.Close)
	return wd
}

// replay is one incident replay: a fresh database set up as 'fairslot
// migrate' does, an online store with a session to book, and a serve node's
// job runner and lock watchdog with serve's defaults (1 s ticks, cancel
// after 5 s, terminate after 10 s).
type replay struct {
	t       *testing.T
	ctx     context.Context
	dsn     string // the test server's superuser
	key     []byte
	online  *postgres.Store
	admin   *pgx.Conn
	session fairslot.Session
	patient []int64
	booked  int
	jobs    *postgres.Jobs
	wd      *postgres.Watchdog
	log     *testlog.Buffer
}

func newReplay(t *testing.T) *replay {
	t.Helper()
	ctx := context.Background()
	key := newKey(t)
	online, dsn := openAsOnline(t, postgres.Options{NodeKey: key, AppName: "fairslot node-1"})
	t.Cleanup(func() { online.Close() })
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	r := &replay{t: t, ctx: ctx, dsn: dsn, key: key, online: online, admin: admin, log: &testlog.Buffer{}}
	err = online.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "Children's Hospital"}
		if err := tx.CreateHospital(ctx, &h); err != nil {
			return err
		}
		c := fairslot.Campus{HospitalID: h.ID, Name: "Main"}
		if err := tx.CreateCampus(ctx, &c); err != nil {
			return err
		}
		d := fairslot.Department{CampusID: c.ID, Code: "PED", Name: "Paediatrics"}
		if err := tx.CreateDepartment(ctx, &d); err != nil {
			return err
		}
		doc := fairslot.Doctor{DepartmentID: d.ID, Name: "Dr Li", Title: fairslot.Expert}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		r.session = fairslot.Session{DoctorID: doc.ID, DepartmentID: d.ID, Date: start.Format(time.DateOnly), Period: fairslot.Morning,
			Start: start, End: start.Add(4 * time.Hour), FeeCents: 5000}
		slots := make([]fairslot.Slot, 40)
		for i := range slots {
			w := start.Add(time.Duration(i/8) * 30 * time.Minute)
			slots[i] = fairslot.Slot{Number: i + 1, Start: w, End: w.Add(30 * time.Minute)}
		}
		if err := tx.CreateSession(ctx, &r.session, slots); err != nil {
			return err
		}
		for range 40 {
			p := storage.PatientRecord{Ref: rand.Text(), IDType: fairslot.IDResident, IDIndex: newKey(t), IDSealed: newKey(t),
				NameSealed: newKey(t), CreatedAt: time.Now()}
			if err := tx.CreatePatient(ctx, &p); err != nil {
				return err
			}
			r.patient = append(r.patient, p.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs a serve node's job runner and watchdog, as serve does, until
// the test ends.
func (r *replay) start() {
	r.wd = watchdogFor(r.t, r.dsn, r.key, slog.New(slog.NewTextHandler(r.log, nil)))
	r.jobs = r.online.NewJobs("node-1", slog.New(slog.NewTextHandler(r.log, nil)))
	r.jobs.Watchdog = r.wd
	ctx, stop := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.jobs.Run(ctx, func(context.Context) {})
	}()
	r.t.Cleanup(func() { stop(); <-done })
}

// book holds the next free place for the next patient, as the booking use
// case does: the session's lock, the slot, the insert and its audit record.
func (r *replay) book() error {
	ctx := r.ctx
	return r.online.Update(ctx, func(tx storage.Tx) error {
		now := time.Now()
		slot, err := tx.FreeSlot(ctx, storage.SlotQuery{SessionID: r.session.ID, Now: now})
		if err != nil {
			return err
		}
		b := &fairslot.Booking{Code: rand.Text()[:10], SlotID: slot.ID, SessionID: r.session.ID, DepartmentID: r.session.DepartmentID,
			Date: r.session.Date, PatientID: r.patient[r.booked], Channel: fairslot.Online, Status: fairslot.Held,
			HeldUntil: now.Add(15 * time.Minute), FeeCents: 5000, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertBooking(ctx, b, storage.Limits{PerDepartmentPerDay: 9, PerDay: 9, Active: 9}); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &audit.Event{At: now, Actor: "account:1", Action: "booking.hold", Subject: fmt.Sprintf("booking:%d", b.ID)})
	})
}

// booked records a booking that went through.
func (r *replay) bookOK() error {
	err := r.book()
	if err == nil {
		r.booked++
	}
	return err
}

// connect opens a session as role (the test server's superuser for ""), sets the given statements up, and
// returns it with its pid and backend start.
func (r *replay) connect(role string, setup ...string) (*pgx.Conn, int32, time.Time) {
	r.t.Helper()
	dsn := r.dsn // the test server's superuser
	if role != "" {
		dsn = pgtest.As(r.t, r.dsn, role)
	}
	c, err := pgx.Connect(r.ctx, dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close(context.Background()) })
	for _, q := range setup {
		if _, err := c.Exec(r.ctx, q); err != nil {
			r.t.Fatalf("%s: %s: %v", role, q, err)
		}
	}
	pid, start := r.backend(c.PgConn().PID())
	return c, pid, start
}

func (r *replay) backend(pid uint32) (int32, time.Time) {
	r.t.Helper()
	var start time.Time
	if err := r.admin.QueryRow(r.ctx, `SELECT backend_start FROM pg_stat_activity WHERE pid = $1`, int32(pid)).Scan(&start); err != nil {
		r.t.Fatal(err)
	}
	return int32(pid), start
}

// rogue is what a stolen password's session sets up first: no timeouts,
// and a name that looks like a monitor's.
var rogue = []string{"SET lock_timeout = 0", "SET statement_timeout = 0", "SET idle_in_transaction_session_timeout = 0",
	"SET application_name = 'perf-monitor'"}

func with(extra ...string) []string { return append(append([]string{}, rogue...), extra...) }

// untilBooked books until a booking goes through and returns how long after
// locked it did. Every refusal meanwhile must be the busy error, and come
// within the lock timeout and a margin.
func (r *replay) untilBooked(locked time.Time) time.Duration {
	r.t.Helper()
	refused, slowest := 0, time.Duration(0)
	for time.Since(locked) < time.Minute { // a guard against a hang, not a speed target
		start := time.Now()
		err := r.bookOK()
		slowest = max(slowest, time.Since(start))
		if err == nil {
			r.t.Logf("%d bookings refused with the busy error meanwhile, the slowest refusal in %.2f s", refused, slowest.Seconds())
			return time.Since(locked)
		}
		if fairslot.ErrorKind(err) != fairslot.Unavailable {
			r.t.Fatalf("a blocked booking failed with %v; want the busy error", err)
		}
		refused++
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatal("online booking never resumed")
	return 0
}

// alive reports whether the session pid, started at start, still exists.
func (r *replay) alive(pid int32, start time.Time) bool {
	var n int
	if err := r.admin.QueryRow(r.ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2`, pid, start).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n > 0
}

type auditRecord struct {
	Action string
	Detail map[string]string
	raw    string
}

// audited returns the watchdog's audit records about session pid.
func (r *replay) audited(pid int32) []auditRecord {
	r.t.Helper()
	rows, err := r.admin.Query(r.ctx, `SELECT action, detail FROM fairslot.audit_events
		WHERE actor = 'system:watchdog' AND subject = $1 ORDER BY seq`, fmt.Sprintf("session:%d", pid))
	if err != nil {
		r.t.Fatal(err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (a auditRecord, err error) {
		if err = row.Scan(&a.Action, &a.raw); err == nil {
			err = json.Unmarshal([]byte(a.raw), &a.Detail)
		}
		return a, err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return recs
}

// recovered checks the end of a replay: online work resumed within the
// issue's bound, the blocker's session is gone, and the audit log names
// it, its user and the action taken last.
func (r *replay) recovered(took time.Duration, pid int32, start time.Time, user, lastAction string) {
	r.t.Helper()
	r.t.Logf("lock to recovery: %.1f s with default settings (incident I3: 94 minutes; bound %v)", took.Seconds(), acceptance)
	if took > acceptance {
		r.t.Errorf("online booking resumed %.1f s after the lock; the bound is %v; the node's log:\n%s", took.Seconds(), acceptance, r.log.String())
	}
	for i := 0; r.alive(pid, start) && i < 50; i++ { // a terminated backend takes a moment to go
		time.Sleep(100 * time.Millisecond)
	}
	if r.alive(pid, start) {
		r.t.Errorf("the blocking session %d is still alive", pid)
	}
	// The watchdog records an action just after taking it: the booking that
	// went through may have been quicker.
	recs := r.audited(pid)
	for i := 0; i < 100 && (len(recs) == 0 || recs[len(recs)-1].Action != "watchdog."+lastAction); i++ {
		time.Sleep(50 * time.Millisecond)
		recs = r.audited(pid)
	}
	for _, a := range recs {
		r.t.Logf("audit record: watchdog %s %s", a.Action, a.raw)
	}
	if len(recs) == 0 {
		r.t.Fatalf("no audit record names the blocking session %d", pid)
	}
	last := recs[len(recs)-1]
	if last.Action != "watchdog."+lastAction || last.Detail["user"] != user || last.Detail["pid"] != fmt.Sprint(pid) ||
		last.Detail["backend_start"] != start.UTC().Format(time.RFC3339Nano) || last.Detail["reason"] == "" || last.Detail["locks"] == "" {
		r.t.Errorf("the audit record does not say who blocked, with what, and what was done (want %s by %s): %v", lastAction, user, last.Detail)
	}
	if !strings.Contains(r.log.String(), fmt.Sprintf("action=%s pid=%d user=%s", lastAction, pid, user)) {
		r.t.Errorf("the log does not name the blocker:\n%s", r.log.String())
	}
}

// nextSlotSQL inserts, uncommitted, a held booking on the slot the next
// booking would take.
const nextSlotSQL = `INSERT INTO fairslot.bookings (code, slot_id, session_id, department_id, date, patient_id, channel, status,
		held_until_ms, fee_cents, created_ms, updated_ms)
	SELECT 'ROGUE', sl.id, s.id, s.department_id, s.date, $2, 'online', 'held', 9000000000000, 0, 0, 0
	FROM fairslot.slots sl JOIN fairslot.sessions s ON s.id = sl.session_id
	WHERE sl.session_id = $1 AND NOT EXISTS (SELECT 1 FROM fairslot.bookings b WHERE b.slot_id = sl.id AND b.status NOT IN ('cancelled', 'expired'))
	ORDER BY sl.number LIMIT 1`

// TestReplayTableLock replays incident I3 with the owner's credentials (a
// stolen password): LOCK TABLE bookings IN EXCLUSIVE MODE, its own timeouts
// set to 0, left idle in its transaction.
func TestReplayTableLock(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	if err := r.bookOK(); err != nil {
		t.Fatal(err)
	}
	_, pid, start := r.connect(postgres.OwnerRole, with("BEGIN", "LOCK TABLE fairslot.bookings IN EXCLUSIVE MODE")...)
	locked := time.Now()
	if err := r.online.View(r.ctx, func(tx storage.Tx) error { _, err := tx.SessionBookings(r.ctx, r.session.ID); return err }); err != nil {
		t.Errorf("a read failed under the lock: %v", err)
	}
	r.recovered(r.untilBooked(locked), pid, start, postgres.OwnerRole, "terminate")
}

// TestReplayRowLock: the owner's credentials hold SELECT ... FOR UPDATE on
// the session a booking's insert must share-lock (its foreign key).
func TestReplayRowLock(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	_, pid, start := r.connect(postgres.OwnerRole, with("BEGIN", fmt.Sprintf("SELECT 1 FROM fairslot.sessions WHERE id = %d FOR UPDATE", r.session.ID))...)
	locked := time.Now()
	r.recovered(r.untilBooked(locked), pid, start, postgres.OwnerRole, "terminate")
}

// TestReplayUncommittedInsert: the online role's own credentials insert,
// and never commit, a booking on the slot the next booking takes, with the
// idle-in-transaction timeout switched off.
func TestReplayUncommittedInsert(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	c, pid, start := r.connect(postgres.OnlineRole, "SET idle_in_transaction_session_timeout = 0", "BEGIN")
	if _, err := c.Exec(r.ctx, nextSlotSQL, r.session.ID, r.patient[len(r.patient)-1]); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	r.recovered(r.untilBooked(locked), pid, start, postgres.OnlineRole, "terminate")
}

// TestReplaySessionAdvisoryLock: the owner's credentials hold a
// session-level advisory lock on the session's key, outside any
// transaction. The online role cannot do that any more.
func TestReplaySessionAdvisoryLock(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	_, pid, start := r.connect(postgres.OwnerRole, with(fmt.Sprintf("SELECT pg_advisory_lock(%d)", postgres.SessionLockKey(r.session.ID)))...)
	locked := time.Now()
	r.recovered(r.untilBooked(locked), pid, start, postgres.OwnerRole, "terminate")

	online, _, _ := r.connect(postgres.OnlineRole)
	for _, q := range []string{"SELECT pg_advisory_lock(1)", "SELECT pg_try_advisory_lock(1, 2)", "SELECT pg_advisory_xact_lock(1)",
		"SELECT pg_advisory_lock_shared(1)", "SELECT pg_try_advisory_xact_lock_shared(1)"} {
		var pe *pgconn.PgError
		if _, err := online.Exec(r.ctx, q); !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("as %s: %s = %v; want insufficient_privilege", postgres.OnlineRole, q, err)
		}
	}
}

// TestReplayTransactionAdvisoryLock: the online role takes a session's lock
// through the owner's function, as bookings do, and sits idle in its
// transaction.
func TestReplayTransactionAdvisoryLock(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	_, pid, start := r.connect(postgres.OnlineRole, "SET idle_in_transaction_session_timeout = 0", "BEGIN",
		fmt.Sprintf("SELECT fairslot.xact_lock(%d)", postgres.SessionLockKey(r.session.ID)))
	locked := time.Now()
	r.recovered(r.untilBooked(locked), pid, start, postgres.OnlineRole, "terminate")
}

// TestReplayTimeoutsOffAndCancelProof: the online role sets all its
// timeouts to 0, takes a session's lock and runs a statement that survives
// a cancel (it catches query_canceled): cancelled at 5 s, terminated at 10 s.
func TestReplayTimeoutsOffAndCancelProof(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	c, pid, start := r.connect(postgres.OnlineRole, "SET lock_timeout = 0", "SET statement_timeout = 0",
		"SET idle_in_transaction_session_timeout = 0", "BEGIN", fmt.Sprintf("SELECT fairslot.xact_lock(%d)", postgres.SessionLockKey(r.session.ID)))
	running := make(chan error, 1)
	go func() {
		_, err := c.Exec(r.ctx, `DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(60); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$`)
		running <- err
	}()
	locked := time.Now()
	r.recovered(r.untilBooked(locked), pid, start, postgres.OnlineRole, "terminate")
	if recs := r.audited(pid); len(recs) != 2 || recs[0].Action != "watchdog.cancel" {
		t.Errorf("want a cancel, then a terminate: %v", recs)
	}
	<-running
}

// TestReplayJobLockSquatter: the owner's credentials take the job lock
// before any node starts. The node ends the squatter and leads.
func TestReplayJobLockSquatter(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	_, pid, start := r.connect(postgres.OwnerRole, with("SET application_name = 'fairslot node-1'",
		fmt.Sprintf("SELECT pg_advisory_lock(%d)", postgres.JobLockKey))...)
	locked := time.Now()
	if who, err := r.online.Leader(r.ctx); err != nil || who != "" {
		t.Fatalf("Leader = %q, %v while a squatter holds the lock; want none", who, err)
	}
	r.start()
	for !r.jobs.Leading() && time.Since(locked) < time.Minute {
		time.Sleep(100 * time.Millisecond)
	}
	if !r.jobs.Leading() {
		t.Fatal("the node never took the job lock")
	}
	if who, err := r.online.Leader(r.ctx); err != nil || who != "node-1" {
		t.Errorf("Leader = %q, %v; want node-1", who, err)
	}
	r.recovered(time.Since(locked), pid, start, postgres.OwnerRole, "terminate")
}

// TestReplayFakeHeartbeat: the online role registers itself as node-1 with
// a made-up MAC, then blocks. It is not a live node: it is ended like any
// blocker, and the real node-1 stays registered and leads.
func TestReplayFakeHeartbeat(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	for !r.jobs.Leading() {
		time.Sleep(50 * time.Millisecond)
	}
	c, pid, start := r.connect(postgres.OnlineRole, "SET idle_in_transaction_session_timeout = 0")
	if _, err := c.Exec(r.ctx, `SELECT fairslot.heartbeat('node-1', 'serve', $1, $2)`, time.Now().UnixMilli(), newKey(t)); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := r.admin.QueryRow(r.ctx, `SELECT count(*) FROM fairslot.nodes WHERE name = 'node-1'`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("node-1 rows = %d, %v; want the real node's and the fake's", rows, err)
	}
	if _, err := c.Exec(r.ctx, fmt.Sprintf("BEGIN; SELECT fairslot.xact_lock(%d)", postgres.SessionLockKey(r.session.ID))); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	r.recovered(r.untilBooked(locked), pid, start, postgres.OnlineRole, "terminate")
	if who, err := r.online.Leader(r.ctx); err != nil || who != "node-1" || !r.jobs.Leading() {
		t.Errorf("Leader = %q, %v, leading %v; the real node-1 should lead on", who, err, r.jobs.Leading())
	}
	direct, _, _ := r.connect(postgres.OnlineRole)
	var pe *pgconn.PgError
	if _, err := direct.Exec(r.ctx, `INSERT INTO fairslot.nodes VALUES (1, 'node-1', 'serve', 0, '\x00', now())`); !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("the online role writing a node row directly: %v; want insufficient_privilege", err)
	}
}

// TestReplayAccessShareBeforeMigration: the online role holds ACCESS SHARE
// on bookings, idle in a transaction; a proven migration altering bookings
// queues behind it, and online bookings queue behind the migration. The
// watchdog walks from the bookings through the migration to the holder and
// ends it; bookings resume and the migration completes.
func TestReplayAccessShareBeforeMigration(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	_, pid, start := r.connect(postgres.OnlineRole, "SET idle_in_transaction_session_timeout = 0", "BEGIN",
		"SELECT count(*) FROM fairslot.bookings")
	migrator, err := postgres.Open(r.ctx, r.dsn, postgres.Options{NodeKey: r.key, AppName: "fairslot migrate"})
	if err != nil {
		t.Fatal(err)
	}
	defer migrator.Close()
	migrated := make(chan error, 1)
	go func() {
		migrated <- postgres.MigrateWith(r.ctx, migrator, "0099_note.sql", "ALTER TABLE fairslot.bookings ADD COLUMN note text")
	}()
	for queued, since := 0, time.Now(); queued == 0; {
		if time.Since(since) > time.Minute {
			t.Fatal("the migration never queued for its lock")
		}
		if err := r.admin.QueryRow(r.ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE fairslot.bookings%'`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
	}
	locked := time.Now()
	// While the migration waits, bookings queue behind it; between its
	// attempts (each bounded by the lock timeout) they go through. The
	// watchdog sees the holder while bookings wait, so they go on.
	var booked, completed time.Duration
	for completed == 0 && time.Since(locked) < time.Minute { // a guard against a hang
		if err := r.bookOK(); err == nil && booked == 0 {
			booked = time.Since(locked)
		} else if err != nil && fairslot.ErrorKind(err) != fairslot.Unavailable {
			t.Fatalf("a booking failed with %v; want the busy error", err)
		}
		select {
		case err := <-migrated:
			if err != nil {
				t.Fatalf("the migration failed: %v", err)
			}
			completed = time.Since(locked)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if completed == 0 {
		t.Fatal("the migration never completed")
	}
	t.Logf("bookings went through again %.1f s after the migration queued; it completed after %.1f s", booked.Seconds(), completed.Seconds())
	r.recovered(completed, pid, start, postgres.OnlineRole, "terminate")
	var n int
	if err := r.admin.QueryRow(r.ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'bookings' AND column_name = 'note'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the migration's column: %d, %v", n, err)
	}
	if err := r.bookOK(); err != nil {
		t.Errorf("booking after the migration: %v", err)
	}
}

// TestReplayNodeConnectionIdleInTransaction: a node's own online pool
// connection takes a session's lock and is left idle in its transaction
// (a stuck request). It is ended like any other blocker, long before the
// idle-in-transaction timeout (30 s) would.
func TestReplayNodeConnectionIdleInTransaction(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	holding, let := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(let) })
	t.Cleanup(release) // before the store closes: a failed test must not hang on it
	stuck := make(chan error, 1)
	go func() {
		stuck <- r.online.Update(r.ctx, func(tx storage.Tx) error {
			if _, err := tx.FreeSlot(r.ctx, storage.SlotQuery{SessionID: r.session.ID, Now: time.Now()}); err != nil {
				return err
			}
			close(holding)
			<-let
			return nil
		})
	}()
	<-holding
	locked := time.Now()
	var p int32
	if err := r.admin.QueryRow(r.ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = $1`, postgres.SessionLockKey(r.session.ID)).Scan(&p); err != nil {
		t.Fatal(err)
	}
	pid, start := r.backend(uint32(p))
	r.recovered(r.untilBooked(locked), pid, start, postgres.OnlineRole, "terminate")
	release()
	if err := <-stuck; err == nil {
		t.Error("the stuck request committed on a terminated connection")
	}
}

// TestSuperuserBlockerAlertsOnce: a superuser's session cannot be signalled.
// The watchdog logs an ALERT and audits it once for that session, with what
// it holds, not on every tick while it goes on blocking.
func TestSuperuserBlockerAlertsOnce(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	super, pid, _ := r.connect("", "SET application_name = 'dba console'", "BEGIN", "LOCK TABLE fairslot.bookings IN EXCLUSIVE MODE")
	locked := time.Now()
	for r.wd.Stats().Alerted == 0 && time.Since(locked) < time.Minute {
		if err := r.book(); fairslot.ErrorKind(err) != fairslot.Unavailable {
			t.Fatalf("booking under a superuser's lock: %v; want the busy error", err)
		}
	}
	// Go on blocking for several more ticks.
	for seen := time.Now(); time.Since(seen) < 5*time.Second; {
		r.book()
	}
	if s := r.wd.Stats(); s.Alerted != 1 || s.Cancelled+s.Terminated != 0 {
		t.Errorf("stats = %+v; want one alert, no signal", s)
	}
	if n := strings.Count(r.log.String(), "ALERT"); n != 1 {
		t.Errorf("%d ALERT lines; want 1:\n%s", n, r.log.String())
	}
	recs := r.audited(pid)
	if len(recs) != 1 || recs[0].Action != "watchdog.alert" || recs[0].Detail["superuser"] != "true" ||
		!strings.Contains(recs[0].Detail["locks"], "ExclusiveLock on fairslot.bookings") || recs[0].Detail["application_name"] != "dba console" {
		t.Errorf("audit = %+v; want one alert naming the superuser's session and its lock", recs)
	}
	for _, a := range recs {
		t.Logf("audit record: watchdog %s %s", a.Action, a.raw)
	}
	super.Exec(r.ctx, "ROLLBACK")
	if err := r.bookOK(); err != nil {
		t.Errorf("booking once the superuser let go: %v", err)
	}
}

// TestLeaderGivesUpWhenItsHeartbeatFails: the owner's credentials lock the
// nodes table against everyone, readers too, so the leader's heartbeat
// cannot be written nor the nodes read. It gives up the lead rather than run
// on; its watchdog, blind to the nodes, still ends the blocker (a heartbeat
// is an online session waiting), and the node leads again.
func TestLeaderGivesUpWhenItsHeartbeatFails(t *testing.T) {
	t.Parallel()
	r := newReplay(t)
	r.start()
	for !r.jobs.Leading() {
		time.Sleep(50 * time.Millisecond)
	}
	_, pid, start := r.connect(postgres.OwnerRole, with("BEGIN", "LOCK TABLE fairslot.nodes IN ACCESS EXCLUSIVE MODE")...)
	locked := time.Now()
	for r.jobs.Leading() && time.Since(locked) < time.Minute {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("lead given up %.1f s after the heartbeat was blocked", time.Since(locked).Seconds())
	if !r.alive(pid, start) {
		t.Fatal("the blocker was ended before the leader gave up: the test proves nothing")
	}
	for !r.jobs.Leading() && time.Since(locked) < time.Minute {
		time.Sleep(50 * time.Millisecond)
	}
	r.recovered(time.Since(locked), pid, start, postgres.OwnerRole, "terminate")
}

// An impostor holding the job lock (with a stolen password, setting any
// application_name it likes) is ended by a watchdog alone too; report-only
// mode records it without touching it, and an allowed user is left alone.
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
	if _, err := rogue.Exec(ctx, "SELECT pg_advisory_lock($1)", postgres.JobLockKey); err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	report := watchdogFor(t, dsn, key, quiet)
	report.CancelAfter, report.TerminateAfter, report.ReportOnly = 100*time.Millisecond, 200*time.Millisecond, true
	allowed := watchdogFor(t, dsn, key, quiet)
	allowed.CancelAfter, allowed.TerminateAfter, allowed.Allow = 100*time.Millisecond, 200*time.Millisecond, []string{postgres.OwnerRole}
	for i := 0; i < 6; i++ {
		report.Check(ctx)
		allowed.Check(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	if s := report.Stats(); s.Reported != 1 || rogue.Ping(ctx) != nil {
		t.Fatalf("report-only: stats %+v (want one report: the impostor sits idle), impostor alive: %v", s, rogue.Ping(ctx) == nil)
	}
	if s := allowed.Stats(); s != (postgres.WatchdogStats{}) {
		t.Fatalf("an allowed user was acted on: %+v", s)
	}
	wd := watchdogFor(t, dsn, key, quiet)
	wd.CancelAfter, wd.TerminateAfter = 100*time.Millisecond, 200*time.Millisecond
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
	key := newKey(t)
	_, dsn := openAsOnline(t, postgres.Options{})
	online := pgtest.As(t, dsn, postgres.OnlineRole)
	var leading atomic.Int32
	var mu sync.Mutex
	ran := map[string]int{}
	overlap := false
	start := func(node string) (*postgres.Store, context.CancelFunc, chan struct{}) {
		s, err := postgres.Open(ctx, online, postgres.Options{AppName: "fairslot " + node, NodeKey: key})
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
	for i, who := 0, ""; who != "node-a" && i < 200; who, _ = a.Leader(ctx) {
		time.Sleep(50 * time.Millisecond)
		i++
	}
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
