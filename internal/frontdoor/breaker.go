package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/fairslot/fairslot/internal/redislimit"
)

// breaker is the circuit breaker in front of Redis: a state machine told
// what happened and when, which says whether its state switched. Closed,
// decisions go to Redis; open, they are made on this node without waiting
// on Redis. A failed probe opens it at once; failed calls open it as a run:
// after a call fails, the calls of the next backoff are not sent to Redis
// (so a request waits on Redis at most once, however many limits it
// checks), failures count at most once a backoff (calls that waited
// together fail together), a success ends the run, and failsToOpen in a row
// open it — a moment of slow answers from a healthy Redis (this node's own
// CPU busy) switches nothing, while a hung Redis keeps failing until it
// does. Only a probe that succeeds closes it, so while Redis is down no
// request waits on it.
//
// Every outcome is reported with the generation it began in, and counts
// only if no switch happened since: a call that was already waiting when
// the breaker opened cannot open it again after a probe has closed it, and
// a probe that began before a failure cannot close the breaker that failure
// opened.
type breaker struct {
	mu           sync.Mutex
	open         bool
	gen          uint64        // switches so far
	since        time.Time     // when it last switched (or was made)
	backoff      time.Duration // after a failed call: the link's deadline
	failures     int           // failed calls in a row, while closed
	backoffUntil time.Time
}

// failsToOpen is how many request-path calls must fail in a row to open
// the breaker.
const failsToOpen = 3

// admit says whether a call may go to Redis at now — closed, and not
// backing off after a failed call — and the generation to report its
// outcome in.
func (b *breaker) admit(now time.Time) (gen uint64, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen, !b.open && !now.Before(b.backoffUntil)
}

// succeeded records a call that Redis answered: the run of failures ends.
func (b *breaker) succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
}

// callFailed records a request-path call of generation gen that failed,
// into the run of failures. It reports whether that opened the breaker, and
// how long it had been closed.
func (b *breaker) callFailed(gen uint64, now time.Time) (opened bool, closedFor time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open || gen != b.gen || now.Before(b.backoffUntil) {
		return false, 0
	}
	b.failures++
	b.backoffUntil = now.Add(b.backoff)
	if b.failures < failsToOpen {
		return false, 0
	}
	return true, b.flip(now)
}

// failed records a probe of generation gen that failed. It reports whether
// that opened the breaker, and how long it had been closed.
func (b *breaker) failed(gen uint64, now time.Time) (opened bool, closedFor time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open || gen != b.gen {
		return false, 0
	}
	return true, b.flip(now)
}

// recovered records a probe of generation gen that succeeded. It reports
// whether that closed the breaker, and how long it had been open.
func (b *breaker) recovered(gen uint64, now time.Time) (closed bool, openFor time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open || gen != b.gen {
		return false, 0
	}
	return true, b.flip(now)
}

func (b *breaker) flip(now time.Time) time.Duration {
	was := now.Sub(b.since)
	b.open, b.gen, b.since = !b.open, b.gen+1, now
	b.failures, b.backoffUntil = 0, time.Time{}
	return was
}

func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

// redisLink is a door's one way to Redis, shared by its limiters and its
// spent-challenge set: every call has a short deadline and goes through the
// breaker, and a single prober goroutine, owned by the link, probes Redis
// every interval. It logs one ALERT when the node switches to its own
// limits and one when Redis is back — never one per request or per probe.
type redisLink struct {
	client  *redis.Client // nil in tests that fake the calls
	addr    string        // for the log: host and port, never the URL's password
	timeout time.Duration
	probe   func(context.Context) error
	now     func() time.Time
	log     *slog.Logger
	b       breaker
	// switching serialises a switch with its log line, so that the ALERTs
	// come out in the order the switches happened.
	switching sync.Mutex

	// inflight bounds the calls waiting on Redis at once to what its
	// connection pool holds: a burst of requests beyond it is decided on
	// this node, never counted against Redis — the node's own concurrency
	// is not Redis failing.
	inflight chan struct{}

	calls    [callResults]prometheus.Counter
	switches [2]prometheus.Counter // to local (opened), to shared (closed)

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

type callResult int

const (
	callOK      callResult = iota // Redis decided
	callFailed                    // Redis failed or timed out; decided on this node
	callSkipped                   // the breaker was open; decided on this node
	callBusy                      // as many calls as the pool holds were waiting; decided on this node
	callResults
)

var callResultNames = [callResults]string{"ok", "failed", "skipped", "busy"}

func newRedisLink(addr string, timeout time.Duration, inflight int, probe func(context.Context) error, reg prometheus.Registerer, log *slog.Logger) *redisLink {
	l := &redisLink{addr: addr, timeout: timeout, probe: probe, now: time.Now, log: log, done: make(chan struct{}),
		inflight: make(chan struct{}, inflight)}
	l.b.since, l.b.backoff = l.now(), timeout
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fairslot_redis_calls_total",
		Help: "Shared rate-limit and spent-challenge decisions on the request path: made by Redis (ok), made on this node after Redis failed or timed out (failed), made on this node without asking Redis while the breaker is open (skipped) or while as many calls as the connection pool holds were waiting (busy)."},
		[]string{"result"})
	switches := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fairslot_redis_switches_total",
		Help: "Switches between the limits shared in Redis and this node's own (to=local when Redis failed, to=shared when it answered again)."},
		[]string{"to"})
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_redis_up",
		Help: "1 while the rate limits and spent challenges are shared in Redis, 0 while this node uses its own because Redis failed."},
		func() float64 {
			if l.b.isOpen() {
				return 0
			}
			return 1
		})
	reg.MustRegister(calls, switches, up)
	for r := range callResults {
		l.calls[r] = calls.WithLabelValues(callResultNames[r])
	}
	l.switches = [2]prometheus.Counter{switches.WithLabelValues("local"), switches.WithLabelValues("shared")}
	return l
}

// openRedis connects a door to the Redis at cfg.Redis. It never waits
// longer than one probe's deadline and never fails because Redis is down or
// silent: the node then starts on its own limits, with the breaker open,
// and the prober takes Redis on when it answers. The prober runs until ctx
// ends or Close is called.
func openRedis(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*redisLink, error) {
	c, err := redislimit.NewClient(cfg.Redis, time.Duration(cfg.RedisTimeout))
	if err != nil {
		return nil, err
	}
	l := newRedisLink(c.Options().Addr, time.Duration(cfg.RedisTimeout), c.Options().PoolSize, func(ctx context.Context) error {
		return redislimit.Probe(ctx, c, "fairslot:")
	}, reg, log)
	l.client = c
	l.probeOnce(ctx)
	tick := time.NewTicker(time.Duration(cfg.RedisProbeEvery))
	l.start(ctx, tick.C, tick.Stop)
	return l, nil
}

// start runs the prober: one probe per tick, each with the deadline, one
// at a time (a tick that comes while a probe runs is dropped by the
// ticker, not queued).
func (l *redisLink) start(ctx context.Context, tick <-chan time.Time, stopTicks func()) {
	ctx, l.stop = context.WithCancel(ctx)
	go func() {
		defer close(l.done)
		defer stopTicks()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
			}
			l.probeOnce(ctx)
		}
	}()
}

// probeOnce probes Redis with the deadline. A failure opens the breaker (so
// an outage is found while the node is idle, not by a request); a success
// closes it.
func (l *redisLink) probeOnce(ctx context.Context) {
	gen, _ := l.b.admit(l.now())
	pctx, cancel := context.WithTimeout(ctx, l.timeout)
	err := l.probe(pctx)
	cancel()
	switch {
	case ctx.Err() != nil: // shutting down: not Redis's doing
	case err != nil:
		l.failed(l.b.failed, gen, err)
	default:
		l.switching.Lock()
		defer l.switching.Unlock()
		if closed, down := l.b.recovered(gen, l.now()); closed {
			l.switches[1].Inc()
			l.log.Warn("ALERT: shared rate limits back: Redis answers again; limits and spent challenges are shared across nodes again",
				"redis", l.addr, "down_for", down.Round(time.Millisecond).String())
		}
	}
}

// do runs one request-path call to Redis with the deadline, if the breaker
// lets it. It reports whether Redis decided; when it did not, the caller
// decides on this node. Redis's errors end here: the caller never sees one.
func (l *redisLink) do(ctx context.Context, call func(context.Context) error) bool {
	gen, closed := l.b.admit(l.now())
	if !closed {
		l.calls[callSkipped].Inc()
		return false
	}
	select {
	case l.inflight <- struct{}{}:
		defer func() { <-l.inflight }()
	default:
		l.calls[callBusy].Inc()
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	err := call(cctx)
	cancel()
	if err == nil {
		l.b.succeeded()
		l.calls[callOK].Inc()
		return true
	}
	if ctx.Err() != nil {
		// The request ended (its client left) while Redis was working on
		// it: no verdict on Redis, and the request needs none either.
		return false
	}
	l.calls[callFailed].Inc()
	if !errors.Is(err, redis.ErrPoolTimeout) { // a full pool is not Redis's doing
		l.failed(l.b.callFailed, gen, err)
	}
	return false
}

// failed reports a failure to the breaker (a probe's or a call's, as
// report says) and logs the ALERT if that opened it.
func (l *redisLink) failed(report func(gen uint64, now time.Time) (bool, time.Duration), gen uint64, err error) {
	l.switching.Lock()
	defer l.switching.Unlock()
	if opened, _ := report(gen, l.now()); opened {
		l.switches[0].Inc()
		l.log.Error(fmt.Sprintf("ALERT: shared rate limits unavailable: Redis failed or did not answer within %v; limiting per node, and remembering spent challenges per node, until it answers", l.timeout),
			"redis", l.addr, "err", err)
	}
}

// Close stops the prober, waits for it, and closes the connections.
func (l *redisLink) Close() error {
	var err error
	l.closeOnce.Do(func() {
		if l.stop != nil {
			l.stop()
			<-l.done
		}
		if l.client != nil {
			err = l.client.Close()
		}
	})
	return err
}
