package backup

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// RestoreOptions say what to restore from and where to.
type RestoreOptions struct {
	Archive    string // ARCHIVE.tar.age; its signature is ARCHIVE.tar.age.sig
	KeysExport string // from ExportKeys; its signature beside it
	Identities []age.Identity
	VerifyKey  ed25519.PublicKey // pinned: the backup key's public half
	// Exactly one target: DataDir for an SQLite archive, DB (an
	// administrator's URL: it creates roles) for a PostgreSQL one.
	DataDir string
	DB      string
	Keyset  string
	// Force restores over a non-empty data directory (moved aside, never
	// deleted), a database with a fairslot schema (dropped), and key files
	// that differ from the export's (replaced).
	Force    bool
	Location *time.Location
	Report   io.Writer
	// Witnessed are copies of signed checkpoints kept elsewhere (the
	// audit witnesses): those the archive's log covers are verified
	// against its records with the archive's own; newer ones are reported.
	Witnessed []merkle.Source
}

// Restore checks the archive's and the keyset export's signatures against
// the pinned key, decrypts them, checks the manifest, restores the database
// and the key files, verifies the audit log against the archive's
// checkpoint, the rows against the manifest's counts and the schema
// version, and prints a report. On SQLite every check runs on a staged copy
// before anything is written to the data directory or the keyset path; on
// PostgreSQL the database checks follow pg_restore, which runs in one
// transaction.
func Restore(ctx context.Context, o RestoreOptions) (m Manifest, err error) {
	rep := o.Report
	if rep == nil {
		rep = io.Discard
	}
	// 1. The signature, before anything is decrypted: it vouches for the
	// archive's size and SHA-256, which the one pass below checks as it
	// decrypts (step 3); nothing leaves the staging directory unless they
	// match.
	f, err := os.Open(o.Archive)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	sig, err := os.ReadFile(o.Archive + ".sig")
	if err != nil {
		return m, fmt.Errorf("restore: the archive has no signature beside it (%s.sig): refusing it: %w", o.Archive, err)
	}
	signature, err := openSignature(o.VerifyKey, archiveContext, sig, "the archive "+o.Archive)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if fi, err := f.Stat(); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	} else if fi.Size() != signature.size {
		return m, fmt.Errorf("restore: %w", signature.check(fi.Size(), [32]byte{}))
	}
	keys, err := openKeys(o.KeysExport, o.Identities, o.VerifyKey)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	// 2. The targets: refuse what would be overwritten, writing nothing.
	if (o.DataDir == "") == (o.DB == "") {
		return m, errors.New("restore: give a data directory (SQLite) or a database URL (PostgreSQL)")
	}
	if err := checkKeysTarget(o.Keyset, keys, o.Force); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if o.DataDir != "" {
		if err := CheckDataDir(o.DataDir, o.Force); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	} else if err := checkDatabase(ctx, o.DB, o.Force); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	// 3. Decrypt and unpack into a staging directory beside the target.
	stageIn := os.TempDir()
	if o.DataDir != "" {
		stageIn = filepath.Dir(filepath.Clean(o.DataDir))
		if _, serr := os.Stat(stageIn); errors.Is(serr, fs.ErrNotExist) {
			if err := os.MkdirAll(stageIn, 0o700); err != nil {
				return m, fmt.Errorf("restore: %w", err)
			}
			defer func() {
				if err != nil {
					os.Remove(stageIn) // ours, and empty again: a refused restore leaves nothing
				}
			}()
		}
	}
	stage, err := os.MkdirTemp(stageIn, ".fairslot-restore-*")
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	unsealed := time.Now()
	if m, err = unsealSigned(f, signature, o.Identities, stage); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	took := time.Since(unsealed)
	if (m.Backend == "sqlite") != (o.DataDir != "") {
		return m, fmt.Errorf("restore: the archive is of a %s database; give %s", m.Backend, map[bool]string{true: "--data-dir", false: "--db (a postgres:// URL)"}[m.Backend == "sqlite"])
	}
	fmt.Fprintf(rep, "restore report\n  archive      %s\n  signed by    %s (verified before decryption; the archive's %d bytes match the signed SHA-256)\n  taken        %s on node %s by fairslot %s\n  backend      %s\n",
		o.Archive, vault.FormatBackupVerifyKey(o.VerifyKey), signature.size, m.Time.Format(time.RFC3339), m.Node, m.Version, m.Backend)
	fmt.Fprintf(rep, "  snapshot     %d bytes decrypted, its size and SHA-256 match the manifest (%s, with the archive's hash)\n", m.Snapshot.Size, took.Round(time.Millisecond))
	// 4. Restore, check, install.
	if m.Backend == "sqlite" {
		err = restoreSQLite(ctx, o, m, stage, keys, rep)
	} else {
		err = restorePostgres(ctx, o, m, stage, keys, rep)
	}
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(rep, "  keyset       %s (with the audit and backup keys beside it)\n", o.Keyset)
	return m, nil
}

// CheckDataDir refuses a data directory that holds anything, unless force.
func CheckDataDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("the data directory %s is not empty: refusing to restore over it without --force (which moves it aside)", dir)
	}
	return nil
}

// checkDatabase refuses a database that has a fairslot schema, unless force.
func checkDatabase(ctx context.Context, db string, force bool) error {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return fmt.Errorf("connect to the target database: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'fairslot')`).Scan(&exists); err != nil {
		return err
	}
	if exists && !force {
		return errors.New("the target database already has a fairslot schema: refusing to restore over it without --force (which drops it)")
	}
	return nil
}

func restoreSQLite(ctx context.Context, o RestoreOptions, m Manifest, stage string, keys map[string][]byte, rep io.Writer) error {
	st, err := sqlite.Open(stage, sqlite.Options{Location: o.Location})
	if err != nil {
		return err
	}
	err = check(ctx, st, st.TableCounts, m, keys, o.Witnessed, rep)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(filepath.Join(stage, sqliteSnapshot+suffix))
	}
	if err := installKeys(o.Keyset, keys); err != nil {
		return err
	}
	return InstallDataDir(stage, o.DataDir, rep)
}

// InstallDataDir makes the checked staging directory stage (beside dir,
// on the same file system) the data directory dir: a missing or empty one
// is replaced; a non-empty one (the caller checked --force) is moved
// aside, never deleted.
func InstallDataDir(stage, dir string, rep io.Writer) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		aside := fmt.Sprintf("%s.before-restore-%s", filepath.Clean(dir), time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dir, aside); err != nil {
			return err
		}
		fmt.Fprintf(rep, "  moved aside  %s (--force)\n", aside)
	}
	if err := os.Chmod(stage, 0o700); err != nil {
		return err
	}
	if err := os.Rename(stage, dir); err != nil {
		return err
	}
	fmt.Fprintf(rep, "  data dir     %s\n", dir)
	return nil
}

func restorePostgres(ctx context.Context, o RestoreOptions, m Manifest, stage string, keys map[string][]byte, rep io.Writer) error {
	pgRestore, err := exec.LookPath("pg_restore")
	if err != nil {
		return errors.New("pg_restore is not installed: install postgresql-client (the server's major version or newer)")
	}
	if o.Force {
		conn, err := pgx.Connect(ctx, o.DB)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `DROP SCHEMA IF EXISTS fairslot CASCADE`)
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("drop the old schema (--force): %w", err)
		}
	}
	// Objects and grants are restored as the connecting user's; fairslot's
	// own role set-up then creates the roles if missing and hands the
	// schema to the owner with exactly the online role's least privileges.
	if err := runPG(ctx, pgRestore, o.DB, "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", filepath.Join(stage, postgresSnapshot)); err != nil {
		return err
	}
	st, err := postgres.Open(ctx, o.DB, postgres.Options{Location: o.Location, AppName: "fairslot restore"})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetupRoles(ctx); err != nil {
		return err
	}
	fmt.Fprintf(rep, "  roles        %s, %s, %s set up (least privilege)\n", postgres.OwnerRole, postgres.OnlineRole, postgres.WatchdogRole)
	if err := check(ctx, st, st.TableCounts, m, keys, o.Witnessed, rep); err != nil {
		return err
	}
	return installKeys(o.Keyset, keys)
}

// check compares the restored database with the manifest: schema version,
// rows per table, and the audit log against the archive's checkpoint.
func check(ctx context.Context, st storage.Store, counts func(context.Context) (map[string]int64, error), m Manifest, keys map[string][]byte, witnessed []merkle.Source, rep io.Writer) error {
	if err := checkSchema(ctx, st, m.Schema, rep); err != nil {
		return err
	}
	counted := time.Now()
	got, err := counts(ctx)
	if err != nil {
		return err
	}
	var diffs []string
	var total int64
	for _, t := range slices.Sorted(mapsKeys(got, m.Tables)) {
		if got[t] != m.Tables[t] {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows, manifest %d", t, got[t], m.Tables[t]))
		}
		total += got[t]
	}
	if len(diffs) > 0 {
		return fmt.Errorf("the restored rows do not match the manifest: %s", strings.Join(diffs, "; "))
	}
	fmt.Fprintf(rep, "  rows         %d tables, %d rows: every count matches the manifest (bookings %d, audit_events %d) (%s)\n", len(got), total, got["bookings"], got["audit_events"],
		time.Since(counted).Round(time.Millisecond))
	return checkAudit(ctx, st, m, strings.TrimSpace(string(keys[auditKeyName])), witnessed, rep)
}

// checkSchema checks the restored schema's version: want's (-1: any), and
// not newer than this binary's.
func checkSchema(ctx context.Context, st storage.Store, want int, rep io.Writer) error {
	applied, latest, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if want >= 0 && applied != want {
		return fmt.Errorf("the restored schema is at version %d, the manifest says %d", applied, want)
	}
	if applied > latest {
		return fmt.Errorf("the restored schema is at version %d, newer than this binary knows (%d): restore with a newer fairslot", applied, latest)
	}
	if applied == 0 {
		return errors.New("the restored database has no fairslot schema")
	}
	note := "current"
	if applied < latest {
		note = fmt.Sprintf("behind this binary's %d: run 'fairslot migrate' (or serve --migrate) before serving", latest)
	}
	fmt.Fprintf(rep, "  schema       version %d (%s)\n", applied, note)
	return nil
}

func mapsKeys(a, b map[string]int64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && !yield(k) {
				return
			}
		}
	}
}

// checkAudit verifies the restored audit log: its tree at the manifest's
// size has the manifest's root, and every stored checkpoint, the archive's
// own and every witnessed one it covers verify against the records.
func checkAudit(ctx context.Context, st storage.Store, m Manifest, auditKey string, witnessed []merkle.Source, rep io.Writer) error {
	start := time.Now()
	var size int64
	var root tlog.Hash
	err := st.View(ctx, func(tx storage.Tx) error {
		var err error
		if size, err = tx.AuditTreeSize(ctx); err != nil || size < m.Audit.Size || m.Audit.Size == 0 {
			return err
		}
		root, err = tlog.TreeHash(m.Audit.Size, merkle.StoredHashes(ctx, tx))
		return err
	})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if size != m.Audit.Size || root.String() != m.Audit.Root {
		return fmt.Errorf("the restored audit log (%d records, root %s) is not the manifest's (%d records, root %s)", size, root, m.Audit.Size, m.Audit.Root)
	}
	var sources []merkle.Source
	if m.Audit.Checkpoint != "" {
		sources = append(sources, merkle.Source{Name: "backup manifest", Note: []byte(m.Audit.Checkpoint)})
	}
	if len(sources) == 0 && len(witnessed) == 0 {
		fmt.Fprintf(rep, "  audit log    %d records, root matches; no signed checkpoint in the archive to verify against\n", size)
		return nil
	}
	if auditKey == "" {
		return errors.New("the archive's audit log has signed checkpoints to verify but the keyset export no audit key to verify them")
	}
	within, beyond, err := coverable(auditKey, size, witnessed, rep)
	if err != nil {
		return err
	}
	r, err := verifyAudit(ctx, st, auditKey, append(sources, within...))
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("the restored audit log does NOT verify against the archive's and the witnessed checkpoints: first bad index %d; %s", r.FirstBad, strings.Join(r.Problems, "; "))
	}
	fmt.Fprintf(rep, "  audit log    %d records, root matches; verified against %d signed checkpoints, the archive's included (newest covers %d; %d witnessed copies read, %d newer than the archive) (%s)\n",
		size, len(r.Trusted), r.Size, len(within), beyond, time.Since(start).Round(time.Millisecond))
	return nil
}

// coverable splits witnessed checkpoints into those a restored log of size
// records can be verified against and the count of those beyond it (writes
// after the point restored to), which it reports. An untrusted one counts
// as coverable: the verification reports it.
func coverable(auditKey string, size int64, witnessed []merkle.Source, rep io.Writer) (within []merkle.Source, beyond int, err error) {
	v, err := auditVerifier(auditKey)
	if err != nil {
		return nil, 0, err
	}
	var beyondMax int64
	for _, s := range witnessed {
		if c, err := merkle.Open(s.Note, v); err == nil && c.Size > size {
			beyond++
			beyondMax = max(beyondMax, c.Size)
			continue
		}
		within = append(within, s)
	}
	if beyond > 0 {
		fmt.Fprintf(rep, "  witnessed    %d checkpoints cover more records than were restored (up to %d, restored %d): %d audit records written after the restored point are not here\n",
			beyond, beyondMax, size, beyondMax-size)
	}
	return within, beyond, nil
}

// auditVerifier is the verifier of the checkpoints the audit signing key
// (as kept with the keyset) signs.
func auditVerifier(auditKey string) (note.Verifier, error) {
	vkey, err := merkle.VerifierKey(auditKey)
	if err != nil {
		return nil, fmt.Errorf("the audit key: %w", err)
	}
	return note.NewVerifier(vkey)
}

// verifyAudit verifies the restored audit log with the audit signing key
// (as kept with the keyset) against its stored checkpoints and sources.
func verifyAudit(ctx context.Context, st storage.Store, auditKey string, sources []merkle.Source) (merkle.Report, error) {
	v, err := auditVerifier(auditKey)
	if err != nil {
		return merkle.Report{}, err
	}
	r, err := (&merkle.Verifier{Store: st, Key: v}).Verify(ctx, sources)
	if err != nil {
		return r, fmt.Errorf("audit log: %w", err)
	}
	return r, nil
}

// VerifyRestored runs the checks of a restore on a database that comes
// without a manifest (one restored from a Litestream replica): the schema
// version against this binary's, and the audit log against every signed
// checkpoint stored in it and every witnessed one given that it can cover.
// A witnessed checkpoint beyond the restored log (writes after the point
// restored to, or lost with the last second before the destruction) is
// reported, not held against the log. auditKey is the audit signing key
// kept with the keyset. It returns the verification's report and an error
// when anything does not verify.
func VerifyRestored(ctx context.Context, st storage.Store, auditKey string, witnessed []merkle.Source, rep io.Writer) (merkle.Report, error) {
	if err := checkSchema(ctx, st, -1, rep); err != nil {
		return merkle.Report{}, err
	}
	var size int64
	if err := st.View(ctx, func(tx storage.Tx) (err error) { size, err = tx.AuditTreeSize(ctx); return err }); err != nil {
		return merkle.Report{}, fmt.Errorf("audit log: %w", err)
	}
	within, _, err := coverable(auditKey, size, witnessed, rep)
	if err != nil {
		return merkle.Report{}, err
	}
	r, err := verifyAudit(ctx, st, auditKey, within)
	if err != nil {
		return r, err
	}
	if len(r.Trusted) == 0 && len(r.Problems) == 1 && size == 0 {
		fmt.Fprintf(rep, "  audit log    empty\n")
		return r, nil
	}
	if !r.OK() {
		return r, fmt.Errorf("the restored audit log does NOT verify against its signed checkpoints: first bad index %d; %s", r.FirstBad, strings.Join(r.Problems, "; "))
	}
	fmt.Fprintf(rep, "  audit log    %d records; verified against %d signed checkpoints (%d witnessed copies read; newest covers %d, %d newer records not yet signed)\n",
		size, len(r.Trusted), len(within), r.Size, r.Unsigned)
	return r, nil
}
