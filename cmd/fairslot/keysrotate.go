package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/rekey"
	"github.com/fairslot/fairslot/internal/vault"
)

func init() {
	keysCommands["status"] = keysCommand{"keys status   (the keyset's keys, and what in the database is still under an older one)", runKeysStatus}
	keysCommands["rotate"] = keysCommand{"keys rotate [--only seal|index] [--stage]   (a new primary key; servers re-seal and re-index in the background; --stage adds it unpromoted)", runKeysRotate}
	keysCommands["promote"] = keysCommand{"keys promote [--only seal|index]   (make the staged key primary, once every node has the staged keyset)", runKeysPromote}
	keysCommands["rekey"] = keysCommand{"keys rekey   (re-seal and re-index now, to the end, instead of waiting for the server's job)", runKeysRekey}
	keysCommands["prune"] = keysCommand{"keys prune [--force]   (drop old keys once nothing needs them)", runKeysPrune}
	keysCommands["wrap"] = keysCommand{"keys wrap [--kms URI]   (encrypt the keyset under a passphrase read from standard input or a prompt, or a KMS key)", runKeysWrap}
	keysCommands["unwrap"] = keysCommand{"keys unwrap   (write the keyset in clear again)", runKeysUnwrap}
}

// keysConfig parses a keys subcommand's flags and validates the config.
func keysConfig(name string, args []string, stderr io.Writer, flags func(*flag.FlagSet)) (config.Config, error) {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	if flags != nil {
		flags(fs)
	}
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("keys %s: unexpected arguments %q", name, fs.Args())
	}
	return c, c.Validate()
}

// keysJob opens the database with the keyset for the rekey work: on
// PostgreSQL as keys.rekey_db when set, else as db (the owner, run from the
// administrator's host; the online role may not re-key).
func keysJob(ctx context.Context, c config.Config, stderr io.Writer) (rekey.Job, func(), error) {
	log := newLogger(c, stderr)
	if c.Keys.RekeyDB != "" {
		c.DB = c.Keys.RekeyDB
	}
	svc, st, err := open(c, log)
	if err != nil {
		return rekey.Job{}, nil, err
	}
	if err := schemaCurrent(ctx, st); err != nil {
		st.Close()
		return rekey.Job{}, nil, err
	}
	return rekey.Job{Store: svc.Store, Vault: svc.Vault, Batch: c.Keys.RekeyBatch, Log: log}, func() { st.Close() }, nil
}

func printKeyset(w io.Writer, st vault.Status) {
	wrapped := "no (the file alone opens the data: keep it off backups of the data, or wrap it)"
	if st.Wrapped != "" {
		wrapped = "by " + st.Wrapped
	}
	fmt.Fprintf(w, "keyset wrapped: %s\n", wrapped)
	for _, p := range []struct {
		name string
		ps   vault.PartStatus
	}{{"sealing", st.Seal}, {"blind index", st.Index}} {
		var ids []string
		for _, id := range p.ps.Keys {
			mark := ""
			if id == p.ps.Primary {
				mark = " (primary)"
			}
			ids = append(ids, fmt.Sprintf("%d%s", id, mark))
		}
		fmt.Fprintf(w, "%s keys: %s\n", p.name, strings.Join(ids, ", "))
	}
	if !st.IndexRotatedAt.IsZero() {
		fmt.Fprintf(w, "index key rotated: %s\n", st.IndexRotatedAt.Local().Format(time.RFC3339))
	}
}

// printCheck prints what in the database is still under an older key.
func printCheck(ctx context.Context, job rekey.Job, w io.Writer) error {
	s, err := job.Check(ctx)
	if err != nil {
		return err
	}
	printRekey(w, s)
	return nil
}

func printRekey(w io.Writer, s rekey.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEALED COLUMN\tUNDER AN OLDER KEY")
	names := make([]string, 0, len(s.Stale))
	for name := range s.Stale {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(tw, "%s\t%d\n", name, s.Stale[name])
	}
	tw.Flush()
	fmt.Fprintf(w, "blind indexes all under the primary index key: %v\n", s.IndexVerified)
	if len(s.Laggards) > 0 {
		fmt.Fprintf(w, "live nodes not on this keyset's primary keys: %s\n", strings.Join(s.Laggards, ", "))
	}
}

func runKeysStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := keysConfig("status", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := printed(stdout)(vault.ReadStatus(c.Keyset)); err != nil {
		return err
	}
	job, done, err := keysJob(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	return printCheck(ctx, job, stdout)
}

// runKeysRotate is keys rotate (--stage to add unpromoted); runKeysPromote
// is keys promote.
func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return rotateOrPromote(args, stdout, stderr, false)
}

func runKeysPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return rotateOrPromote(args, stdout, stderr, true)
}

func rotateOrPromote(args []string, stdout, stderr io.Writer, promote bool) error {
	name := map[bool]string{false: "rotate", true: "promote"}[promote]
	var only *string
	var stage *bool
	c, err := keysConfig(name, args, stderr, func(fs *flag.FlagSet) {
		only = fs.String("only", "", "only the seal or the index key")
		if !promote {
			stage = fs.Bool("stage", false, "add the new keys without making them primary: copy the keyset to every node, then 'keys promote'")
		}
	})
	if err != nil {
		return err
	}
	var parts []vault.Part
	if *only != "" {
		parts = append(parts, vault.Part(*only))
	}
	var ks vault.Status
	switch {
	case promote:
		ks, err = vault.Promote(c.Keyset, time.Now(), parts...)
	case *stage:
		ks, err = vault.Stage(c.Keyset, parts...)
	default:
		ks, err = vault.Rotate(c.Keyset, time.Now(), parts...)
	}
	if err != nil {
		return err
	}
	printKeyset(stdout, ks)
	if !promote && *stage {
		fmt.Fprintln(stdout, "Staged: nodes given this keyset open and find values under the new keys but still write under the old.")
		fmt.Fprintln(stdout, "Copy it to every node (each reads it within keys.reload_every), then run 'fairslot keys promote' and copy again.")
		return nil
	}
	fmt.Fprintf(stdout, "Now primary. Running servers read the new keyset within %v (copy it to every node that has its own),\n", time.Duration(c.Keys.ReloadEvery))
	fmt.Fprintln(stdout, "then the job leader re-seals and re-indexes in the background; 'fairslot keys status' shows what is left,")
	fmt.Fprintln(stdout, "'fairslot keys prune' drops the old keys once nothing needs them.")
	return nil
}

func runKeysRekey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := keysConfig("rekey", args, stderr, nil)
	if err != nil {
		return err
	}
	job, done, err := keysJob(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	// Until a pass changes nothing: the index rebuild records its key as
	// verified only after such a pass.
	var total rekey.Result
	for {
		r, err := job.Run(ctx)
		if err != nil && strings.Contains(err.Error(), "permission denied") {
			return fmt.Errorf("%w\nkeys rekey: this database role may not re-key; use the owner's URL (--db) or the fairslot_rekey role's (keys.rekey_db)", err)
		}
		if err != nil {
			return err
		}
		total.Changed += r.Changed
		if r.Failed > 0 {
			return fmt.Errorf("keys rekey: %d sealed values open under no key of the keyset (see the log); nothing else is wrong", r.Failed)
		}
		if r.Changed == 0 && r.Raced == 0 {
			break
		}
	}
	fmt.Fprintf(stdout, "re-sealed or re-indexed %d values\n", total.Changed)
	return printCheck(ctx, job, stdout)
}

func runKeysPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var force *bool
	c, err := keysConfig("prune", args, stderr, func(fs *flag.FlagSet) {
		force = fs.Bool("force", false, "prune although live nodes report older keys (they are gone, or will get the current keyset before they write)")
	})
	if err != nil {
		return err
	}
	ks, err := vault.ReadStatus(c.Keyset)
	if err != nil {
		return err
	}
	job, done, err := keysJob(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	s, err := job.Check(ctx)
	if err != nil {
		return err
	}
	if len(s.Laggards) > 0 && !*force {
		return fmt.Errorf("keys prune: live nodes are not on this keyset's primary keys: %s — they could still write under an old key; give them the current keyset (or --force if they are gone); nothing was pruned",
			strings.Join(s.Laggards, ", "))
	}
	seal, index := job.Vault.OldKeys()
	var parts []vault.Part
	if seal {
		if n := s.StaleTotal(); n > 0 {
			printRekey(stderr, s)
			return fmt.Errorf("keys prune: %d values are still sealed under an older key; wait for the server's job or run 'fairslot keys rekey'; nothing was pruned", n)
		}
		parts = append(parts, vault.Sealing)
	}
	if index {
		if !s.IndexVerified && !(*force && s.IndexRebuilt) {
			return fmt.Errorf("keys prune: the blind indexes are not yet found all under the new index key by a pass made after every live node loaded it; wait for the server's job or run 'fairslot keys rekey'; nothing was pruned")
		}
		parts = append(parts, vault.Index)
	}
	if len(parts) == 0 {
		fmt.Fprintln(stdout, "nothing to prune: the keyset holds no key older than its primaries")
		return nil
	}
	if ks, err = vault.Prune(c.Keyset, ks, parts...); err != nil {
		return err
	}
	if _, err := job.Vault.Reload(); err != nil {
		return err
	}
	if err := rekey.Require(ctx, job.Store, job.Vault); err != nil {
		return fmt.Errorf("pruned, but recording the keys the data is under failed (a node with an old keyset will not be refused): %w", err)
	}
	printKeyset(stdout, ks)
	fmt.Fprintln(stdout, "Pruned. Copies of the old keyset (backups, other nodes) still hold the old keys: replace or destroy them.")
	return nil
}

func runKeysWrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var kms *string
	c, err := keysConfig("wrap", args, stderr, func(fs *flag.FlagSet) {
		kms = fs.String("kms", "", "wrap with this KMS key URI instead of a passphrase")
	})
	if err != nil {
		return err
	}
	var ks vault.Status
	if *kms != "" {
		ks, err = vault.WrapKMS(c.Keyset, *kms)
	} else {
		var pass string
		if pass, err = readPassword(stderr, "New keyset passphrase: "); err != nil {
			return err
		}
		ks, err = vault.Wrap(c.Keyset, []byte(pass))
	}
	if err != nil {
		return err
	}
	printKeyset(stdout, ks)
	fmt.Fprintf(stdout, "Every fairslot command and server now needs the passphrase: %s names a file holding it (or %s holds it).\n", vault.PassphraseFileEnv, vault.PassphraseEnv)
	return nil
}

func runKeysUnwrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := keysConfig("unwrap", args, stderr, nil)
	if err != nil {
		return err
	}
	return printed(stdout)(vault.Unwrap(c.Keyset))
}

// printed prints a keyset's status, or passes its error on.
func printed(w io.Writer) func(vault.Status, error) error {
	return func(ks vault.Status, err error) error {
		if err == nil {
			printKeyset(w, ks)
		}
		return err
	}
}
