package httpapi

import (
	"bytes"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// answers is a micro-cache of the public catalogue's answers (departments,
// doctors, sessions, a session's release and draw record), the same for
// every caller: a flood of catalogue reads costs one database read per
// address and TTL instead of one per request, so that what the public lane
// admits cannot take the CPU the floor needs. An answer may be up to TTL
// old; what is booked is decided by the booking itself, never by a cached
// view.
type answers struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// maxCached bounds the cache: a key is a catalogue path with its date
// range, so a flood of made-up ranges fills it to this and no further.
const maxCached = 4096

// cacheKey is the request's path with only the query parameters the
// catalogue reads, so extra ones cannot make every request a miss.
func cacheKey(r *http.Request) string {
	q := url.Values{}
	for _, k := range []string{"from", "to"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	return r.URL.Path + "?" + q.Encode()
}

// wrap serves fn's answer from the cache while it is fresh; only
// successful answers are kept.
func (c *answers) wrap(fn handler) handler {
	if c == nil || c.ttl <= 0 {
		return fn
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		key, now := cacheKey(r), c.now()
		c.mu.Lock()
		e, ok := c.m[key]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			for k, v := range e.header {
				w.Header()[k] = v
			}
			w.WriteHeader(e.status)
			_, err := w.Write(e.body)
			return err
		}
		rec := &recorder{ResponseWriter: w}
		if err := fn(rec, r); err != nil || rec.status != http.StatusOK {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.m) >= maxCached {
			for k, e := range c.m {
				if !now.Before(e.expires) {
					delete(c.m, k)
				}
			}
		}
		if len(c.m) < maxCached {
			c.m[key] = cached{status: rec.status, header: http.Header{"Content-Type": w.Header().Values("Content-Type")},
				body: rec.body.Bytes(), expires: now.Add(c.ttl)}
		}
		return nil
	}
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
