package backup

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// A Destination keeps the archives the scheduler takes: a directory
// (DirDestination) or an S3-compatible bucket (S3Destination). It never
// overwrites an archive, and verifies each one it stores by reading it
// back.
type Destination interface {
	// stage returns the local directory Create writes an archive into,
	// and what to call once it is kept (or not).
	stage() (dir string, done func(), err error)
	// keep stores the archive Create wrote, then reads the stored copy
	// back and checks its size, SHA-256 and signature against pub. It
	// returns where the archive is.
	keep(ctx context.Context, res Result, pub ed25519.PublicKey) (string, error)
	// list returns the archives at the destination.
	list(ctx context.Context) ([]Archived, error)
	String() string
}

// pruner is a destination the server may delete from (a directory; never
// a bucket, whose lifecycle and object lock decide).
type pruner interface {
	remove(name string) error
}

// Scheduler takes a backup every Every and keeps it at Dest, pruning a
// directory destination by Keep. Tick is driven by the caller's clock,
// so tests need not sleep; only the job leader should call it.
type Scheduler struct {
	// Options say what to back up; Dir and Now are set on every backup.
	Options Options
	Dest    Destination
	Every   time.Duration
	Keep    []KeepRule
	Log     *slog.Logger

	tick        sync.Mutex // one Tick at a time; it owns what follows
	mu          sync.Mutex // guards stats, read by metrics during a backup
	stats       Stats
	started     bool
	since       time.Time // when the scheduler first ran: lateness counts from it until a success
	next        time.Time
	lateAlerted bool
}

// Stats are the scheduler's state, for metrics.
type Stats struct {
	LastSuccess  time.Time     // the newest archive's time (found at the destination at first)
	LastDuration time.Duration // of the last successful backup
	Failures     int64
	Late         bool // no success for more than twice Every
	LastArchive  string
}

// Stats returns a copy of the scheduler's state.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Tick takes a backup if one is due at now (and, for a directory, prunes
// what the rules no longer keep). It returns the backup's error, or nil
// when none was due. A failure is retried a minute later (or after Every,
// if shorter), and logged as an ALERT, as is a backup later than twice
// Every.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) error {
	s.tick.Lock()
	defer s.tick.Unlock()
	if !s.started {
		s.started, s.since, s.next = true, now, now
		// A new leader carries on from the newest archive there.
		if got, err := s.Dest.list(ctx); err != nil {
			s.Log.Warn("scheduled backups: cannot list the destination; taking a backup now", "dest", s.Dest.String(), "err", err)
		} else if newest := newestOf(got); !newest.IsZero() {
			s.update(func(st *Stats) { st.LastSuccess = newest })
			if n := newest.Add(s.Every); n.After(now) {
				s.next = n
			}
		}
	}
	var err error
	if !now.Before(s.next) {
		err = s.backup(ctx, now)
		if err != nil && ctx.Err() != nil {
			return err // stopping: not a failure to alert about
		}
		if err != nil {
			s.update(func(st *Stats) { st.Failures++ })
			s.next = now.Add(min(s.Every, time.Minute))
			s.Log.Error("ALERT: scheduled backup failed; it is tried again", "dest", s.Dest.String(), "retry_at", s.next, "err", err)
		} else {
			s.next = now.Add(s.Every)
		}
	}
	ref := s.stats.LastSuccess
	if ref.IsZero() {
		ref = s.since
	}
	late := now.Sub(ref) > 2*s.Every
	s.update(func(st *Stats) { st.Late = late })
	if late && !s.lateAlerted {
		s.Log.Error("ALERT: scheduled backup is late: no backup for more than twice its interval", "dest", s.Dest.String(),
			"last_success", s.stats.LastSuccess, "every", s.Every.String())
	}
	s.lateAlerted = late
	return err
}

func (s *Scheduler) backup(ctx context.Context, now time.Time) error {
	start := time.Now()
	dir, done, err := s.Dest.stage()
	if err != nil {
		return err
	}
	defer done()
	o := s.Options
	o.Dir, o.Now = dir, now
	res, err := Create(ctx, o)
	if err != nil {
		return err
	}
	where, err := s.Dest.keep(ctx, res, o.Key.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	took := time.Since(start)
	s.update(func(st *Stats) { st.LastSuccess, st.LastDuration, st.LastArchive = res.Manifest.Time, took, where })
	s.Log.Info("scheduled backup written and verified", "archive", where, "bytes", res.Size, "took", took.Round(time.Millisecond))
	if p, ok := s.Dest.(pruner); ok && len(s.Keep) > 0 {
		got, err := s.Dest.list(ctx)
		if err != nil {
			s.Log.Error("scheduled backups: cannot list the directory to prune it", "err", err)
			return nil
		}
		for _, a := range Prune(got, s.Keep, now) {
			if err := p.remove(a.Name); err != nil {
				s.Log.Error("scheduled backups: pruning failed", "archive", a.Name, "err", err)
				continue
			}
			s.Log.Info("scheduled backups: pruned by the retention rules", "archive", a.Name)
		}
	}
	return nil
}

func newestOf(as []Archived) time.Time {
	var t time.Time
	for _, a := range as {
		if a.Time.After(t) {
			t = a.Time
		}
	}
	return t
}

// Run calls Tick every check until ctx ends, while leading says this node
// leads the jobs.
func (s *Scheduler) Run(ctx context.Context, check time.Duration, leading func() bool) {
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		if leading() {
			if err := s.Tick(ctx, time.Now()); err != nil && errors.Is(err, context.Canceled) {
				return
			}
		} else {
			s.standBy()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// standBy forgets the schedule while another node leads: on taking over,
// this one carries on from the newest archive at the destination.
func (s *Scheduler) standBy() {
	s.tick.Lock()
	defer s.tick.Unlock()
	s.started, s.lateAlerted = false, false
	s.update(func(st *Stats) { st.Late = false })
}

func (s *Scheduler) update(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// verifyCopy reads a stored archive back and checks it against what
// Create wrote: the same size and SHA-256, and a signature that verifies
// with pub.
func verifyCopy(stored io.Reader, sig []byte, res Result, pub ed25519.PublicKey, where string) error {
	s, err := openSignature(pub, archiveContext, sig, where)
	if err != nil {
		return fmt.Errorf("read-back: %w", err)
	}
	size, sum, err := digest(stored)
	if err != nil {
		return fmt.Errorf("read-back: %s: %w", where, err)
	}
	if err := s.check(size, sum); err != nil {
		return fmt.Errorf("read-back: %w", err)
	}
	if size != res.Size || sum != res.SHA256 {
		return fmt.Errorf("read-back: %s is %d bytes with SHA-256 %x, but %d bytes with %x were written", where, size, sum, res.Size, res.SHA256)
	}
	return nil
}
