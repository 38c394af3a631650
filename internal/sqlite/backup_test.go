package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

func TestSnapshotWhileOpen(t *testing.T) {
	ctx := context.Background()
	st := openTestAt(t, t.TempDir())
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	path := filepath.Join(out, sqlite.FileName)
	if err := st.Snapshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file %v, %v; want mode 0600", fi, err)
	}
	if err := st.Snapshot(ctx, path); err == nil {
		t.Error("a snapshot over an existing file succeeded")
	}
	cp := openTestAt(t, out)
	got, err := cp.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) != len(want) || got["schema_migrations"] != want["schema_migrations"] {
		t.Errorf("snapshot counts %v, want %v", got, want)
	}
	applied, latest, err := cp.SchemaVersion(ctx)
	if err != nil || applied != latest {
		t.Errorf("snapshot schema %d of %d, %v", applied, latest, err)
	}
}

// TestSnapshotPacedIsOneSnapshot copies a page at a time while a writer
// commits between every two pages: the copy is the database as it was when
// the copy began, whole, and the writer was never blocked.
func TestSnapshotPacedIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	st := openTestAt(t, t.TempDir())
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	appendAudit := func(i int) error {
		return st.Update(ctx, func(tx storage.Tx) error {
			return tx.AppendAudit(ctx, &audit.Event{At: time.Now(), Actor: "system", Action: "test.event", Subject: fmt.Sprint("n:", i)})
		})
	}
	for i := range 200 {
		if err := appendAudit(i); err != nil {
			t.Fatal(err)
		}
	}
	want, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	path := filepath.Join(out, sqlite.FileName)
	yields := 0
	err = st.SnapshotPaced(ctx, path, 1, func(context.Context) error {
		if yields++; yields > 5000 {
			return errors.New("the copy restarts on every commit: it never ends")
		}
		return appendAudit(1000 + yields) // a commit mid-copy
	})
	if err != nil {
		t.Fatal(err)
	}
	if yields < 2 {
		t.Fatalf("%d yields copying a page at a time; want the copy in several steps", yields)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file %v, %v; want mode 0600", fi, err)
	}
	if err := st.SnapshotPaced(ctx, path, 1, func(context.Context) error { return nil }); err == nil {
		t.Error("a snapshot over an existing file succeeded")
	}
	live, err := st.TableCounts(ctx)
	if err != nil || live["audit_events"] != want["audit_events"]+int64(yields) {
		t.Fatalf("live audit_events %d, %v; want %d: the writes between steps committed", live["audit_events"], err, want["audit_events"]+int64(yields))
	}
	cp := openTestAt(t, out)
	got, err := cp.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("snapshot has %d tables, want %d", len(got), len(want))
	}
	for table, n := range want {
		if got[table] != n {
			t.Errorf("%s: %d rows in the snapshot, want %d (as when it began)", table, got[table], n)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check of the copy: %q, %v", check, err)
	}
}

// TestSnapshotPacedStops: an error from yield (a cancelled backup) ends
// the copy and leaves no partial file.
func TestSnapshotPacedStops(t *testing.T) {
	ctx := context.Background()
	st := openTestAt(t, t.TempDir())
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	stop := errors.New("stop")
	err := st.SnapshotPaced(ctx, path, 1, func(context.Context) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err %v, want the yield's", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a stopped copy left %s (%v)", path, err)
	}
}
