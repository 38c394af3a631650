// Package replica replicates the embedded SQLite database continuously with
// Litestream (used as a library) to a directory or an S3-compatible bucket,
// and restores it, to its newest state or to a point in time, into an empty
// data directory checked as an archive restore is (internal/backup).
//
// The replica holds the database's pages as they are: whatever the
// database file holds, the replica holds, no more. Personal fields are
// sealed by internal/vault before they reach the database, so neither
// holds them readable; the keyset never goes to the replica. It must never
// checkpoint, truncate or restart the WAL itself: Litestream decides when
// the WAL is checkpointed (the writer's automatic checkpoints are off while
// replicating, internal/sqlite Options.Replicated).
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/file"
	"github.com/benbjohnson/litestream/s3"
)

// Target is where the replica lives: exactly one of Dir and S3.
type Target struct {
	Dir string
	S3  *S3
}

// S3 is an S3-compatible bucket (path-style), with credentials that may
// read, write and delete under Prefix.
type S3 struct {
	Endpoint  string // host:port
	Bucket    string
	Prefix    string
	Region    string
	AccessKey string
	SecretKey string
	Insecure  bool // plain HTTP
}

// String names the target without its credentials.
func (t Target) String() string {
	if t.S3 != nil {
		return "s3://" + t.S3.Bucket + "/" + t.S3.Prefix + " at " + t.S3.Endpoint
	}
	return t.Dir
}

// client is the target's Litestream replica client.
func (t Target) client() (litestream.ReplicaClient, error) {
	switch {
	case t.S3 != nil && t.Dir == "":
		s := t.S3
		if s.Endpoint == "" || s.Bucket == "" {
			return nil, errors.New("replica: an S3 replica needs an endpoint and a bucket")
		}
		if os.Getenv("AWS_CA_BUNDLE") != "" {
			// The AWS SDK then fails inside Litestream's client with "unable
			// to add custom RootCAs HTTPClient": say what to do instead.
			return nil, errors.New("replica: AWS_CA_BUNDLE is set, which Litestream's S3 client cannot use: unset it for fairslot and put the CA in SSL_CERT_FILE (or the system's store)")
		}
		c := s3.NewReplicaClient()
		c.Bucket, c.Path, c.Region = s.Bucket, strings.Trim(s.Prefix, "/"), s.Region
		if c.Region == "" {
			c.Region = "us-east-1"
		}
		c.AccessKeyID, c.SecretAccessKey = s.AccessKey, s.SecretKey
		scheme := "https://"
		if s.Insecure {
			scheme = "http://"
		}
		c.Endpoint, c.ForcePathStyle = scheme+s.Endpoint, true
		return c, nil
	case t.Dir != "" && t.S3 == nil:
		abs, err := filepath.Abs(t.Dir)
		if err != nil {
			return nil, fmt.Errorf("replica: %w", err)
		}
		return file.NewReplicaClient(abs), nil
	}
	return nil, errors.New("replica: give exactly one target: a directory or an S3 bucket")
}

// ParseTarget reads the --replica argument of restore: a directory, or
// s3://BUCKET/PREFIX whose endpoint, region and credentials come from
// base (the configuration's replica.s3).
func ParseTarget(arg string, base *S3) (Target, error) {
	if !strings.HasPrefix(arg, "s3://") {
		if strings.Contains(arg, "://") {
			return Target{}, fmt.Errorf("replica: %q: give a directory or s3://BUCKET/PREFIX", arg)
		}
		return Target{Dir: arg}, nil
	}
	u, err := url.Parse(arg)
	if err != nil || u.Host == "" {
		return Target{}, fmt.Errorf("replica: %q is not s3://BUCKET/PREFIX", arg)
	}
	if base == nil || base.Endpoint == "" {
		return Target{}, errors.New("replica: an s3:// replica needs replica.s3 in the configuration (endpoint, region, access_key; secret in FAIRSLOT_REPLICA_S3_SECRET_KEY)")
	}
	s := *base
	s.Bucket, s.Prefix = u.Host, strings.Trim(u.Path, "/")
	return Target{S3: &s}, nil
}

// Options configure a Replicator.
type Options struct {
	// DB is the database file (the data directory's fairslot.db); it must
	// exist, migrated, and be opened with Options.Replicated.
	DB     string
	Target Target
	// SyncInterval is how often the WAL is read and the replica written
	// (default 250ms).
	SyncInterval time.Duration
	// Retention is how long snapshots are kept (default 24h).
	Retention time.Duration
	// AlertAfter is how far behind the replica may fall before an ALERT
	// (default 20 sync intervals, at least 5s).
	AlertAfter time.Duration
	Log        *slog.Logger
}

// Stats is what the metrics show.
type Stats struct {
	// LastSync is when the replica last held every transaction the
	// database had (zero: not yet).
	LastSync time.Time
	// Lag is how long the replica has been behind the database (0: caught
	// up).
	Lag time.Duration
	// Failures counts replication errors Litestream reported.
	Failures int64
}

// Replicator ships the database's WAL to the target.
type Replicator struct {
	o     Options
	db    *litestream.DB
	store *litestream.Store

	failures atomic.Int64
	mu       sync.Mutex
	lastSync time.Time
	behind   time.Time // when it was first seen behind; zero: caught up
	alerted  bool

	stop chan struct{}
	done chan struct{}
}

// Start begins replicating. The caller stops it with Close, after the
// last write (Close ships what is left).
func Start(ctx context.Context, o Options) (*Replicator, error) {
	if o.SyncInterval <= 0 {
		o.SyncInterval = 250 * time.Millisecond
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.AlertAfter <= 0 {
		o.AlertAfter = max(20*o.SyncInterval, 5*time.Second)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	client, err := o.Target.client()
	if err != nil {
		return nil, err
	}
	r := &Replicator{o: o, stop: make(chan struct{}), done: make(chan struct{})}
	r.db = litestream.NewDB(o.DB)
	r.db.MonitorInterval = o.SyncInterval
	rep := litestream.NewReplicaWithClient(r.db, client)
	rep.SyncInterval = o.SyncInterval
	r.db.Replica = rep
	r.store = litestream.NewStore([]*litestream.DB{r.db}, litestream.DefaultCompactionLevels)
	r.store.SnapshotRetention = o.Retention
	// Litestream's own errors become ALERTs in fairslot's log, counted.
	lg := slog.New(&alertHandler{next: o.Log.Handler(), failures: &r.failures}).With("job", "replica")
	r.store.Logger = lg
	r.db.SetLogger(lg)
	if err := r.store.Open(ctx); err != nil {
		return nil, fmt.Errorf("replica: start replicating %s to %s: %w", o.DB, o.Target, err)
	}
	go r.watch()
	o.Log.Info("replicating the database continuously", "to", o.Target.String(), "sync_interval", o.SyncInterval.String(), "retention", o.Retention.String())
	return r, nil
}

// SyncNow ships what the WAL holds now and waits until the replica has it.
func (r *Replicator) SyncNow(ctx context.Context) error {
	if err := r.db.Sync(ctx); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if err := r.db.Replica.Sync(ctx); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	return nil
}

// Close ships what is left and stops.
func (r *Replicator) Close(ctx context.Context) error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	if err := r.store.Close(ctx); err != nil {
		return fmt.Errorf("replica: close: %w", err)
	}
	return nil
}

// Stats reports the replica's state.
func (r *Replicator) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{LastSync: r.lastSync, Failures: r.failures.Load()}
	if !r.behind.IsZero() {
		s.Lag = time.Since(r.behind)
	}
	return s
}

// watch compares the database's and the replica's positions every sync
// interval: the lag metric, and an ALERT when the replica falls behind by
// more than AlertAfter (and a note when it catches up again).
func (r *Replicator) watch() {
	defer close(r.done)
	t := time.NewTicker(r.o.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		dpos, err := r.db.Pos()
		now := time.Now()
		r.mu.Lock()
		if err == nil && r.db.Replica.Pos().TXID >= dpos.TXID && !dpos.IsZero() {
			r.lastSync, r.behind = now, time.Time{}
			if r.alerted {
				r.alerted = false
				r.o.Log.Info("replica caught up", "to", r.o.Target.String(), "txid", dpos.TXID.String())
			}
		} else if r.behind.IsZero() {
			r.behind = now
		} else if lag := now.Sub(r.behind); lag > r.o.AlertAfter && !r.alerted {
			r.alerted = true
			r.o.Log.Error("ALERT: the replica is behind the database: acknowledged writes are not yet protected", "to", r.o.Target.String(),
				"lag", lag.Round(time.Millisecond).String(), "failures", r.failures.Load())
		}
		r.mu.Unlock()
	}
}

// alertHandler passes Litestream's records to fairslot's log, turning its
// errors into counted ALERTs.
type alertHandler struct {
	next     slog.Handler
	failures *atomic.Int64
}

func (h *alertHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *alertHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		h.failures.Add(1)
		r2 := slog.NewRecord(rec.Time, rec.Level, "ALERT: replication failed: "+rec.Message, rec.PC)
		rec.Attrs(func(a slog.Attr) bool { r2.AddAttrs(a); return true })
		rec = r2
	}
	return h.next.Handle(ctx, rec)
}

func (h *alertHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &alertHandler{next: h.next.WithAttrs(as), failures: h.failures}
}

func (h *alertHandler) WithGroup(name string) slog.Handler {
	return &alertHandler{next: h.next.WithGroup(name), failures: h.failures}
}
