package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/config"
)

// TestReplicaValidate: a replica that could not protect anything, or
// would be lost with the data, is refused at start with a clear message.
func TestReplicaValidate(t *testing.T) {
	dir := t.TempDir()
	s3 := func() *config.S3 { return &config.S3{Endpoint: "s3.example:443", Bucket: "b"} }
	tests := []struct {
		name string
		mod  func(*config.Config)
		want string // "" valid; else a part of the message
	}{
		{"off", func(*config.Config) {}, ""},
		{"a directory elsewhere", func(c *config.Config) { c.Replica.Dir = filepath.Join(dir, "replica") }, ""},
		{"a bucket", func(c *config.Config) { c.Replica.S3 = s3() }, ""},
		{"inside the data directory", func(c *config.Config) { c.Replica.Dir = filepath.Join(c.DataDir, "replica") }, "inside the data directory"},
		{"the data directory itself", func(c *config.Config) { c.Replica.Dir = c.DataDir }, "inside the data directory"},
		{"around the data directory", func(c *config.Config) { c.Replica.Dir = filepath.Dir(c.DataDir) }, "is inside replica.dir"},
		{"both targets", func(c *config.Config) { c.Replica.Dir = filepath.Join(dir, "r"); c.Replica.S3 = s3() }, "exactly one target"},
		{"on PostgreSQL", func(c *config.Config) { c.DB = "postgres://h/db"; c.Replica.Dir = filepath.Join(dir, "r") }, "WAL archiving"},
		{"object lock", func(c *config.Config) {
			c.Replica.S3 = s3()
			c.Replica.S3.LockMode, c.Replica.S3.LockFor = "COMPLIANCE", fairslot.Duration(time.Hour)
		}, "no lock_mode"},
		{"an endpoint URL", func(c *config.Config) { c.Replica.S3 = s3(); c.Replica.S3.Endpoint = "https://s3.example" }, "host:port"},
		{"no bucket", func(c *config.Config) { c.Replica.S3 = s3(); c.Replica.S3.Bucket = "" }, "endpoint and bucket"},
		{"no interval", func(c *config.Config) { c.Replica.Dir = filepath.Join(dir, "r"); c.Replica.SyncInterval = 0 }, "sync_interval"},
		{"a minute and more", func(c *config.Config) {
			c.Replica.Dir = filepath.Join(dir, "r")
			c.Replica.SyncInterval = fairslot.Duration(2 * time.Minute)
		}, "sync_interval"},
		{"no retention", func(c *config.Config) { c.Replica.Dir = filepath.Join(dir, "r"); c.Replica.Retention = 0 }, "retention"},
	}
	for _, tt := range tests {
		c := config.Default()
		c.DataDir, c.Keyset = filepath.Join(dir, "data"), filepath.Join(dir, "keyset.json")
		tt.mod(&c)
		err := c.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestReplicaFromEnvAndRedacted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fairslot.json")
	if err := os.WriteFile(file, []byte(`{"replica": {"s3": {"endpoint": "s3.example:443", "bucket": "b", "access_key": "rw"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FAIRSLOT_REPLICA_S3_SECRET_KEY": "from-env"}
	c, err := config.Load(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Replica.S3.SecretKey != "from-env" || !c.Replica.Enabled() || c.Replica.SyncInterval != fairslot.Duration(250*time.Millisecond) {
		t.Errorf("Load = %+v; want the secret from the environment and the default interval", c.Replica)
	}
	if r := c.Redacted(); r.Replica.S3.SecretKey != "REDACTED" || c.Replica.S3.SecretKey != "from-env" {
		t.Errorf("Redacted = %q (original now %q)", r.Replica.S3.SecretKey, c.Replica.S3.SecretKey)
	}
	c, err = config.Load("", func(k string) string { return map[string]string{"FAIRSLOT_REPLICA_DIR": "/mnt/r"}[k] })
	if err != nil || c.Replica.Dir != "/mnt/r" {
		t.Errorf("FAIRSLOT_REPLICA_DIR: %q, %v", c.Replica.Dir, err)
	}
}
