package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// answers is a micro-cache of the public catalogue's answers (departments,
// doctors, sessions, a session's release and draw record), the same for
// every caller: a flood of catalogue reads costs one database read per
// address and TTL instead of one per request, so that what the public lane
// admits cannot take the CPU the floor needs. An answer may be up to TTL
// old; what is booked is decided by the booking itself, never by a cached
// view. The cache is bounded by the bytes it holds, and an answer is kept
// only for its TTL, so made-up addresses can neither grow the server nor
// keep anything alive.
type answers struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	m     map[string]cached
	bytes int       // what m holds, keys and overhead counted
	swept time.Time // when expired answers were last dropped
}

type cached struct {
	status  int
	ctype   []string
	body    []byte
	expires time.Time
}

// maxCachedBytes bounds what the cache holds: beyond it, answers are
// computed and not kept until older ones expire.
const maxCachedBytes = 16 << 20

// cacheKey names an answer by what the handler reads: the route, its id as
// a number and the date range, so that '01' and '1', or extra parameters,
// are the same answer. ok is false for a request the handler refuses
// anyway (a malformed id): it is not cached.
func cacheKey(r *http.Request) (string, bool) {
	key := r.Pattern
	if v := r.PathValue("id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return "", false
		}
		key += " " + strconv.FormatInt(id, 10)
	}
	q := r.URL.Query()
	return key + " " + q.Get("from") + " " + q.Get("to"), true
}

// wrap serves fn's answer from the cache while it is fresh; only
// successful answers are kept.
func (c *answers) wrap(fn handler) handler {
	if c == nil || c.ttl <= 0 {
		return fn
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		key, ok := cacheKey(r)
		if !ok {
			return fn(w, r)
		}
		now := c.now()
		c.mu.Lock()
		e, hit := c.m[key]
		c.mu.Unlock()
		if hit && now.Before(e.expires) {
			w.Header()["Content-Type"] = e.ctype
			w.WriteHeader(e.status)
			_, err := w.Write(e.body)
			return err
		}
		rec := &recorder{ResponseWriter: w}
		if err := fn(rec, r); err != nil || rec.status != http.StatusOK {
			return err
		}
		c.keep(key, cached{status: rec.status, ctype: w.Header().Values("Content-Type"),
			body: bytes.Clone(rec.body.Bytes()), expires: now.Add(c.ttl)}, now)
		return nil
	}
}

// size is what an answer costs the cache: its body, its key and the
// map's overhead.
func size(key string, e cached) int { return len(key) + len(e.body) + 256 }

// keep stores an answer if the cache has room for it once the expired
// ones are gone. The expired are looked for at most once a TTL (none can
// have expired sooner), so a flood of new addresses against a full cache
// costs no scan per request.
func (c *answers) keep(key string, e cached, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.bytes -= size(key, old)
		delete(c.m, key)
	}
	if c.bytes+size(key, e) > maxCachedBytes && now.Sub(c.swept) >= c.ttl {
		c.swept = now
		for k, old := range c.m {
			if !now.Before(old.expires) {
				c.bytes -= size(k, old)
				delete(c.m, k)
			}
		}
	}
	if c.bytes+size(key, e) > maxCachedBytes {
		return
	}
	c.m[key] = e
	c.bytes += size(key, e)
}

// recorder passes an answer on while keeping a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
