package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/fairslot/fairslot/internal/backup"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/vault"
)

func init() {
	commands = append(commands,
		command{"backup", "write a signed archive of the database encrypted to the backup recipients (key: print its verification key)", runBackup},
		command{"restore", "restore a backup archive and the keyset export onto a clean machine, verified", runRestore})
}

const backupUsage = `usage: fairslot backup --to DIR [--recipient AGE_PUBKEY ...] [flags]
       fairslot backup key    print the verification key restore --verify-key pins`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "key" {
		c, err := loadConfig(flag.NewFlagSet("backup key", flag.ContinueOnError), args[1:], stderr)
		if err != nil {
			return err
		}
		key, err := backupKey(c)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, vault.FormatBackupVerifyKey(key.Public().(ed25519.PublicKey)))
		return nil
	}
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	to := fs.String("to", "", "directory to write the archive and its signature to (another volume or host)")
	pace := fs.Bool("pace", false, "pace the backup while the server serves: work backup.duty of the time (default 0.25), sleeping the rest between chunks")
	var recips stringList
	fs.Var(&recips, "recipient", "encrypt to this age public key (age1...; repeatable; config backup.recipients are added)")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if *to == "" {
		fmt.Fprintln(stderr, backupUsage)
		return errors.New("backup: --to is required")
	}
	recipients, err := backupRecipients(&c, recips)
	if err != nil {
		return err
	}
	if in, err := config.Within(c.DataDir, *to); err == nil && in {
		return fmt.Errorf("backup: --to %s is inside the data directory %s: put backups on another volume or host", *to, c.DataDir)
	}
	key, err := backupKey(c)
	if err != nil {
		return err
	}
	loc, err := c.Location()
	if err != nil {
		return err
	}
	if c.DB == "" {
		// Opening would create an empty database: say there is none.
		if _, err := os.Stat(filepath.Join(c.DataDir, sqlite.FileName)); err != nil {
			return fmt.Errorf("backup: no database in the data directory %s: %w", c.DataDir, err)
		}
	}
	st, err := openStore(ctx, c, loc, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	o := backup.Options{Store: st, DataDir: c.DataDir, DB: c.DB, Dir: *to, Recipients: recipients, Key: key,
		Node: c.NodeName(), Version: version}
	if *pace {
		o.Pace = backup.Pace{Duty: c.Backup.BackupDuty(), MaxPause: backup.DefaultMaxPause}
	}
	res, err := backup.Create(ctx, o)
	if err != nil {
		return err
	}
	m := res.Manifest
	var rows int64
	for _, n := range m.Tables {
		rows += n
	}
	fmt.Fprintf(stdout, "archive    %s\nsignature  %s\nverify key %s\n%s schema %d, %d tables, %d rows, audit log %d records; %d bytes of snapshot in %s\n",
		res.Path, res.SigPath, vault.FormatBackupVerifyKey(key.Public().(ed25519.PublicKey)), m.Backend, m.Schema, len(m.Tables), rows, m.Audit.Size,
		m.Snapshot.Size, time.Since(start).Round(time.Millisecond))
	return nil
}

// backupRecipients adds the flags' recipients to the configuration's and
// validates the whole.
func backupRecipients(c *config.Config, flags []string) ([]age.Recipient, error) {
	c.Backup.Recipients = append(c.Backup.Recipients, flags...)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(c.Backup.Recipients) == 0 {
		return nil, errors.New("no recipient: give --recipient AGE_PUBKEY or set backup.recipients (keep the identities, the private keys, off this server)")
	}
	return c.Backup.AgeRecipients()
}

// backupKey is the backup signing key kept with the keyset; the keyset
// must exist (a backup or an export of an installation without one is a
// mistake of paths).
func backupKey(c config.Config) (ed25519.PrivateKey, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.Keyset); err != nil {
		return nil, fmt.Errorf("no keyset at %s (give --keyset): %w", c.Keyset, err)
	}
	return vault.BackupSigningKey(c.Keyset)
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fs.String("from", "", "the archive (ARCHIVE.tar.age; its signature ARCHIVE.tar.age.sig beside it)")
	var idFiles stringList
	fs.Var(&idFiles, "identity", "an age identity file that can decrypt the archive (repeatable)")
	verifyKey := fs.String("verify-key", "", "the pinned backup verification key, as 'fairslot backup key' printed it (or a file holding it)")
	keys := fs.String("keys", "", "the keyset export ('fairslot keys export'; its signature beside it)")
	force := fs.Bool("force", false, "restore over a non-empty data directory (moved aside), an existing fairslot schema (dropped) or different key files (replaced)")
	fromReplica := fs.String("replica", "", "restore from a Litestream replica instead: a directory or s3://BUCKET/PREFIX (replica.s3 gives the endpoint and credentials); the keyset must be in place")
	at := fs.String("at", "", "with --replica: the point in time to restore to (RFC 3339; default the newest state)")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if *fromReplica != "" {
		if *from != "" || len(idFiles) > 0 || *verifyKey != "" || *keys != "" {
			return errors.New("restore: --replica restores the data directory alone: --from, --identity, --verify-key and --keys are for an archive")
		}
		if err := c.Validate(); err != nil {
			return err
		}
		return runReplicaRestore(ctx, c, *fromReplica, *at, *force, stdout) // replica.go
	}
	if *at != "" {
		return errors.New("restore: --at needs --replica (an archive restores to the moment it was taken)")
	}
	if *from == "" || len(idFiles) == 0 || *verifyKey == "" || *keys == "" {
		fs.Usage()
		return errors.New("restore: --from, --identity, --verify-key and --keys are required")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	pinned, err := readVerifyKey(*verifyKey)
	if err != nil {
		return err
	}
	var ids []age.Identity
	for _, p := range idFiles {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("--identity: %w", err)
		}
		got, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--identity %s: %w", p, err)
		}
		ids = append(ids, got...)
	}
	loc, err := c.Location()
	if err != nil {
		return err
	}
	witnessed, err := readWitnesses(c) // audit.go
	if err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	o := backup.RestoreOptions{Archive: *from, KeysExport: *keys, Identities: ids, VerifyKey: pinned, Keyset: c.Keyset, Force: *force,
		Location: loc, Report: stdout, Witnessed: witnessed}
	if c.DB != "" {
		o.DB = c.DB
	} else {
		o.DataDir = c.DataDir
	}
	start := time.Now()
	if _, err := backup.Restore(ctx, o); err != nil {
		return err
	}
	where := "data directory"
	if c.DB != "" {
		where = "database (as " + postgres.OnlineRole + ")"
	}
	fmt.Fprintf(stdout, "  took         %s\nRESTORED: start the server with 'fairslot serve' on this %s and keyset\n", time.Since(start).Round(time.Millisecond), where)
	return nil
}

// readVerifyKey takes the key itself or a file holding it.
func readVerifyKey(s string) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(s, vault.BackupVerifyPrefix) {
		if b, err := os.ReadFile(s); err == nil {
			s = string(b)
		}
	}
	k, err := vault.ParseBackupVerifyKey(s)
	if err != nil {
		return nil, fmt.Errorf("--verify-key: %w", err)
	}
	return k, nil
}
