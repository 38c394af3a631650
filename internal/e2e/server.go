package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/testlog"
	"github.com/fairslot/fairslot/internal/vault"
)

// module is the module whose root Root finds.
const module = "github.com/fairslot/fairslot"

// Root returns the repository's root (the folder of fairslot's go.mod),
// found from the working directory up, as go test runs a test in its
// package's folder wherever that is.
var Root = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(mod) == module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + module + " in the working directory or above it")
		}
		dir = parent
	}
})

// modulePath returns the module path a go.mod declares.
func modulePath(mod []byte) string {
	for line := range strings.Lines(string(mod)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// RootPath returns the path elem under the repository's root, failing t
// when the root cannot be found.
func RootPath(t *testing.T, elem ...string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// built is the fairslot binary the tests run, built once per test process
// (seventeen links of it took a good part of cmd/fairslot's time).
var built struct {
	once sync.Once
	dir  string
	out  []byte
	err  error
}

// Main runs a test package's tests (call it from its TestMain) and then
// removes the binary Binary built.
func Main(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// Binary returns the fairslot binary, built from ./cmd/fairslot into a
// temporary folder at the first call of the test process. The package's
// TestMain calls Main, which removes it.
func Binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		root, err := Root()
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "fairslot-test-"); built.err == nil {
			cmd := exec.Command("go", "build", "-o", filepath.Join(built.dir, "fairslot"), "./cmd/fairslot")
			cmd.Dir = root
			built.out, built.err = cmd.CombinedOutput()
		}
	})
	if built.err != nil {
		t.Fatalf("go build ./cmd/fairslot: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "fairslot")
}

// Server is a fairslot process started by a test.
type Server struct {
	Cmd     *exec.Cmd
	URL     string
	mu      sync.Mutex
	logs    testlog.Buffer
	devices map[string]string // the device each token's client was given: one per account, as a phone
}

// Log returns what the server has written to its log (stderr) so far.
func (s *Server) Log() string { return s.logs.String() }

// StartServer starts 'fairslot serve --demo' on a free port with the data
// directory and keyset under dir, plus extra flags and environment.
func StartServer(t *testing.T, bin, dir string, extra []string, env ...string) *Server {
	t.Helper()
	args := append([]string{"serve", "--demo", "--addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}, extra...)
	s := &Server{Cmd: exec.Command(bin, args...)}
	s.Cmd.Env = append(os.Environ(), env...)
	s.Cmd.Stderr = &s.logs
	stdout, _ := s.Cmd.StdoutPipe()
	if err := s.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Cmd.Process.Kill(); s.Cmd.Wait() })
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
	case s.URL = <-found:
	case <-time.After(60 * time.Second): // a deadline on a hang, not a speed target
		t.Fatalf("the server did not start:\n%s", s.Log())
	}
	return s
}

// Post sends a POST as the token's client (the same device each time, as a
// phone would), solving a challenge when the server asks for one.
func (s *Server) Post(path, token, key, body string) (int, map[string]any, error) {
	s.mu.Lock()
	c := apiclient.Client{Base: s.URL, Token: token, Device: s.devices[token]}
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

// LoginCodeText finds the code in a login code message, in any of its
// languages (a phone without an account gets it in the request's, else
// Chinese).
const LoginCodeText = `(?:Your fairslot login code is |您的 fairslot 登录验证码是 |Mã đăng nhập fairslot của bạn là )(\d{6})`

// Login logs a phone in over the API, reading the code from the demo
// server's log, and accepts the privacy notice; it returns the token.
func (s *Server) Login(t *testing.T, phone string) string {
	t.Helper()
	if code, body, err := s.Post("/api/v1/auth/code", "", "", `{"phone":"`+phone+`"}`); err != nil || code != 202 {
		t.Fatalf("auth/code: %d %v %v", code, body, err)
	}
	masked := vault.MaskPhone(phone)
	re := regexp.MustCompile(`to=` + regexp.QuoteMeta(masked) + ` text="` + LoginCodeText)
	for i := 0; i < 100; i++ {
		if m := re.FindAllStringSubmatch(s.Log(), -1); m != nil {
			code, body, err := s.Post("/api/v1/auth/login", "", "", fmt.Sprintf(`{"phone":%q,"code":%q}`, phone, m[len(m)-1][1]))
			if err != nil || code != 200 {
				t.Fatalf("auth/login: %d %v %v", code, body, err)
			}
			tok := body["token"].(string)
			// Every patient accepts the privacy notice before binding or booking.
			if code, body, err := s.Post("/api/v1/privacy/consent", tok, "", `{"version":"`+privacy.NoticeVersion+`","lang":"zh-CN"}`); err != nil || code != 201 {
				t.Fatalf("privacy/consent: %d %v %v", code, body, err)
			}
			return tok
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no login code for %s in the log", masked)
	return ""
}

// LoginCode waits for the code sent to phone in the demo server's log.
func (s *Server) LoginCode(t *testing.T, phone string) string {
	t.Helper()
	masked := vault.MaskPhone(phone)
	re := regexp.MustCompile(`to=` + regexp.QuoteMeta(masked) + ` text="` + LoginCodeText)
	for deadline := HangGuard(t); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindAllStringSubmatch(s.Log(), -1); m != nil {
			return m[len(m)-1][1]
		}
	}
	t.Fatalf("waited until the test's deadline for the login code sent to %s in the server's log", masked)
	return ""
}

// Logged waits for a line of the server's log matching re after the
// first skip such lines and returns its first group.
func (s *Server) Logged(t *testing.T, what string, re *regexp.Regexp, skip int) string {
	t.Helper()
	for deadline := HangGuard(t); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindAllStringSubmatch(s.Log(), -1); len(m) > skip {
			return m[skip][1]
		}
	}
	t.Fatalf("waited until the test's deadline for %s in the server's log", what)
	return ""
}

var logText = regexp.MustCompile(`to=(\S+) text="((?:[^"\\]|\\.)*)"`)

// Messages returns the messages the demo's log provider showed for phone
// that begin with prefix.
func (s *Server) Messages(phone, prefix string) []string {
	masked := vault.MaskPhone(phone)
	var out []string
	for _, m := range logText.FindAllStringSubmatch(s.Log(), -1) {
		text, err := strconv.Unquote(`"` + m[2] + `"`)
		if err == nil && m[1] == masked && strings.HasPrefix(text, prefix) {
			out = append(out, text)
		}
	}
	return out
}

// Message waits for a message to phone beginning with prefix.
func (s *Server) Message(t *testing.T, phone, prefix, what string) string {
	t.Helper()
	for deadline := HangGuard(t); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got := s.Messages(phone, prefix); len(got) > 0 {
			return got[len(got)-1]
		}
	}
	t.Fatalf("waited until the test's deadline for %s (to %s, beginning %q) in the server's log", what, vault.MaskPhone(phone), prefix)
	return ""
}

// HangGuard is when a wait in a test gives up: the test binary's deadline
// less a minute, so the test says what it was waiting for before go test
// kills it; half an hour from now without one.
func HangGuard(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-time.Minute)
	}
	return time.Now().Add(30 * time.Minute)
}

// SimServer starts the demo with config (JSON) and its simulated release
// (--sim, the flags in sim), and returns it with the draw session's and
// the first-come session's ids.
func SimServer(t *testing.T, config string, sim ...string) (s *Server, draw, firstCome string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "fairslot.json")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s = StartServer(t, Binary(t), dir, append([]string{"--config", path, "--sim"}, sim...))
	m := regexp.MustCompile(`simulation: sessions added" draw_session=(\d+) first_come_session=(\d+)`).FindStringSubmatch(s.Log())
	if m == nil {
		t.Fatalf("no simulation sessions in the log:\n%s", s.Log())
	}
	return s, m[1], m[2]
}

// Bound logs in with phone and binds 欧阳娜娜, resident ID id, to the
// account, returning the account's token and the patient's id.
func Bound(t *testing.T, s *Server, phone, id string) (string, int64) {
	t.Helper()
	tok := s.Login(t, phone)
	code, body, err := s.Post("/api/v1/patients", tok, "", fmt.Sprintf(`{"name":"欧阳娜娜","id_type":"cn_resident","id_number":%q}`, id))
	if err != nil || code != 201 {
		t.Fatalf("bind: %d %v %v", code, body, err)
	}
	return tok, int64(body["id"].(float64))
}

// Hospital is the demo hospital's time zone.
func Hospital(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// HeldBooking books a new patient (ID number id) into a session of the
// fever clinic today (the hospital's today) through the API, unpaid, and
// returns the account's token and the booking's id and code.
func HeldBooking(t *testing.T, s *Server, phone, id string) (string, int64, string) {
	t.Helper()
	tok, pid := Bound(t, s, phone, id)
	today := time.Now().In(Hospital(t)).Format(time.DateOnly)
	resp, err := (&apiclient.Client{Base: s.URL}).Do(context.Background(), "GET", "/api/v1/departments/1/sessions?from="+today+"&to="+today, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Sessions []struct {
			ID  int64     `json:"id"`
			End time.Time `json:"end"`
		} `json:"sessions"`
	}
	resp.Decode(&list)
	for _, sess := range list.Sessions {
		if time.Until(sess.End) < 10*time.Minute {
			continue
		}
		code, body, err := s.Post("/api/v1/bookings", tok, "", fmt.Sprintf(`{"session_id":%d,"patient_id":%d}`, sess.ID, pid))
		if err == nil && code == 201 {
			return tok, int64(body["id"].(float64)), body["code"].(string)
		}
	}
	t.Skip("no session of the fever clinic left today to book (just before midnight)")
	return "", 0, ""
}

// StaffToken logs a demo staff member in over the API.
func StaffToken(t *testing.T, s *Server, user string) string {
	t.Helper()
	resp, err := (&apiclient.Client{Base: s.URL}).Do(context.Background(), "POST", "/api/v1/staff/login",
		map[string]string{"username": user, "password": demo.Password}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Token string }
	resp.Decode(&body)
	if body.Token == "" {
		t.Fatalf("staff login %s: %d", user, resp.Status)
	}
	return body.Token
}

// GetList reads the one list of a JSON API answer into v.
func GetList(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	for _, raw := range body {
		if json.Unmarshal(raw, v) == nil {
			return
		}
	}
	t.Fatalf("GET %s: no list in %v", url, body)
}

// ResidentID is a made-up resident ID number with a valid check digit.
func ResidentID(n int) string {
	first := fmt.Sprintf("11010519800101%03d", n%1000)
	return first + string(fairslot.ResidentCheckDigit(first))
}
