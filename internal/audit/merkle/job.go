package merkle

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/storage"
)

// Job is the job leader's audit work: number new records and store their
// hashes as they come, sign a checkpoint every CheckpointEvery and push it
// to the witnesses, and every VerifyEvery recompute the leaves added since
// the last verification and check the new checkpoint against the last
// verified one. A mismatch is an ALERT in the log and counts in Mismatches.
type Job struct {
	Log             *Log
	Verifier        *Verifier
	Witnesses       []Witness
	CheckpointEvery time.Duration
	VerifyEvery     time.Duration
	Logger          *slog.Logger

	// Verified is the last checkpoint the job has verified (or that serve
	// verified at start): the next verification starts after it.
	Verified Checkpoint

	Mismatches    atomic.Int64 // verifications that found the log not matching
	WitnessErrors atomic.Int64 // pushes that failed

	lastCheckpoint, lastVerify time.Time
}

// Tick does what is due at now. It runs on the leader only.
func (j *Job) Tick(ctx context.Context, now time.Time) {
	if _, err := j.Log.Append(ctx); err != nil && ctx.Err() == nil {
		j.Logger.Error("audit log: numbering new records failed", "err", err)
	}
	if now.Sub(j.lastCheckpoint) >= j.CheckpointEvery {
		j.lastCheckpoint = now
		j.checkpoint(ctx)
	}
	if j.VerifyEvery > 0 && now.Sub(j.lastVerify) >= j.VerifyEvery {
		j.lastVerify = now
		j.verifyNew(ctx)
	}
}

// Final signs and pushes a last checkpoint, at shutdown.
func (j *Job) Final(ctx context.Context) { j.checkpoint(ctx) }

func (j *Job) checkpoint(ctx context.Context) {
	msg, err := j.Log.Checkpoint(ctx)
	if err != nil {
		if ctx.Err() == nil {
			j.Logger.Error("audit log: checkpoint failed", "err", err)
		}
		return
	}
	c, err := Open(msg, j.Verifier.Key)
	if err != nil {
		j.Mismatches.Add(1)
		j.Logger.Error("ALERT: the newest stored audit checkpoint does not verify with this node's key", "err", err)
		return
	}
	for _, w := range j.Witnesses {
		if err := w.Push(ctx, c.Size, msg); err != nil {
			j.WitnessErrors.Add(1)
			j.Logger.Error("audit log: pushing the checkpoint to a witness failed", "witness", w.Name(), "size", c.Size, "err", err)
		}
	}
}

// verifyNew checks the part of the log added since the last verification:
// each new leaf recomputed from its record against its stored hash, the
// newest checkpoint's root against the stored tree, and that tree proven
// to extend the last verified one.
func (j *Job) verifyNew(ctx context.Context) {
	msg, err := Latest(ctx, j.Log.Store)
	if err != nil {
		return // no checkpoint yet
	}
	c, err := Open(msg, j.Verifier.Key)
	if err != nil {
		j.alert("the newest stored checkpoint does not verify", -1, err)
		return
	}
	from := j.Verified.Size
	if c.Size < from {
		j.alert(fmt.Sprintf("the newest stored checkpoint (%d) is older than one already verified (%d): the log was cut", c.Size, from), c.Size, nil)
		return
	}
	bad := int64(-1)
	err = j.Log.Store.View(ctx, func(tx storage.Tx) error {
		stored := StoredHashes(ctx, tx)
		const batch = 4096
		for lo := from; lo < c.Size && bad < 0; lo += batch {
			hi := min(lo+batch, c.Size)
			var leaves []tlog.Hash
			if err := tx.AuditLeaves(ctx, lo, hi, func(l storage.AuditLeaf) error {
				if l.Leaf != lo+int64(len(leaves)) || l.Canonical == nil {
					return errStop
				}
				leaves = append(leaves, tlog.RecordHash(l.Canonical))
				return nil
			}); err != nil && err != errStop {
				return err
			}
			idx := make([]int64, len(leaves))
			for i := range idx {
				idx[i] = tlog.StoredHashIndex(0, lo+int64(i))
			}
			hs, err := stored.ReadHashes(idx)
			if err != nil {
				return err
			}
			for i := range leaves {
				if leaves[i] != hs[i] {
					bad = lo + int64(i)
					break
				}
			}
			if bad < 0 && int64(len(leaves)) < hi-lo {
				bad = lo + int64(len(leaves))
			}
		}
		if bad >= 0 {
			return nil
		}
		root, err := tlog.TreeHash(c.Size, stored)
		if err != nil {
			return err
		}
		if root != c.Hash {
			bad = from
			return nil
		}
		if from > 0 && from < c.Size {
			p, err := tlog.ProveTree(c.Size, from, stored)
			if err != nil || tlog.CheckTree(p, c.Size, c.Hash, from, j.Verified.Hash) != nil {
				bad = from
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			j.Logger.Error("audit log: verification could not run", "err", err)
		}
		return
	}
	if bad >= 0 {
		j.alert("the audit log does not match its checkpoints", bad, nil)
		return
	}
	j.Verified = c
}

func (j *Job) alert(what string, first int64, err error) {
	j.Mismatches.Add(1)
	args := []any{"first_bad_index", first}
	if err != nil {
		args = append(args, "err", err)
	}
	j.Logger.Error("ALERT: "+what+"; run 'fairslot audit verify'", args...)
}
