package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fairslot/fairslot/internal/sqlite"
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
