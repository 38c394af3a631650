package health_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/promtest"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/health"
	"github.com/fairslot/fairslot/internal/testlog"
)

var ctx = context.Background()

// backend is a storage.Store whose transactions fail with what the test
// sets; a write that succeeds runs its function on a Tx that keeps settings.
type backend struct {
	storage.Store // nil: any other method panics
	mu            sync.Mutex
	writeErr      error
	readErr       error
	settings      map[string]string
	writes        int // successful writes, probes included
	closed        bool
}

type tx struct {
	storage.Tx
	b *backend
}

func (t tx) PutSetting(_ context.Context, k, v string) error { t.b.settings[k] = v; return nil }

func (b *backend) set(write, read error) {
	b.mu.Lock()
	b.writeErr, b.readErr = write, read
	b.mu.Unlock()
}

func (b *backend) Update(_ context.Context, fn func(storage.Tx) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.writeErr != nil {
		return b.writeErr
	}
	if err := fn(tx{b: b}); err != nil {
		return err
	}
	b.writes++
	return nil
}

func (b *backend) View(_ context.Context, fn func(storage.Tx) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readErr
}

func (b *backend) Ping(context.Context) error { return nil }
func (b *backend) Close() error               { b.mu.Lock(); b.closed = true; b.mu.Unlock(); return nil }

func (b *backend) probes() (n int, last string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes, b.settings["probe"]
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newStore(t *testing.T, o health.Options) (*health.Store, *backend, *testlog.Buffer) {
	t.Helper()
	b := &backend{settings: map[string]string{}}
	l := &testlog.Buffer{}
	o.Log = slog.New(slog.NewTextHandler(l, nil))
	o.ProbeKey = "probe"
	s := health.New(b, o)
	t.Cleanup(func() { s.Close() })
	return s, b, l
}

var diskFull = &storage.Fault{Reason: storage.DiskFull, Err: errors.New("database or disk is full (13)")}

func write(s *health.Store) error { return s.Update(ctx, func(storage.Tx) error { return nil }) }

// metric reads a metric of s by name and label values.
func metric(t *testing.T, s *health.Store, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	return promtest.Value(t, reg, name, labels)
}

func gauge(t *testing.T, s *health.Store) float64 {
	return metric(t, s, "fairslot_storage_writable", nil)
}

func failures(t *testing.T, s *health.Store, op, reason string) float64 {
	return metric(t, s, "fairslot_storage_failures_total", map[string]string{"op": op, "reason": reason})
}

// TestOneAlertPerOutage walks an outage through: many failed writes give one
// ALERT and are all counted; a write that then succeeds does not end it (it
// may have changed nothing); readiness probes, spaced, until one succeeds,
// which logs one recovery; the next fault is a new outage with its own ALERT.
func TestOneAlertPerOutage(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 10, 7, 0, 0, 0, time.UTC)}
	s, b, l := newStore(t, health.Options{Now: c.Now, ProbeEvery: time.Hour}) // the prober stays asleep: the test drives probes
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("a fresh store is not ready: %v", err)
	}
	if g := gauge(t, s); g != 1 {
		t.Errorf("writable gauge of a fresh store = %v, want 1", g)
	}

	b.set(diskFull, nil)
	for range 10 {
		if err := write(s); !errors.Is(err, storage.ErrUnwritable) {
			t.Fatalf("write on a full disk = %v, want the fault passed on", err)
		}
	}
	if s.Writable() {
		t.Error("the store is writable after failed writes")
	}
	if n := l.Count("ALERT"); n != 1 {
		t.Errorf("%d ALERT lines for one outage of 10 failed writes, want 1:\n%s", n, l.String())
	}
	if n := failures(t, s, "write", "disk_full"); n != 10 {
		t.Errorf("write failures counted = %v, want 10", n)
	}
	if g := gauge(t, s); g != 0 {
		t.Errorf("writable gauge during an outage = %v, want 0", g)
	}

	err := s.Ready(ctx)
	if err == nil || fairslot.ErrorKind(err) != fairslot.Unavailable || !strings.Contains(err.Error(), "disk_full") {
		t.Errorf("Ready during an outage = %v, want unavailable naming the reason", err)
	}
	b.set(nil, nil)
	if err := write(s); err != nil {
		t.Fatal(err)
	}
	if s.Writable() {
		t.Error("a user's write that succeeded ended the outage; only a probe may")
	}
	n0, _ := b.probes()
	for range 5 {
		s.Ready(ctx) // the probe that failed a moment ago is not repeated yet
	}
	if n, _ := b.probes(); n != n0 {
		t.Errorf("readiness checks within ProbeEvery of a probe wrote %d probes, want none", n-n0)
	}
	if s.Writable() {
		t.Error("the outage ended without a probe")
	}
	c.Add(time.Hour)
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready once the disk has room = %v, want ready", err)
	}
	if n, v := b.probes(); n != n0+1 || v == "" {
		t.Errorf("probes written = %d (value %q), want one", n-n0, v)
	}
	if !s.Writable() || l.Count("storage recovered") != 1 || l.Count("ALERT") != 1 {
		t.Errorf("after a probe succeeded: writable %v, log:\n%s", s.Writable(), l.String())
	}
	if g := gauge(t, s); g != 1 {
		t.Errorf("writable gauge after recovery = %v, want 1", g)
	}

	// Failing again soon after (a nearly full disk that took the probe):
	// the same outage going on, no second ALERT; later, a new outage.
	b.set(diskFull, nil)
	write(s)
	if s.Writable() || l.Count("ALERT") != 1 || l.Count("the storage cannot write again") != 1 {
		t.Errorf("a relapse a moment after recovering: writable %v, log:\n%s", s.Writable(), l.String())
	}
	b.set(nil, nil)
	c.Add(time.Hour)
	s.Ready(ctx)
	c.Add(time.Hour)
	b.set(&storage.Fault{Reason: storage.ReadOnly, Err: errors.New("attempt to write a readonly database (8)")}, nil)
	write(s)
	write(s)
	if n := l.Count("ALERT"); n != 2 {
		t.Errorf("a second outage, an hour after the first ended, logged %d ALERT lines in all, want 2", n)
	}
}

// TestProbeIsARealSizedWrite: the probe writes as much as a booking would,
// and something new each time, so a nearly full disk that takes a tiny
// write but no booking does not pass for recovered (found in review).
func TestProbeIsARealSizedWrite(t *testing.T) {
	s, b, _ := newStore(t, health.Options{ProbeEvery: time.Hour})
	if err := s.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	_, first := b.probes()
	s.Probe(ctx)
	_, second := b.probes()
	if len(first) < 64<<10 || first == second {
		t.Errorf("probes wrote %d bytes (the same twice: %v); want at least 64 KiB, new each time", len(first), first == second)
	}
}

// Errors that are no fault of the storage — lock contention, a refusal, a
// cancelled request — leave the store writable and log nothing.
func TestOtherErrorsAreNoOutage(t *testing.T) {
	s, b, l := newStore(t, health.Options{ProbeEvery: time.Hour})
	for _, err := range []error{
		storage.ErrBusy,
		fairslot.Errorf(fairslot.Conflict, "slot taken"),
		context.Canceled,
		errors.New("some bug"),
	} {
		b.set(err, err)
		write(s)
		s.View(ctx, func(storage.Tx) error { return nil })
		if !s.Writable() {
			t.Errorf("%v marked the store unwritable", err)
		}
	}
	if len(l.String()) != 0 {
		t.Errorf("logged:\n%s", l.String())
	}
}

// A read that fails on a fault (a database that cannot be reached) begins an
// outage too, counted as a read.
func TestReadFaultBeginsAnOutage(t *testing.T) {
	s, b, l := newStore(t, health.Options{ProbeEvery: time.Hour})
	b.set(nil, &storage.Fault{Reason: storage.Unreachable, Err: errors.New("connection refused")})
	s.View(ctx, func(storage.Tx) error { return nil })
	s.View(ctx, func(storage.Tx) error { return nil })
	if s.Writable() || l.Count("ALERT") != 1 {
		t.Errorf("after read faults: writable %v, log:\n%s", s.Writable(), l.String())
	}
	if n := failures(t, s, "read", "unreachable"); n != 2 {
		t.Errorf("read failures counted = %v, want 2", n)
	}
}

// TestProberEndsAnOutageAlone: with no readiness check and no user write,
// the prober finds that writes work again.
func TestProberEndsAnOutageAlone(t *testing.T) {
	s, b, l := newStore(t, health.Options{ProbeEvery: 5 * time.Millisecond})
	b.set(diskFull, nil)
	write(s)
	if s.Writable() {
		t.Fatal("writable after a fault")
	}
	b.set(nil, nil)
	for i := 0; !s.Writable(); i++ {
		if i > 6000 { // a hang guard of about a minute, not a speed target
			t.Fatal("the prober did not end the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l.Count("storage recovered") != 1 {
		t.Errorf("log:\n%s", l.String())
	}
}

// Many concurrent readiness checks during an outage write at most one probe
// per ProbeEvery.
func TestReadinessChecksDoNotFloodTheWriter(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 10, 7, 0, 0, 0, time.UTC)}
	s, b, _ := newStore(t, health.Options{Now: c.Now, ProbeEvery: time.Hour})
	c.Add(time.Hour) // nothing written yet: a probe is due
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { s.Ready(ctx) })
	}
	wg.Wait()
	if n, _ := b.probes(); n != 1 {
		t.Errorf("50 concurrent readiness checks wrote %d probes, want 1", n)
	}
	for range 10 {
		s.Ready(ctx)
	}
	if n, _ := b.probes(); n != 1 {
		t.Errorf("readiness checks right after a probe wrote %d probes in all, want 1", n)
	}
}

func TestCloseStopsTheProberAndClosesTheBackend(t *testing.T) {
	s, b, _ := newStore(t, health.Options{ProbeEvery: time.Millisecond})
	b.set(diskFull, nil)
	write(s) // the prober is probing
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		t.Error("Close did not close the backend")
	}
}

// slowRecovery is a log handler that lingers on the recovery line, as a
// loaded machine may between the store turning writable and the line
// reaching the log.
type slowRecovery struct {
	slog.Handler
	entered, release chan struct{}
	once             sync.Once
	logged           chan struct{}
}

func (h *slowRecovery) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "storage recovered") {
		h.once.Do(func() { close(h.entered) })
		select {
		case <-h.release:
		case <-time.After(100 * time.Millisecond): // only a delay: the outcome does not depend on it
		}
		close(h.logged)
	}
	return nil
}

// TestRecoveryIsLoggedBeforeTheStoreIsWritable: whoever sees the store
// writable again (/readyz) finds the recovery already in the log — an
// operator, or a test reading the log after /readyz, never sees "ready"
// with no recovery line (TestDiskFull once saw 0 recovery lines so).
func TestRecoveryIsLoggedBeforeTheStoreIsWritable(t *testing.T) {
	b := &backend{settings: map[string]string{}}
	h := &slowRecovery{Handler: slog.NewTextHandler(io.Discard, nil), entered: make(chan struct{}), release: make(chan struct{}), logged: make(chan struct{})}
	s := health.New(b, health.Options{Log: slog.New(h), ProbeKey: "probe", ProbeEvery: time.Hour})
	t.Cleanup(func() { s.Close() })
	b.set(diskFull, nil)
	if err := write(s); err == nil {
		t.Fatal("a write on a full disk succeeded")
	}
	b.set(nil, nil)
	var probe sync.WaitGroup
	probe.Go(func() { s.Probe(ctx) })
	<-h.entered // the recovery is being logged now
	writable := s.Writable()
	select {
	case <-h.logged:
	default:
		if writable {
			t.Error("the store reported writable while its recovery line was not yet logged")
		}
	}
	close(h.release)
	probe.Wait()
	if !s.Writable() {
		t.Error("the store is not writable after a probe succeeded")
	}
}
