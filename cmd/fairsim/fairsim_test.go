package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
)

func TestLoopbackOnly(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://127.9.9.9:1/x": true, "http://localhost:8080": true, "http://[::1]:80": true,
		"http://10.0.0.1:8080": false, "http://192.168.1.1": false, "http://example.com": false, "https://127.0.0.1": false,
	} {
		if err := loopbackOnly(u); (err == nil) != ok {
			t.Errorf("loopbackOnly(%s) = %v, want ok %v", u, err, ok)
		}
	}
}

func TestResidentIDsAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{0, 1, 999, 1000, 500_000, 700_123} {
		id := residentID(n)
		if _, err := fairslot.NormalizeID(fairslot.IDResident, id); err != nil || seen[id] {
			t.Errorf("residentID(%d) = %s: %v (seen %v)", n, id, err, seen[id])
		}
		seen[id] = true
	}
}

// TestFloodKeepsTheFloor runs a short flood against a real server: every
// staff request must succeed, the server must stay up and under 300 MB.
// (Latency is measured by the scenario and reported in BENCHMARKS.md, not
// asserted here: these machines are shared and noisy.)
func TestFloodKeepsTheFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	r := scenario(t, "flood", "--duration", "3s", "--workers", "16", "--networks", "1")
	if r.Flooded.N == 0 || r.Flooded.OK != r.Flooded.N || r.Quiet.OK != r.Quiet.N {
		t.Errorf("staff requests: quiet %d/%d, flooded %d/%d ok; want all", r.Quiet.OK, r.Quiet.N, r.Flooded.OK, r.Flooded.N)
	}
	if !r.Alive || r.Peak.Samples == 0 || r.Peak.RSSMB >= 300 {
		t.Errorf("server alive %v, peak RSS %.1f MB over %d samples; want alive, sampled, under 300 MB", r.Alive, r.Peak.RSSMB, r.Peak.Samples)
	}
	// The flood comes from one /24, so the door's prefix limit (the
	// default: 100 a second, a burst of 200) bounds what it lets through
	// however fast this machine sends; everything else is refused.
	var flood, refused int64
	for code, n := range r.Flood {
		flood += n
		if code == 429 || code == 503 || code == 0 {
			refused += n
		}
	}
	if admitted, most := flood-refused, int64(200+100*(r.Seconds+1)); flood == 0 || admitted > most {
		t.Errorf("the flood from one network had %d of %d requests admitted, more than its limit allows (%d): %v", admitted, flood, most, r.Flood)
	}
}

// TestFloorScenario runs a short floor scenario against a real server: the
// floor's every request succeeds, its boards stay connected, the public
// listener gives no display stream and no revoked staff token gets
// anything but a refusal. (Latency is measured by the scenario and
// reported in BENCHMARKS.md, not asserted here.)
func TestFloorScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	r := scenario(t, "floor", "--duration", "3s", "--workers", "8", "--networks", "16",
		"--streams", "200", "--revoked", "2", "--logins", "4", "--boards", "8")
	if r.Flooded.N == 0 || r.Flooded.OK != r.Flooded.N || r.Quiet.OK != r.Quiet.N {
		t.Errorf("staff requests: quiet %d/%d, flooded %d/%d ok; want all", r.Quiet.OK, r.Quiet.N, r.Flooded.OK, r.Flooded.N)
	}
	if r.Boards.OpenAtEnd != 8 || r.Boards.Events == 0 {
		t.Errorf("boards: %+v; want all 8 open at the end, with updates", r.Boards)
	}
	if r.Streams[200] != 0 || r.StreamsOpen != 0 || len(r.Streams) == 0 {
		t.Errorf("public display streams: %v (held %d); want every one refused: boards are internal", r.Streams, r.StreamsOpen)
	}
	for code, n := range r.Revoked {
		if code < 400 && n > 0 {
			t.Errorf("revoked staff tokens got %d answers %d: %v", n, code, r.Revoked)
		}
	}
	if len(r.Revoked) == 0 || len(r.Logins) == 0 || len(r.Flood) == 0 {
		t.Errorf("an attacker did nothing: revoked %v, logins %v, flood %v", r.Revoked, r.Logins, r.Flood)
	}
	if !r.Alive {
		t.Error("the server did not survive")
	}
}

// scenario builds the server, runs a floor or flood scenario against it and
// returns its report.
func scenario(t *testing.T, name string, args ...string) FloorReport {
	t.Helper()
	dir := t.TempDir()
	bin := buildServer(t, dir)
	out := filepath.Join(dir, name+".json")
	var stdout bytes.Buffer
	if err := run(context.Background(), append([]string{name, "--fairslot", bin, "--out", out}, args...), &stdout); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stdout.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r FloorReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	t.Log(stdout.String())
	return r
}

// buildServer builds cmd/fairslot into dir.
func buildServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fairslot")
	if out, err := exec.Command("go", "build", "-o", bin, "../fairslot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRansomwareRound runs one short round of the ransomware scenario: the
// restore verifies its audit log against a checkpoint signed during the
// morning (not only the seeding's), and the downtime kit, written to a
// share outside the data directory, survives the destruction, verifies,
// and is no older than the round. (Recovery time and losses are measured
// by the scenario and reported in BENCHMARKS.md, not asserted here.)
func TestRansomwareRound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	bin := buildServer(t, dir)
	out, kits := filepath.Join(dir, "ransomware.json"), filepath.Join(dir, "kits")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"ransomware", "--fairslot", bin, "--out", out, "--rounds", "1", "--accounts", "4",
		"--morning", "4s", "--kit-every", "1s", "--checkpoint-every", "1s", "--kit-dir", kits}, &stdout)
	t.Log(stdout.String())
	if err != nil {
		t.Fatalf("ransomware: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep ransomReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 1 {
		t.Fatalf("%d rounds reported, want 1", len(rep.Rounds))
	}
	r := rep.Rounds[0]
	if !r.Verified || !rep.AllVerified {
		t.Errorf("restore: %q; want its audit log verified", r.Audit)
	}
	// ... against the witness's copies of the checkpoints too.
	if !strings.Contains(r.Audit, "witnessed copies read") || strings.Contains(r.Audit, "(0 witnessed copies read") {
		t.Errorf("restore: %q; want it verified against the witness's copies", r.Audit)
	}
	// The seeding is signed at start; a checkpoint a second covers some of
	// the morning's records too.
	if r.AuditSigned <= 0 || r.AuditSigned > r.AuditNumbered || r.AuditNumbered > r.AuditEvents {
		t.Errorf("audit records: %d signed, %d numbered, %d in the database; want 0 < signed <= numbered <= in the database",
			r.AuditSigned, r.AuditNumbered, r.AuditEvents)
	}
	if r.Acked == 0 {
		t.Error("the morning acknowledged no write")
	}
	// The signed time is whole seconds (truncated): up to 1 s earlier than
	// the write.
	if !r.KitVerified || !rep.AllKitsVerified || r.KitAgeMS < 0 || r.KitAgeMS > r.ServedMS+1000 || r.KitDepartments == 0 {
		t.Errorf("kit: %q (age %d ms, round %d ms, %d departments, verified %v); want one verified, no older than the round",
			r.Kit, r.KitAgeMS, r.ServedMS, r.KitDepartments, r.KitVerified)
	}
	if _, err := os.Stat(filepath.Join(kits, "round-1", r.KitGeneration, "manifest.json.sig")); err != nil {
		t.Errorf("the kit's generation %q is not in --kit-dir: %v", r.KitGeneration, err)
	}
}

// TestMain lets the test binary stand in for fairsim when a scenario runs
// part of itself in a child process (the floor's attackers).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
