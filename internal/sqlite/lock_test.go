package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestForeignLockFailsWritesFastAndKeepsReads holds the write lock from a
// connection outside the store, as another process would.
func TestForeignLockFailsWritesFastAndKeepsReads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(dir, sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	write := func() error {
		return s.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, "k", "v") })
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}

	rogue, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	conn, err := rogue.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	err = write()
	if fairslot.ErrorKind(err) != fairslot.Unavailable {
		t.Errorf("write under a foreign lock: %v, want kind unavailable", err)
	}
	if msg := fairslot.ErrorMessage(err); msg != sqlite.ErrBusy.Message {
		t.Errorf("message = %q, want %q", msg, sqlite.ErrBusy.Message)
	}
	if err := s.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Setting(ctx, "k")
		if v != "v" {
			t.Errorf("read under a foreign lock = %q, %v", v, err)
		}
		return err
	}); err != nil {
		t.Errorf("reads stopped under a foreign write lock: %v", err)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Errorf("write after the lock was released: %v", err)
	}
}

func TestFilesAreOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := openTestAt(t, dir)
	s.Close()
	for _, p := range []string{dir, filepath.Join(dir, sqlite.FileName)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group or others", p, fi.Mode().Perm())
		}
	}
}

func openTestAt(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}
