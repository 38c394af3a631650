package replica

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// syncBuffer is a log buffer safe for Litestream's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestReplicationFailureAlerts: a replica that cannot be written (its
// directory is a file) is logged as ALERTs, counted, and its lag grows; the
// database goes on taking writes.
func TestReplicationFailureAlerts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fairslot.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(t.TempDir(), "not-a-directory")
	os.WriteFile(blocker, []byte("x"), 0o600)
	var logs syncBuffer
	r, err := Start(context.Background(), Options{DB: path, Target: Target{Dir: filepath.Join(blocker, "replica")},
		SyncInterval: 20 * time.Millisecond, AlertAfter: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	for i := 0; ; i++ {
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			t.Fatalf("a write failed while the replica is down: %v", err)
		}
		s := r.Stats()
		if s.Failures > 0 && s.Lag > 0 && strings.Contains(logs.String(), "ALERT: replication failed") &&
			strings.Contains(logs.String(), "ALERT: the replica is behind") {
			if !s.LastSync.IsZero() {
				t.Errorf("LastSync = %v with nothing ever replicated", s.LastSync)
			}
			return
		}
		if i == 3000 { // a guard on a hang, not a speed target
			t.Fatalf("no ALERT after %d writes: stats %+v\n%s", i, s, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplicationCatchesUp: a working replica reports no lag and a last
// sync once it holds every transaction, and no ALERT.
func TestReplicationCatchesUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fairslot.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	r, err := Start(context.Background(), Options{DB: path, Target: Target{Dir: filepath.Join(t.TempDir(), "replica")},
		SyncInterval: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if err := r.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if s := r.Stats(); !s.LastSync.IsZero() && s.Lag == 0 {
			break
		}
		if i == 3000 { // a guard on a hang
			t.Fatalf("never caught up: %+v\n%s", r.Stats(), logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := r.Stats(); s.Failures != 0 || strings.Contains(logs.String(), "ALERT") {
		t.Errorf("failures %d, log:\n%s", s.Failures, logs.String())
	}
}

func TestParseTarget(t *testing.T) {
	base := &S3{Endpoint: "s3.example:443", Region: "r", AccessKey: "a", SecretKey: "s"}
	if got, err := ParseTarget("s3://bucket/a/b/", base); err != nil || got.S3 == nil || got.S3.Bucket != "bucket" || got.S3.Prefix != "a/b" || got.S3.SecretKey != "s" {
		t.Errorf("ParseTarget(s3) = %+v, %v", got.S3, err)
	}
	if base.Bucket != "" {
		t.Error("ParseTarget changed the configuration's S3 settings")
	}
	if got, err := ParseTarget("/mnt/replica", nil); err != nil || got.Dir != "/mnt/replica" {
		t.Errorf("ParseTarget(dir) = %+v, %v", got, err)
	}
	for _, bad := range []string{"s3://", "http://host/x", "s3://bucket"} {
		b := base
		if bad == "s3://bucket" {
			b = nil // no endpoint configured
		}
		if _, err := ParseTarget(bad, b); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}
