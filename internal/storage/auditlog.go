package storage

import (
	"context"
	"time"

	"github.com/fairslot/fairslot"
)

// AuditLeaf is an audit record with its place in the Merkle log: Leaf is
// its leaf number (-1 while it has none), Canonical its canonical bytes
// (audit.AppendCanonical of its columns; nil when the leaf's record is
// missing from the table).
type AuditLeaf struct {
	Leaf      int64
	Seq       int64
	Canonical []byte
}

// AuditCheckpoint is a signed checkpoint of the log as stored: the tree
// size it covers and the signed note.
type AuditCheckpoint struct {
	Size      int64
	Note      []byte
	CreatedAt time.Time
}

// AuditLog is the storage of the tamper-evident audit log (package
// internal/audit/merkle): which record is which leaf, the tree's stored
// hashes (tlog's numbering) and the signed checkpoints. Every table is
// append-only; a leaf or hash index written twice is a Conflict, so two
// nodes appending at once cannot fork the log.
type AuditLog interface {
	// AuditTreeSize is the number of records that have leaf numbers.
	AuditTreeSize(ctx context.Context) (int64, error)
	// AuditUnleafed returns, in the order they must take the next leaf
	// numbers, up to limit records without one whose place can no longer
	// change: committed, and (PostgreSQL) with no transaction that could
	// still commit an earlier record running.
	AuditUnleafed(ctx context.Context, limit int) ([]AuditLeaf, error)
	// AppendAuditLeaves gives the records seqs the leaf numbers first,
	// first+1, ... and stores hashes as the stored hashes from index
	// hashIndex on (32 bytes each).
	AppendAuditLeaves(ctx context.Context, first int64, seqs []int64, hashIndex int64, hashes []byte) error
	// AuditHashes returns the stored hashes at indexes, 32 bytes each, in
	// order: NotFound if one is missing.
	AuditHashes(ctx context.Context, indexes []int64) ([]byte, error)
	// AuditLeaves calls fn for leaves from, from+1, ... below to, in order,
	// with the leaf's record (Canonical nil when it is missing). The
	// slice fn gets is reused after it returns.
	AuditLeaves(ctx context.Context, from, to int64, fn func(AuditLeaf) error) error
	// AddAuditCheckpoint stores a checkpoint: a Conflict if one of that size
	// is stored with another note.
	AddAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error
	// AuditCheckpoints lists the stored checkpoints by size.
	AuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error)
	// LatestAuditCheckpoint returns the largest stored checkpoint: NotFound
	// if none.
	LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error)
}

// ReadHashRuns serves AuditHashes from hashes stored in runs (one row per
// appended batch): run(i) returns the run holding index i, if any — the one
// starting at or before i — and each run is fetched once per call.
func ReadHashRuns(indexes []int64, run func(i int64) (first int64, hashes []byte, err error)) ([]byte, error) {
	out := make([]byte, 0, 32*len(indexes))
	var first int64
	var hashes []byte
	for _, i := range indexes {
		if hashes == nil || i < first || i >= first+int64(len(hashes)/32) {
			var err error
			if first, hashes, err = run(i); err != nil {
				return nil, err
			}
			if len(hashes)%32 != 0 || i < first || i >= first+int64(len(hashes)/32) {
				return nil, fairslot.Errorf(fairslot.NotFound, "audit hash %d not found", i)
			}
		}
		out = append(out, hashes[32*(i-first):32*(i-first)+32]...)
	}
	return out, nil
}
