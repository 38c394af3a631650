package frontdoor

import (
	"context"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
)

// memoryLimiter is the in-memory limiter on the wall clock.
type memoryLimiter struct{ m *gate.Memory }

func (l memoryLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	ok, retry := l.m.Allow(key, time.Now())
	return ok, retry, nil
}

// shared decides in Redis and, while Redis fails or is slow, in this
// node's memory: a Redis outage loosens the limits to per-node ones instead
// of closing the door, opening it wide or holding requests. The link's
// breaker and deadline decide when Redis is asked at all.
type shared struct {
	remote, local Limiter
	redis         *redisLink
}

func (s *shared) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	var ok bool
	var retry time.Duration
	if s.redis.do(ctx, func(ctx context.Context) (err error) {
		ok, retry, err = s.remote.Allow(ctx, key)
		return err
	}) {
		return ok, retry, nil
	}
	return s.local.Allow(ctx, key)
}

// sharedSpent keeps spent challenges in Redis, or in memory while Redis
// fails (a challenge could then be replayed once on another node: the
// price of staying up).
type sharedSpent struct {
	remote, local gate.Spender
	redis         *redisLink
}

func (s *sharedSpent) Spend(ctx context.Context, nonce []byte, until time.Time) (bool, error) {
	var fresh bool
	if s.redis.do(ctx, func(ctx context.Context) (err error) {
		fresh, err = s.remote.Spend(ctx, nonce, until)
		return err
	}) {
		return fresh, nil
	}
	return s.local.Spend(ctx, nonce, until)
}
