package backup

import (
	"context"
	"io"
	"math"
	"time"
)

// Pace makes a backup taken while serving share the CPU with the server:
// after each chunk of its work (a run of database pages copied into the
// snapshot, a MiB hashed or encrypted) it sleeps in proportion to the time
// the chunk took, so that it works about Duty of the wall time. The zero
// Pace (or Duty 1) does not pace: a backup run by hand on an idle server
// goes at full speed.
type Pace struct {
	// Duty is the share of wall time the backup works, in (0, 1]; 0.5
	// sleeps as long as each chunk took, 0.25 three times as long.
	Duty float64
	// MaxPause bounds one sleep (0: DefaultMaxPause), so a chunk slowed
	// by the server's own load does not stall the backup.
	MaxPause time.Duration
	// Budget bounds the whole backup's wall time: once it has run that
	// long it no longer sleeps (0: no bound beyond the duty cycle). The
	// scheduler sets a share of its interval, so that pacing never makes
	// a backup late.
	Budget time.Duration
}

// DefaultMaxPause bounds one sleep when Pace.MaxPause is 0.
const DefaultMaxPause = 100 * time.Millisecond

// ServingPace is the default pace of the scheduled backups (and of
// 'fairslot backup --pace'): a quarter of the wall time working, at most
// 100 ms asleep at a time. It makes a backup take up to four times its own
// work; BookingDuringBackup measured duty 0.5 against 0.25 (BENCHMARKS.md).
var ServingPace = Pace{Duty: 0.25, MaxPause: DefaultMaxPause}

// On says whether p paces at all.
func (p Pace) On() bool { return p.Duty > 0 && p.Duty < 1 }

// pause is how long to sleep after a chunk of work that took work, the
// backup having run for elapsed (its sleeps included): work×(1−Duty)/Duty,
// at most MaxPause, and never past Budget. It is 0 when p does not pace.
func (p Pace) pause(work, elapsed time.Duration) time.Duration {
	if !p.On() || work <= 0 {
		return 0
	}
	d := time.Duration(math.Round(float64(work) * (1 - p.Duty) / p.Duty))
	maxPause := p.MaxPause
	if maxPause <= 0 {
		maxPause = DefaultMaxPause
	}
	d = min(d, maxPause)
	if p.Budget > 0 {
		d = min(d, max(p.Budget-elapsed, 0))
	}
	return d
}

// pacer applies a Pace to one backup.
type pacer struct {
	pace  Pace
	start time.Time // of the backup
	chunk time.Time // of the current chunk of work
}

func newPacer(p Pace) *pacer {
	now := time.Now()
	return &pacer{pace: p, start: now, chunk: now}
}

// yield ends a chunk of work: it sleeps as the pace says (or until ctx is
// done), then starts the next chunk.
func (p *pacer) yield(ctx context.Context) error {
	if p == nil || !p.pace.On() {
		return ctx.Err()
	}
	now := time.Now()
	if d := p.pace.pause(now.Sub(p.chunk), now.Sub(p.start)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	p.chunk = time.Now()
	return nil
}

// pacedPages is how many database pages the paced snapshot copies
// between two yields (1 MiB at SQLite's default 4 KiB pages).
const pacedPages = 256

// pacedChunk is how many bytes a stream (hashing, encrypting) reads
// between two yields.
const pacedChunk = 1 << 20

// pacedReader yields every pacedChunk bytes read through it: the time
// between two yields is the reading and whatever its consumer did with
// the bytes (hashing, encrypting, writing).
type pacedReader struct {
	ctx context.Context
	r   io.Reader
	p   *pacer
	n   int
}

func (r *pacedReader) Read(b []byte) (int, error) {
	if r.n >= pacedChunk {
		r.n = 0
		if err := r.p.yield(r.ctx); err != nil {
			return 0, err
		}
	}
	n, err := r.r.Read(b)
	r.n += n
	return n, err
}

// paced wraps r to yield as p says; it is r itself when p does not pace.
func paced(ctx context.Context, r io.Reader, p *pacer) io.Reader {
	if p == nil || !p.pace.On() {
		return r
	}
	return &pacedReader{ctx: ctx, r: r, p: p}
}
