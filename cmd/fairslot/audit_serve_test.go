package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/sqlite"
)

// TestServeAuditLog: a running server signs a checkpoint at once (the demo
// seeded records), serves it at GET /audit/checkpoint and writes it to the
// witness directory; at SIGTERM it signs a last one covering the records
// written since. Then the database's owner edits a record: serve refuses to
// start, and starts with an ALERT when told to.
func TestServeAuditLog(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	witness := filepath.Join(dir, "witness")
	os.Mkdir(witness, 0o700)
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"audit": {"witness_dirs": [%q]}}`, witness)), 0o600)
	extra := []string{"--config", cfg, "--drain", "0s"}
	s := startServer(t, bin, dir, extra)
	var first int64
	for i := 0; first == 0; i++ { // the first checkpoint comes with the leader's first tick
		resp, err := http.Get(s.url + "/audit/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			lines := strings.Split(string(body), "\n")
			if first, err = strconv.ParseInt(lines[1], 10, 64); err != nil || !strings.HasPrefix(lines[0], "fairslot-audit-") {
				t.Fatalf("GET /audit/checkpoint = %q", body)
			}
			break
		}
		if i == 500 {
			t.Fatalf("no checkpoint served: %d %q\n%s", resp.StatusCode, body, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.login(t, "13600001234") // more audit records: a code sent, a login
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v\n%s", err, s.log())
	}
	files, _ := os.ReadDir(witness)
	if len(files) < 2 {
		t.Fatalf("the witness holds %d checkpoints; want the first and the one at shutdown\n%s", len(files), s.log())
	}
	last := files[len(files)-1].Name()
	size, _ := strconv.ParseInt(strings.TrimPrefix(last, "checkpoint."), 10, 64)
	if size <= first {
		t.Fatalf("the last witnessed checkpoint covers %d records, the first %d: want the shutdown checkpoint to cover the login", size, first)
	}

	// The owner edits the first record behind the server's back.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "data", sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit_events SET actor = 'staff:999' WHERE seq = (SELECT seq FROM audit_leaves WHERE leaf = 2)`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a deadline on a hang, not a speed target
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"serve", "--demo", "--addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}, extra...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to start") || !strings.Contains(string(out), "FIRST BAD INDEX: 2") {
		t.Fatalf("serve on an edited log: %v\n%s\nwant a refusal naming index 2", err, out)
	}
	s2 := startServer(t, bin, dir, append(extra, "--accept-audit-mismatch"))
	if !strings.Contains(s2.log(), "ALERT: the audit log does not match") {
		t.Fatalf("started with --accept-audit-mismatch but no ALERT:\n%s", s2.log())
	}
}
