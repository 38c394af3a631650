package config

import (
	"fmt"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/fairslot/fairslot"
)

// Backup configures 'fairslot backup', 'fairslot keys export' and the
// backups the job leader takes on a schedule while serving (issue 15).
type Backup struct {
	// Recipients are the age X25519 public keys (age1...) every archive
	// and keyset export is encrypted to. Their identities (private keys)
	// must never be on the server: it cannot read its own backups.
	Recipients []string `json:"recipients"`

	// Every is how often the job leader takes a backup while serving; 0
	// (the default) takes none. It needs a destination: Dir or S3.
	Every fairslot.Duration `json:"every"`
	// Keep is the retention policy for a directory destination: an
	// archive is kept while it is the first of its period (every) and
	// younger than keep_for under any rule. The newest is always kept.
	// Empty keeps everything. An S3 bucket's own lifecycle and object lock
	// decide there: the server never deletes from S3.
	Keep []KeepRule `json:"keep"`
	// Dir is a directory destination (another volume or host).
	Dir string `json:"dir"`
	// S3 is an S3-compatible bucket destination.
	S3 *S3 `json:"s3"`
	// DB is, on PostgreSQL, the URL pg_dump connects with for scheduled
	// backups: the owner role's (env FAIRSLOT_BACKUP_DB).
	DB string `json:"db"`
	// Duty paces a backup taken while serving (the scheduled ones, and
	// 'fairslot backup --pace'): the share of wall time it works, sleeping
	// the rest between chunks so the bookings keep the CPU. 0 (the
	// default) is 0.25 (BENCHMARKS.md, booking latency while backups
	// run); 1 goes at full speed. A scheduled backup stops
	// pausing after half its interval, so pacing never makes it late.
	Duty float64 `json:"duty"`
}

// DefaultBackupDuty is backup.duty's default.
const DefaultBackupDuty = 0.25

// BackupDuty is backup.duty with its default applied.
func (b Backup) BackupDuty() float64 {
	if b.Duty == 0 {
		return DefaultBackupDuty
	}
	return b.Duty
}

// KeepRule keeps one archive per Every for KeepFor.
type KeepRule struct {
	Every   fairslot.Duration `json:"every"`
	KeepFor fairslot.Duration `json:"keep_for"`
}

// S3 is an S3-compatible bucket written with credentials that may add
// objects but neither delete nor overwrite them.
type S3 struct {
	Endpoint  string `json:"endpoint"` // host:port
	Bucket    string `json:"bucket"`
	Prefix    string `json:"prefix"`
	Region    string `json:"region"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"` // env FAIRSLOT_BACKUP_S3_SECRET_KEY
	// Insecure talks plain HTTP (a test server, or a bucket on the same
	// trusted network).
	Insecure bool `json:"insecure"`
	// LockMode ("GOVERNANCE" or "COMPLIANCE") and LockFor set an object
	// lock retention on every object uploaded; the bucket must have
	// object lock enabled.
	LockMode string            `json:"lock_mode"`
	LockFor  fairslot.Duration `json:"lock_for"`
}

func (b Backup) validate(dataDir, db string) error {
	if _, err := b.AgeRecipients(); err != nil {
		return err
	}
	if !(b.Duty >= 0 && b.Duty <= 1) {
		return fmt.Errorf("config: backup.duty must be between 0 and 1 (the share of time a backup taken while serving works; 0: the default 0.25, 1: full speed)")
	}
	if b.Every == 0 {
		return nil
	}
	if b.Every < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: backup.every must be at least 1s (or 0: no scheduled backups)")
	}
	if len(b.Recipients) == 0 {
		return fmt.Errorf("config: backup.every needs backup.recipients (age public keys)")
	}
	if db != "" && b.DB == "" {
		return fmt.Errorf("config: backup.every on PostgreSQL needs backup.db, the owner role's URL pg_dump runs with (env FAIRSLOT_BACKUP_DB)")
	}
	if (b.Dir == "") == (b.S3 == nil) {
		return fmt.Errorf("config: backup.every needs exactly one destination: backup.dir or backup.s3")
	}
	for _, k := range b.Keep {
		if k.Every <= 0 || k.KeepFor <= 0 {
			return fmt.Errorf("config: backup.keep: every and keep_for must be positive")
		}
	}
	if b.Dir != "" {
		if in, err := Within(dataDir, b.Dir); err != nil {
			return fmt.Errorf("config: cannot resolve backup.dir: %v", err)
		} else if in {
			return fmt.Errorf("config: backup.dir %s is inside the data directory %s: put backups on another volume or host", b.Dir, dataDir)
		}
	}
	if s := b.S3; s != nil {
		if s.Endpoint == "" || s.Bucket == "" {
			return fmt.Errorf("config: backup.s3 needs endpoint and bucket")
		}
		if strings.Contains(s.Endpoint, "/") {
			return fmt.Errorf("config: backup.s3.endpoint is host:port, not a URL (insecure: true for plain HTTP)")
		}
		switch s.LockMode {
		case "":
		case "GOVERNANCE", "COMPLIANCE":
			if s.LockFor <= 0 {
				return fmt.Errorf("config: backup.s3.lock_mode needs a positive lock_for")
			}
		default:
			return fmt.Errorf("config: backup.s3.lock_mode must be GOVERNANCE or COMPLIANCE")
		}
	}
	return nil
}

func (b Backup) redacted() Backup {
	b.DB = redactURL(b.DB)
	if b.S3 != nil {
		s := *b.S3
		if s.SecretKey != "" {
			s.SecretKey = "REDACTED"
		}
		b.S3 = &s
	}
	return b
}

// AgeRecipients parses the recipients.
func (b Backup) AgeRecipients() ([]age.Recipient, error) {
	out := make([]age.Recipient, 0, len(b.Recipients))
	for _, r := range b.Recipients {
		x, err := age.ParseX25519Recipient(r)
		if err != nil {
			return nil, fmt.Errorf("config: backup.recipients: %q is not an age X25519 public key (age1...): %v", r, err)
		}
		out = append(out, x)
	}
	return out, nil
}
