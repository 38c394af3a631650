package backup

import "crypto/sha256"

// hashAside is an io.Writer that hashes what is written to it (SHA-256)
// on a goroutine of its own, so that a pass that also decrypts, unpacks
// and writes — a restore — spends a second core on the hashing instead of
// waiting for it. What is written is copied into 1 MiB buffers. Sum must
// be called once, on every path: it waits for the hashing to end.
type hashAside struct {
	buf  []byte
	full chan []byte
	free chan []byte
	done chan struct{}
	n    int64
	sum  [32]byte
}

func newHashAside() *hashAside {
	const buffers = 4
	h := &hashAside{full: make(chan []byte, buffers), free: make(chan []byte, buffers), done: make(chan struct{})}
	for range buffers {
		h.free <- make([]byte, 0, 1<<20)
	}
	h.buf = <-h.free
	go func() {
		d := sha256.New()
		for b := range h.full {
			d.Write(b)
			h.free <- b[:0]
		}
		d.Sum(h.sum[:0])
		close(h.done)
	}()
	return h
}

func (h *hashAside) Write(p []byte) (int, error) {
	n := len(p)
	h.n += int64(n)
	for len(p) > 0 {
		k := copy(h.buf[len(h.buf):cap(h.buf)], p)
		h.buf, p = h.buf[:len(h.buf)+k], p[k:]
		if len(h.buf) == cap(h.buf) {
			h.full <- h.buf
			h.buf = <-h.free
		}
	}
	return n, nil
}

// Sum waits for the hashing and returns the size and SHA-256 of all that
// was written.
func (h *hashAside) Sum() (int64, [32]byte) {
	if h.buf != nil {
		h.full <- h.buf
		h.buf = nil
		close(h.full)
	}
	<-h.done
	return h.n, h.sum
}
