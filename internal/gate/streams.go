package gate

import "sync"

// Streams is the pool of long-lived connections (server-sent events) of one
// listener. A stream stays open for minutes or hours, so it must never hold
// one of a lane's places, which are sized for requests that end in
// milliseconds: it takes a place here instead. At most Max streams are open
// at once, and at most Caps[k] under any one key of kind k (an address
// prefix, a device, an account), so one network or one client cannot take
// the whole pool. A cap of 0 means no cap for that kind. The pool holds
// memory only for open streams.
type Streams struct {
	max  int
	caps []int

	mu    sync.Mutex
	open  int
	count []map[string]int // per kind: key → open streams
}

// StreamRefusal says why the pool refused a stream: StreamsFull, or the
// index of the kind whose cap was reached.
type StreamRefusal int

// StreamsFull is the refusal of a pool with every place taken; NoRefusal is
// an admitted stream.
const (
	NoRefusal   StreamRefusal = -2
	StreamsFull StreamRefusal = -1
)

// NewStreams returns a pool of max places with one cap per kind of key.
func NewStreams(max int, caps ...int) *Streams {
	s := &Streams{max: max, caps: caps, count: make([]map[string]int, len(caps))}
	for i := range s.count {
		s.count[i] = map[string]int{}
	}
	return s
}

// Acquire takes a place for a stream whose keys (one per kind, in the order
// of the caps; "" for a kind the stream has no key of) are given. On
// success it returns NoRefusal and the caller must call Release with the
// same keys when the stream ends.
func (s *Streams) Acquire(keys ...string) StreamRefusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.max {
		return StreamsFull
	}
	for k, key := range keys {
		if key != "" && s.caps[k] > 0 && s.count[k][key] >= s.caps[k] {
			return StreamRefusal(k)
		}
	}
	s.open++
	for k, key := range keys {
		if key != "" {
			s.count[k][key]++
		}
	}
	return NoRefusal
}

// Release gives back a place Acquire gave for these keys.
func (s *Streams) Release(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	for k, key := range keys {
		if key == "" {
			continue
		}
		if s.count[k][key]--; s.count[k][key] <= 0 {
			delete(s.count[k], key)
		}
	}
}

// Open reports how many streams are open.
func (s *Streams) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}
