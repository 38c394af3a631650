package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/sqlite"
)

// TestKeysRotateWhileServing: a serving node's keyset is rotated from the
// command line; the node reloads it, its job leader re-seals and re-indexes
// everything, and afterwards the patient's token (a derived key), logins
// and sealed data keep working (that a login during the rotation finds its
// account under the old index is internal/app's TestRotationKeepsIdentities). Prune refuses
// while an index rotation is fresh, then drops the old keys; wrapping the
// keyset with a passphrase makes it useless without one.
func TestKeysRotateWhileServing(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, map[string]any{"keys": map[string]any{"reload_every": "1s", "rekey_every": "1s"}})
	flags := []string{"--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}
	keys := func(env []string, stdin string, args ...string) (string, error) {
		cmd := exec.Command(bin, append(append([]string{"keys"}, args...), flags...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	s := startServer(t, bin, dir, []string{"--config", cfg, "--drain", "0s"})
	token := s.login(t, demo.PatientPhone)
	patients := func(token string) string {
		t.Helper()
		a := s.call(t, "GET", "/api/v1/patients", token, "")
		list, _ := a.body["patients"].([]any)
		if a.status != 200 || len(list) != 1 {
			t.Fatalf("GET /api/v1/patients = %d %v\n%s", a.status, a.body, s.log())
		}
		p := list[0].(map[string]any)
		return fmt.Sprintf("%v %v %v #%v", p["name"], p["id_number"], p["phone"], p["id"])
	}
	before := patients(token)

	oldKeyset, _ := os.ReadFile(filepath.Join(dir, "keyset.json"))
	out, err := keys(nil, "", "rotate")
	if err != nil || !strings.Contains(out, "(primary)") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	stale := regexp.MustCompile(`(?m)^\S+\.\S+_sealed\s+([1-9]\d*)$`)
	for i := 0; ; i++ {
		out, err = keys(nil, "", "status")
		if err != nil {
			t.Fatalf("keys status: %v\n%s", err, out)
		}
		if !stale.MatchString(out) && strings.Contains(out, "primary index key: true") {
			break
		}
		if i == 300 {
			t.Fatalf("the server never finished re-sealing and re-indexing:\n%s\n%s", out, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(s.log(), "keyset reloaded") {
		t.Errorf("the server did not say it reloaded the keyset:\n%s", s.log())
	}
	if got := patients(token); got != before {
		t.Errorf("after the rotation the token's patient is %q, was %q", got, before)
	}
	s.login(t, "13700001234") // a login code keyed after the rotation

	// A live node that says it is still on the old keys holds the prune
	// back: it could write under them. (Here a report as a node on an old
	// copy of the keyset would make it.)
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "data", sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	ghost := fmt.Sprintf(`{"seal":1,"index":1,"since":%q,"at":%q}`, time.Now().Format(time.RFC3339), time.Now().Format(time.RFC3339))
	if _, err := raw.Exec(`INSERT INTO settings (key, value) VALUES ('keys.node.ghost', ?)`, ghost); err != nil {
		t.Fatal(err)
	}
	if out, err := keys(nil, "", "prune"); err == nil || !strings.Contains(out, "ghost") || !strings.Contains(out, "nothing was pruned") {
		t.Errorf("keys prune with a live node on the old keys: %v\n%s", err, out)
	}
	raw.Exec(`DELETE FROM settings WHERE key = 'keys.node.ghost'`)
	raw.Close()
	if out, err := keys(nil, "", "prune"); err != nil || len(regexp.MustCompile(`(?m)keys: \d+ \(primary\)$`).FindAllString(out, -1)) != 2 {
		t.Fatalf("keys prune with every node on the new keys: %v\n%s", err, out)
	}
	if got := patients(token); got != before {
		t.Errorf("after the prune the token's patient is %q, want %q", got, before)
	}
	// Staged, for keysets copied to each node: added, not primary; promoted
	// after; promoting twice says nothing is staged.
	if out, err := keys(nil, "", "rotate", "--stage", "--only", "seal"); err != nil || !regexp.MustCompile(`sealing keys: \d+ \(primary\), \d+\n`).MatchString(out) {
		t.Errorf("keys rotate --stage: %v\n%s", err, out)
	}
	if out, err := keys(nil, "", "promote", "--only", "seal"); err != nil || !regexp.MustCompile(`sealing keys: \d+, \d+ \(primary\)\n`).MatchString(out) {
		t.Errorf("keys promote: %v\n%s", err, out)
	}
	if out, err := keys(nil, "", "promote", "--only", "seal"); err == nil || !strings.Contains(out, "no seal key is staged") {
		t.Errorf("keys promote with nothing staged: %v\n%s", err, out)
	}
	if got := patients(token); got != before {
		t.Errorf("after a staged rotation the token's patient is %q, want %q", got, before)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()

	// A node started on a copy of the keyset from before the prune refuses
	// to serve: it would seal under keys no other node holds.
	oldCopy := filepath.Join(dir, "stale-keyset.json")
	os.WriteFile(oldCopy, oldKeyset, 0o600)
	cmd := exec.Command(bin, "serve", "--demo", "--addr", "127.0.0.1:0", "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--keyset", oldCopy)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "lacks the keys the data is under") {
		t.Errorf("serve on an old copy of the keyset: %v\n%s", err, out)
	}

	// Wrapped: nothing opens without the passphrase, everything with it.
	pass := filepath.Join(dir, "passphrase")
	os.WriteFile(pass, []byte("a long passphrase for the keyset\n"), 0o600)
	noPass := []string{"FAIRSLOT_KEYSET_PASSPHRASE=", "FAIRSLOT_KEYSET_PASSPHRASE_FILE="}
	if out, err := keys(noPass, "a long passphrase for the keyset\n", "wrap"); err != nil || !strings.Contains(out, "wrapped: by passphrase") {
		t.Fatalf("keys wrap: %v\n%s", err, out)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "keyset.json")); strings.Contains(string(raw), "AesGcmKey\"") && strings.Contains(string(raw), "\"value\"") {
		t.Error("the wrapped keyset still holds keys in clear")
	}
	if out, err := keys(noPass, "", "status"); err == nil || !strings.Contains(out, "FAIRSLOT_KEYSET_PASSPHRASE_FILE") {
		t.Errorf("keys status without the passphrase: %v\n%s", err, out)
	}
	withPass := []string{"FAIRSLOT_KEYSET_PASSPHRASE_FILE=" + pass}
	s = startServer(t, bin, dir, []string{"--config", cfg, "--drain", "0s"}, withPass...)
	if got := patients(token); got != before {
		t.Errorf("served from the wrapped keyset, the token's patient is %q, want %q", got, before)
	}
}
