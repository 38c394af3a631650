package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/sqlite/yeargen"
)

// yearRun is a generated hospital dataset, backed up by the binary, ready
// to be restored and copied.
type yearRun struct {
	bin, dir, data, keyset string
	archive, idFile        string
	keysFile, verifyKey    string
	stats                  yeargen.Stats
}

// prepareYear generates days of perDay bookings into dir (reusing what an
// earlier run left there), then backs it up with the binary.
func prepareYear(tb testing.TB, bin, dir string, days, perDay int) *yearRun {
	tb.Helper()
	r := &yearRun{bin: bin, dir: dir, data: filepath.Join(dir, "data"), keyset: filepath.Join(dir, "keyset.json")}
	if _, err := os.Stat(filepath.Join(r.data, sqlite.FileName)); err != nil {
		start := time.Now()
		st, err := yeargen.Generate(context.Background(), yeargen.Options{DataDir: r.data, Keyset: r.keyset, Days: days, PerDay: perDay})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Logf("generated %d days: %+v in %s", days, st, time.Since(start).Round(time.Millisecond))
	}
	safe := filepath.Join(dir, "safe")
	os.RemoveAll(safe)
	if err := os.MkdirAll(safe, 0o700); err != nil {
		tb.Fatal(err)
	}
	var recipient string
	r.idFile, recipient = backupIdentityTB(tb, safe)
	flags := []string{"--data-dir", r.data, "--keyset", r.keyset}
	out := runOK(tb, bin, append([]string{"backup", "--to", filepath.Join(safe, "backups"), "--recipient", recipient}, flags...)...)
	tb.Log(out)
	r.keysFile = filepath.Join(safe, "keys.age")
	runOK(tb, bin, append([]string{"keys", "export", "--to", r.keysFile, "--recipient", recipient}, flags...)...)
	r.verifyKey = strings.TrimSpace(runOK(tb, bin, append([]string{"backup", "key"}, flags...)...))
	archives, _ := filepath.Glob(filepath.Join(safe, "backups", "*.tar.age"))
	if len(archives) != 1 {
		tb.Fatalf("archives %v, want one", archives)
	}
	r.archive = archives[0]
	return r
}

// backupIdentityTB is backupIdentity for benchmarks too.
func backupIdentityTB(tb testing.TB, dir string) (string, string) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, id.Recipient().String()
}

func runOK(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	out, err := runBin(bin, args...)
	if err != nil {
		tb.Fatalf("fairslot %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// restore restores the archive onto a fresh directory with the binary and
// returns the time it took and its report; the target is removed after.
func (r *yearRun) restore(tb testing.TB) (time.Duration, string) {
	tb.Helper()
	clean := filepath.Join(r.dir, "restored")
	os.RemoveAll(clean)
	defer os.RemoveAll(clean)
	start := time.Now()
	out := runOK(tb, r.bin, "restore", "--from", r.archive, "--identity", r.idFile, "--verify-key", r.verifyKey, "--keys", r.keysFile,
		"--data-dir", filepath.Join(clean, "data"), "--keyset", filepath.Join(clean, "keyset.json"))
	return time.Since(start), out
}

// copyDB copies the database file with cp, then flushes the copy to disk
// with sync (as restore syncs what it writes), and returns both times.
func (r *yearRun) copyDB(tb testing.TB) (cp, cpSync time.Duration) {
	tb.Helper()
	dst := filepath.Join(r.dir, "copy.db")
	os.Remove(dst)
	defer os.Remove(dst)
	start := time.Now()
	if out, err := exec.Command("cp", filepath.Join(r.data, sqlite.FileName), dst).CombinedOutput(); err != nil {
		tb.Fatalf("cp: %v %s", err, out)
	}
	cp = time.Since(start)
	if out, err := exec.Command("sync", dst).CombinedOutput(); err != nil {
		tb.Fatalf("sync: %v %s", err, out)
	}
	return cp, time.Since(start)
}

// TestRestoreHospitalDay runs the hospital-year benchmark's path at one
// day's size, so that it cannot rot: a generated day backed up by the
// binary, restored onto a fresh directory with every check, and the report
// saying so.
func TestRestoreHospitalDay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	r := prepareYear(t, buildBinary(t), t.TempDir(), 1, 1600)
	_, out := r.restore(t)
	for _, want := range []string{"verified before decryption", "every count matches the manifest", "verified against 2 signed checkpoints", "RESTORED"} {
		if !strings.Contains(out, want) {
			t.Errorf("the restore report lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkRestoreHospitalYear restores a hospital year — by default 365
// days of 8,000 bookings with their audit records (FAIRSLOT_RESTORE_BENCH_DAYS
// and _PER_DAY change it) — from an archive made by 'fairslot backup', with
// 'fairslot restore' onto a fresh directory, and in the same run copies the
// database file with cp (and cp then sync). Each of b.N rounds does both;
// the data is generated once into FAIRSLOT_RESTORE_BENCH_DIR (default a
// temporary directory) and reused when it is already there:
//
//	FAIRSLOT_RESTORE_BENCH_DIR=/tmp/year go test ./cmd/fairslot -run '^$' \
//	  -bench RestoreHospitalYear -benchtime 3x -timeout 60m
func BenchmarkRestoreHospitalYear(b *testing.B) {
	days, perDay := envInt(b, "FAIRSLOT_RESTORE_BENCH_DAYS", 365), envInt(b, "FAIRSLOT_RESTORE_BENCH_PER_DAY", 8000)
	dir := os.Getenv("FAIRSLOT_RESTORE_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	bin := filepath.Join(b.TempDir(), "fairslot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	r := prepareYear(b, bin, dir, days, perDay)
	fi, _ := os.Stat(filepath.Join(r.data, sqlite.FileName))
	ai, _ := os.Stat(r.archive)
	var restores, cps, syncs []float64
	b.ResetTimer()
	for i := range b.N {
		cp, cpSync := r.copyDB(b)
		took, out := r.restore(b)
		if !strings.Contains(out, "RESTORED") {
			b.Fatalf("restore: %s", out)
		}
		if i == 0 {
			b.Log(out)
		}
		b.Logf("round %d: restore %.2f s, cp %.2f s, cp+sync %.2f s: ratio %.2f (%.2f with sync)", i+1, took.Seconds(), cp.Seconds(), cpSync.Seconds(),
			took.Seconds()/cp.Seconds(), took.Seconds()/cpSync.Seconds())
		restores, cps, syncs = append(restores, took.Seconds()), append(cps, cp.Seconds()), append(syncs, cpSync.Seconds())
	}
	b.StopTimer()
	med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(float64(fi.Size())/1e9, "db_GB")
	b.ReportMetric(float64(ai.Size())/1e9, "archive_GB")
	b.ReportMetric(med(restores), "restore_s")
	b.ReportMetric(med(cps), "cp_s")
	b.ReportMetric(med(syncs), "cp+sync_s")
	b.ReportMetric(med(restores)/med(cps), "x_cp")
	b.ReportMetric(med(restores)/med(syncs), "x_cp+sync")
}

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q", name, s)
	}
	return n
}
