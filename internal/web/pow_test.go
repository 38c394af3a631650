package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/web"
)

// TestBrowserSolver runs static/pow.js under Node: its SHA-256 must match
// Go's on inputs across the block boundaries, and the solutions it finds
// for real challenges must pass the server's check.
func TestBrowserSolver(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the browser solver test (CI installs it)")
	}
	c := &gate.Challenger{Key: []byte("k"), TTL: time.Minute, Spent: gate.NewSpentSet(64 * 16)} // room for every nonce in any shard
	now := time.Now()
	var challenges []gate.Challenge
	for _, bits := range []int{0, 4, 8, 12} {
		challenges = append(challenges, c.Issue("dev", bits, now))
	}
	inputs := []string{""}
	for _, n := range []int{1, 3, 55, 56, 63, 64, 65, 119, 120, 200} {
		inputs = append(inputs, strings.Repeat("ab", n)[:n])
	}
	in, _ := json.Marshal(map[string]any{"inputs": inputs, "challenges": challenges})
	script := `
const pow = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const hashes = input.inputs.map(s => pow.sha256(s).map(w => w.toString(16).padStart(8, '0')).join(''));
  const solutions = [];
  for (const c of input.challenges) solutions.push(await pow.solve(c.challenge, c.bits));
  console.log(JSON.stringify({hashes, solutions}));
})();`
	cmd := exec.Command(node, "-e", script, filepath.Join(mustAbs(t, "static"), "pow.js"))
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct{ Hashes, Solutions []string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	for i, s := range inputs {
		if want := fmt.Sprintf("%x", sha256.Sum256([]byte(s))); got.Hashes[i] != want {
			t.Errorf("pow.js sha256 of %d bytes = %s, want %s", len(s), got.Hashes[i], want)
		}
	}
	for i, ch := range challenges {
		if _, err := c.Check(context.Background(), ch.Token, got.Solutions[i], "dev", now); err != nil {
			t.Errorf("pow.js solution %q at %d bits: %v", got.Solutions[i], ch.Bits, err)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestStaticServesTheSolver(t *testing.T) {
	w := httptest.NewRecorder()
	web.Static().ServeHTTP(w, httptest.NewRequest("GET", "/static/pow.js", nil))
	b, _ := io.ReadAll(w.Body)
	if w.Code != 200 || !strings.Contains(string(b), "FairslotPoW") || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Errorf("GET /static/pow.js = %d %q, %d bytes", w.Code, w.Header().Get("Content-Type"), len(b))
	}
}
