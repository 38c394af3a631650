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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/kit"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"

	"log/slog"
)

func init() {
	commands = append(commands, command{"kit", "write the downtime kit now (verify: check a kit's signed manifest; import: enter the desk's paper records)", runKit})
}

const kitUsage = `usage: fairslot kit [--out DIR] [--date YYYY-MM-DD] [--department N]   write a kit now (default kit.dir)
       fairslot kit verify [--verify-key KEY] DIR                            check a kit's signed manifest and files
       fairslot kit import --staff USERNAME FILE                             enter what the desk did on paper`

func runKit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "verify":
			return runKitVerify(args[1:], stdout, stderr)
		case "import":
			return runKitImport(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("kit", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the kit to (default kit.dir; another volume or host)")
	date := fs.String("date", "", "the first of the kit's two days (default today)")
	dept := fs.Int64("department", 0, "only this department (default all)")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = c.Kit.Dir
	}
	if dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, kitUsage)
		return errors.New("kit: give --out DIR (or set kit.dir)")
	}
	if in, err := config.Within(c.DataDir, dir); err == nil && in {
		return fmt.Errorf("kit: %s is inside the data directory %s: put the kit on another volume or host", dir, c.DataDir)
	}
	key, err := backupKey(c) // backup.go
	if err != nil {
		return err
	}
	svc, st, err := openKitService(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	o := kitOptions(c, svc, key)
	o.Date = *date
	if *dept != 0 {
		o.Departments = []int64{*dept}
	}
	gen, m, err := kit.Write(ctx, dir, o, time.Now())
	if err != nil {
		return err
	}
	if *dept != 0 && len(m.Departments) == 0 {
		return fmt.Errorf("kit: no department %d", *dept)
	}
	fmt.Fprintf(stdout, "kit        %s\ngenerated  %s\ndates      %v\n", gen, m.GeneratedAt.Format(time.RFC3339), m.Dates)
	for _, d := range m.Departments {
		fmt.Fprintf(stdout, "  %-24s %s  %d bookings, %d waiting\n", d.Name, filepath.Join(gen, d.HTML), d.Bookings, d.Waitlist)
	}
	fmt.Fprintf(stdout, "verify key %s\n", vault.FormatBackupVerifyKey(key.Public().(ed25519.PublicKey)))
	return nil
}

func kitOptions(c config.Config, svc *app.Service, key ed25519.PrivateKey) kit.Options {
	return kit.Options{Source: kit.StoreSource{Store: svc.Store, Vault: svc.Vault}, Key: key, Node: c.NodeName(), Lang: c.Kit.Lang,
		Location: svc.Location, Keep: c.Kit.Keep}
}

// openKitService opens the store and the service on an existing database
// with a current schema.
func openKitService(ctx context.Context, c config.Config) (*app.Service, storage.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	if c.DB == "" {
		if _, err := os.Stat(filepath.Join(c.DataDir, sqlite.FileName)); err != nil {
			return nil, nil, fmt.Errorf("kit: no database in the data directory %s: %w", c.DataDir, err)
		}
	}
	svc, st, err := open(c, slog.New(slog.DiscardHandler)) // setup.go
	if err != nil {
		return nil, nil, err
	}
	if err := schemaCurrent(ctx, st); err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

func runKitVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kit verify", flag.ContinueOnError)
	vk := fs.String("verify-key", "", "the backup verification key (fairslot-backup-key:...; default: this installation's, from the keyset)")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, kitUsage)
		return errors.New("kit verify: give the kit directory")
	}
	var pub ed25519.PublicKey
	if *vk != "" {
		if pub, err = readVerifyKey(*vk); err != nil { // backup.go
			return err
		}
	} else {
		key, err := backupKey(c)
		if err != nil {
			return fmt.Errorf("kit verify: %w (or give --verify-key)", err)
		}
		pub = key.Public().(ed25519.PublicKey)
	}
	gen, m, err := kit.Verify(fs.Arg(0), pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "OK %s\ngenerated %s (%s ago) on %s\n%d departments, %d files, checkpoint: %v\n", gen, m.GeneratedAt.Format(time.RFC3339),
		time.Since(m.GeneratedAt).Round(time.Second), m.Node, len(m.Departments), len(m.Files), m.Checkpoint != "")
	return nil
}

func runKitImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kit import", flag.ContinueOnError)
	staff := fs.String("staff", "", "the desk login the paper records are entered as (its role and scope apply)")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 || *staff == "" {
		fmt.Fprintln(stderr, kitUsage)
		return errors.New("kit import: give --staff USERNAME and the file")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	svc, st, err := openKitService(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := kit.ParseImport(f, svc.Location)
	if err != nil {
		return fmt.Errorf("kit import %s: %w", fs.Arg(0), err)
	}
	a, err := svc.StaffActor(ctx, *staff)
	if err != nil {
		return err
	}
	lines, err := svc.EnterAfterOutage(ctx, a, filepath.Base(fs.Arg(0)), outageEntries(entries))
	if err != nil {
		return fmt.Errorf("kit import %s: nothing was imported: %w", fs.Arg(0), err)
	}
	var n, already int
	for _, l := range lines {
		state := "entered"
		if l.Already {
			state, already = "already entered", already+1
		} else {
			n++
		}
		fmt.Fprintf(stdout, "line %d: %s booking %d %s %s\n", l.Line, l.Kind, l.BookingID, l.Ticket, state)
	}
	fmt.Fprintf(stdout, "%d entered, %d already entered before\n", n, already)
	return nil
}

// kitWriter is the downtime kit the job leader writes to kit.dir; nil
// when kit.dir is empty.
func kitWriter(c config.Config, svc *app.Service, log *slog.Logger, metrics *prometheus.Registry) (*kit.Writer, error) {
	if c.Kit.Dir == "" {
		return nil, nil
	}
	key, err := backupKey(c)
	if err != nil {
		return nil, fmt.Errorf("downtime kit: %w", err)
	}
	w := &kit.Writer{Dir: c.Kit.Dir, Every: time.Duration(c.Kit.Every), Options: kitOptions(c, svc, key), Log: log.With("job", "kit")}
	metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_kit_last_success_timestamp_seconds",
			Help: "When this node last wrote the downtime kit (Unix time; 0: not since it started)."},
			func() float64 {
				if t := w.Stats().LastSuccess; !t.IsZero() {
					return float64(t.Unix())
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_kit_failures_total",
			Help: "Downtime kits this node failed to write (each also logs an ALERT)."},
			func() float64 { return float64(w.Stats().Failures) }))
	log.Info("downtime kit on", "every", w.Every.String(), "dir", w.Dir)
	return w, nil
}

// kitLoop writes the kit while this node leads the jobs, looking every
// tenth of the interval (at most a minute) whether one is due.
func kitLoop(ctx context.Context, w *kit.Writer, leading func() bool) {
	if w == nil {
		return
	}
	t := time.NewTicker(min(max(w.Every/10, 100*time.Millisecond), time.Minute))
	defer t.Stop()
	ticks := make(chan time.Time)
	go func() {
		first := time.Now()
		for {
			select {
			case ticks <- first:
			case <-ctx.Done():
				return
			}
			select {
			case first = <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	w.Run(ctx, ticks, leading)
}

// outageEntries turns the desk file's parsed rows into the use case's
// entries.
func outageEntries(es []kit.Entry) []app.OutageEntry {
	out := make([]app.OutageEntry, len(es))
	for i, e := range es {
		out[i] = app.OutageEntry{Line: e.Line, Kind: e.Kind, At: e.At, Code: e.Code, IDLast4: e.IDLast4,
			WalkIn: app.WalkInInput{SessionID: e.SessionID, Priority: e.Priority,
				Patient: app.PatientInput{Name: e.Name, IDType: fairslot.IDType(e.IDType), IDNumber: e.IDNumber, Phone: e.Phone}}}
	}
	return out
}
