// Package redislimit is the shared rate limiter for several fairslot nodes:
// the same GCRA decision as gate.Memory, made by one atomic Lua script per
// request on Redis with Redis's own clock, so nodes with skewed clocks agree.
// Keys expire when their theoretical arrival time passes, so a flood of
// unique keys costs Redis memory only for as long as a key would limit
// anything. It must never hold personal data: callers pass keyed hashes.
package redislimit

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/fairslot/fairslot/internal/gate"
)

// script is GCRA in microseconds. ARGV: interval, tolerance, and a test
// clock (0: Redis TIME).
const script = `
local interval, tolerance, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if now == 0 then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then
	return {0, ahead - tolerance}
end
local nexttat = tat + interval
redis.call('SET', KEYS[1], nexttat, 'PX', math.ceil((nexttat - now) / 1000) + 1)
return {1, 0}
`

var gcra = redis.NewScript(script)

// Limiter decides requests for one limit under a key prefix.
type Limiter struct {
	Client *redis.Client
	Limit  gate.Limit
	Prefix string // e.g. "fairslot:rl:addr:"
	// Clock, when set (tests), replaces Redis's clock.
	Clock func() time.Time
}

// NewClient returns a client for the Redis server at url
// (redis://host:port/db) that never keeps a caller waiting longer than
// timeout: one dial attempt and no retries; dialling, waiting for a pooled
// connection, socket reads and writes each bounded by timeout; and the
// caller's context deadline honoured. go-redis's defaults (seconds-long
// timeouts, retries, five dial attempts) let a silent Redis hold every
// request for seconds. Timeouts and retries in the URL's query are
// overridden. It does not connect: a Redis that is down or silent at
// start-up costs nothing here; the first call finds out.
func NewClient(url string, timeout time.Duration) (*redis.Client, error) {
	quietOnce.Do(func() { redis.SetLogger(&logging.VoidLogger{}) })
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1 // -1, not 0, is "none"
	opt.DialerRetries = 1
	// No maintenance-notification handshake: that is for Redis Cloud, and
	// costs a round trip on a new connection.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

// quietOnce silences go-redis's own log, which is process-wide and writes
// a line to stderr for every failed dial: during an outage, one a probe.
// Its errors reach the callers as return values, and the door reports the
// outage once, in its own log.
var quietOnce sync.Once

// Probe checks that Redis can make decisions for us: it runs the limiter's
// script once on a key of its own under prefix. That needs the server to
// answer, to run scripts and to take writes — a replica, or a server out
// of memory, still answers PING but can limit nothing, and taking it back
// on a PING would switch to it and away again on every probe.
func Probe(ctx context.Context, c *redis.Client, prefix string) error {
	l := Limiter{Client: c, Limit: gate.Limit{Rate: 1000, Per: time.Millisecond, Burst: 1000}, Prefix: prefix}
	_, _, err := l.Allow(ctx, "probe")
	return err
}

// Allow decides one request for key.
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	var now int64
	if l.Clock != nil {
		now = l.Clock().UnixMicro()
	}
	interval := l.Limit.Per.Microseconds() / int64(max(l.Limit.Rate, 1))
	tolerance := interval * int64(max(l.Limit.Burst, 1)-1)
	res, err := gcra.Run(ctx, l.Client, []string{l.Prefix + key}, interval, tolerance, now).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis rate limit: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis rate limit: unexpected reply %v", res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Spent is the shared set of spent proof-of-work challenges: a nonce is
// stored with SET NX until its challenge expires, so a challenge is used
// once across all nodes and Redis forgets it when it no longer matters.
type Spent struct {
	Client *redis.Client
	Prefix string // e.g. "fairslot:pow:"
}

// Spend records nonce as spent until the given time; fresh is false when
// some node spent it before.
func (s *Spent) Spend(ctx context.Context, nonce []byte, until time.Time) (fresh bool, err error) {
	fresh, err = s.Client.SetNX(ctx, s.Prefix+hex.EncodeToString(nonce), 1, time.Until(until)+time.Second).Result()
	if err != nil {
		return false, fmt.Errorf("redis spent challenges: %w", err)
	}
	return fresh, nil
}
