package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// driverCase makes SQLite fail on a database of its own and returns the
// driver's error, so that formatError is tested on what SQLite really
// returns (the driver's error values cannot be made otherwise).
type driverCase struct {
	name string
	make func(t *testing.T, dir string) error
	want storage.Reason // "" with busy: ErrBusy; "" without: unchanged
	busy bool
}

func exec(db *sql.DB, q string) error { _, err := db.Exec(q); return err }

func openRaw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestFormatErrorOnDriverErrors(t *testing.T) {
	cases := []driverCase{
		{name: "page limit reached (SQLITE_FULL)", want: storage.DiskFull, make: func(t *testing.T, dir string) error {
			db := openRaw(t, "file:"+filepath.Join(dir, "f.db"))
			if err := exec(db, `CREATE TABLE t (v BLOB)`); err != nil {
				t.Fatal(err)
			}
			var pages int
			db.QueryRow(`PRAGMA page_count`).Scan(&pages)
			if err := exec(db, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
				t.Fatal(err)
			}
			return exec(db, `INSERT INTO t VALUES (zeroblob(100000))`)
		}},
		{name: "read-only database (SQLITE_READONLY)", want: storage.ReadOnly, make: func(t *testing.T, dir string) error {
			path := filepath.Join(dir, "ro.db")
			if err := exec(openRaw(t, "file:"+path), `CREATE TABLE t (v)`); err != nil {
				t.Fatal(err)
			}
			return exec(openRaw(t, "file:"+path+"?mode=ro"), `INSERT INTO t VALUES (1)`)
		}},
		{name: "cannot open (SQLITE_CANTOPEN)", want: storage.CannotOpen, make: func(t *testing.T, dir string) error {
			return openRaw(t, "file:"+filepath.Join(dir, "no", "such", "dir.db")).Ping()
		}},
		{name: "not a database (SQLITE_NOTADB)", want: storage.CannotOpen, make: func(t *testing.T, dir string) error {
			path := filepath.Join(dir, "junk.db")
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database file ", 400)), 0o600); err != nil {
				t.Fatal(err)
			}
			return exec(openRaw(t, "file:"+path), `SELECT * FROM sqlite_master`)
		}},
		{name: "locked by another connection (SQLITE_BUSY)", busy: true, make: func(t *testing.T, dir string) error {
			path := filepath.Join(dir, "busy.db")
			holder := openRaw(t, "file:"+path+"?_pragma=journal_mode(WAL)")
			if err := exec(holder, `CREATE TABLE t (v)`); err != nil {
				t.Fatal(err)
			}
			conn, err := holder.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			return exec(openRaw(t, "file:"+path+"?_pragma=busy_timeout(0)"), `INSERT INTO t VALUES (1)`)
		}},
		{name: "a unique violation stays as it is", make: func(t *testing.T, dir string) error {
			db := openRaw(t, "file:"+filepath.Join(dir, "u.db"))
			exec(db, `CREATE TABLE t (v UNIQUE)`)
			exec(db, `INSERT INTO t VALUES (1)`)
			return exec(db, `INSERT INTO t VALUES (1)`)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.make(t, t.TempDir())
			if raw == nil {
				t.Fatal("the driver returned no error; the case proves nothing")
			}
			err := formatError(fmt.Errorf("context: %w", raw))
			f := storage.FaultOf(err)
			switch {
			case c.want != "":
				if f == nil || f.Reason != c.want {
					t.Fatalf("formatError(%v) = %v, want a %s fault", raw, err, c.want)
				}
				if fairslot.ErrorKind(err) != fairslot.Unavailable || fairslot.ErrorMessage(err) != storage.ErrUnwritable.Message ||
					fairslot.RetryAfter(err) <= 0 {
					t.Errorf("a %s fault reads as %s %q (retry after %v); want unavailable with ErrUnwritable's message and a retry time",
						c.want, fairslot.ErrorKind(err), fairslot.ErrorMessage(err), fairslot.RetryAfter(err))
				}
				if !errors.Is(err, raw) {
					t.Errorf("the fault lost the driver's error %v", raw)
				}
			case c.busy:
				if !errors.Is(err, storage.ErrBusy) || f != nil {
					t.Errorf("formatError(%v) = %v, want ErrBusy and no fault", raw, err)
				}
			default:
				if err.Error() != "context: "+raw.Error() || f != nil || fairslot.ErrorKind(err) != fairslot.Internal {
					t.Errorf("formatError(%v) = %v, want it unchanged (internal)", raw, err)
				}
			}
		})
	}
}

// setPageLimit caps the writer connection's database at its current size
// plus extra pages: a disk that is full for this store alone, without root.
func setPageLimit(t *testing.T, s *Store, extra int) {
	t.Helper()
	var pages int
	if err := s.write.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+extra)); err != nil {
		t.Fatal(err)
	}
}

// TestFullDiskFailsEveryWriteOfItsBatchClearly fills the database (a page
// limit on the writer's connection) under a burst of concurrent writes that
// share group commits: every write either succeeded and is there, or failed
// with a disk-full fault (503), never with an internal error; reads go on;
// once there is room, writes succeed again.
func TestFullDiskFailsEveryWriteOfItsBatchClearly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	setPageLimit(t, s, 8)
	value := strings.Repeat("x", 3000) // most of a page each
	const writers = 64
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(tx storage.Tx) error {
				return tx.PutSetting(ctx, fmt.Sprint("k", i), value)
			})
		})
	}
	wg.Wait()
	var ok, full int
	for i, err := range errs {
		switch f := storage.FaultOf(err); {
		case err == nil:
			ok++
		case f != nil && f.Reason == storage.DiskFull:
			full++
		default:
			t.Errorf("write %d: %v, want success or a disk-full fault", i, err)
		}
	}
	if full == 0 {
		t.Fatalf("no write found the database full (%d succeeded): the test proves nothing", ok)
	}
	err = s.View(ctx, func(tx storage.Tx) error {
		for i, werr := range errs {
			v, err := tx.Setting(ctx, fmt.Sprint("k", i))
			if werr == nil && v != value {
				t.Errorf("write %d was acknowledged but reads back %q, %v", i, v[:min(len(v), 10)], err)
			}
			if werr != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
				t.Errorf("write %d failed but its change is there (%v)", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("reads on a full database: %v", err)
	}
	t.Logf("%d writes succeeded, %d found the database full", ok, full)

	setPageLimit(t, s, 1000)
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, "after", value) }); err != nil {
		t.Errorf("a write once there is room: %v", err)
	}
}
