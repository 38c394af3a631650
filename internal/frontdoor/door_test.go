package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/promtest"
)

// claims is a fake token reader: "staff-N" and "acct-N" are valid.
func claims(tok string) (string, int64, bool) {
	kind, n, ok := strings.Cut(tok, "-")
	id, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil {
		return "", 0, false
	}
	switch kind {
	case "staff":
		return "staff", id, true
	case "acct":
		return "account", id, true
	}
	return "", 0, false
}

func key(purpose string) []byte { return []byte("test key for " + purpose + "...............")[:32] }

func newDoor(t *testing.T, cfg frontdoor.Config) (*frontdoor.Door, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	d, err := frontdoor.New(context.Background(), cfg, key, claims, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, reg
}

func request(method, path, remote, token string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })

// TestSaturatedPublicLaneNeverHoldsStaff fills the public and patient lanes
// and their queues with requests that do not finish, then sends staff
// requests — on the internal listener and with a staff token on the public
// one. They are served while every public request is still stuck: they
// waited for nothing the public traffic holds. Public requests beyond the
// queue are refused at once with 503 and Retry-After.
func TestSaturatedPublicLaneNeverHoldsStaff(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PublicLane = frontdoor.LaneConfig{Active: 2, Queue: 3, Deadline: fairslot.Duration(time.Hour)}
	cfg.PatientLane = frontdoor.LaneConfig{Active: 1, Queue: 0, Deadline: fairslot.Duration(time.Hour)}
	d, reg := newDoor(t, cfg)
	release := make(chan struct{})
	entered := make(chan struct{}, 16)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/staff") {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(200)
	})
	public, internal := d.Wrap(stuck, frontdoor.SingleListener), d.Wrap(stuck, frontdoor.InternalListener)
	var done sync.WaitGroup
	for i := range 6 {
		tok := ""
		if i == 5 {
			tok = "acct-1"
		}
		done.Go(func() { serve(public, request("GET", "/x", "10.0."+strconv.Itoa(i)+".1:1", tok)) })
	}
	for range 3 { // 2 public + 1 patient get places; 3 public queue
		<-entered
	}
	for waiting := 0; waiting < 3; waiting = int((gauge(t, reg, "fairslot_admission_waiting", "public"))) {
		time.Sleep(time.Millisecond)
	}
	w := serve(public, request("GET", "/x", "10.1.0.1:1", ""))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"unavailable"`) {
		t.Errorf("public request beyond the queue: %d %q %s; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := serve(public, request("GET", "/x", "10.1.0.2:1", "acct-2")); w.Code != 503 {
		t.Errorf("patient request with the patient lane full: %d, want 503", w.Code)
	}
	for _, r := range []*http.Request{request("GET", "/staff/a", "10.9.0.1:1", ""), request("POST", "/staff/b", "10.9.0.1:1", "")} {
		if w := serve(internal, r); w.Code != 200 {
			t.Errorf("internal %s %s with the public lane full: %d", r.Method, r.URL.Path, w.Code)
		}
	}
	if w := serve(public, request("GET", "/staff/c", "10.0.0.1:1", "staff-7")); w.Code != 200 {
		t.Errorf("staff token on the public listener with the public lane full: %d", w.Code)
	}
	if w := serve(public, request("GET", "/staff/d", "10.0.0.1:1", "staff-x")); w.Code != 503 {
		t.Errorf("a made-up staff token gets %d, want the public lane's 503", w.Code)
	}
	close(release)
	done.Wait()
	if n := (counter(t, reg, "public", "shed", "queue_full")); n != 2 {
		t.Errorf("public queue_full sheds counted: %v, want 2", n)
	}
	if n := (counter(t, reg, "staff", "admitted", "")); n != 3 {
		t.Errorf("staff admitted: %v, want 3", n)
	}
}

// TestRateLimits: an address prefix, a device and an account each run out
// on their own, with 429 and Retry-After; a made-up device gives nothing.
func TestRateLimits(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PrefixLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Minute), Burst: 3}
	cfg.AccountLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Minute), Burst: 2}
	d, reg := newDoor(t, cfg)
	h := d.Wrap(ok, frontdoor.SingleListener)
	for i := range 3 {
		if w := serve(h, request("GET", "/", "192.0.2."+strconv.Itoa(10+i)+":5", "")); w.Code != 200 {
			t.Fatalf("request %d in the burst: %d", i, w.Code)
		}
	}
	w := serve(h, request("GET", "/", "192.0.2.99:5", "")) // same /24
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "this network") {
		t.Errorf("4th from 192.0.2.0/24: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	page := request("GET", "/", "192.0.2.98:5", "")
	page.Header.Set("Accept", "text/html,application/xhtml+xml")
	if w := serve(h, page); w.Code != 429 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), `lang="vi"`) {
		t.Errorf("a refused page request: %d %s %s; want a small page in the three languages", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if w := serve(h, request("GET", "/", "192.0.3.1:5", "")); w.Code != 200 {
		t.Errorf("another /24: %d", w.Code)
	}
	r := request("GET", "/", "192.0.2.1:5", "")
	r.Header.Set("X-Device-ID", "made-up-device")
	if w := serve(h, r); w.Code != 429 {
		t.Errorf("a made-up device escapes the prefix limit: %d", w.Code)
	}
	// IPv6: the /56 is the unit.
	// 2001:db8:0:100:: is in another /56 than the first three.
	for _, addr := range []string{"[2001:db8:0:1::1]:5", "[2001:db8:0:2::1]:5", "[2001:db8:0:ff::1]:5", "[2001:db8:0:100::1]:5"} {
		if w := serve(h, request("GET", "/", addr, "")); w.Code != 200 {
			t.Errorf("%s: %d, want 200", addr, w.Code)
		}
	}
	if w := serve(h, request("GET", "/", "[2001:db8:0:3::1]:5", "")); w.Code != 429 {
		t.Errorf("4th from 2001:db8::/56: %d, want 429", w.Code)
	}
	// An account: its own limit, whatever the address.
	for i := range 3 {
		w := serve(h, request("GET", "/", "198.51."+strconv.Itoa(i)+".1:5", "acct-5"))
		if want := map[bool]int{true: 200, false: 429}[i < 2]; w.Code != want {
			t.Errorf("account request %d: %d, want %d", i, w.Code, want)
		}
	}
	if n := (counter(t, reg, "patient", "limited", "account")); n != 1 {
		t.Errorf("account limits counted: %v", n)
	}
	// A page's session cookie names the account as a bearer token does.
	d.TokenCookies = []string{"fairslot_session"}
	r = request("GET", "/", "198.51.9.1:5", "")
	r.Header.Set("Cookie", "fairslot_session=acct-5")
	if w := serve(h, r); w.Code != 429 {
		t.Errorf("the account's page request (session cookie): %d, want 429 from the account's limit", w.Code)
	}
	if n := (counter(t, reg, "patient", "limited", "account")); n != 2 {
		t.Errorf("account limits counted after the cookie request: %v, want 2", n)
	}
	// The per-patient limit, applied behind the door.
	for i := range 11 {
		err := d.LimitPatient(context.Background(), 42)
		if (err != nil) != (i == 10) {
			t.Fatalf("patient request %d: %v", i, err)
		}
		if err != nil && (fairslot.ErrorKind(err) != fairslot.Limited || fairslot.RetryAfter(err) <= 0) {
			t.Errorf("patient limit error %v, retry %v", err, fairslot.RetryAfter(err))
		}
	}
}

// TestChallengedRoutes: the door asks for a solved challenge on the routes
// that need one, bound to the device it issued, once; staff are never asked.
func TestChallengedRoutes(t *testing.T) {
	d, reg := newDoor(t, frontdoor.Default())
	d.Challenged = func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/book" }
	h := d.Wrap(ok, frontdoor.SingleListener)
	issue := func(device string) (gate.Challenge, string) {
		w := httptest.NewRecorder()
		r := request("GET", "/challenge", "203.0.113.1:5", "acct-1")
		if device != "" {
			r.AddCookie(&http.Cookie{Name: frontdoor.DeviceCookie, Value: device})
		}
		ch, dev := d.Issue(w, r, 0)
		if device == "" && !strings.Contains(w.Header().Get("Set-Cookie"), "HttpOnly") {
			t.Errorf("new device cookie: %q", w.Header().Get("Set-Cookie"))
		}
		return ch, dev
	}
	book := func(ch gate.Challenge, sol, device string) *httptest.ResponseRecorder {
		r := request("POST", "/book", "203.0.113.1:5", "acct-1")
		if ch.Token != "" {
			r.Header.Set(frontdoor.ChallengeHeader, ch.Token)
			r.Header.Set(frontdoor.SolutionHeader, sol)
		}
		if device != "" {
			r.Header.Set("X-Device-ID", device)
		}
		return serve(h, r)
	}
	ch, dev := issue("")
	if ch.Bits != 12 {
		t.Errorf("idle difficulty %d, want the base 12", ch.Bits)
	}
	sol, _ := gate.Solve(context.Background(), ch.Token, ch.Bits)
	ch2, dev2 := issue("")
	sol2, _ := gate.Solve(context.Background(), ch2.Token, ch2.Bits)
	check := func(name string, w *httptest.ResponseRecorder, code int, reason string) {
		t.Helper()
		var body struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != code || (code == 428 && (body.Error.Code != "challenge_required" || !strings.Contains(body.Error.Message, reason))) {
			t.Errorf("%s: %d %s; want %d %q", name, w.Code, w.Body, code, reason)
		}
	}
	check("no challenge", book(gate.Challenge{}, "", dev), 428, "needs a solved challenge")
	check("on another device", book(ch, sol, dev2), 428, "another device")
	check("unsolved", book(ch, "1", dev), 428, "does not solve")
	check("solved", book(ch, sol, dev), 200, "")
	check("replayed", book(ch, sol, dev), 428, "already used")
	check("a GET of the same path", serve(h, request("GET", "/book", "203.0.113.1:5", "acct-1")), 200, "")
	staff := request("POST", "/book", "203.0.113.1:5", "staff-1")
	check("staff token", serve(h, staff), 200, "")
	check("internal listener", serve(d.Wrap(ok, frontdoor.InternalListener), request("POST", "/book", "203.0.113.1:5", "")), 200, "")
	check("the second device's own", book(ch2, sol2, dev2), 200, "")
	// The same device keeps its cookie.
	if _, again := issue(dev); again != dev {
		t.Errorf("a signed device was replaced: %q → %q", dev, again)
	}
	for result, want := range map[string]float64{"issued": 3, "solved": 2, "failed": 4} {
		if n := (challengeCounter(t, reg, result)); n != want {
			t.Errorf("challenges %s = %v, want %v", result, n, want)
		}
	}
}

// TestDifficultyRisesWithLoad: a busy patient lane and a risky account get
// harder challenges.
func TestDifficultyRisesWithLoad(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PatientLane = frontdoor.LaneConfig{Active: 1, Queue: 4, Deadline: fairslot.Duration(time.Hour)}
	d, _ := newDoor(t, cfg)
	r := request("GET", "/challenge", "203.0.113.1:5", "acct-1")
	idle, _ := d.Issue(httptest.NewRecorder(), r, 0)
	risky, _ := d.Issue(httptest.NewRecorder(), r, 3)
	release := make(chan struct{})
	h := d.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }), frontdoor.SingleListener)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { serve(h, request("GET", "/x", "10.0."+strconv.Itoa(i)+".1:1", "acct-"+strconv.Itoa(i+10))) })
	}
	defer func() { close(release); wg.Wait() }()
	var busy gate.Challenge
	for busy.Bits <= idle.Bits+2 {
		busy, _ = d.Issue(httptest.NewRecorder(), r, 0)
		time.Sleep(time.Millisecond)
	}
	if idle.Bits != 12 || risky.Bits != 18 || busy.Bits < 16 {
		t.Errorf("difficulty idle %d, risk 3 %d, busy lane %d; want 12, 18, ≥16", idle.Bits, risky.Bits, busy.Bits)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*frontdoor.Config){
		"no active":  func(c *frontdoor.Config) { c.StaffLane.Active = 0 },
		"no rate":    func(c *frontdoor.Config) { c.DeviceLimit.Rate = 0 },
		"few keys":   func(c *frontdoor.Config) { c.MaxKeys = 1 },
		"bits":       func(c *frontdoor.Config) { c.ChallengeBits = 40 },
		"short ttl":  func(c *frontdoor.Config) { c.ChallengeTTL = fairslot.Duration(time.Second) },
		"redis url":  func(c *frontdoor.Config) { c.Redis = "localhost:6379" },
		"zero conns": func(c *frontdoor.Config) { c.MaxConns = 0 },
	} {
		c := frontdoor.Default()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := frontdoor.Default().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, lane, outcome, reason string) float64 {
	return value(t, reg, "fairslot_admission_total", map[string]string{"lane": lane, "outcome": outcome, "reason": reason})
}

func challengeCounter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	return value(t, reg, "fairslot_challenges_total", map[string]string{"result": result})
}

func gauge(t *testing.T, reg *prometheus.Registry, name, lane string) float64 {
	return value(t, reg, name, map[string]string{"lane": lane})
}

// value reads one series of reg; 0 when it is not there.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	return promtest.Value(t, reg, name, labels)
}
