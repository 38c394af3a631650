package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/backup"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/storage"
)

// backupScheduler is the scheduled backups of backup.every, taken through
// backend (the snapshot reads on a connection of its own or with pg_dump,
// never on the write path), with their metrics registered; nil when
// backup.every is 0.
func backupScheduler(c config.Config, backend storage.Store, log *slog.Logger, metrics *prometheus.Registry) (*backup.Scheduler, error) {
	b := c.Backup
	if b.Every == 0 {
		return nil, nil
	}
	recipients, err := b.AgeRecipients()
	if err != nil {
		return nil, err
	}
	key, err := backupKey(c) // backup.go
	if err != nil {
		return nil, fmt.Errorf("scheduled backups: %w", err)
	}
	var dest backup.Destination = backup.DirDestination{Dir: b.Dir}
	if s := b.S3; s != nil {
		client, err := backup.NewS3Client(backup.S3Config{Endpoint: s.Endpoint, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Insecure: s.Insecure})
		if err != nil {
			return nil, fmt.Errorf("backup.s3: %w", err)
		}
		dest = backup.S3Destination{Client: client, Bucket: s.Bucket, Prefix: s.Prefix, LockMode: minio.RetentionMode(s.LockMode), LockFor: time.Duration(s.LockFor)}
	}
	keep := make([]backup.KeepRule, len(b.Keep))
	for i, k := range b.Keep {
		keep[i] = backup.KeepRule{Every: time.Duration(k.Every), KeepFor: time.Duration(k.KeepFor)}
	}
	sched := &backup.Scheduler{
		Options: backup.Options{Store: backend, DataDir: c.DataDir, DB: b.DB, Recipients: recipients, Key: key, Node: c.NodeName(), Version: version,
			// Paced: it shares the CPU with the bookings, and stops pausing
			// after half the interval so that it is never late for pacing.
			Pace: backup.Pace{Duty: b.BackupDuty(), MaxPause: backup.DefaultMaxPause, Budget: time.Duration(b.Every) / 2}},
		Dest: dest, Every: time.Duration(b.Every), Keep: keep, Log: log.With("job", "backup"),
	}
	stat := func(f func(backup.Stats) float64) func() float64 { return func() float64 { return f(sched.Stats()) } }
	metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_backup_last_success_timestamp_seconds",
			Help: "When the newest scheduled backup this node knows of was taken (Unix time; 0: none yet)."},
			stat(func(s backup.Stats) float64 {
				if s.LastSuccess.IsZero() {
					return 0
				}
				return float64(s.LastSuccess.Unix())
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_backup_duration_seconds",
			Help: "How long this node's last successful scheduled backup took, upload and read-back included."},
			stat(func(s backup.Stats) float64 { return s.LastDuration.Seconds() })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_backup_failures_total",
			Help: "Scheduled backups this node attempted that failed (each also logs an ALERT)."},
			stat(func(s backup.Stats) float64 { return float64(s.Failures) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_backup_late",
			Help: "1 while this node, leading the jobs, has had no successful backup for more than twice backup.every."},
			stat(func(s backup.Stats) float64 {
				if s.Late {
					return 1
				}
				return 0
			})))
	log.Info("scheduled backups on", "every", sched.Every.String(), "dest", dest.String(), "keep_rules", len(keep))
	return sched, nil
}

// backupLoop runs the scheduled backups while this node leads the jobs,
// looking whether one is due every tenth of the interval (at most a
// minute, at least a tenth of a second).
func backupLoop(ctx context.Context, sched *backup.Scheduler, leading func() bool) {
	if sched == nil {
		return
	}
	sched.Run(ctx, min(max(sched.Every/10, 100*time.Millisecond), time.Minute), leading)
}
