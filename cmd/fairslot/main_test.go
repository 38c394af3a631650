package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/e2e"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json")}
	tests := []struct {
		args    []string
		wantErr bool
		out     string
	}{
		{[]string{"version"}, false, "fairslot dev"},
		{[]string{"nope"}, true, ""},
		{append([]string{"config"}, flags...), false, `"hold_for": "15m0s"`},
		{[]string{"config", "--keyset", "./fairslot-data/k.json"}, true, ""},
		{append([]string{"serve"}, flags...), true, ""}, // schema behind: refuses to start
		{append([]string{"migrate"}, flags...), false, "schema at version 37"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, &out, &errOut)
		if (err != nil) != tt.wantErr || !strings.Contains(out.String(), tt.out) {
			t.Errorf("fairslot %v = %v, %q; want error %v, output with %q", tt.args, err, out.String(), tt.wantErr, tt.out)
		}
	}
}

// server is a fairslot process started by a test: internal/e2e's, with
// the names this package's tests use.
type server struct {
	*e2e.Server
	url string
	cmd *exec.Cmd
}

func (s *server) log() string { return s.Log() }

// post sends a POST as the token's client (the same device each time, as a
// phone would), solving a challenge when the server asks for one.
func (s *server) post(path, token, key, body string) (int, map[string]any, error) {
	return s.Post(path, token, key, body)
}

// login logs a phone in, reading the code from the demo server's log, and
// accepts the privacy notice.
func (s *server) login(t *testing.T, phone string) string {
	t.Helper()
	return s.Login(t, phone)
}

// TestMain removes the fairslot binary the tests built (buildBinary).
func TestMain(m *testing.M) { e2e.Main(m) }

// buildBinary returns the fairslot binary, built once for all the tests
// (seventeen links of it took a good part of this package's time).
func buildBinary(t *testing.T) string {
	t.Helper()
	return e2e.Binary(t)
}

// startServer starts 'fairslot serve --demo' on a free port with the data
// directory and keyset under dir, plus extra flags and environment.
func startServer(t *testing.T, bin, dir string, extra []string, env ...string) *server {
	t.Helper()
	s := e2e.StartServer(t, bin, dir, extra, env...)
	return &server{Server: s, url: s.URL, cmd: s.Cmd}
}

// TestCrashLosesNoAcknowledgedBooking kills the server with SIGKILL in the
// middle of a booking burst, restarts it on the same data directory, and
// checks every acknowledged hold and payment survived and no slot is held
// twice. It then stops the server with SIGTERM and expects a clean exit.
func TestCrashLosesNoAcknowledgedBooking(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	s := startServer(t, bin, dir, nil)

	type patient struct {
		token string
		id    int64
	}
	var people []patient
	for i := 0; i < 6; i++ {
		tok := s.login(t, fmt.Sprintf("1360000%04d", i))
		for j := 0; j < 5; j++ {
			first := fmt.Sprintf("11010520000101%d%d%d", i, j, 1)
			id := first + string(fairslot.ResidentCheckDigit(first))
			code, body, err := s.post("/api/v1/patients", tok, "", fmt.Sprintf(`{"name":"病人%d%d","id_type":"cn_resident","id_number":%q}`, i, j, id))
			if err != nil || code != 201 {
				t.Fatalf("bind: %d %v %v", code, body, err)
			}
			people = append(people, patient{tok, int64(body["id"].(float64))})
		}
	}

	// The burst: every patient books sessions across departments and days
	// and pays, until the server is killed under them.
	type ack struct {
		booking int64
		paid    bool
	}
	var mu sync.Mutex
	acks := map[int64]*ack{}
	var wg sync.WaitGroup
	for pi, p := range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 40; k++ {
				session := 1 + (pi*7+k*43)%(7*3*14)
				code, body, err := s.post("/api/v1/bookings", p.token, "", fmt.Sprintf(`{"session_id":%d,"patient_id":%d}`, session, p.id))
				if err != nil {
					return // the server is gone
				}
				if code != 201 {
					continue
				}
				id := int64(body["id"].(float64))
				mu.Lock()
				acks[id] = &ack{booking: id}
				mu.Unlock()
				code, _, err = s.post(fmt.Sprintf("/api/v1/bookings/%d/pay", id), p.token, fmt.Sprint("pay-", id), "")
				if err != nil {
					return
				}
				if code == 200 {
					mu.Lock()
					acks[id].paid = true
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; ; i++ {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 40 || i > 3000 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acks) < 10 {
		t.Fatalf("only %d bookings were acknowledged before the kill; the test proves little", len(acks))
	}

	s2 := startServer(t, bin, dir, nil)
	if code, _, _ := s2.post("/readyz", "", "", ""); code != 405 {
		t.Errorf("restarted server: POST /readyz = %d, want 405 (the server answers)", code)
	}
	// A display stream is open when SIGTERM comes: shutdown must end it and
	// exit cleanly, not wait for it until the shutdown timeout.
	stream, err := http.Get(s2.url + "/api/v1/display/departments/1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	stream.Body.Read(make([]byte, 64)) // the first board has been sent
	s2.cmd.Process.Signal(syscall.SIGTERM)
	if err := s2.cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM with a display stream open the server exited with %v, want a clean exit\n%s", err, s2.log())
	}

	st, err := sqlite.Open(filepath.Join(dir, "data"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	err = st.View(ctx, func(tx storage.Tx) error {
		for id, a := range acks {
			b, err := tx.Booking(ctx, id)
			if err != nil {
				t.Errorf("acknowledged booking %d lost: %v", id, err)
				continue
			}
			if a.paid && b.Status != fairslot.Confirmed {
				t.Errorf("booking %d was acknowledged as paid but is %s", id, b.Status)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sessions := make([]int64, 7*3*14)
	for i := range sessions {
		sessions[i] = int64(i + 1)
	}
	storagetest.CheckNoDoubles(t, st, sessions...)
	t.Logf("%d bookings acknowledged before SIGKILL, all found after restart", len(acks))
}
