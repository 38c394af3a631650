package frontdoor

import (
	"context"
	"fmt"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/redislimit"
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

// maxReduced bounds the reduced account limiters a door keeps: one per
// factor in percent, and a policy has one factor.
const maxReduced = 8

// reducedFor is the extra limiter of an account whose rate limit the risk
// rules reduce — the account limit with its rate and burst multiplied by
// the factor — or nil for an account at full rate. The account's ordinary
// limit applies as well, so a reduced account never gets more. The
// limiters are keyed by the account, as the ordinary one, with the door's
// key bound (MaxKeys), and shared through Redis when the door is.
func (d *Door) reducedFor(account int64) Limiter {
	if d.RateFactor == nil {
		return nil
	}
	f := d.RateFactor(account)
	if !(f > 0 && f < 1) {
		return nil
	}
	pct := max(int(f*100), 1)
	d.reducedMu.Lock()
	defer d.reducedMu.Unlock()
	if lim, ok := d.reduced[pct]; ok {
		return lim
	}
	if d.reduced == nil {
		d.reduced = map[int]Limiter{}
	}
	if len(d.reduced) >= maxReduced {
		// More factors than any policy has: the tightest one kept serves.
		tightest := 101
		for p := range d.reduced {
			tightest = min(tightest, p)
		}
		return d.reduced[tightest]
	}
	l := ReducedLimit(d.cfg.AccountLimit, f)
	var lim Limiter = memoryLimiter{gate.NewMemory(l, d.cfg.MaxKeys)}
	if d.redis != nil {
		remote := &redislimit.Limiter{Client: d.redis.client, Limit: l, Prefix: fmt.Sprintf("fairslot:rl:account-risk-%d:", pct)}
		lim = &shared{remote: remote, local: lim, redis: d.redis}
	}
	d.reduced[pct] = lim
	return lim
}

// ReducedLimit is l with its rate and burst multiplied by f, each at least
// one: over the same period, so that the reduced limit refills as slowly.
func ReducedLimit(l Limit, f float64) gate.Limit {
	g := l.gate()
	g.Rate = max(int(float64(g.Rate)*f), 1)
	g.Burst = max(int(float64(g.Burst)*f), 1)
	return g
}
