package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// mountTmpfs mounts a tmpfs of size at dir for the test, or skips the test
// saying why it cannot.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot mount a small tmpfs to fill; skipping the disk-full test (CI runs as root)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mounting a tmpfs is not permitted here (%v: %s); skipping the disk-full test", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// answer is a response's status, Retry-After and error message.
type answer struct {
	status     int
	retryAfter string
	message    string
	body       map[string]any
}

func (s *server) call(t *testing.T, method, path, token, body string) answer {
	t.Helper()
	c := apiclient.Client{Base: s.url, Token: token}
	var b any
	if body != "" {
		b = jsonRaw(body)
	}
	resp, err := c.Do(context.Background(), method, path, b, nil, false)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var a answer
	a.status, a.retryAfter = resp.Status, resp.Header.Get("Retry-After")
	resp.Decode(&a.body)
	if e, ok := a.body["error"].(map[string]any); ok {
		a.message, _ = e["message"].(string)
	}
	return a
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDiskFull runs the server with its data directory on a small tmpfs
// (the keyset outside it), books, fills the disk with a file of zeros and
// checks what the issue asks: writes answer 503 with Retry-After and the
// clear message (not 500), /readyz is 503, reads go on, exactly one ALERT,
// and the metrics say so; once the filler is gone /readyz turns ready with
// no user write, bookings succeed and every booking acknowledged before is
// there. (A read-only remount cannot be tested so: Linux refuses to remount
// read-only a file system with files open for writing, as the database's
// are; SQLITE_READONLY's mapping is tested in internal/sqlite.)
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on a tmpfs")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mountTmpfs(t, data, "48m")
	bin := buildBinary(t)
	s := startServer(t, bin, dir, []string{"--no-admission"}, "FAIRSLOT_ADMIN_ADDR=127.0.0.1:0")
	adminRE := regexp.MustCompile(`metrics on the admin listener" url=(\S+)`)
	var metrics string
	for i := 0; metrics == ""; i++ { // the log reaches the test through a pipe: wait for the line
		if m := adminRE.FindStringSubmatch(s.log()); m != nil {
			metrics = m[1]
		} else if i > 600 {
			t.Fatalf("no admin listener in the log:\n%s", s.log())
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	metric := func(name string) string {
		_, body := get(t, metrics)
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+" ") {
				return strings.TrimPrefix(line, name+" ")
			}
		}
		return ""
	}

	token := s.login(t, "13600000001")
	var patients []int64
	for j := range 5 {
		first := fmt.Sprintf("11010519900101%03d", j)
		id := first + string(fairslot.ResidentCheckDigit(first))
		a := s.call(t, "POST", "/api/v1/patients", token, fmt.Sprintf(`{"name":"病人%d","id_type":"cn_resident","id_number":%q}`, j, id))
		if a.status != 201 {
			t.Fatalf("bind: %+v", a)
		}
		patients = append(patients, int64(a.body["id"].(float64)))
	}
	// Bookings go round the patients over sessions of different days and
	// departments, so the booking rules refuse few of them.
	var acked []int64
	attempt := 0
	book := func() answer {
		attempt++
		p := patients[attempt%len(patients)]
		session := 1 + (attempt*43)%(7*3*14)
		a := s.call(t, "POST", "/api/v1/bookings", token, fmt.Sprintf(`{"session_id":%d,"patient_id":%d}`, session, p))
		if a.status == 201 {
			acked = append(acked, int64(a.body["id"].(float64)))
		}
		return a
	}
	for len(acked) < 3 {
		if attempt > 100 {
			t.Fatalf("could not book 3 before filling the disk; last answer %+v", book())
		}
		book()
	}

	fill(t, filepath.Join(data, "filler"))
	// What is left of the database's and its log's allocated space may take
	// some writes still; login codes for new phones are writes the rules
	// never refuse, so they reach the full disk soon.
	var full answer
	for i := 0; ; i++ {
		if a := book(); a.status == 503 {
			full = a
			break
		} else if a.status >= 500 {
			t.Fatalf("a booking on a full disk: %+v, want 503 or success", a)
		}
		a := s.call(t, "POST", "/api/v1/auth/code", "", fmt.Sprintf(`{"phone":"1370000%04d"}`, i))
		if a.status >= 500 && a.status != 503 {
			t.Fatalf("a login code on a full disk: %+v, want 503 or success", a)
		}
		if i > 20000 {
			t.Fatal("the disk never filled up")
		}
	}
	t.Logf("the disk was full after %d booking attempts, %d acknowledged", attempt, len(acked))
	for range 5 {
		// The disk stays full: no booking may succeed now, though the
		// booking rules may refuse one before it writes.
		if a := book(); a.status != 503 && (a.status < 400 || a.status >= 500) {
			t.Errorf("a booking on a full disk: %+v, want 503 (or a rule's refusal)", a)
		}
	}
	if full.status != 503 || full.retryAfter != "60" || full.message != storage.ErrUnwritable.Message {
		t.Errorf("a booking on a full disk: %d, Retry-After %q, %q; want 503, 60 and %q", full.status, full.retryAfter, full.message, storage.ErrUnwritable.Message)
	}
	if code, body := get(t, s.url+"/readyz"); code != 503 {
		t.Errorf("/readyz on a full disk = %d %s, want 503", code, body)
	}
	if a := s.call(t, "GET", "/api/v1/bookings", token, ""); a.status != 200 {
		t.Errorf("GET bookings on a full disk = %+v, want 200", a)
	}
	if code, _ := get(t, s.url+"/api/v1/departments"); code != 200 {
		t.Errorf("GET departments on a full disk = %d, want 200", code)
	}
	syncLog(t, s)
	if n := strings.Count(s.log(), "ALERT"); n != 1 {
		t.Errorf("%d ALERT lines on a full disk, want exactly 1:\n%s", n, alerts(s.log()))
	}
	if v := metric("fairslot_storage_writable"); v != "0" {
		t.Errorf("fairslot_storage_writable = %q on a full disk, want 0", v)
	}
	if v := metric(`fairslot_storage_failures_total{op="write",reason="disk_full"}`); v == "" || v == "0" {
		t.Errorf("fairslot_storage_failures_total{op=write,reason=disk_full} = %q, want some", v)
	}

	if err := os.Remove(filepath.Join(data, "filler")); err != nil {
		t.Fatal(err)
	}
	// No user write from here until /readyz says ready: its probe, or the
	// store's prober, finds the disk has room.
	waitReady(t, s)
	syncLog(t, s)
	if n := strings.Count(s.log(), "storage recovered"); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
	if v := metric("fairslot_storage_writable"); v != "1" {
		t.Errorf("fairslot_storage_writable = %q after recovery, want 1", v)
	}
	n := len(acked)
	for len(acked) == n {
		if a := book(); a.status >= 500 || attempt > 10000 {
			t.Fatalf("a booking after the disk has room: %+v", a)
		}
	}
	for _, id := range acked {
		if a := s.call(t, "GET", fmt.Sprintf("/api/v1/bookings/%d", id), token, ""); a.status != 200 {
			t.Errorf("acknowledged booking %d: %+v", id, a)
		}
	}
	syncLog(t, s)
	if n := strings.Count(s.log(), "ALERT"); n != 1 {
		t.Errorf("%d ALERT lines in all, want 1:\n%s", n, alerts(s.log()))
	}

	// Stopped, the database holds every booking acknowledged.
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("the server did not stop cleanly: %v", err)
	}
	st, err := sqlite.Open(data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(context.Background(), func(tx storage.Tx) error {
		for _, id := range acked {
			if _, err := tx.Booking(context.Background(), id); err != nil {
				t.Errorf("acknowledged booking %d lost: %v", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitReady waits until /readyz answers 200.
func waitReady(t *testing.T, s *server) {
	t.Helper()
	for i := 0; ; i++ {
		code, _ := get(t, s.url+"/readyz")
		if code == 200 {
			return
		}
		if i > 600 { // a hang guard of about a minute, not a speed target
			t.Fatalf("/readyz did not turn ready:\n%s", alerts(s.log()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncLog waits until the log the test reads holds every line the server
// wrote so far: it reaches the test through a pipe, in order, so the access
// log line of a request made now comes after them.
func syncLog(t *testing.T, s *server) {
	t.Helper()
	const line = `route="GET /healthz"`
	n := strings.Count(s.log(), line)
	get(t, s.url+"/healthz")
	for i := 0; strings.Count(s.log(), line) == n; i++ {
		if i > 600 { // a hang guard of about a minute
			t.Fatal("the server's log stopped")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alerts returns the log's ALERT and recovery lines.
func alerts(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "ALERT") || strings.Contains(l, "recovered") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }
