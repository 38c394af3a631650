package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/benbjohnson/litestream"

	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/backup"
	"github.com/fairslot/fairslot/internal/sqlite"
)

// RestoreOptions say what to restore from, to when, and where to.
type RestoreOptions struct {
	Target Target
	// At restores the database as it was at this time (zero: the newest
	// state the replica holds). The replica keeps points in time at the
	// granularity of its retained files: every sync for minutes, then
	// coarser, snapshots for replica.retention.
	At      time.Time
	DataDir string
	// Force restores over a non-empty data directory (moved aside, never
	// deleted).
	Force    bool
	Location *time.Location
	// AuditKey is the audit signing key kept with the keyset (the replica
	// holds no key): the restored audit log is verified with it.
	AuditKey string
	// Witnessed are the checkpoints witnesses hold (audit.witness_dirs).
	Witnessed []merkle.Source
	Report    io.Writer
}

// Result is what a restore found.
type Result struct {
	Audit merkle.Report
	Took  time.Duration
}

// Restore brings the replica's database, at o.At or newest, into the data
// directory: it refuses a non-empty one without Force, restores into a
// staging directory beside it, runs the checks an archive restore runs
// (internal/backup VerifyRestored: schema, audit log against its stored and
// witnessed checkpoints) and only then installs it. A refused restore
// leaves the data directory as it was.
func Restore(ctx context.Context, o RestoreOptions) (res Result, err error) {
	start := time.Now()
	rep := o.Report
	if rep == nil {
		rep = io.Discard
	}
	if o.DataDir == "" {
		return res, errors.New("restore: no data directory")
	}
	if o.AuditKey == "" {
		return res, errors.New("restore: no audit key (it is kept with the keyset: restore the keyset first, 'fairslot restore --keys' from an archive, or give --keyset)")
	}
	if err := backup.CheckDataDir(o.DataDir, o.Force); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	client, err := o.Target.client()
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	if err := client.Init(ctx); err != nil {
		return res, fmt.Errorf("restore: the replica at %s: %w", o.Target, err)
	}
	parent := filepath.Dir(filepath.Clean(o.DataDir))
	if _, serr := os.Stat(parent); errors.Is(serr, fs.ErrNotExist) {
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
	}
	stage, err := os.MkdirTemp(parent, ".fairslot-restore-*")
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)

	r := litestream.NewReplicaWithClient(nil, client)
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = filepath.Join(stage, sqlite.FileName)
	opt.Timestamp = o.At
	opt.IntegrityCheck = litestream.IntegrityCheckQuick
	if err := r.Restore(ctx, opt); err != nil {
		if errors.Is(err, litestream.ErrNoSnapshots) || errors.Is(err, litestream.ErrTxNotAvailable) {
			if o.At.IsZero() {
				return res, fmt.Errorf("restore: the replica at %s holds no database: %w", o.Target, err)
			}
			return res, fmt.Errorf("restore: the replica at %s holds nothing as early as %s: %w", o.Target, o.At.Format(time.RFC3339), err)
		}
		return res, fmt.Errorf("restore: from the replica at %s: %w", o.Target, err)
	}
	if err := os.Chmod(opt.OutputPath, 0o600); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	point := "its newest state"
	if !o.At.IsZero() {
		point = o.At.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(rep, "restore report\n  replica      %s\n  point        %s\n  backend      sqlite\n", o.Target, point)

	st, err := sqlite.Open(stage, sqlite.Options{Location: o.Location})
	if err != nil {
		return res, fmt.Errorf("restore: the restored database: %w", err)
	}
	res.Audit, err = backup.VerifyRestored(ctx, st, o.AuditKey, o.Witnessed, rep)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(opt.OutputPath + suffix)
	}
	if err := backup.InstallDataDir(stage, o.DataDir, rep); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	res.Took = time.Since(start)
	return res, nil
}
