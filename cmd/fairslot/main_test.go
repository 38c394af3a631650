package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
	"github.com/fairslot/fairslot/internal/testlog"
	"github.com/fairslot/fairslot/internal/vault"
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
		{append([]string{"migrate"}, flags...), false, "schema at version 31"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, &out, &errOut)
		if (err != nil) != tt.wantErr || !strings.Contains(out.String(), tt.out) {
			t.Errorf("fairslot %v = %v, %q; want error %v, output with %q", tt.args, err, out.String(), tt.wantErr, tt.out)
		}
	}
}

// server is a fairslot process started by a test.
type server struct {
	cmd     *exec.Cmd
	url     string
	mu      sync.Mutex
	logs    testlog.Buffer
	devices map[string]string // the device each token's client was given: one per account, as a phone
}

func (s *server) log() string { return s.logs.String() }

// built is the fairslot binary the tests run, built once for them all
// (seventeen links of it took a good part of this package's time).
var built struct {
	once sync.Once
	dir  string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "fairslot-test-"); built.err == nil {
			built.out, built.err = exec.Command("go", "build", "-o", filepath.Join(built.dir, "fairslot"), ".").CombinedOutput()
		}
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "fairslot")
}

// startServer starts 'fairslot serve --demo' on a free port with the data
// directory and keyset under dir, plus extra flags and environment.
func startServer(t *testing.T, bin, dir string, extra []string, env ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--demo", "--addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}, extra...)
	s := &server{cmd: exec.Command(bin, args...)}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = &s.logs
	stdout, _ := s.cmd.StdoutPipe()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "listening on "); ok {
				found <- url
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case s.url = <-found:
	case <-time.After(60 * time.Second): // a deadline on a hang, not a speed target
		t.Fatalf("the server did not start:\n%s", s.log())
	}
	return s
}

// post sends a POST as the token's client (the same device each time, as a
// phone would), solving a challenge when the server asks for one.
func (s *server) post(path, token, key, body string) (int, map[string]any, error) {
	s.mu.Lock()
	c := apiclient.Client{Base: s.url, Token: token, Device: s.devices[token]}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.devices == nil {
			s.devices = map[string]string{}
		}
		if c.Device != "" {
			s.devices[token] = c.Device
		}
	}()
	var b any
	if body != "" {
		b = json.RawMessage(body)
	}
	h := map[string]string{}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	resp, err := c.Do(context.Background(), "POST", path, b, h, false)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	resp.Decode(&out)
	return resp.Status, out, nil
}

// loginCodeText finds the code in a login code message, in any of its
// languages (a phone without an account gets it in the request's, else
// Chinese).
const loginCodeText = `(?:Your fairslot login code is |您的 fairslot 登录验证码是 |Mã đăng nhập fairslot của bạn là )(\d{6})`

// login logs a phone in, reading the code from the demo server's log.
func (s *server) login(t *testing.T, phone string) string {
	t.Helper()
	if code, body, err := s.post("/api/v1/auth/code", "", "", `{"phone":"`+phone+`"}`); err != nil || code != 202 {
		t.Fatalf("auth/code: %d %v %v", code, body, err)
	}
	masked := vault.MaskPhone(phone)
	re := regexp.MustCompile(`to=` + regexp.QuoteMeta(masked) + ` text="` + loginCodeText)
	for i := 0; i < 100; i++ {
		if m := re.FindAllStringSubmatch(s.log(), -1); m != nil {
			code, body, err := s.post("/api/v1/auth/login", "", "", fmt.Sprintf(`{"phone":%q,"code":%q}`, phone, m[len(m)-1][1]))
			if err != nil || code != 200 {
				t.Fatalf("auth/login: %d %v %v", code, body, err)
			}
			tok := body["token"].(string)
			// Every patient accepts the privacy notice before binding or booking.
			if code, body, err := s.post("/api/v1/privacy/consent", tok, "", `{"version":"`+privacy.NoticeVersion+`","lang":"zh-CN"}`); err != nil || code != 201 {
				t.Fatalf("privacy/consent: %d %v %v", code, body, err)
			}
			return tok
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no login code for %s in the log", masked)
	return ""
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
