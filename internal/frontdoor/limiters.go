package frontdoor

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
)

// memoryLimiter is the in-memory limiter on the wall clock.
type memoryLimiter struct{ m *gate.Memory }

func (l memoryLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	ok, retry := l.m.Allow(key, time.Now())
	return ok, retry, nil
}

// shared decides in Redis and, while Redis cannot be reached, in this
// node's memory: a Redis outage loosens the limits to per-node ones instead
// of closing the door or opening it wide.
type shared struct {
	remote, local Limiter
	log           *slog.Logger
	warned        atomic.Int64
}

func (s *shared) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	ok, retry, err := s.remote.Allow(ctx, key)
	if err == nil {
		return ok, retry, nil
	}
	warnEvery(&s.warned, s.log, "shared rate limits unavailable; limiting per node until Redis answers", err)
	return s.local.Allow(ctx, key)
}

// sharedSpent keeps spent challenges in Redis, or in memory while Redis
// cannot be reached (a challenge could then be replayed once on another
// node: the price of staying up).
type sharedSpent struct {
	remote, local gate.Spender
	log           *slog.Logger
	warned        atomic.Int64
}

func (s *sharedSpent) Spend(ctx context.Context, nonce []byte, until time.Time) (bool, error) {
	fresh, err := s.remote.Spend(ctx, nonce, until)
	if err == nil {
		return fresh, nil
	}
	warnEvery(&s.warned, s.log, "shared challenge store unavailable; remembering spent challenges per node", err)
	return s.local.Spend(ctx, nonce, until)
}

// warnEvery logs an error at most once every logEvery.
func warnEvery(last *atomic.Int64, log *slog.Logger, msg string, err error) {
	now, prev := time.Now().UnixNano(), last.Load()
	if now-prev >= int64(logEvery) && last.CompareAndSwap(prev, now) {
		log.Error("ALERT: "+msg, "err", err)
	}
}
