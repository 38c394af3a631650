package merkle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Log appends the audit records to the tree and signs checkpoints of it.
// Only the job leader runs it; two at once cannot fork the log (leaf and
// hash numbers are primary keys), one of them just loses and retries.
type Log struct {
	Store  storage.Store
	Signer note.Signer // nil: the log is appended to, but not signed
	Now    func() time.Time
	// Batch is how many records one write transaction numbers (default
	// 512): small, so that the single writer is never held long.
	Batch int

	mu    sync.Mutex
	cache map[int64]tlog.Hash // stored hashes read back: the tree's right edge
}

func (l *Log) batch() int {
	if l.Batch > 0 {
		return l.Batch
	}
	return 512
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Append numbers the records that can be numbered now and stores the tree's
// new hashes, in batches, and returns the tree size. The hashing is
// done in a read transaction; the write transaction only inserts.
func (l *Log) Append(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		var size int64
		var seqs []int64
		var hashes []byte
		err := l.Store.View(ctx, func(tx storage.Tx) error {
			var err error
			if size, err = tx.AuditTreeSize(ctx); err != nil {
				return err
			}
			recs, err := tx.AuditUnleafed(ctx, l.batch())
			if err != nil || len(recs) == 0 {
				return err
			}
			start := tlog.StoredHashCount(size)
			var pending []tlog.Hash
			r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				return l.readHashes(ctx, tx, start, pending, idx)
			})
			for i, rec := range recs {
				hs, err := tlog.StoredHashesForRecordHash(size+int64(i), tlog.RecordHash(rec.Canonical), r)
				if err != nil {
					return fmt.Errorf("audit leaf %d: %w", size+int64(i), err)
				}
				pending = append(pending, hs...)
				seqs = append(seqs, rec.Seq)
			}
			hashes = make([]byte, 0, 32*len(pending))
			for _, h := range pending {
				hashes = append(hashes, h[:]...)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if len(seqs) == 0 {
			return size, nil
		}
		err = l.Store.Update(ctx, func(tx storage.Tx) error {
			return tx.AppendAuditLeaves(ctx, size, seqs, tlog.StoredHashCount(size), hashes)
		})
		if fairslot.ErrorKind(err) == fairslot.Conflict {
			l.cache = nil // another leader moved the tree: read it again
			continue
		}
		if err != nil {
			return 0, err
		}
		if len(seqs) < l.batch() {
			// A partial batch took everything that was ready: leave what
			// arrives meanwhile to the next call, so that a steady trickle
			// of records costs one small commit per call, not one each.
			return size + int64(len(seqs)), nil
		}
	}
}

// readHashes reads stored hashes: those from start on from pending (this
// batch), older ones from the cache or the database.
func (l *Log) readHashes(ctx context.Context, tx storage.Tx, start int64, pending []tlog.Hash, idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var missing []int64
	for i, x := range idx {
		if x >= start {
			if x-start >= int64(len(pending)) {
				return nil, fmt.Errorf("audit hash %d not yet computed", x)
			}
			out[i] = pending[x-start]
		} else if h, ok := l.cache[x]; ok {
			out[i] = h
		} else {
			missing = append(missing, x)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	b, err := tx.AuditHashes(ctx, missing)
	if err != nil {
		return nil, err
	}
	if l.cache == nil || len(l.cache) > 1<<14 {
		l.cache = map[int64]tlog.Hash{}
	}
	for i, x := range missing {
		l.cache[x] = tlog.Hash(b[32*i : 32*i+32])
	}
	for i, x := range idx {
		if x < start {
			out[i] = l.cache[x]
		}
	}
	return out, nil
}

// Checkpoint appends what can be appended and, unless the newest stored
// checkpoint already covers that size, signs and stores a checkpoint of the
// tree. It returns the newest checkpoint (signed note).
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	if l.Signer == nil {
		return nil, errors.New("audit log: no signing key")
	}
	size, err := l.Append(ctx)
	if err != nil {
		return nil, err
	}
	var latest storage.AuditCheckpoint
	var root tlog.Hash
	err = l.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		latest, err = tx.LatestAuditCheckpoint(ctx)
		if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
			return err
		}
		if latest.Note != nil && latest.Size == size {
			return nil
		}
		root, err = tlog.TreeHash(size, StoredHashes(ctx, tx))
		return err
	})
	if err != nil {
		return nil, err
	}
	if latest.Note != nil && latest.Size == size {
		return latest.Note, nil
	}
	msg, err := Sign(Checkpoint{Origin: l.Signer.Name(), Size: size, Hash: root}, l.Signer)
	if err != nil {
		return nil, err
	}
	err = l.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.AddAuditCheckpoint(ctx, storage.AuditCheckpoint{Size: size, Note: msg, CreatedAt: l.now()})
	})
	return msg, err
}

// Latest returns the newest stored checkpoint, NotFound if none.
func Latest(ctx context.Context, st storage.Store) ([]byte, error) {
	var msg []byte
	err := st.View(ctx, func(tx storage.Tx) error {
		c, err := tx.LatestAuditCheckpoint(ctx)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return fairslot.Errorf(fairslot.NotFound, "no audit checkpoint yet")
		}
		msg = c.Note
		return err
	})
	return msg, err
}

// StoredHashes reads the tree's stored hashes in tx.
func StoredHashes(ctx context.Context, tx storage.Tx) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		b, err := tx.AuditHashes(ctx, idx)
		if err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(idx))
		for i := range out {
			out[i] = tlog.Hash(b[32*i : 32*i+32])
		}
		return out, nil
	})
}
