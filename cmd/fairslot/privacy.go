package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/storage"
)

func init() {
	commands = append(commands, command{"privacy", "privacy purge [--dry-run] [--json]: apply the retention period to patients' personal fields now", runPrivacy})
}

func runPrivacy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "purge" {
		fmt.Fprintln(stderr, "usage: fairslot privacy purge [--dry-run] [--json] [config flags]")
		return errors.New("privacy: the one subcommand is purge")
	}
	fs := flag.NewFlagSet("privacy purge", flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "show which patients would be purged, change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	c, err := loadConfig(fs, args[1:], stderr)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("privacy purge: unexpected arguments %q", fs.Args())
	}
	if err := c.Validate(); err != nil {
		return err
	}
	// On PostgreSQL the purge is the owner's or fairslot_rekey's: as
	// keys rekey, keys.rekey_db when set, else db (the owner's URL).
	if c.Keys.RekeyDB != "" {
		c.DB = c.Keys.RekeyDB
	}
	log := newLogger(c, stderr)
	svc, st, err := open(c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := schemaCurrent(ctx, st); err != nil {
		return err
	}
	rep, err := svc.Purge(ctx, svc.Store, *dry)
	if err != nil {
		if strings.Contains(err.Error(), "permission denied") {
			return fmt.Errorf("%w\nprivacy purge: this database role may not purge; use the owner's URL (--db) or the fairslot_rekey role's (keys.rekey_db)", err)
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printPurge(stdout, rep)
	return nil
}

func printPurge(w io.Writer, rep app.PurgeReport) {
	verb := "purged"
	if rep.DryRun {
		verb = "would purge"
	}
	fmt.Fprintf(w, "retention %s: personal fields of patients with no activity since %s\n", rep.Retention, rep.Cutoff.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "checked %d patient(s) created before then; %s %d", rep.Checked, verb, len(rep.Patients))
	if len(rep.Patients) > 0 {
		ids := make([]string, len(rep.Patients))
		for i, id := range rep.Patients {
			ids[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(w, ": patient %s", strings.Join(ids, ", "))
	}
	fmt.Fprintln(w)
	if rep.Raced > 0 {
		fmt.Fprintf(w, "%d became active again before their purge and were left alone\n", rep.Raced)
	}
	if !rep.DryRun {
		fmt.Fprintf(w, "erased %d sent outbox message(s) older than the cutoff\n", rep.Messages)
		fmt.Fprintf(w, "erased the text of %d risk review request(s) answered before the cutoff\n", rep.Appeals)
	} else {
		fmt.Fprintln(w, "dry run: nothing changed (sent outbox messages older than the cutoff, and the text of risk review requests answered before it, are erased too)")
	}
}

// purgeLoop applies the retention period every privacy.purge_every while
// this node leads the jobs, through st: the embedded store, or on
// PostgreSQL the rekey role's (keys.rekey_db) — the online role may not
// purge; without it the purge is left to 'fairslot privacy purge'.
func purgeLoop(ctx context.Context, c config.Config, svc *app.Service, st storage.Store, log *slog.Logger, leading func() bool) {
	every := time.Duration(c.Privacy.PurgeEvery)
	if every <= 0 {
		return
	}
	if st == nil {
		log.Warn("keys.rekey_db is not set: this server does not apply the privacy retention period by itself; run 'fairslot privacy purge' with the rekey role's or the owner's URL")
		return
	}
	tick := time.NewTicker(min(every, time.Minute))
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !leading() || time.Since(last) < every {
			continue
		}
		last = time.Now()
		rep, err := svc.Purge(ctx, st, false)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("privacy purge failed", "err", err)
			}
			continue
		}
		if len(rep.Patients) > 0 || rep.Messages > 0 || rep.Appeals > 0 {
			log.Info("privacy purge: personal fields past retention erased", "patients", len(rep.Patients), "messages", rep.Messages,
				"appeals", rep.Appeals, "retention", rep.Retention)
		}
	}
}
