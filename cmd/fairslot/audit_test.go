package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestAuditCommands: checkpoint, verify, prove and check on a real data
// directory with a witness directory; then a record is edited behind the
// server's back, and verify names it, serve refuses to start (unless told
// to), and a proof of the edited record no longer checks.
func TestAuditCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	witness := filepath.Join(dir, "witness")
	os.Mkdir(witness, 0o700)
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"audit": {"witness_dirs": [`+fmt.Sprintf("%q", witness)+`]}}`), 0o600)
	flags := []string{"--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json")}
	fairslot := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(args, flags...), &out, &errOut)
		if err != nil {
			return out.String() + errOut.String(), err
		}
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := fairslot(args...)
		if err != nil {
			t.Fatalf("fairslot %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("migrate")
	c := config.Default()
	c.DataDir, c.Keyset = filepath.Join(dir, "data"), filepath.Join(dir, "keys.json")
	c.Audit.WitnessDirs = []string{witness}
	_, st, err := open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) {
		for i := range n {
			if err := st.Update(ctx, func(tx storage.Tx) error {
				return tx.AppendAudit(ctx, &audit.Event{At: time.Now(), Actor: "staff:1", Action: "patient.reveal", Subject: fmt.Sprintf("patient:%d", i)})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(6)
	vkey := strings.TrimSpace(must("audit", "key"))
	if !strings.HasPrefix(vkey, "fairslot-audit-") {
		t.Fatalf("audit key = %q; want a note verifier key", vkey)
	}
	if !strings.Contains(must("audit", "checkpoint"), "\n6\n") {
		t.Fatal("checkpoint does not cover the 6 records")
	}
	add(4)
	must("audit", "checkpoint")
	if ws, _ := os.ReadDir(witness); len(ws) != 2 {
		t.Fatalf("the witness holds %d checkpoints; want 2", len(ws))
	}
	if out := must("audit", "verify"); !strings.Contains(out, "OK: all 10 records") {
		t.Fatalf("verify:\n%s", out)
	}
	proof := must("audit", "prove", "3")
	pf := filepath.Join(dir, "proof")
	os.WriteFile(pf, []byte(proof), 0o600)
	if out := must("audit", "check", pf); !strings.Contains(out, "OK: record 3") {
		t.Fatalf("check:\n%s", out)
	}
	if out, err := fairslot("audit", "check", pf, "--key", vkey); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("check with the key given: %v\n%s", err, out)
	}
	// A proof whose record is altered does not check.
	os.WriteFile(pf, []byte(strings.Replace(proof, "patient.reveal", "patient.view", 1)), 0o600)
	if out, err := fairslot("audit", "check", pf); err == nil {
		t.Fatalf("an altered proof checks:\n%s", out)
	}
	// The /audit/checkpoint endpoint serves the newest.
	rec := httptest.NewRecorder()
	auditCheckpointRoute(http.NotFoundHandler(), st).ServeHTTP(rec, httptest.NewRequest("GET", "/audit/checkpoint", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "\n10\n") {
		t.Fatalf("GET /audit/checkpoint = %d %q", rec.Code, rec.Body.String())
	}
	st.Close()

	// The database's owner edits record 3 (the triggers are theirs to drop).
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "data", sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit_events SET actor = 'staff:2' WHERE seq = 4`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	out, err := fairslot("audit", "verify")
	if err == nil || !strings.Contains(out, "FIRST BAD INDEX: 3") {
		t.Fatalf("verify after an edit: %v\n%s\nwant FIRST BAD INDEX: 3", err, out)
	}
	if out, err := fairslot("audit", "prove", "3"); err == nil {
		t.Fatalf("prove of an edited record succeeds:\n%s", out)
	}
	_, st, err = open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs bytes.Buffer
	if _, err := auditStart(ctx, c, st, slog.New(slog.NewTextHandler(&logs, nil)), false); err == nil || !strings.Contains(err.Error(), "FIRST BAD INDEX: 3") {
		t.Fatalf("serve's start check after an edit: %v; want a refusal naming index 3", err)
	}
	j, err := auditStart(ctx, c, st, slog.New(slog.NewTextHandler(&logs, nil)), true)
	if err != nil || j.Mismatches.Load() != 1 || !strings.Contains(logs.String(), "ALERT") {
		t.Fatalf("--accept-audit-mismatch: %v, %d mismatches, log %q; want a start with an ALERT", err, j.Mismatches.Load(), logs.String())
	}
}

// FuzzParseProof: a proof file is untrusted input; parsing never panics,
// and whatever parses still has to pass tlog.CheckRecord against a signed
// checkpoint before check says OK.
func FuzzParseProof(f *testing.F) {
	f.Add([]byte("fairslot audit proof\nleaf 3\nrecord {}\nproof\ncheckpoint\nx\n"))
	f.Add([]byte("fairslot audit proof\nleaf 3\nrecord {}\nproof\n" + strings.Repeat("A", 43) + "=\ncheckpoint"))
	f.Add([]byte("fairslot audit proof\nleaf -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _, proof, _, err := parseProof(data)
		if err == nil && (n < 0 || len(proof) > 64) {
			t.Fatalf("parsed leaf %d with %d hashes", n, len(proof))
		}
	})
}
