package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/screener"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/health"
	"github.com/fairslot/fairslot/internal/vault"
)

// configFlags registers the flags every command shares and returns a
// function that loads the configuration with them applied last.
func configFlags(fs *flag.FlagSet) func() (config.Config, error) {
	file := fs.String("config", "", "JSON config file (env FAIRSLOT_CONFIG)")
	dataDir := fs.String("data-dir", "", "data directory (env FAIRSLOT_DATA_DIR, default ./fairslot-data)")
	db := fs.String("db", "", "postgres:// URL; empty for the embedded database (env FAIRSLOT_DB)")
	keyset := fs.String("keyset", "", "keyset file, outside the data directory (env FAIRSLOT_KEYSET, default ./fairslot-keyset.json)")
	return func() (config.Config, error) {
		path := *file
		if path == "" {
			path = os.Getenv("FAIRSLOT_CONFIG")
		}
		c, err := config.Load(path, os.Getenv)
		if err != nil {
			return c, err
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "data-dir":
				c.DataDir = *dataDir
			case "db":
				c.DB = *db
			case "keyset":
				c.Keyset = *keyset
			}
		})
		return c, nil
	}
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the configured backend: PostgreSQL for a postgres://
// URL, else the embedded store in the data directory. On PostgreSQL,
// nodeKey (from the keyset) proves the node's heartbeats and migrations to
// the lock watchdog; nil leaves migrations unproven.
func openStore(ctx context.Context, c config.Config, loc *time.Location, nodeKey []byte) (storage.Store, error) {
	if c.DB != "" {
		return postgres.Open(ctx, c.DB, postgres.Options{Location: loc, AppName: "fairslot " + c.NodeName(),
			LockTimeout: time.Duration(c.LockTimeout), StatementTimeout: time.Duration(c.StatementTimeout),
			IdleInTxTimeout: time.Duration(c.IdleInTxTimeout), NodeKey: nodeKey})
	}
	return sqlite.Open(c.DataDir, sqlite.Options{Location: loc, BusyTimeout: time.Duration(c.BusyTimeout), Synchronous: c.Synchronous,
		Replicated: c.Replica.Enabled()})
}

// open builds the service from a validated configuration. The store is
// watched (internal/storage/health): a full or read-only disk is logged
// once, counted, and keeps readiness off until a write works again. The
// caller closes the store.
func open(c config.Config, log *slog.Logger) (*app.Service, *health.Store, error) {
	loc, err := c.Location()
	if err != nil {
		return nil, nil, err
	}
	v, err := vault.Open(c.Keyset)
	if err != nil {
		return nil, nil, err
	}
	backend, err := openStore(context.Background(), c, loc, v.Key(postgres.NodeKeyPurpose))
	if err != nil {
		return nil, nil, err
	}
	st := health.New(backend, health.Options{Log: log, ProbeKey: "storage_probe:" + c.NodeName()})
	svc := &app.Service{Store: st, Vault: v, Policy: c.Booking, Release: c.Release, Calling: c.Queue, Payments: payment.NewSandbox(),
		Now: time.Now, Location: loc, Log: log, Display: app.NewBroker(), PhoneCountry: c.Notify.PhoneCountry,
		Privacy: c.Privacy.Policy(), OfferNextSession: c.CancelOffersNextSession,
		Reminders: app.ReminderPolicy{PayBefore: time.Duration(c.Notify.PayReminderBefore), DayBeforeAt: c.Notify.DayReminderAt},
		Referral:  c.Referral.Policy()}
	if c.Referral.ScreenerURL != "" {
		svc.Screener = &screener.HTTP{URL: c.Referral.ScreenerURL, Token: c.Referral.ScreenerToken, Timeout: time.Duration(c.Referral.ScreenerTimeout)}
	}
	return svc, st, nil
}

// schemaCurrent refuses to go on with a database behind the binary.
func schemaCurrent(ctx context.Context, st storage.Store) error {
	applied, latest, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if applied < latest {
		return fmt.Errorf("the database schema is at version %d but this binary needs %d: run 'fairslot migrate' first (or serve --migrate)", applied, latest)
	}
	if applied > latest {
		return fmt.Errorf("the database schema is at version %d, newer than this binary knows (%d): run a newer fairslot", applied, latest)
	}
	return nil
}

// loadConfig parses a command's flags (the shared ones, plus any the caller
// registered on fs) and returns the configuration they give.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (config.Config, error) {
	fs.SetOutput(stderr)
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return load()
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	printSQL := fs.Bool("print-sql", false, "PostgreSQL: print the schema and roles SQL for a DBA instead of applying it")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if *printSQL {
		sql, err := postgres.MigrationsSQL()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "BEGIN;\n%s\n-- roles and grants\n%s\nCOMMIT;\n", sql, postgres.RolesSQL)
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	loc, err := c.Location()
	if err != nil {
		return err
	}
	// Migrating needs the database only: no keyset is created. When one
	// exists, a PostgreSQL migration proves itself with it to the nodes'
	// lock watchdogs, which then leave it alone; without, a migration that
	// blocks online work is ended like any other blocker.
	var nodeKey []byte
	if c.DB != "" {
		if _, err := os.Stat(c.Keyset); err == nil {
			v, err := vault.Open(c.Keyset)
			if err != nil {
				return err
			}
			nodeKey = v.Key(postgres.NodeKeyPurpose)
		} else {
			fmt.Fprintf(stderr, "no keyset at %s: this migration cannot prove itself to the lock watchdog, which ends it if it blocks registration\n", c.Keyset)
		}
	}
	st, err := openStore(ctx, c, loc, nodeKey)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if pg, ok := st.(*postgres.Store); ok {
		// --db is here an administrator's URL: the roles are created and the
		// schema handed to the owner. serve then connects as fairslot_online.
		if err := pg.SetupRoles(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "roles %s, %s and %s set up\n", postgres.OwnerRole, postgres.OnlineRole, postgres.WatchdogRole)
		warnings, err := pg.RoleWarnings(ctx)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	applied, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema at version %d\n", applied)
	return nil
}

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := loadConfig(flag.NewFlagSet("config", flag.ContinueOnError), args, stderr)
	if err != nil {
		return err
	}
	stdout.Write(append(c.JSON(), '\n'))
	return c.Validate()
}
