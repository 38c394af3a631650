package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
)

// Replica configures the continuous replication of the embedded SQLite
// database with Litestream (issue 15): every committed transaction is
// shipped to Dir or S3 within about SyncInterval, and 'fairslot restore
// --replica' brings the database back to its newest state or a point in
// time. PostgreSQL's continuous protection is its own WAL archiving
// (docs/recovery.md), not this.
type Replica struct {
	// Dir is a directory replica (another volume or host).
	Dir string `json:"dir"`
	// S3 is an S3-compatible bucket replica. Unlike the backups' bucket,
	// the credentials must be able to delete: Litestream compacts its
	// small files into larger ones and removes what retention drops.
	// lock_mode is not supported here.
	S3 *S3 `json:"s3"`
	// SyncInterval is how often the WAL is read and shipped (default
	// 250ms): a write acknowledged more than about twice this before the
	// data directory is lost is in the replica.
	SyncInterval fairslot.Duration `json:"sync_interval"`
	// Retention is how long snapshots, and so points in time to restore
	// to, are kept (default 24h).
	Retention fairslot.Duration `json:"retention"`
}

// Enabled says whether serve replicates.
func (r Replica) Enabled() bool { return r.Dir != "" || r.S3 != nil }

func defaultReplica() Replica {
	return Replica{SyncInterval: fairslot.Duration(250 * time.Millisecond), Retention: fairslot.Duration(24 * time.Hour)}
}

func (r Replica) validate(dataDir, db string) error {
	if !r.Enabled() {
		return nil
	}
	if db != "" {
		return fmt.Errorf("config: replica is the embedded SQLite store's continuous replication; PostgreSQL's is its own WAL archiving (docs/recovery.md)")
	}
	if r.Dir != "" && r.S3 != nil {
		return fmt.Errorf("config: replica needs exactly one target: replica.dir or replica.s3")
	}
	if r.SyncInterval < fairslot.Duration(10*time.Millisecond) || r.SyncInterval > fairslot.Duration(time.Minute) {
		return fmt.Errorf("config: replica.sync_interval must be between 10ms and 1m")
	}
	if r.Retention < fairslot.Duration(time.Hour) {
		return fmt.Errorf("config: replica.retention must be at least 1h")
	}
	if r.Dir != "" {
		if in, err := Within(dataDir, r.Dir); err != nil {
			return fmt.Errorf("config: cannot resolve replica.dir: %v", err)
		} else if in {
			return fmt.Errorf("config: replica.dir %s is inside the data directory %s: put the replica on another volume or host", r.Dir, dataDir)
		}
		if in, err := Within(r.Dir, dataDir); err != nil {
			return fmt.Errorf("config: cannot resolve replica.dir: %v", err)
		} else if in {
			return fmt.Errorf("config: the data directory %s is inside replica.dir %s", dataDir, r.Dir)
		}
	}
	if s := r.S3; s != nil {
		if s.Endpoint == "" || s.Bucket == "" {
			return fmt.Errorf("config: replica.s3 needs endpoint and bucket")
		}
		if strings.Contains(s.Endpoint, "/") {
			return fmt.Errorf("config: replica.s3.endpoint is host:port, not a URL (insecure: true for plain HTTP)")
		}
		if s.LockMode != "" || s.LockFor != 0 {
			return fmt.Errorf("config: replica.s3 takes no lock_mode: Litestream deletes what it compacts (object lock belongs on the backups' bucket)")
		}
	}
	return nil
}

func (r Replica) redacted() Replica {
	if r.S3 != nil {
		s := *r.S3
		if s.SecretKey != "" {
			s.SecretKey = "REDACTED"
		}
		r.S3 = &s
	}
	return r
}
