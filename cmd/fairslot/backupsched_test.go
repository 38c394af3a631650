package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/backup"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/vault"
)

// TestScheduledBackupServe: serve takes a backup every second to a
// directory while it books, keeps them by the retention rules, and the
// newest restores on a clean machine.
func TestScheduledBackupServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir, safe := t.TempDir(), t.TempDir()
	idFile, recipient := backupIdentity(t, safe)
	backups := filepath.Join(safe, "backups")
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"backup": {"recipients": [%q], "every": "1s", "dir": %q,
		"keep": [{"every": "1s", "keep_for": "1h"}]}}`, recipient, backups)), 0o600)
	flags := []string{"--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}
	s := startServer(t, bin, dir, []string{"--config", cfg, "--drain", "0s"})
	before := bookThroughBackups(t, s, backups, "1371000", 7, 2)
	for _, want := range []string{"scheduled backups on", "scheduled backup written and verified"} {
		if !strings.Contains(s.log(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	archives, _ := filepath.Glob(filepath.Join(backups, "*.tar.age"))
	slices.Sort(archives)
	newest := archives[len(archives)-1]
	if _, err := os.Stat(newest + ".sig"); err != nil {
		t.Fatal(err)
	}

	keysFile := filepath.Join(safe, "keys.age")
	fairslotCmd(t, bin, false, append([]string{"keys", "export", "--to", keysFile, "--recipient", recipient}, flags...)...)
	verifyKey := strings.TrimSpace(fairslotCmd(t, bin, false, append([]string{"backup", "key"}, flags...)...))
	os.RemoveAll(filepath.Join(dir, "data"))
	clean := t.TempDir()
	out := fairslotCmd(t, bin, false, "restore", "--from", newest, "--identity", idFile, "--verify-key", verifyKey, "--keys", keysFile,
		"--data-dir", filepath.Join(clean, "data"), "--keyset", filepath.Join(clean, "keyset.json"))
	if !strings.Contains(out, "RESTORED") {
		t.Errorf("restore of a scheduled archive:\n%s", out)
	}
	// Every booking acknowledged before the archive's second is in it.
	wantRestoredSQLite(t, filepath.Join(clean, "data"), before)
}

// bookThroughBackups books through s until it has written n scheduled
// archives into dir after some bookings were acknowledged, then stops it,
// and returns those bookings. No ALERT may have been logged.
func bookThroughBackups(t *testing.T, s *server, dir, phonePrefix string, salt, n int) []int64 {
	t.Helper()
	b := startBooking(t, s, phonePrefix, salt)
	before := b.waitFor(t, 5)
	waitArchives(t, s, dir, time.Now(), n)
	b.halt()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	if strings.Contains(s.log(), "ALERT") {
		t.Errorf("an ALERT while backups succeeded:\n%s", s.log())
	}
	return before
}

// waitArchives waits until dir holds n archives named for a second after
// since (names have a second's resolution), with no deadline but the
// test's own, failing if serve stops.
func waitArchives(t *testing.T, s *server, dir string, since time.Time, n int) {
	t.Helper()
	start := since.UTC().Truncate(time.Second).Add(time.Second)
	for {
		archives, _ := filepath.Glob(filepath.Join(dir, "*.tar.age"))
		newer := 0
		for _, a := range archives {
			if at, ok := backup.ParseArchiveName(filepath.Base(a)); ok && !at.Before(start) {
				newer++
			}
		}
		if newer >= n {
			return
		}
		if s.cmd.ProcessState != nil {
			t.Fatalf("serve stopped:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, not waiting for a time
	}
}

// TestScheduledBackupPostgres: the job leader on PostgreSQL takes the
// scheduled backups with pg_dump as the owner while serving as the online
// role, and one restores into a fresh database.
func TestScheduledBackupPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	admin, as := pgtest.Fresh(t)
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump is not installed (postgresql-client)")
	}
	bin := buildBinary(t)
	dir, safe := t.TempDir(), t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	fairslotCmd(t, bin, false, "migrate", "--db", admin, "--keyset", keyset)
	idFile, recipient := backupIdentity(t, safe)
	backups := filepath.Join(safe, "backups")
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"backup": {"recipients": [%q], "every": "1s", "dir": %q, "db": %q}}`,
		recipient, backups, as(postgres.OwnerRole))), 0o600)
	s := startServer(t, bin, dir, []string{"--config", cfg, "--drain", "0s", "--db", as(postgres.OnlineRole)})
	before := bookThroughBackups(t, s, backups, "1392000", 8, 1)
	archives, _ := filepath.Glob(filepath.Join(backups, "*.tar.age"))
	slices.Sort(archives)
	keysFile := filepath.Join(safe, "keys.age")
	fairslotCmd(t, bin, false, "keys", "export", "--keyset", keyset, "--to", keysFile, "--recipient", recipient)
	verifyKey := strings.TrimSpace(fairslotCmd(t, bin, false, "backup", "key", "--keyset", keyset))
	admin2, as2 := pgtest.Fresh(t)
	clean := t.TempDir()
	out := fairslotCmd(t, bin, false, "restore", "--from", archives[len(archives)-1], "--identity", idFile, "--verify-key", verifyKey,
		"--keys", keysFile, "--db", admin2, "--keyset", filepath.Join(clean, "keyset.json"))
	if !strings.Contains(out, "RESTORED") {
		t.Errorf("restore of a scheduled archive:\n%s", out)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, as2(postgres.OnlineRole))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	wantRestoredPostgres(t, conn, before)
}

// TestBackupSchedulerMetrics: a failed scheduled backup counts in
// fairslot_backup_failures_total and logs an ALERT; the next, once the
// destination is usable, sets the last success.
func TestBackupSchedulerMetrics(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, recipient := backupIdentity(t, dir)
	c := config.Default()
	c.DataDir, c.Keyset = filepath.Join(dir, "data"), filepath.Join(dir, "keys", "keyset.json")
	blocked := filepath.Join(dir, "backups")
	os.WriteFile(blocked, []byte("a file where the directory should be"), 0o600)
	c.Backup = config.Backup{Recipients: []string{recipient}, Every: fairslot.Duration(time.Hour), Dir: blocked}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(c.Keyset); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(c.DataDir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	sched, err := backupScheduler(c, st, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	metric := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	if err := sched.Tick(ctx, now); err == nil {
		t.Fatal("a backup into a file succeeded")
	}
	if got := metric("fairslot_backup_failures_total"); got != 1 || !strings.Contains(logs.String(), "ALERT: scheduled backup failed") {
		t.Errorf("failures %v after a failed backup; log:\n%s", got, logs.String())
	}
	if got := metric("fairslot_backup_last_success_timestamp_seconds"); got != 0 {
		t.Errorf("last success %v before any", got)
	}
	os.Remove(blocked)
	if err := sched.Tick(ctx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := metric("fairslot_backup_last_success_timestamp_seconds"); got != float64(now.Add(time.Minute).Unix()) {
		t.Errorf("last success %v, want %v", got, now.Add(time.Minute).Unix())
	}
	if metric("fairslot_backup_failures_total") != 1 || metric("fairslot_backup_late") != 0 || metric("fairslot_backup_duration_seconds") <= 0 {
		t.Errorf("after a success: failures %v, late %v, duration %v", metric("fairslot_backup_failures_total"), metric("fairslot_backup_late"),
			metric("fairslot_backup_duration_seconds"))
	}
}
