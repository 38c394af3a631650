package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/sqlite"
)

// backupIdentity writes a new age identity file under dir and returns its
// path and public key: the restorer's, kept off the server.
func backupIdentity(t *testing.T, dir string) (path, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

// fairslotCmd runs the binary and returns its output, failing the test on
// an error unless wantErr.
func fairslotCmd(t *testing.T, bin string, wantErr bool, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if (err != nil) != wantErr {
		t.Fatalf("fairslot %s = %v, want error %v:\n%s", strings.Join(args, " "), err, wantErr, out)
	}
	return string(out)
}

// booker books as patients through s, each until they hold the most
// active bookings the policy allows or stop is closed, recording the
// acknowledged bookings.
type booker struct {
	mu      sync.Mutex
	changed *sync.Cond
	acked   []int64
	running int
	limit   int // while > 0, the bookers wait once this many are acknowledged (allow)
	halted  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// startBooking books from 20 patients of 10 accounts until halted, or,
// with limit > 0, until limit bookings are acknowledged and allow lets
// them go on: the places are few (each patient's daily and active limits),
// so a test that must see bookings made during something holds some back.
func startBooking(t *testing.T, s *server, phonePrefix string, salt int, limit ...int) *booker {
	t.Helper()
	b := &booker{stop: make(chan struct{})}
	if len(limit) > 0 {
		b.limit = limit[0]
	}
	b.changed = sync.NewCond(&b.mu)
	for i := 0; i < 10; i++ { // many accounts: each has a request rate limit
		tok := s.login(t, fmt.Sprintf("%s%04d", phonePrefix, i))
		for j := 0; j < 2; j++ {
			first := fmt.Sprintf("11010520000101%d%d%d", i, j, salt)
			code, body, err := s.post("/api/v1/patients", tok, "", fmt.Sprintf(`{"name":"病人%d%d","id_type":"cn_resident","id_number":%q}`, i, j, first+string(fairslot.ResidentCheckDigit(first))))
			if err != nil || code != 201 {
				t.Fatalf("bind: %d %v %v", code, body, err)
			}
			pid := int64(body["id"].(float64))
			b.running++
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() { b.mu.Lock(); b.running--; b.changed.Broadcast(); b.mu.Unlock() }()
				held := 0
				for k := 0; k < 100 && held < booking.Default().MaxActive; k++ {
					b.mu.Lock()
					for b.limit > 0 && len(b.acked) >= b.limit && !b.halted {
						b.changed.Wait()
					}
					b.mu.Unlock()
					select {
					case <-b.stop:
						return
					default:
					}
					session := 1 + ((i*2+j)*7+k*43)%(7*3*14)
					code, body, err := s.post("/api/v1/bookings", tok, "", fmt.Sprintf(`{"session_id":%d,"patient_id":%d}`, session, pid))
					if err != nil {
						return
					}
					if code == 201 {
						held++
						b.mu.Lock()
						b.acked = append(b.acked, int64(body["id"].(float64)))
						b.changed.Broadcast()
						b.mu.Unlock()
					}
				}
			}()
		}
	}
	return b
}

// waitFor waits until at least n bookings are acknowledged, returning them;
// it fails when every booker has stopped short of n.
func (b *booker) waitFor(t *testing.T, n int) []int64 {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && n > b.limit {
		t.Fatalf("waiting for %d bookings with the bookers held at %d", n, b.limit)
	}
	for len(b.acked) < n && b.running > 0 {
		b.changed.Wait()
	}
	if len(b.acked) < n {
		t.Fatalf("the bookers stopped with %d bookings acknowledged, want %d", len(b.acked), n)
	}
	return append([]int64(nil), b.acked...)
}

func (b *booker) halt() {
	b.mu.Lock()
	b.halted = true
	b.changed.Broadcast()
	b.mu.Unlock()
	close(b.stop)
	b.wg.Wait()
}

// allow lets the bookers book up to n in all (0: without a limit).
func (b *booker) allow(n int) {
	b.mu.Lock()
	b.limit = n
	b.changed.Broadcast()
	b.mu.Unlock()
}

// wantRestoredSQLite fails unless every booking in ids is once in the
// SQLite database restored into data.
func wantRestoredSQLite(t *testing.T, data string, ids []int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantRestored(t, ids, func(id int64) (n int, err error) {
		return n, db.QueryRow(`SELECT count(*) FROM bookings WHERE id = ?`, id).Scan(&n)
	})
}

// wantRestoredPostgres is wantRestoredSQLite on a restored PostgreSQL
// database.
func wantRestoredPostgres(t *testing.T, conn *pgx.Conn, ids []int64) {
	t.Helper()
	wantRestored(t, ids, func(id int64) (n int, err error) {
		return n, conn.QueryRow(context.Background(), `SELECT count(*) FROM fairslot.bookings WHERE id = $1`, id).Scan(&n)
	})
}

// wantRestored fails unless count finds each booking acknowledged before
// the backup exactly once.
func wantRestored(t *testing.T, ids []int64, count func(int64) (int, error)) {
	t.Helper()
	for _, id := range ids {
		if n, err := count(id); err != nil || n != 1 {
			t.Errorf("booking %d, acknowledged before the backup, restored %d times (%v)", id, n, err)
		}
	}
}

// TestBackupRestoreWhileServing: a backup taken while the server books,
// then the data directory and keyset destroyed, a restore onto a clean
// machine's paths, and serve on what was restored.
func TestBackupRestoreWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir, safe := t.TempDir(), t.TempDir() // the server's disk; the restorer's safe
	idFile, recipient := backupIdentity(t, safe)
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}
	s := startServer(t, bin, dir, []string{"--drain", "0s"})
	b := startBooking(t, s, "1370000", 3, 10)
	before := b.waitFor(t, 10)
	b.allow(0) // they book on while the backup runs

	backups := filepath.Join(safe, "backups")
	out := fairslotCmd(t, bin, false, append([]string{"backup", "--to", backups, "--recipient", recipient}, flags...)...)
	t.Log(out)
	keysFile := filepath.Join(safe, "keys.age")
	fairslotCmd(t, bin, false, append([]string{"keys", "export", "--to", keysFile, "--recipient", recipient}, flags...)...)
	verifyKey := strings.TrimSpace(fairslotCmd(t, bin, false, append([]string{"backup", "key"}, flags...)...))
	b.waitFor(t, len(before)+5) // the server booked on through the backup
	b.halt()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	archives, _ := filepath.Glob(filepath.Join(backups, "*.tar.age"))
	if len(archives) != 1 {
		t.Fatalf("archives %v, want one", archives)
	}
	if data, _ := os.ReadFile(archives[0]); bytes.Contains(data, []byte("SQLite format")) || bytes.Contains(data, []byte("manifest.json")) {
		t.Fatal("the archive is not encrypted")
	}

	// An archive with one byte flipped is refused through the binary too,
	// and nothing is written.
	flipped := filepath.Join(safe, "flipped.tar.age")
	data, _ := os.ReadFile(archives[0])
	data[len(data)/3] ^= 0x20
	os.WriteFile(flipped, data, 0o600)
	sig, _ := os.ReadFile(archives[0] + ".sig")
	os.WriteFile(flipped+".sig", sig, 0o600)
	elsewhere := t.TempDir()
	out = fairslotCmd(t, bin, true, "restore", "--from", flipped, "--identity", idFile, "--verify-key", verifyKey, "--keys", keysFile,
		"--data-dir", filepath.Join(elsewhere, "data"), "--keyset", filepath.Join(elsewhere, "keyset.json"))
	if !strings.Contains(out, "does not match its signature") {
		t.Errorf("restore of a flipped archive: %s", out)
	}
	if left, _ := os.ReadDir(elsewhere); len(left) != 0 {
		t.Errorf("the refused restore wrote %v", left)
	}

	// Ransomware: the data directory and the keyset are gone.
	os.RemoveAll(dir)
	clean := t.TempDir()
	restoreFlags := []string{"restore", "--from", archives[0], "--identity", idFile, "--verify-key", verifyKey, "--keys", keysFile,
		"--data-dir", filepath.Join(clean, "data"), "--keyset", filepath.Join(clean, "keyset.json")}
	out = fairslotCmd(t, bin, false, restoreFlags...)
	t.Log(out)
	for _, want := range []string{"verified before decryption", "every count matches the manifest", "audit log", "RESTORED"} {
		if !strings.Contains(out, want) {
			t.Errorf("the restore report lacks %q:\n%s", want, out)
		}
	}
	// Every booking acknowledged before the backup began is in it.
	wantRestoredSQLite(t, filepath.Join(clean, "data"), before)
	// A second restore onto what was restored is refused, writing nothing.
	out = fairslotCmd(t, bin, true, restoreFlags...)
	if !strings.Contains(out, "not empty") || !strings.Contains(out, "--force") {
		t.Errorf("restore over a non-empty data directory: %s", out)
	}

	// serve starts on the restored data and books.
	s2 := startServer(t, bin, clean, []string{"--drain", "0s"})
	b2 := startBooking(t, s2, "1380000", 4)
	b2.waitFor(t, 1)
	b2.halt()
	if !strings.Contains(s2.log(), "audit log verified") {
		t.Errorf("serve on the restored data did not verify the audit log:\n%s", s2.log())
	}
}

// TestBackupRestorePostgres: the same on PostgreSQL — pg_dump as the owner
// while serving as the online role, a restore into a fresh database by an
// administrator, and the online role still unable to lock tables there.
func TestBackupRestorePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	admin, as := pgtest.Fresh(t)
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump is not installed (postgresql-client): skipping the PostgreSQL backup test")
	}
	bin := buildBinary(t)
	dir, safe := t.TempDir(), t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	fairslotCmd(t, bin, false, "migrate", "--db", admin, "--keyset", keyset)
	s := startServer(t, bin, dir, []string{"--drain", "0s", "--db", as(postgres.OnlineRole)})
	b := startBooking(t, s, "1390000", 5, 10)
	before := b.waitFor(t, 10)
	b.allow(0) // they book on while the backup runs
	idFile, recipient := backupIdentity(t, safe)
	// Without pg_dump the error says what to install.
	noTools := exec.Command(bin, "backup", "--db", as(postgres.OwnerRole), "--keyset", keyset, "--to", filepath.Join(safe, "none"), "--recipient", recipient)
	noTools.Env = append(os.Environ(), "PATH="+t.TempDir())
	if out, err := noTools.CombinedOutput(); err == nil || !strings.Contains(string(out), "install postgresql-client") {
		t.Errorf("backup without pg_dump = %v: %s", err, out)
	}
	backups, keysFile := filepath.Join(safe, "backups"), filepath.Join(safe, "keys.age")
	out := fairslotCmd(t, bin, false, "backup", "--db", as(postgres.OwnerRole), "--keyset", keyset, "--to", backups, "--recipient", recipient)
	t.Log(out)
	fairslotCmd(t, bin, false, "keys", "export", "--keyset", keyset, "--to", keysFile, "--recipient", recipient)
	verifyKey := strings.TrimSpace(fairslotCmd(t, bin, false, "backup", "key", "--keyset", keyset))
	b.waitFor(t, len(before)+5)
	b.halt()
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
	archives, _ := filepath.Glob(filepath.Join(backups, "*.tar.age"))
	if len(archives) != 1 {
		t.Fatalf("archives %v, want one", archives)
	}

	// Restore into another, empty database on a clean machine.
	os.RemoveAll(dir)
	admin2, as2 := pgtest.Fresh(t)
	clean := t.TempDir()
	keyset2 := filepath.Join(clean, "keyset.json")
	restoreArgs := []string{"restore", "--from", archives[0], "--identity", idFile, "--verify-key", verifyKey, "--keys", keysFile,
		"--db", admin2, "--keyset", keyset2}
	// A flipped byte is refused before the database is touched.
	flipped := filepath.Join(safe, "flipped.tar.age")
	data, _ := os.ReadFile(archives[0])
	data[len(data)/2] ^= 0x01
	os.WriteFile(flipped, data, 0o600)
	sig, _ := os.ReadFile(archives[0] + ".sig")
	os.WriteFile(flipped+".sig", sig, 0o600)
	if out := fairslotCmd(t, bin, true, append([]string{"restore", "--from", flipped}, restoreArgs[3:]...)...); !strings.Contains(out, "does not match its signature") {
		t.Errorf("restore of a flipped archive: %s", out)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var schemas int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = 'fairslot'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Fatalf("the refused restore left %d fairslot schemas (%v)", schemas, err)
	}
	if _, err := os.Stat(keyset2); err == nil {
		t.Error("the refused restore wrote the keyset")
	}
	out = fairslotCmd(t, bin, false, restoreArgs...)
	t.Log(out)
	for _, want := range []string{"roles", "every count matches the manifest", "RESTORED"} {
		if !strings.Contains(out, want) {
			t.Errorf("the restore report lacks %q:\n%s", want, out)
		}
	}
	if out := fairslotCmd(t, bin, true, restoreArgs...); !strings.Contains(out, "already has a fairslot schema") {
		t.Errorf("restore over a restored database: %s", out)
	}
	conn, err = pgx.Connect(ctx, as2(postgres.OnlineRole))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	wantRestoredPostgres(t, conn, before)
	for _, stmt := range []string{"LOCK TABLE fairslot.bookings IN EXCLUSIVE MODE", "LOCK TABLE fairslot.slots IN ACCESS EXCLUSIVE MODE", "TRUNCATE fairslot.bookings"} {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, stmt)
		tx.Rollback(ctx)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("after restore, as %s: %s = %v; want insufficient_privilege", postgres.OnlineRole, stmt, err)
		}
	}
	// serve starts on the restored database as the online role, and books.
	s2 := startServer(t, bin, clean, []string{"--drain", "0s", "--db", as2(postgres.OnlineRole)})
	b2 := startBooking(t, s2, "1391000", 6)
	b2.waitFor(t, 1)
	b2.halt()
}

// TestBackupCommandRefusals: the mistakes a backup refuses before it reads
// the database.
func TestBackupCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	_, recipient := backupIdentity(t, dir)
	data, keyset := filepath.Join(dir, "data"), filepath.Join(dir, "keyset.json")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--to", filepath.Join(dir, "b")}, "no recipient"},
		{[]string{"backup", "--to", filepath.Join(dir, "b"), "--recipient", "age1nope"}, "not an age X25519 public key"},
		{[]string{"backup", "--to", filepath.Join(data, "b"), "--recipient", recipient}, "inside the data directory"},
		{[]string{"backup", "--to", filepath.Join(dir, "b"), "--recipient", recipient}, "no keyset"},
		{[]string{"keys", "export", "--to", filepath.Join(dir, "k"), "--recipient", recipient}, "no keyset"},
		{[]string{"restore", "--from", filepath.Join(dir, "a")}, "are required"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), append(tt.args, "--data-dir", data, "--keyset", keyset), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("fairslot %v = %v, want an error saying %q", tt.args, err, tt.want)
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("a refused backup created the data directory")
	}
}
