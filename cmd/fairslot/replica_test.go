package main

import (
	"database/sql"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// replicaHolds counts the bookings of ids in the database of the data
// directory data (-1: it cannot be read).
func replicaHolds(data string, ids []int64) int {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "fairslot.db")+"?mode=ro")
	if err != nil {
		return -1
	}
	defer db.Close()
	found := 0
	for _, id := range ids {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM bookings WHERE id = ?`, id).Scan(&n); err != nil {
			return -1
		}
		found += n
	}
	return found
}

// waitReplicated waits until a restore from the replica holds every
// booking of ids: the condition, not a guess of how long shipping takes.
func waitReplicated(t *testing.T, bin string, restoreArgs []string, ids []int64) {
	t.Helper()
	for i := 0; ; i++ {
		probe := filepath.Join(t.TempDir(), "data")
		out, err := runBin(bin, append(restoreArgs, "--data-dir", probe)...)
		if err == nil && replicaHolds(probe, ids) == len(ids) {
			return
		}
		if i == 200 { // a guard on a hang, not a speed target
			t.Fatalf("the replica never held the %d acknowledged bookings: %v\n%s", len(ids), err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runBin(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestReplicaRestore: serve replicates while patients book; the server is
// killed and its data directory destroyed; a restore from the replica
// holds every acknowledged booking, a restore to a point in time holds
// those before it and none after, a non-empty data directory and a
// tampered replica are refused, and serve starts on what was restored.
// Once to a directory, once to an in-process S3-compatible server.
func TestReplicaRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	// Litestream's S3 client (v0.5.18) refuses AWS_CA_BUNDLE with its own
	// HTTP client; the server says so (TestReplicaS3CABundle).
	t.Setenv("AWS_CA_BUNDLE", "")
	for _, target := range []string{"dir", "s3"} {
		t.Run(target, func(t *testing.T) {
			dir, safe := t.TempDir(), t.TempDir() // the server's disk; another host
			keyset := filepath.Join(dir, "keyset.json")
			var env []string
			from := filepath.Join(safe, "replica")
			if target == "dir" {
				env = append(env, "FAIRSLOT_REPLICA_DIR="+from)
			} else {
				back := s3mem.New()
				if err := back.CreateBucket("replicas"); err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(gofakes3.New(back).Server())
				t.Cleanup(srv.Close)
				conf, _ := json.Marshal(map[string]any{"replica": map[string]any{"s3": map[string]any{
					"endpoint": strings.TrimPrefix(srv.URL, "http://"), "bucket": "replicas", "prefix": "hospital-1",
					"access_key": "k", "insecure": true}}})
				confFile := filepath.Join(safe, "config.json")
				os.WriteFile(confFile, conf, 0o600)
				env = append(env, "FAIRSLOT_CONFIG="+confFile)
				t.Setenv("FAIRSLOT_REPLICA_S3_SECRET_KEY", "s") // the server's and the restore's
				from = "s3://replicas/hospital-1"
			}
			restoreArgs := []string{"restore", "--replica", from, "--keyset", keyset}
			if target == "s3" {
				restoreArgs = append(restoreArgs, "--config", filepath.Join(safe, "config.json"))
			}
			// The front door off: two batches of logins from one address
			// would meet its per-network limit, which is not under test here.
			s := startServer(t, bin, dir, []string{"--drain", "0s", "--no-admission"}, env...)
			b := startBooking(t, s, "1371000", 7)
			first := b.waitFor(t, 10)
			b.halt()
			waitReplicated(t, bin, restoreArgs, first)
			point := time.Now()
			b2 := startBooking(t, s, "1571000", 8) // another mask than the first batch's (137***..)
			all := b2.waitFor(t, 5)
			b2.halt()
			b.mu.Lock()
			all = append(append([]int64(nil), b.acked...), all...)
			b.mu.Unlock()
			waitReplicated(t, bin, restoreArgs, all)

			// Ransomware: the server killed, its data directory gone.
			s.cmd.Process.Signal(syscall.SIGKILL)
			s.cmd.Wait()
			if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
				t.Fatal(err)
			}

			// A point in time: the first bookings, none of the later.
			atDir := filepath.Join(t.TempDir(), "data")
			out := fairslotCmd(t, bin, false, append(restoreArgs, "--data-dir", atDir, "--at", point.Format(time.RFC3339Nano))...)
			if got := replicaHolds(atDir, first); got != len(first) {
				t.Errorf("restored at %s: %d of the %d bookings acknowledged before it\n%s", point, got, len(first), out)
			}
			if got := replicaHolds(atDir, all[len(b.acked):]); got != 0 {
				t.Errorf("restored at %s: %d bookings made after it are there", point, got)
			}
			// Before anything was replicated: a clear refusal, nothing written.
			early := filepath.Join(t.TempDir(), "data")
			out = fairslotCmd(t, bin, true, append(restoreArgs, "--data-dir", early, "--at", "2001-01-01T00:00:00Z")...)
			if !strings.Contains(out, "holds nothing as early as") {
				t.Errorf("restore before the replica began: %s", out)
			}
			if _, err := os.Stat(early); err == nil {
				t.Errorf("the refused restore created %s", early)
			}

			// The newest state: every acknowledged booking.
			data := filepath.Join(dir, "data")
			out = fairslotCmd(t, bin, false, append(restoreArgs, "--data-dir", data)...)
			t.Log(out)
			for _, want := range []string{"schema       version", "audit log", "verified against", "RESTORED"} {
				if !strings.Contains(out, want) {
					t.Errorf("the restore report lacks %q:\n%s", want, out)
				}
			}
			wantRestoredSQLite(t, data, all)
			out = fairslotCmd(t, bin, true, append(restoreArgs, "--data-dir", data)...)
			if !strings.Contains(out, "not empty") || !strings.Contains(out, "--force") {
				t.Errorf("restore over a non-empty data directory: %s", out)
			}

			if target == "dir" {
				// A tampered replica: every LTX file with one byte changed in
				// turn is refused, with a clear message, writing nothing.
				files, _ := filepath.Glob(filepath.Join(safe, "replica", "ltx", "*", "*.ltx"))
				sort.Strings(files)
				if len(files) == 0 {
					t.Fatal("no LTX files in the replica")
				}
				for _, f := range files {
					orig, _ := os.ReadFile(f)
					bad := append([]byte(nil), orig...)
					bad[len(bad)/2] ^= 0x01
					os.WriteFile(f, bad, 0o600)
					into := filepath.Join(t.TempDir(), "data")
					out, err := runBin(bin, append(restoreArgs, "--data-dir", into)...)
					os.WriteFile(f, orig, 0o600)
					if err == nil {
						// A file the newest restore does not read (an older
						// level) may be changed unnoticed; the restored data
						// must then be the same as the untouched replica's.
						if got := replicaHolds(into, all); got != len(all) {
							t.Errorf("tampered %s: the restore succeeded with %d of %d bookings:\n%s", f, got, len(all), out)
						}
						continue
					}
					t.Logf("tampered %s: refused: %s", filepath.Base(f), strings.TrimSpace(out))
					if !strings.Contains(out, "restore") {
						t.Errorf("tampered %s: unclear refusal: %s", f, out)
					}
					if left, _ := os.ReadDir(into); len(left) != 0 {
						t.Errorf("tampered %s: the refused restore wrote %v", f, left)
					}
				}
			}

			// serve starts on the restored data, replicating again, and books.
			s2 := startServer(t, bin, dir, []string{"--drain", "0s", "--no-admission"}, env...)
			b3 := startBooking(t, s2, "1373000", 9)
			b3.waitFor(t, 1)
			b3.halt()
			if !strings.Contains(s2.log(), "replicating the database continuously") || !strings.Contains(s2.log(), "audit log verified") {
				t.Errorf("serve on the restored data:\n%s", s2.log())
			}
		})
	}
}
