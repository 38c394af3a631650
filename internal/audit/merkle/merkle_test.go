package merkle_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// backend is a store under test and a way to run SQL on it as the database
// owner (the attacker: triggers and foreign keys are no obstacle to them).
type backend struct {
	name  string
	open  func(t *testing.T) (storage.Store, func(q string) error, func(q string) int64)
	ident bool // PostgreSQL: seq is an identity and cannot be updated
}

var ctx = context.Background()

func backends(t *testing.T) []backend {
	bs := []backend{{name: "sqlite", open: func(t *testing.T) (storage.Store, func(string) error, func(string) int64) {
		dir := t.TempDir()
		st, err := sqlite.Open(dir, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(0)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		for _, tr := range []string{"audit_no_update", "audit_no_delete", "audit_leaves_no_update", "audit_leaves_no_delete",
			"audit_hashes_no_update", "audit_hashes_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete"} {
			if _, err := raw.Exec("DROP TRIGGER " + tr); err != nil {
				t.Fatal(err)
			}
		}
		exec := func(q string) error { _, err := raw.Exec(q); return err }
		query := func(q string) (n int64) {
			if err := raw.QueryRow(q).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
		return st, exec, query
	}}}
	{
		bs = append(bs, backend{name: "postgres", ident: true, open: func(t *testing.T) (storage.Store, func(string) error, func(string) int64) {
			dsn, _ := pgtest.Fresh(t)
			st, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(ctx) })
			for _, q := range []string{"SET search_path = fairslot", "SET session_replication_role = replica"} { // triggers and foreign keys off
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			exec := func(q string) error { _, err := conn.Exec(ctx, q); return err }
			query := func(q string) (n int64) {
				if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return n
			}
			return st, exec, query
		}})
	}
	return bs
}

func forEach(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "postgres" {
				pgtest.Require(t)
			}
			fn(t, b)
		})
	}
}

func keys(t *testing.T, name string) (note.Signer, note.Verifier) {
	skey, vkey, err := merkle.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func appendEvents(t *testing.T, st storage.Store, from, n int, actor string) {
	t.Helper()
	for i := from; i < from+n; i++ {
		err := st.Update(ctx, func(tx storage.Tx) error {
			e := audit.Event{At: t0.Add(time.Duration(i) * time.Second), Actor: actor, Action: "booking.hold",
				Subject: audit.Ref("booking", int64(i)), Detail: map[string]string{"slot": fmt.Sprint(i), "note": "<&>"}}
			if i%3 == 0 {
				e.Detail = nil
				e.RequestID = fmt.Sprintf("req-%d", i)
			}
			return tx.AppendAudit(ctx, &e)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// logOf20 makes a log of 20 records with signed checkpoints every 5 (as
// every minute), returning the checkpoints as a witness holds them.
func logOf20(t *testing.T, st storage.Store, s note.Signer) []merkle.Source {
	t.Helper()
	l := &merkle.Log{Store: st, Signer: s, Batch: 3}
	var w []merkle.Source
	for range 4 {
		appendEvents(t, st, len(w)*5, 5, "staff:1")
		appendAll(t, l, int64(len(w)*5+5))
		msg, err := l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w = append(w, merkle.Source{Name: "witness", Note: msg})
	}
	return w
}

// appendAll appends until the tree has want leaves. On PostgreSQL a record
// is numbered only once every older transaction in the cluster has ended,
// and other tests' transactions may be running: wait for that condition.
func appendAll(t *testing.T, l *merkle.Log, want int64) {
	t.Helper()
	for {
		n, err := l.Append(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func verify(t *testing.T, st storage.Store, v note.Verifier, w []merkle.Source) merkle.Report {
	t.Helper()
	rep, err := (&merkle.Verifier{Store: st, Key: v, Chunk: 4}).Verify(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestUntamperedLogVerifies(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		st, _, _ := b.open(t)
		s, v := keys(t, "test-log")
		w := logOf20(t, st, s)
		for _, chunk := range []int64{1, 4, 8, 1 << 15} {
			rep, err := (&merkle.Verifier{Store: st, Key: v, Chunk: chunk}).Verify(ctx, w)
			if err != nil || !rep.OK() || rep.Size != 20 || len(rep.Trusted) != 4 {
				t.Fatalf("chunk %d: %+v, %v; want OK at size 20 with 4 trusted checkpoints", chunk, rep, err)
			}
		}
		// The stored root is tlog's own tree hash of the canonical records.
		var want tlog.Hash
		var hs []tlog.Hash
		st.View(ctx, func(tx storage.Tx) error {
			events, _ := tx.AuditEvents(ctx, 0, 100)
			for _, e := range events {
				hs = append(hs, tlog.RecordHash(e.Canonical()))
			}
			return nil
		})
		want, _ = tlog.TreeHash(20, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				level, n := tlog.SplitStoredHashIndex(x)
				out[i] = subtree(hs, level, n)
			}
			return out, nil
		}))
		c, err := merkle.Open(w[3].Note, v)
		if err != nil || c.Hash != want {
			t.Fatalf("checkpoint %v, %v; want the tree hash of the records' canonical bytes %v", c.Hash, err, want)
		}
	})
}

func subtree(hs []tlog.Hash, level int, n int64) tlog.Hash {
	if level == 0 {
		return hs[n]
	}
	return tlog.NodeHash(subtree(hs, level-1, 2*n), subtree(hs, level-1, 2*n+1))
}

// TestTamperingIsCaughtAtTheFirstBadIndex: every way of rewriting the
// record that the issue names, each by the database owner, is caught by
// verify with the first leaf that no longer matches.
func TestTamperingIsCaughtAtTheFirstBadIndex(t *testing.T) {
	type tamper struct {
		name  string
		do    func(t *testing.T, b backend, st storage.Store, exec func(string) error, seq func(int64) int64)
		first int64
	}
	must := func(t *testing.T, exec func(string) error, qs ...string) {
		t.Helper()
		for _, q := range qs {
			if err := exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	tampers := []tamper{
		{"edit a field", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET actor = 'staff:2' WHERE seq = %d`, seq(13)))
		}, 13},
		{"edit the detail only", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET detail = '{"note":"\u003c\u0026\u003e","slot":"99"}' WHERE seq = %d`, seq(4)))
		}, 4},
		{"move a byte from one field to the next", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			// The fields' bytes in a row stay the same: only where one ends.
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET actor = actor || substr(action, 1, 1), action = substr(action, 2) WHERE seq = %d`, seq(9)))
		}, 9},
		{"append digits and spaces to a field", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET subject = subject || ' 1 2 3 ' WHERE seq = %d`, seq(11)))
		}, 11},
		{"retype a field", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			if b.ident {
				// PostgreSQL's columns hold one type: write other bytes.
				must(t, exec, fmt.Sprintf(`UPDATE audit_events SET actor = 'staff:' || chr(233) WHERE seq = %d`, seq(12)))
				return
			}
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET actor = CAST('staff:2' AS BLOB) WHERE seq = %d`, seq(12)))
		}, 12},
		{"delete a row and re-number", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			s := seq(7)
			must(t, exec, fmt.Sprintf(`DELETE FROM audit_events WHERE seq = %d`, s))
			if b.ident {
				// The identity cannot be updated: re-number the leaves instead.
				must(t, exec, `DELETE FROM audit_leaves WHERE leaf = 7`,
					`UPDATE audit_leaves SET leaf = leaf + 1000 WHERE leaf > 7`,
					`UPDATE audit_leaves SET leaf = leaf - 1001 WHERE leaf > 1000`)
				return
			}
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET seq = seq + 1000 WHERE seq > %d`, s),
				`UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000`)
		}, 7},
		{"delete a row, leave a hole", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			must(t, exec, fmt.Sprintf(`DELETE FROM audit_events WHERE seq = %d`, seq(16)))
		}, 16},
		{"insert a row", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			if b.ident {
				must(t, exec, `INSERT INTO audit_events (seq, at_ms, actor, action, subject) OVERRIDING SYSTEM VALUE VALUES (5000, 0, 'system', 'x', 'y')`,
					`UPDATE audit_leaves SET leaf = leaf + 1000 WHERE leaf >= 5`,
					`UPDATE audit_leaves SET leaf = leaf - 999 WHERE leaf >= 1000`,
					`INSERT INTO audit_leaves (leaf, seq) VALUES (5, 5000)`)
				return
			}
			s := seq(5)
			must(t, exec, fmt.Sprintf(`UPDATE audit_events SET seq = seq + 1000 WHERE seq >= %d`, s),
				`UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000`,
				fmt.Sprintf(`INSERT INTO audit_events (seq, at_ms, actor, action, subject) VALUES (%d, 0, 'system', 'x', 'y')`, s))
		}, 5},
		{"reorder two rows", func(t *testing.T, b backend, _ storage.Store, exec func(string) error, seq func(int64) int64) {
			a, c := seq(3), seq(4)
			must(t, exec, fmt.Sprintf(`UPDATE audit_leaves SET seq = -1 WHERE leaf = 3`),
				fmt.Sprintf(`UPDATE audit_leaves SET seq = %d WHERE leaf = 4`, a),
				fmt.Sprintf(`UPDATE audit_leaves SET seq = %d WHERE leaf = 3`, c))
		}, 3},
		{"truncate the tail and rebuild it", func(t *testing.T, b backend, st storage.Store, exec func(string) error, seq func(int64) int64) {
			s := seq(15)
			must(t, exec, `DELETE FROM audit_leaves WHERE leaf >= 15`,
				fmt.Sprintf(`DELETE FROM audit_hashes WHERE idx >= %d`, tlog.StoredHashCount(15)),
				`DELETE FROM audit_checkpoints WHERE size > 15`,
				fmt.Sprintf(`DELETE FROM audit_events WHERE seq >= %d`, s))
			// Rebuilt with the application's own code, records and hashes
			// consistent: only the signature is out of reach.
			appendEvents(t, st, 15, 5, "staff:7")
			appendAll(t, &merkle.Log{Store: st}, 20)
		}, 15},
	}
	forEach(t, func(t *testing.T, b backend) {
		for _, tc := range tampers {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				st, exec, query := b.open(t)
				s, v := keys(t, "test-log")
				w := logOf20(t, st, s)
				seq := func(leaf int64) int64 {
					return query(fmt.Sprintf(`SELECT seq FROM audit_leaves WHERE leaf = %d`, leaf))
				}
				tc.do(t, b, st, exec, seq)
				rep := verify(t, st, v, w)
				if rep.OK() || rep.FirstBad != tc.first {
					t.Fatalf("after %s: first bad %d, problems %q; want first bad %d", tc.name, rep.FirstBad, rep.Problems, tc.first)
				}
			})
		}
	})
}

// TestForgedTableWithoutValidSignature: the owner replaces records, hashes
// and checkpoints with a consistent forgery signed by a key of their own.
// The stored checkpoints are refused; the witnessed ones catch the change at
// the first leaf after the last witnessed checkpoint that still matches —
// the stored hashes that could pin it closer were forged too.
func TestForgedTableWithoutValidSignature(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		st, exec, _ := b.open(t)
		s, v := keys(t, "test-log")
		w := logOf20(t, st, s)
		for _, q := range []string{`DELETE FROM audit_checkpoints`, `DELETE FROM audit_hashes`, `DELETE FROM audit_leaves`, `DELETE FROM audit_events`} {
			if err := exec(q); err != nil {
				t.Fatal(err)
			}
		}
		// Identities restarted, so that the untouched records are byte for
		// byte the originals.
		reset := `DELETE FROM sqlite_sequence WHERE name = 'audit_events'`
		if b.ident {
			reset = `ALTER TABLE audit_events ALTER COLUMN seq RESTART WITH 1`
		}
		if err := exec(reset); err != nil {
			t.Fatal(err)
		}
		forger, _ := keys(t, "test-log") // same name, another key
		appendEvents(t, st, 0, 12, "staff:1")
		appendEvents(t, st, 12, 1, "staff:666")
		appendEvents(t, st, 13, 7, "staff:1")
		appendAll(t, &merkle.Log{Store: st}, 20)
		if _, err := (&merkle.Log{Store: st, Signer: forger}).Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		// Leaf 12 is the forged one; the witnessed checkpoint of size 10
		// matches, that of 15 does not, and the hashes that could tell
		// leaves 10 and 11 apart from 12 are forged: 10 is the first leaf
		// not proven.
		want := int64(10)
		rep := verify(t, st, v, w)
		if rep.OK() || rep.FirstBad != want {
			t.Fatalf("forgery: first bad %d, problems %q; want %d", rep.FirstBad, rep.Problems, want)
		}
		if !strings.Contains(strings.Join(rep.Problems, "\n"), "stored checkpoint is not trusted") {
			t.Errorf("problems %q: want the forged stored checkpoint refused", rep.Problems)
		}
		// Without the witnesses nothing is trusted, and verify says so.
		rep = verify(t, st, v, nil)
		if rep.OK() || len(rep.Trusted) != 0 {
			t.Fatalf("forgery without witnesses: %+v; want not OK, nothing trusted", rep)
		}
	})
}

// TestAppendIsIdempotentAndLosesNothing: a second leader (or a restart)
// appending concurrently neither forks nor skips.
func TestTwoLeadersDoNotFork(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		st, _, _ := b.open(t)
		s, v := keys(t, "test-log")
		appendEvents(t, st, 0, 50, "staff:1")
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := (&merkle.Log{Store: st, Signer: s, Batch: 4}).Append(ctx)
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		appendAll(t, &merkle.Log{Store: st}, 50)
		msg, err := (&merkle.Log{Store: st, Signer: s}).Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := merkle.Open(msg, v); err != nil || c.Size != 50 {
			t.Fatalf("checkpoint %+v, %v; want size 50", c, err)
		}
		if rep := verify(t, st, v, nil); !rep.OK() {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestCheckpointFormat(t *testing.T) {
	s, v := keys(t, "hospital-a")
	msg, err := merkle.Sign(merkle.Checkpoint{Origin: "hospital-a", Size: 7, Hash: tlog.RecordHash([]byte("x"))}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := merkle.Open(msg, v); err != nil {
		t.Fatal(err)
	}
	bad := []byte(strings.Replace(string(msg), "\n7\n", "\n8\n", 1))
	if _, err := merkle.Open(bad, v); err == nil {
		t.Fatal("a checkpoint with its size changed still verifies")
	}
	other, _ := keys(t, "hospital-b")
	msg2, _ := merkle.Sign(merkle.Checkpoint{Origin: "hospital-a", Size: 7}, other)
	if _, err := merkle.Open(msg2, v); err == nil {
		t.Fatal("a checkpoint signed by another key verifies")
	}
	var unk *note.UnknownVerifierError
	_, err = merkle.Open(msg2, v)
	if !errors.As(err, &unk) {
		t.Logf("other key: %v", err)
	}
	for _, text := range []string{"", "a\n", "a\n-1\nAAAA\n", "a\n01\n" + strings.Repeat("A", 44) + "\n", "a\n1\nnot base64\n"} {
		if _, err := merkle.ParseCheckpoint(text); err == nil {
			t.Errorf("ParseCheckpoint(%q) accepted", text)
		}
	}
}

// FuzzParseCheckpoint: a witnessed or posted checkpoint is untrusted input;
// parsing never panics, and what parses formats back to the same text.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("fairslot-audit-1\n20\n" + strings.Repeat("A", 43) + "=\n")
	f.Add("a\n0\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := merkle.ParseCheckpoint(text)
		if err != nil {
			return
		}
		if c.Text() != text {
			t.Fatalf("ParseCheckpoint(%q).Text() = %q", text, c.Text())
		}
	})
}
