// Package health keeps track of whether the storage can write. It wraps a
// storage.Store, so every transaction's outcome passes one place: when the
// backend reports a fault of the storage itself (storage.Fault: a full or
// read-only disk, an I/O error, a database that cannot be reached) it marks
// the store unwritable, logs one ALERT for the outage, counts the failed
// transactions, keeps readiness off and probes with a tiny real write until
// one succeeds, then logs one line that writes work again.
//
// It never refuses or delays a transaction itself: every request still goes
// to the backend, so reads go on during an outage and writes resume the
// moment the storage takes them. It must never hold personal data.
package health

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/storage"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	Log *slog.Logger // default: discard
	// ProbeKey is the setting a probe writes (default "storage_probe"); give
	// each node its own, so that probes of several nodes do not contend.
	ProbeKey string
	// ProbeEvery is how often an unwritable store is probed, and the least
	// time between two probes that readiness checks ask for (default 5s).
	ProbeEvery time.Duration
	// ProbeTimeout bounds one probe (default 5s).
	ProbeTimeout time.Duration
	// Now is the clock that spaces readiness probes (default time.Now).
	Now func() time.Time
}

// probeBytes is the size of a probe's write: more than a booking writes
// (its row, indexes and audit record: a few pages).
const probeBytes = 64 << 10

// relapseWindow is how soon after a recovery a new fault counts as the
// same outage going on: no new ALERT for it.
const relapseWindow = 5 * time.Minute

// Store is a storage.Store whose writability is watched.
type Store struct {
	storage.Store
	o        Options
	failures *prometheus.CounterVec
	writable prometheus.GaugeFunc

	mu        sync.Mutex
	down      *outage   // nil while writable
	lastOK    time.Time // of the last write or probe that succeeded
	lastProbe time.Time // of the last probe, whatever its outcome
	lastUp    time.Time // when the last outage ended
	probing   sync.Mutex

	wake      chan struct{} // an outage began: the prober starts
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// outage is a time the storage could not write.
type outage struct {
	reason storage.Reason
	since  time.Time
	failed int // transactions that failed during it
}

var _ storage.Store = (*Store)(nil)

// New wraps st and starts its prober; Close stops the prober and closes st.
func New(st storage.Store, o Options) *Store {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ProbeKey == "" {
		o.ProbeKey = "storage_probe"
	}
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = 5 * time.Second
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{Store: st, o: o,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fairslot_storage_failures_total",
			Help: "Transactions that failed on a fault of the storage (disk full, read-only, I/O error, unreachable), by kind of transaction and reason."},
			[]string{"op", "reason"}),
		wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	s.writable = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_storage_writable",
		Help: "1 while the storage takes writes; 0 from a write that failed on a storage fault until a probe write succeeds."},
		func() float64 {
			if s.Writable() {
				return 1
			}
			return 0
		})
	go s.prober()
	return s
}

// Describe and Collect make the Store a prometheus.Collector of its
// failure counter and writability gauge.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	s.failures.Describe(ch)
	s.writable.Describe(ch)
}

func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.failures.Collect(ch)
	s.writable.Collect(ch)
}

func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if err == nil {
		// A success does not end an outage: a transaction that changed
		// nothing commits even on a full disk. Only a probe does (below).
		s.mu.Lock()
		if s.down == nil {
			s.lastOK = s.o.Now()
		}
		s.mu.Unlock()
		return nil
	}
	s.observe("write", err)
	return err
}

func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	err := s.Store.View(ctx, fn)
	s.observe("read", err)
	return err
}

// observe notes a transaction's error if it is a storage fault.
func (s *Store) observe(op string, err error) {
	f := storage.FaultOf(err)
	if f == nil {
		return
	}
	s.failures.WithLabelValues(op, string(f.Reason)).Inc()
	s.fail(f, 1)
}

// fail marks the store unwritable, adding n failed transactions to the
// outage; the first fault of an outage is its one ALERT, and wakes the
// prober.
func (s *Store) fail(f *storage.Fault, n int) {
	s.mu.Lock()
	first := s.down == nil
	now := s.o.Now()
	relapse := first && !s.lastUp.IsZero() && now.Sub(s.lastUp) < relapseWindow
	if first {
		s.down = &outage{reason: f.Reason, since: now}
	}
	s.down.failed += n
	s.mu.Unlock()
	if !first {
		return
	}
	if relapse {
		// A disk that is nearly full takes a probe and then refuses the next
		// larger write: the same outage going on, not a new one to alert on.
		s.o.Log.Warn("the storage cannot write again soon after it recovered: the same outage going on, not alerted again",
			"reason", f.Reason, "err", f.Err)
	} else {
		s.o.Log.Error("ALERT: the storage cannot write: writes fail with 503 and /readyz is not ready until a probe write succeeds; reads go on",
			"reason", f.Reason, "err", f.Err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// recovered ends an outage, logging it once — before anyone can see the
// store writable, so a log read after /readyz turned ready holds the line.
func (s *Store) recovered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.down
	s.down, s.lastOK = nil, s.o.Now()
	if o != nil {
		s.lastUp = s.lastOK
		s.o.Log.Info("storage recovered: writes work again", "reason", o.reason,
			"down_for", s.lastOK.Sub(o.since).Round(time.Millisecond).String(), "failed_transactions", o.failed)
	}
}

// Writable reports whether the storage took the last write or probe.
func (s *Store) Writable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down == nil
}

// Probe writes the probe setting once and notes the outcome: a success ends
// an outage, a fault begins one. It returns the write's error.
func (s *Store) Probe(ctx context.Context) error {
	s.mu.Lock()
	s.lastProbe = s.o.Now()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.o.ProbeTimeout)
	defer cancel()
	// A write as large as a real one's, incompressible (a database may
	// compress what it stores), and a change every time: on a disk that is
	// nearly full, a tiny probe would succeed where every booking fails.
	pad := make([]byte, probeBytes*3/4)
	rand.Read(pad)
	value := s.o.Now().UTC().Format(time.RFC3339Nano) + " " + base64.StdEncoding.EncodeToString(pad)
	err := s.Store.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, s.o.ProbeKey, value) })
	if err == nil {
		s.recovered()
		return nil
	}
	if f := storage.FaultOf(err); f != nil {
		s.fail(f, 0)
	} else if !errors.Is(err, storage.ErrBusy) {
		s.o.Log.Warn("storage probe failed", "err", err)
	}
	return err
}

// probeIfDue probes when a probe is due — during an outage, or when no
// write has succeeded for ProbeEvery — unless one is running or began less
// than gap ago: readiness checks and the prober share the spacing, so a
// flood of readiness checks cannot flood the writer.
func (s *Store) probeIfDue(ctx context.Context, gap time.Duration) {
	if !s.probing.TryLock() {
		return
	}
	defer s.probing.Unlock()
	s.mu.Lock()
	now := s.o.Now()
	due := (s.down != nil || now.Sub(s.lastOK) >= s.o.ProbeEvery) && now.Sub(s.lastProbe) >= gap
	s.mu.Unlock()
	if due {
		s.Probe(ctx)
	}
}

// errNotWritable is the readiness error during an outage; its text names
// the reason for the operator reading the log.
type errNotWritable struct{ o outage }

func (e *errNotWritable) Error() string {
	return fmt.Sprintf("the storage cannot write (%s) since %s", e.o.reason, e.o.since.Format(time.RFC3339))
}

func (e *errNotWritable) Unwrap() error { return storage.ErrUnwritable }

// Ready reports whether the store can take traffic: the backend answers and
// writes work, probing first when a probe is due (see probeIfDue).
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		s.observe("read", err)
		return err
	}
	s.probeIfDue(ctx, s.o.ProbeEvery)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return &errNotWritable{*s.down}
	}
	return nil
}

// prober probes an unwritable store every ProbeEvery until a probe
// succeeds, so that an outage ends, in the log and the gauge, even when no
// readiness check comes.
func (s *Store) prober() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
		case <-s.closing:
			return
		}
		t := time.NewTicker(s.o.ProbeEvery)
		for !s.Writable() {
			select {
			case <-t.C:
				// Half the spacing: a tick comes ProbeEvery after the
				// last, and a readiness probe just before it may skip it.
				s.probeIfDue(context.Background(), s.o.ProbeEvery/2)
			case <-s.closing:
				t.Stop()
				return
			}
		}
		t.Stop()
	}
}

// Close stops the prober, then closes the store under it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.done
	return s.Store.Close()
}
