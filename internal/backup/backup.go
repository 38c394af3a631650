// Package backup takes and restores fairslot's backups (issue 15): a
// consistent snapshot of the database taken while serving, packed with a
// manifest (backend, schema version, rows per table, the audit log's size,
// root and newest signed checkpoint) into a tar, encrypted with age to the
// recipients' public keys and signed with the Ed25519 backup key kept
// beside the keyset. The keyset itself is exported apart, encrypted to the
// same recipients.
//
// It must never hold or write a key that decrypts a backup: the server has
// only the recipients' public keys, so a thief or ransomware on the host
// gets nothing readable from the archives. A restore checks the signature
// against a pinned verification key before decrypting anything, and writes
// nothing until the archive has passed every check it can make beforehand.
//
// The plaintext snapshot exists on disk only while an archive is being
// made, mode 0600 in a 0700 directory: for SQLite inside the data
// directory, which holds the same data anyway.
//
// The Scheduler takes archives on a schedule for the job leader, to a
// directory or an S3-compatible bucket, reading each back to verify it.
// It never overwrites an archive and never deletes from a bucket: only a
// directory is pruned by the retention rules.
package backup

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// Options say what to back up and where.
type Options struct {
	// Store is the open database: a *sqlite.Store or a *postgres.Store.
	Store storage.Store
	// DataDir is the SQLite data directory (its snapshot is staged there).
	DataDir string
	// DB is the PostgreSQL URL pg_dump connects with: the owner role's.
	DB         string
	Dir        string // where the archive and its signature go
	Recipients []age.Recipient
	Key        ed25519.PrivateKey // the backup signing key
	Node       string
	Version    string
	Now        time.Time
	// Pace is how the backup shares the CPU with a serving server (pace.go);
	// the zero Pace goes at full speed. The SQLite snapshot, its hashing and
	// its encryption are paced; pg_dump, another process, is not.
	Pace Pace
}

// Result names what Create wrote.
type Result struct {
	Path, SigPath string
	Manifest      Manifest
	// Size and SHA256 are the archive's, as written and signed.
	Size   int64
	SHA256 [32]byte
}

// Create takes a snapshot and writes the signed, encrypted archive
// Dir/fairslot-NODE-TIME.tar.age and its signature beside it (.sig).
func Create(ctx context.Context, o Options) (Result, error) {
	if len(o.Recipients) == 0 {
		return Result{}, errors.New("backup: no recipient: give --recipient or set backup.recipients (age public keys; keep their identities off this server)")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	m := Manifest{Format: formatVersion, Time: o.Now.UTC(), Node: o.Node, Version: o.Version}
	var stageIn string
	switch o.Store.(type) {
	case *sqlite.Store:
		m.Backend, m.Snapshot.Name, stageIn = "sqlite", sqliteSnapshot, o.DataDir
	case *postgres.Store:
		m.Backend, m.Snapshot.Name = "postgres", postgresSnapshot
	default:
		return Result{}, fmt.Errorf("backup: unknown store %T", o.Store)
	}
	stage, err := os.MkdirTemp(stageIn, ".backup-*")
	if err != nil {
		return Result{}, fmt.Errorf("backup: stage: %w", err)
	}
	defer os.RemoveAll(stage)
	snap := filepath.Join(stage, m.Snapshot.Name)
	p := newPacer(o.Pace)
	switch st := o.Store.(type) {
	case *sqlite.Store:
		err = snapshotSQLite(ctx, st, snap, &m, p)
	case *postgres.Store:
		err = snapshotPostgres(ctx, st, o.DB, snap, &m)
	}
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	name := fmt.Sprintf("fairslot-%s-%s.tar.age", safeName(o.Node), m.Time.Format("20060102T150405Z"))
	res := Result{Path: filepath.Join(o.Dir, name), SigPath: filepath.Join(o.Dir, name+".sig")}
	// Encrypt into a hidden file of the target directory, sign what was
	// written as it was written, then link both into place.
	tmp, err := os.CreateTemp(o.Dir, "."+name+"-*")
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err = seal(ctx, tmp, &m, snap, o.Recipients, p); err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	var size int64
	var sum [32]byte
	if err == nil {
		size, sum, err = digest(paced(ctx, tmp, p))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), res.Path)
	}
	if err != nil {
		return Result{}, fmt.Errorf("backup: write the archive: %w", err)
	}
	if err := writeNew(res.SigPath, strings.NewReader(string(sign(o.Key, archiveContext, size, sum)))); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	// The new names are durable only once the directory is.
	if err := syncDir(o.Dir); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	res.Manifest, res.Size, res.SHA256 = m, size, sum
	return res, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// snapshotSQLite copies the database with VACUUM INTO (when paced, with
// the online backup, yielding between runs of pages), then reads the
// manifest's facts from the copy itself, so they describe exactly it.
func snapshotSQLite(ctx context.Context, st *sqlite.Store, path string, m *Manifest, p *pacer) error {
	var err error
	if p.pace.On() {
		err = st.SnapshotPaced(ctx, path, pacedPages, p.yield)
	} else {
		err = st.Snapshot(ctx, path)
	}
	if err != nil {
		return err
	}
	if err := p.yield(ctx); err != nil {
		return err
	}
	cp, err := sqlite.Open(filepath.Dir(path), sqlite.Options{})
	if err != nil {
		return err
	}
	defer cp.Close()
	if m.Schema, _, err = cp.SchemaVersion(ctx); err != nil {
		return err
	}
	if m.Tables, err = cp.TableCounts(ctx); err != nil {
		return err
	}
	if err := p.yield(ctx); err != nil {
		return err
	}
	return cp.View(ctx, func(tx storage.Tx) error {
		m.Audit, err = auditState(ctx, tx)
		return err
	})
}

// snapshotPostgres runs pg_dump in the custom format on an exported
// snapshot, reading the manifest's facts in that same snapshot.
func snapshotPostgres(ctx context.Context, st *postgres.Store, db, path string, m *Manifest) error {
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		return errors.New("pg_dump is not installed: install postgresql-client (the server's major version or newer) to back up PostgreSQL")
	}
	return st.WithSnapshot(ctx, func(s postgres.Snapshot) error {
		m.Schema, m.Tables = s.Version, s.Counts
		if m.Audit, err = auditState(ctx, s.Tx); err != nil {
			return err
		}
		return runPG(ctx, pgDump, db, "--format=custom", "--schema=fairslot", "--snapshot="+s.ID, "--file="+path)
	})
}

// runPG runs a PostgreSQL client tool against the database at dsn, with the
// password (if any) in the environment rather than on the command line.
func runPG(ctx context.Context, tool, dsn string, args ...string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	env := os.Environ()
	if p, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+p)
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k) // pgx's own settings, unknown to libpq
		}
	}
	u.RawQuery = q.Encode()
	cmd := exec.CommandContext(ctx, tool, append(args, "--dbname="+u.String())...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(tool), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// auditState reads the audit log's size, root and newest checkpoint in tx.
func auditState(ctx context.Context, tx storage.Tx) (Audit, error) {
	var a Audit
	var err error
	if a.Size, err = tx.AuditTreeSize(ctx); err != nil {
		return a, err
	}
	var root tlog.Hash
	if a.Size > 0 {
		if root, err = tlog.TreeHash(a.Size, merkle.StoredHashes(ctx, tx)); err != nil {
			return a, fmt.Errorf("audit root: %w", err)
		}
	}
	a.Root = root.String()
	c, err := tx.LatestAuditCheckpoint(ctx)
	if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
		return a, err
	}
	a.Checkpoint = string(c.Note)
	return a, nil
}

// syncDir flushes a directory's entries (new names linked into it).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
