package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
)

func TestFormatErrorMapsServerConditions(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want storage.Reason // a fault of this reason; "" for none
		kind fairslot.Kind
		busy bool
	}{
		{"disk full", pg("53100"), storage.DiskFull, fairslot.Unavailable, false},
		{"out of memory", pg("53200"), storage.OutOfMemory, fairslot.Unavailable, false},
		{"insufficient resources", pg("53000"), storage.OutOfMemory, fairslot.Unavailable, false},
		{"too many connections", pg("53300"), storage.TooManyConns, fairslot.Unavailable, false},
		{"configuration limit", pg("53400"), storage.TooManyConns, fairslot.Unavailable, false},
		{"read-only transaction (a standby)", pg("25006"), storage.ReadOnly, fairslot.Unavailable, false},
		{"I/O error", pg("58030"), storage.IOError, fairslot.Unavailable, false},
		{"data corrupted", pg("XX001"), storage.Corrupt, fairslot.Unavailable, false},
		{"a terminated session (the watchdog's, or an administrator's)", pg("57P01"), "", fairslot.Unavailable, true},
		{"crash shutdown", pg("57P02"), storage.Unreachable, fairslot.Unavailable, false},
		{"cannot connect now", pg("57P03"), storage.Unreachable, fairslot.Unavailable, false},
		{"connection failure", pg("08006"), storage.Unreachable, fairslot.Unavailable, false},
		{"connection exception", pg("08000"), storage.Unreachable, fairslot.Unavailable, false},
		{"a broken connection", fmt.Errorf("commit: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}), storage.Unreachable, fairslot.Unavailable, false},
		{"a connection closed under a statement", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), storage.Unreachable, fairslot.Unavailable, false},
		{"lock timeout", pg("55P03"), "", fairslot.Unavailable, true},
		{"deadlock", pg("40P01"), "", fairslot.Unavailable, true},
		{"statement timeout", pg("57014"), "", fairslot.Unavailable, true},
		{"a forbidden transition", pg("FS001"), "", fairslot.Conflict, false},
		{"a unique violation", pg("23505"), "", fairslot.Internal, false},
		{"the request's own cancellation", fmt.Errorf("begin: %w", context.Canceled), "", fairslot.Internal, false},
		{"the request's own deadline", fmt.Errorf("query: %w", &net.OpError{Op: "read", Err: context.DeadlineExceeded}), "", fairslot.Internal, false},
		{"a fairslot error passes", fairslot.Errorf(fairslot.NotFound, "x"), "", fairslot.NotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := formatError(tt.err)
			f := storage.FaultOf(err)
			if tt.want != "" {
				if f == nil || f.Reason != tt.want {
					t.Fatalf("formatError(%v) = %v, want a %s fault", tt.err, err, tt.want)
				}
				if fairslot.ErrorMessage(err) != storage.ErrUnwritable.Message || fairslot.RetryAfter(err) <= 0 {
					t.Errorf("a fault reads as %q, retry after %v; want ErrUnwritable's message and a retry time", fairslot.ErrorMessage(err), fairslot.RetryAfter(err))
				}
				if !errors.Is(err, tt.err) {
					t.Errorf("the fault lost the driver's error")
				}
			} else if f != nil {
				t.Errorf("formatError(%v) = a %s fault, want none", tt.err, f.Reason)
			}
			if got := fairslot.ErrorKind(err); got != tt.kind {
				t.Errorf("formatError(%v) has kind %s, want %s", tt.err, got, tt.kind)
			}
			if errors.Is(err, storage.ErrBusy) != tt.busy {
				t.Errorf("formatError(%v) is ErrBusy: %v, want %v", tt.err, errors.Is(err, storage.ErrBusy), tt.busy)
			}
		})
	}
}

// TestUnreachableServerIsAFault opens a store on a port nothing listens on:
// no server, so it runs without FAIRSLOT_TEST_POSTGRES.
func TestUnreachableServerIsAFault(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Open(context.Background(), "postgres://nobody@"+addr+"/none?sslmode=disable&connect_timeout=5", Options{})
	if f := storage.FaultOf(err); f == nil || f.Reason != storage.Unreachable {
		t.Errorf("Open on a closed port = %v, want an unreachable fault", err)
	}
}

func openFault(t *testing.T, dsn string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStandbyIsAReadOnlyFault connects with every transaction read-only, as
// on a standby: writes fail with a read-only fault, reads go on.
func TestStandbyIsAReadOnlyFault(t *testing.T) {
	ctx := context.Background()
	admin, _ := pgtest.Fresh(t)
	if err := openFault(t, admin, Options{}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(admin)
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	s := openFault(t, u.String(), Options{})
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, "k", "v") })
	if f := storage.FaultOf(err); f == nil || f.Reason != storage.ReadOnly {
		t.Errorf("a write on a read-only server = %v, want a read-only fault", err)
	}
	if err := s.View(ctx, func(tx storage.Tx) error {
		_, err := tx.Setting(ctx, "k")
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return nil
		}
		return err
	}); err != nil {
		t.Errorf("a read on a read-only server: %v", err)
	}
}

// TestTerminatedConnectionWritesResume ends the store's server session in
// the middle of a write, as the lock watchdog or a server restart does: the
// write fails with 503 (busy, or an unreachable fault when the connection
// breaks before the server says why — not 500), and the next write works on
// a new connection.
func TestTerminatedConnectionWritesResume(t *testing.T) {
	ctx := context.Background()
	admin, _ := pgtest.Fresh(t)
	const app = "fairslot fault test"
	s := openFault(t, admin, Options{AppName: app})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	killer, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	err = s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.PutSetting(ctx, "k", "before"); err != nil {
			return err
		}
		var n int
		if err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid, 30000)) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'idle in transaction'`, app).Scan(&n); err != nil || n != 1 {
			t.Fatalf("terminated %d sessions, %v; want the store's one", n, err)
		}
		return tx.PutSetting(ctx, "k", "after")
	})
	if f := storage.FaultOf(err); !errors.Is(err, storage.ErrBusy) && (f == nil || f.Reason != storage.Unreachable) {
		t.Fatalf("a write whose session was terminated = %v, want busy or an unreachable fault", err)
	}
	deadline := time.Now().Add(30 * time.Second) // a hang guard: the pool may hand out a dead connection once more
	for {
		err = s.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, "k", "again") })
		if err == nil {
			break
		}
		if (storage.FaultOf(err) == nil && !errors.Is(err, storage.ErrBusy)) || time.Now().After(deadline) {
			t.Fatalf("a write after the session ended: %v", err)
		}
	}
}
