package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// runDraw is `fairslot draw run|show|verify`: run a due draw now, show a
// session's release and published record, or verify a published record.
func runDraw(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fairslot draw run SESSION | show SESSION | verify [FILE|-] [--session SESSION]")
	}
	switch args[0] {
	case "run", "show":
		return drawSession(ctx, args[0], args[1:], stdout, stderr)
	case "verify":
		return drawVerify(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown draw command %q (run, show, verify)", args[0])
}

// drawSession runs or shows the draw of the session named by the one
// argument, against the configured database.
func drawSession(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("draw "+verb, flag.ContinueOnError)
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: fairslot draw %s [flags] SESSION", verb)
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("session %q: want a positive integer", fs.Arg(0))
	}
	svc, st, err := openCurrent(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if verb == "run" {
		sum, err := svc.RunDraw(ctx, app.System, id)
		if err != nil {
			return err
		}
		return enc.Encode(sum)
	}
	rel, err := svc.SessionRelease(ctx, id)
	if err != nil {
		return err
	}
	out := map[string]any{"release": rel}
	if rec, err := svc.DrawRecord(ctx, id); err == nil {
		out["record"] = rec
	}
	return enc.Encode(out)
}

// drawVerify checks a published draw record: from a file, standard input,
// or (--session) the configured database. It needs no keys: everything it
// checks is public.
func drawVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("draw verify", flag.ContinueOnError)
	session := fs.Int64("session", 0, "read the record of this session from the database instead of a file")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	var rec release.Record
	switch {
	case *session > 0:
		svc, st, err := openCurrent(ctx, c, stderr)
		if err != nil {
			return err
		}
		defer st.Close()
		if rec, err = svc.DrawRecord(ctx, *session); err != nil {
			return err
		}
	case fs.NArg() == 1:
		var r io.Reader = os.Stdin
		if fs.Arg(0) != "-" {
			f, err := os.Open(fs.Arg(0))
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		dec := json.NewDecoder(io.LimitReader(r, 256<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("draw record: %w", err)
		}
	default:
		return errors.New("usage: fairslot draw verify FILE|- or --session SESSION")
	}
	if err := release.Verify(rec); err != nil {
		return fmt.Errorf("draw of session %d does NOT verify: %w", rec.SessionID, err)
	}
	won := 0
	for _, r := range rec.Allocation {
		if r.Outcome == "won" {
			won++
		}
	}
	fmt.Fprintf(stdout, "draw of session %d verifies: the seed matches the commitment %x; %d entries in the order the seed gives; %d slots allocated in that order\n",
		rec.SessionID, []byte(rec.Commitment), len(rec.Entries), won)
	return nil
}

// openCurrent validates the configuration and opens the service on a
// database whose schema is current. The caller closes the store.
func openCurrent(ctx context.Context, c config.Config, stderr io.Writer) (*app.Service, storage.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	svc, st, err := open(c, newLogger(c, stderr))
	if err != nil {
		return nil, nil, err
	}
	if err := schemaCurrent(ctx, st); err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}
