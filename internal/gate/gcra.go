// Package gate holds the front door's rules: rate limits by the generic cell
// rate algorithm (GCRA), kept in memory with a bound on how many keys it
// remembers, so that a flood of unique keys cannot exhaust memory. The
// decision itself is a pure function of a stored time and now; the limiter
// only keeps those times. It must never touch storage or the network.
package gate

import (
	"hash/maphash"
	"sync"
	"time"
)

// Limit allows Rate requests per Per on average, with bursts of up to Burst.
type Limit struct {
	Rate  int           `json:"rate"`
	Per   time.Duration `json:"per"`
	Burst int           `json:"burst"`
}

// interval is the time one request uses up; tolerance how far ahead of now
// the theoretical arrival time may run.
func (l Limit) interval() time.Duration  { return l.Per / time.Duration(max(l.Rate, 1)) }
func (l Limit) tolerance() time.Duration { return l.interval() * time.Duration(max(l.Burst, 1)-1) }

// Decide is GCRA: tat is the key's theoretical arrival time (zero for a new
// key). It allows the request when tat runs no further ahead of now than the
// burst tolerance, and returns the key's next tat; a refusal returns how long
// until a request would be allowed, and tat unchanged.
func (l Limit) Decide(tat, now time.Time) (next time.Time, ok bool, retryAfter time.Duration) {
	if tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > l.tolerance() {
		return tat, false, ahead - l.tolerance()
	}
	return tat.Add(l.interval()), true, 0
}

// Memory is an in-memory limiter for one Limit, keyed by strings. It keeps
// at most MaxKeys keys: a key whose theoretical arrival time has passed is
// forgotten (it would be allowed like a new one), and when the table is full
// of live keys the most nearly expired of a small sample is dropped.
type Memory struct {
	limit Limit
	keys  table[string] // theoretical arrival times
}

// NewMemory returns a limiter for l remembering at most maxKeys keys.
func NewMemory(l Limit, maxKeys int) *Memory {
	m := &Memory{limit: l}
	m.keys.init(maxKeys)
	return m
}

// Allow decides one request for key at now.
func (m *Memory) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	s := m.keys.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	var tat time.Time
	stored, known := s.m[key]
	if known {
		tat = time.Unix(0, stored)
	}
	next, ok, retryAfter := m.limit.Decide(tat, now)
	if !ok {
		return false, retryAfter
	}
	if !known && len(s.m) >= m.keys.perCap {
		s.evict(now.UnixNano(), m.keys.perCap)
	}
	s.m[key] = next.UnixNano()
	return true, 0
}

// Peek reports what Allow would decide for key at now, spending nothing:
// for a limit charged only after the fact, such as failed logins, which
// must be checked before the costly work that tells whether to charge.
func (m *Memory) Peek(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	s := m.keys.shard(key)
	s.mu.Lock()
	stored, known := s.m[key]
	s.mu.Unlock()
	var tat time.Time
	if known {
		tat = time.Unix(0, stored)
	}
	_, ok, retryAfter = m.limit.Decide(tat, now)
	return ok, retryAfter
}

// Remaining reports how many requests for key Allow would take at now
// before refusing one, spending nothing.
func (m *Memory) Remaining(key string, now time.Time) int {
	s := m.keys.shard(key)
	s.mu.Lock()
	stored, known := s.m[key]
	s.mu.Unlock()
	tat := now
	if known && time.Unix(0, stored).After(now) {
		tat = time.Unix(0, stored)
	}
	ahead := tat.Sub(now)
	if ahead > m.limit.tolerance() {
		return 0
	}
	return int((m.limit.tolerance()-ahead)/m.limit.interval()) + 1
}

// Len reports how many keys the limiter remembers.
func (m *Memory) Len() int { return m.keys.Len() }

// table maps keys to times (Unix nanoseconds) in 64 locked shards of at
// most perCap keys each: the bounded store of the limiter and the spent set.
type table[K comparable] struct {
	seed   maphash.Seed
	shards [64]tableShard[K]
	perCap int
}

type tableShard[K comparable] struct {
	mu sync.Mutex
	m  map[K]int64
}

func (t *table[K]) init(maxKeys int) {
	t.seed, t.perCap = maphash.MakeSeed(), max(maxKeys/64, 1)
	for i := range t.shards {
		t.shards[i].m = make(map[K]int64)
	}
}

func (t *table[K]) shard(k K) *tableShard[K] {
	return &t.shards[maphash.Comparable(t.seed, k)%uint64(len(t.shards))]
}

// Len reports how many keys the table holds.
func (t *table[K]) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// evict makes room for one key under limit, looking at no more than 32
// keys (the map's random order makes them a sample), so a flood of new keys
// costs a bounded amount of work each: expired keys among them go, and if
// none had, the most nearly expired. Dropping a live key forgets its
// history, so under a flood of unique keys a remembered key may get a fresh
// allowance — the price of a bounded table.
func (s *tableShard[K]) evict(now int64, limit int) {
	var victim K
	var oldest int64
	found, n := false, 0
	for k, tat := range s.m {
		if tat <= now {
			delete(s.m, k)
		} else if !found || tat < oldest {
			victim, oldest, found = k, tat, true
		}
		if n++; n == 32 {
			break
		}
	}
	if len(s.m) >= limit && found {
		delete(s.m, victim)
	}
}
