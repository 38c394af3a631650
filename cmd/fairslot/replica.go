package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/replica"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/vault"
)

// replicaTarget is the configuration's replica target.
func replicaTarget(r config.Replica) replica.Target {
	if s := r.S3; s != nil {
		return replica.Target{S3: replicaS3(s)}
	}
	return replica.Target{Dir: r.Dir}
}

func replicaS3(s *config.S3) *replica.S3 {
	if s == nil {
		return nil
	}
	return &replica.S3{Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Insecure: s.Insecure}
}

// startReplica starts the continuous replication of the embedded database
// when replica.dir or replica.s3 is set (SQLite is one node: no job leader
// is involved), with its metrics registered; nil when not configured. The
// database must be migrated and opened with sqlite.Options.Replicated
// (openStore does, from the same configuration).
func startReplica(ctx context.Context, c config.Config, log *slog.Logger, metrics *prometheus.Registry) (*replica.Replicator, error) {
	if !c.Replica.Enabled() || c.DB != "" {
		return nil, nil
	}
	r, err := replica.Start(ctx, replica.Options{DB: filepath.Join(c.DataDir, sqlite.FileName), Target: replicaTarget(c.Replica),
		SyncInterval: time.Duration(c.Replica.SyncInterval), Retention: time.Duration(c.Replica.Retention), Log: log})
	if err != nil {
		return nil, err
	}
	metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_replica_last_sync_timestamp_seconds",
			Help: "When the replica last held every transaction of the database (Unix time; 0: not yet)."},
			func() float64 {
				if s := r.Stats(); !s.LastSync.IsZero() {
					return float64(s.LastSync.Unix())
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_replica_lag_seconds",
			Help: "How long the replica has been behind the database (0: caught up); an ALERT is logged past 20 sync intervals."},
			func() float64 { return r.Stats().Lag.Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_replica_failures_total",
			Help: "Replication errors (each also logged as an ALERT)."},
			func() float64 { return float64(r.Stats().Failures) }))
	return r, nil
}

// stopReplica ships what is left and stops, logging a failure.
func stopReplica(r *replica.Replicator, log *slog.Logger) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		log.Error("ALERT: replication did not finish shipping the last writes", "err", err)
	}
}

// runReplicaRestore is 'fairslot restore --replica': the keyset (which the
// replica never holds) must already be at --keyset.
func runReplicaRestore(ctx context.Context, c config.Config, from, at string, force bool, stdout io.Writer) error {
	if c.DB != "" {
		return errors.New("restore --replica is for the embedded SQLite store; PostgreSQL recovers from its own WAL archive (docs/recovery.md)")
	}
	var when time.Time
	if at != "" {
		var err error
		if when, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return fmt.Errorf("--at %q: give an RFC 3339 time, e.g. 2026-12-01T08:15:00+07:00: %w", at, err)
		}
	}
	target, err := replica.ParseTarget(from, replicaS3(c.Replica.S3))
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.Keyset); err != nil {
		return fmt.Errorf("restore --replica: no keyset at %s: the replica holds no keys; restore them first (an archive restore with --keys) or give --keyset: %w", c.Keyset, err)
	}
	if _, err := os.Stat(vault.AuditKeyPath(c.Keyset)); err != nil {
		return fmt.Errorf("restore --replica: no audit key beside the keyset (%s): it verifies the restored audit log: %w", vault.AuditKeyPath(c.Keyset), err)
	}
	auditKey, err := vault.AuditSigningKey(c.Keyset)
	if err != nil {
		return err
	}
	witnessed, err := readWitnesses(c) // audit.go
	if err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	loc, err := c.Location()
	if err != nil {
		return err
	}
	res, err := replica.Restore(ctx, replica.RestoreOptions{Target: target, At: when, DataDir: c.DataDir, Force: force, Location: loc,
		AuditKey: auditKey, Witnessed: witnessed, Report: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  took         %s\nRESTORED: start the server with 'fairslot serve' on this data directory and keyset\n", res.Took.Round(time.Millisecond))
	return nil
}
