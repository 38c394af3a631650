package merkle

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/storage"
)

// Source names where a checkpoint came from, for the report.
type Source struct {
	Name string // "stored", "witness /mnt/worm", ...
	Note []byte
}

// Report is what Verify found.
type Report struct {
	// Size is the newest trusted checkpoint's size: the leaves checked.
	Size int64
	// FirstBad is the first leaf that does not match, -1 when all do. Every
	// leaf before it is proven to be what was signed.
	FirstBad int64
	// Trusted lists the checkpoints whose signature verifies, by size.
	Trusted []Checkpoint
	// Problems says what is wrong, in words, first the checkpoints.
	Problems []string
	// Unsigned is the number of leaves after the newest trusted checkpoint:
	// numbered, but not yet covered by a signature.
	Unsigned int64
}

// OK reports whether the log matched every trusted checkpoint.
func (r Report) OK() bool { return r.FirstBad < 0 && len(r.Problems) == 0 }

// Verifier recomputes the tree from the records.
type Verifier struct {
	Store storage.Store
	Key   note.Verifier
	// Workers read and hash chunks of leaves in parallel (default
	// GOMAXPROCS); Chunk is a chunk's size (default 1<<15, a power of two).
	Workers int
	Chunk   int64
}

// Verify recomputes every leaf from the records up to the newest checkpoint
// that carries a valid signature (stored or witnessed), checks the tree of
// every such checkpoint against them, and finds the first leaf that does
// not match. Checkpoints without a valid signature are reported and not
// trusted: a forger who rewrote records, hashes and checkpoints together
// cannot sign.
func (v *Verifier) Verify(ctx context.Context, witnessed []Source) (Report, error) {
	rep := Report{FirstBad: -1}
	var sources []Source
	err := v.Store.View(ctx, func(tx storage.Tx) error {
		cps, err := tx.AuditCheckpoints(ctx)
		for _, c := range cps {
			sources = append(sources, Source{Name: "stored", Note: c.Note})
		}
		return err
	})
	if err != nil {
		return rep, err
	}
	sources = append(sources, witnessed...)
	bySize := map[int64]Checkpoint{}
	for _, s := range sources {
		c, err := Open(s.Note, v.Key)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s checkpoint is not trusted: %v", s.Name, err))
			continue
		}
		if old, ok := bySize[c.Size]; ok && old.Hash != c.Hash {
			rep.Problems = append(rep.Problems, fmt.Sprintf("two validly signed checkpoints of size %d disagree (%s: %v): the signing key is misused or the log forked", c.Size, s.Name, c.Hash))
			continue
		}
		bySize[c.Size] = c
	}
	for _, c := range bySize {
		rep.Trusted = append(rep.Trusted, c)
	}
	sort.Slice(rep.Trusted, func(i, j int) bool { return rep.Trusted[i].Size < rep.Trusted[j].Size })
	if len(rep.Trusted) == 0 {
		rep.Problems = append(rep.Problems, "no checkpoint with a valid signature: nothing to verify the records against")
		return rep, nil
	}
	target := rep.Trusted[len(rep.Trusted)-1]
	rep.Size = target.Size
	var leaves int64
	if err := v.Store.View(ctx, func(tx storage.Tx) (err error) { leaves, err = tx.AuditTreeSize(ctx); return err }); err != nil {
		return rep, err
	}
	if leaves > rep.Size {
		rep.Unsigned = leaves - rep.Size
	}

	// One pass: every trusted checkpoint's tree is recomputed as the leaves
	// go by, and the pass stops at the first that does not match.
	var st stack
	good := stack{} // the tree at the last matching checkpoint
	next := 0       // the next trusted checkpoint to check
	for next < len(rep.Trusted) && rep.Trusted[next].Size == 0 {
		next++
	}
	var badAt, problemLeaf int64 = -1, -1
	var problem string
	err = v.scan(ctx, rep.Size, func(from int64, c chunkResult) bool {
		var sizes []int64 // checkpoints ending inside this chunk
		for i := next; i < len(rep.Trusted) && rep.Trusted[i].Size <= from+int64(len(c.leaves)); i++ {
			sizes = append(sizes, rep.Trusted[i].Size)
		}
		if c.bad >= 0 {
			problemLeaf, problem = c.bad, c.why
		}
		whole := c.whole && len(sizes) == 0 && c.bad < 0
		if whole {
			st.push(c.root, c.level)
		} else {
			for i, h := range c.leaves {
				n := from + int64(i)
				if problemLeaf >= 0 && n == problemLeaf {
					break
				}
				st.push(h, 0)
				for next < len(rep.Trusted) && rep.Trusted[next].Size == n+1 {
					if st.root() != rep.Trusted[next].Hash {
						badAt = rep.Trusted[next].Size
						return false
					}
					good = st.clone()
					next++
				}
			}
		}
		return problemLeaf < 0
	})
	if err != nil {
		return rep, err
	}
	if problemLeaf >= 0 && badAt < 0 {
		// A leaf number or record is missing: the next checkpoint cannot
		// match, and the first bad leaf is that one or an earlier one.
		badAt = rep.Trusted[next].Size
	}
	if badAt < 0 {
		return rep, nil
	}
	first, err := v.locate(ctx, good, badAt, rep.Trusted)
	if err != nil {
		return rep, err
	}
	rep.FirstBad = first
	if first == problemLeaf {
		rep.Problems = append(rep.Problems, problem)
	} else {
		rep.Problems = append(rep.Problems, fmt.Sprintf("leaf %d does not match the checkpoint of size %d: the record was changed, removed, inserted or moved", first, badAt))
	}
	return rep, nil
}

// locate finds the first bad leaf below bad, given the tree good at the
// last checkpoint that matched: the largest k for which the records' tree of
// size k is proven (with a consistency proof from the stored hashes) to be a
// prefix of the trusted tree of size bad. Forged stored hashes make proofs
// fail, never pass, so the answer is never after the true first bad leaf.
func (v *Verifier) locate(ctx context.Context, good stack, bad int64, trusted []Checkpoint) (int64, error) {
	var th tlog.Hash
	for _, c := range trusted {
		if c.Size == bad {
			th = c.Hash
		}
	}
	from := good.size()
	var hashes []tlog.Hash
	err := v.Store.View(ctx, func(tx storage.Tx) error {
		return tx.AuditLeaves(ctx, from, bad, func(l storage.AuditLeaf) error {
			if l.Leaf != from+int64(len(hashes)) || l.Canonical == nil {
				return errStop
			}
			hashes = append(hashes, tlog.RecordHash(l.Canonical))
			return nil
		})
	})
	if err != nil && err != errStop {
		return 0, err
	}
	ok := func(k int64) bool {
		if k == from {
			return true
		}
		if k-from > int64(len(hashes)) {
			return false
		}
		s := good.clone()
		for _, h := range hashes[:k-from] {
			s.push(h, 0)
		}
		var good bool
		v.Store.View(ctx, func(tx storage.Tx) error {
			p, err := tlog.ProveTree(bad, k, StoredHashes(ctx, tx))
			good = err == nil && tlog.CheckTree(p, bad, th, k, s.root()) == nil
			return nil
		})
		return good
	}
	lo, hi := from, bad-1 // ok(lo) holds; find the largest k <= hi with ok(k)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

type stopError struct{}

func (stopError) Error() string { return "stop" }

var errStop error = stopError{}

// chunkResult is one chunk's leaf hashes, its root when it is a whole
// aligned subtree, and the first leaf in it that is missing.
type chunkResult struct {
	leaves []tlog.Hash
	root   tlog.Hash
	level  int
	whole  bool
	bad    int64
	why    string
	err    error
}

// scan reads leaves [0, n) in chunks, read and hashed by parallel workers,
// and hands them to fn in order until fn returns false.
func (v *Verifier) scan(ctx context.Context, n int64, fn func(from int64, c chunkResult) bool) error {
	chunk := v.Chunk
	if chunk <= 0 {
		chunk = 1 << 15
	}
	workers := v.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	level := 0
	for int64(1)<<level < chunk {
		level++
	}
	chunks := (n + chunk - 1) / chunk
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan chunkResult, chunks)
	for i := range results {
		results[i] = make(chan chunkResult, 1)
	}
	// Workers take chunks in order; at most 2*workers are in flight so
	// memory stays bounded whatever n is.
	todo := make(chan int64)
	sem := make(chan struct{}, 2*workers)
	go func() {
		defer close(todo)
		for i := range chunks {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case todo <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		go func() {
			for i := range todo {
				from := i * chunk
				results[i] <- v.read(ctx, from, min(from+chunk, n), level)
			}
		}()
	}
	for i := range chunks {
		var r chunkResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if r.err != nil {
			return r.err
		}
		if !fn(i*chunk, r) {
			return nil
		}
	}
	return nil
}

func (v *Verifier) read(ctx context.Context, from, to int64, level int) chunkResult {
	r := chunkResult{bad: -1, leaves: make([]tlog.Hash, 0, to-from)}
	var buf [1]byte
	r.err = v.Store.View(ctx, func(tx storage.Tx) error {
		return tx.AuditLeaves(ctx, from, to, func(l storage.AuditLeaf) error {
			n := from + int64(len(r.leaves))
			switch {
			case l.Leaf != n:
				r.bad, r.why = n, fmt.Sprintf("leaf %d has no record (leaf numbers jump to %d)", n, l.Leaf)
				return errStop
			case l.Canonical == nil:
				r.bad, r.why = n, fmt.Sprintf("leaf %d: its record (seq %d) is missing", n, l.Seq)
				return errStop
			}
			h := sha256.New()
			h.Write(buf[:]) // tlog.RecordHash: SHA-256 of 0x00 || data
			h.Write(l.Canonical)
			var sum tlog.Hash
			h.Sum(sum[:0])
			r.leaves = append(r.leaves, sum)
			return nil
		})
	})
	if r.err == errStop {
		r.err = nil
	}
	if r.err == nil && r.bad < 0 && from+int64(len(r.leaves)) < to {
		n := from + int64(len(r.leaves))
		r.bad, r.why = n, fmt.Sprintf("leaf %d and after are missing: the log was cut short", n)
	}
	if r.err == nil && r.bad < 0 && to-from == int64(1)<<level {
		var s stack
		for _, h := range r.leaves {
			s.push(h, 0)
		}
		r.root, r.level, r.whole = s.hashes[0], level, true
	}
	return r
}

// stack is a tree being built leaf by leaf: the roots of its maximal
// complete subtrees, largest (leftmost) first.
type stack struct {
	hashes []tlog.Hash
	levels []int
}

func (s *stack) push(h tlog.Hash, level int) {
	s.hashes, s.levels = append(s.hashes, h), append(s.levels, level)
	for n := len(s.hashes); n >= 2 && s.levels[n-1] == s.levels[n-2]; n = len(s.hashes) {
		s.hashes[n-2] = tlog.NodeHash(s.hashes[n-2], s.hashes[n-1])
		s.levels[n-2]++
		s.hashes, s.levels = s.hashes[:n-1], s.levels[:n-1]
	}
}

// root is the tree hash (RFC 6962, as tlog.TreeHash).
func (s *stack) root() tlog.Hash {
	if len(s.hashes) == 0 {
		return tlog.Hash(sha256.Sum256(nil))
	}
	h := s.hashes[len(s.hashes)-1]
	for i := len(s.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(s.hashes[i], h)
	}
	return h
}

func (s *stack) size() int64 {
	var n int64
	for _, l := range s.levels {
		n += int64(1) << l
	}
	return n
}

func (s *stack) clone() stack {
	return stack{hashes: slices.Clone(s.hashes), levels: slices.Clone(s.levels)}
}
