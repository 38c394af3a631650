package frontdoor_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
)

// streamsHandler answers /events by staying open until release is closed
// (a board's stream), and anything else at once.
type streamsHandler struct {
	open    chan struct{}
	release chan struct{}
}

func newStreamsHandler() *streamsHandler {
	return &streamsHandler{open: make(chan struct{}, 1024), release: make(chan struct{})}
}

func (h *streamsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/events") {
		h.open <- struct{}{}
		<-h.release
	}
	w.WriteHeader(200)
}

func streamed(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/events") }

// TestStreamsNeverTakeLanePlaces is the first attack: open streams
// kept their lane's place, so two anonymous streams closed the public lane,
// a few patients' streams the patient lane, and 32 boards the staff lane.
// Here every lane has a single place and no queue, streams are opened on
// every lane well past that, and each lane still serves its requests.
func TestStreamsNeverTakeLanePlaces(t *testing.T) {
	cfg := frontdoor.Default()
	one := frontdoor.LaneConfig{Active: 1, Queue: 0, Deadline: fairslot.Duration(time.Hour)}
	cfg.StaffLane, cfg.PatientLane, cfg.PublicLane = one, one, one
	d, reg := newDoor(t, cfg)
	d.Streamed = streamed
	h := newStreamsHandler()
	single, internal := d.Wrap(h, frontdoor.SingleListener), d.Wrap(h, frontdoor.InternalListener)
	var wg sync.WaitGroup
	defer func() { close(h.release); wg.Wait() }()
	open := func(srv http.Handler, remote, token string) {
		wg.Go(func() { serve(srv, request("GET", "/board/events", remote, token)) })
		<-h.open
	}
	for i := range 3 {
		open(single, "10.1."+strconv.Itoa(i)+".1:1", "")                      // anonymous: public lane
		open(single, "10.2."+strconv.Itoa(i)+".1:1", "acct-"+strconv.Itoa(i)) // patients
		open(single, "10.3."+strconv.Itoa(i)+".1:1", "staff-"+strconv.Itoa(i))
	}
	for i := range 40 { // more boards than the staff lane's default 32 places
		open(internal, "10.9.0."+strconv.Itoa(i+1)+":1", "")
	}
	for name, r := range map[string]*http.Request{
		"public":  request("GET", "/x", "10.5.0.1:1", ""),
		"patient": request("GET", "/x", "10.5.0.2:1", "acct-99"),
		"staff":   request("GET", "/x", "10.5.0.3:1", "staff-99"),
	} {
		if w := serve(single, r); w.Code != 200 {
			t.Errorf("a %s request with streams open: %d, want 200", name, w.Code)
		}
	}
	if w := serve(internal, request("POST", "/desk", "10.9.1.1:1", "")); w.Code != 200 {
		t.Errorf("the desk with 40 boards streaming: %d, want 200", w.Code)
	}
	if n := value(t, reg, "fairslot_streams_open", map[string]string{"listener": "internal"}); n != 40 {
		t.Errorf("open streams on the internal listener: %v, want 40", n)
	}
}

// tryStream opens a stream through srv: it returns the status of a refusal,
// or 0 once the stream is open (it stays open until h.release is closed).
func (h *streamsHandler) try(wg *sync.WaitGroup, srv http.Handler, r *http.Request) int {
	done := make(chan int, 1)
	wg.Go(func() { done <- serve(srv, r).Code })
	select {
	case <-h.open:
		return 0
	case code := <-done:
		return code
	}
}

// TestStreamPoolCaps: each listener's pool is bounded as a whole and per
// network, device and account — a client without a signed device counts
// as its network's device-less share, as the rate limits count it — and a
// flood of streams on the public listener changes nothing on the internal
// one.
func TestStreamPoolCaps(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PublicStreams = frontdoor.StreamConfig{Max: 8, PerPrefix: 3, PerDevice: 2, PerToken: 2}
	cfg.InternalStreams = frontdoor.StreamConfig{Max: 4}
	d, reg := newDoor(t, cfg)
	d.Streamed = streamed
	h := newStreamsHandler()
	public, internal := d.Wrap(h, frontdoor.PublicListener), d.Wrap(h, frontdoor.InternalListener)
	var wg sync.WaitGroup
	defer func() { close(h.release); wg.Wait() }()
	stream := func(remote, token string, device bool) *http.Request {
		r := request("GET", "/board/events", remote, token)
		if device {
			r.Header.Set("X-Device-ID", d.EnsureDevice(httptest.NewRecorder(), r))
		}
		return r
	}
	for _, s := range []struct {
		name string
		r    *http.Request
		want int
	}{
		{"network A, device 1", stream("203.0.113.1:1", "", true), 0},
		{"network A, device 2", stream("203.0.113.2:1", "", true), 0},
		{"network A, device 3", stream("203.0.113.3:1", "", true), 0},
		{"network A, device 4: over the network's cap", stream("203.0.113.4:1", "", true), 503},
		{"account 1, 1st", stream("192.0.3.1:1", "acct-1", true), 0},
		{"account 1, 2nd, from another network", stream("192.0.4.1:1", "acct-1", true), 0},
		{"account 1, 3rd: over the account's cap", stream("192.0.5.1:1", "acct-1", true), 503},
		{"network B, no device, 1st", stream("198.51.100.1:1", "", false), 0},
		{"network B, no device, 2nd", stream("198.51.100.2:1", "", false), 0},
		{"network B, no device, 3rd: over one device's cap", stream("198.51.100.3:1", "", false), 503},
		{"an 8th stream", stream("192.0.6.1:1", "", true), 0},
		{"a 9th stream: the pool is full", stream("192.0.7.1:1", "", true), 503},
	} {
		if got := h.try(&wg, public, s.r); got != s.want {
			t.Errorf("public: %s: %d, want %d", s.name, got, s.want)
		}
	}
	for i := range 4 {
		if got := h.try(&wg, internal, request("GET", "/board/events", "10.9.0."+strconv.Itoa(i+1)+":1", "")); got != 0 {
			t.Errorf("internal board %d with the public pool full: %d, want open", i+1, got)
		}
	}
	if got := h.try(&wg, internal, request("GET", "/board/events", "10.9.0.9:1", "")); got != 503 {
		t.Errorf("a 5th internal board, over its pool's 4: %d, want 503", got)
	}
	for lane, reasons := range map[string]map[string]float64{
		"public": {"prefix": 1, "device": 1, "full": 1}, "patient": {"token": 1}, "staff": {"full": 1},
	} {
		for reason, want := range reasons {
			if n := counter(t, reg, lane, "streams", reason); n != want {
				t.Errorf("%s streams refused for %s: %v, want %v", lane, reason, n, want)
			}
		}
	}
}

// TestStaffStreamsHaveTheirOwnPool: on the only listener, the streams of
// boards logged in as staff have a pool of their own, which anonymous
// streams cannot fill; on the internal listener a device and a staff
// token are capped there too.
func TestStaffStreamsHaveTheirOwnPool(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PublicStreams = frontdoor.StreamConfig{Max: 3, PerPrefix: 100, PerDevice: 100, PerToken: 100}
	cfg.InternalStreams = frontdoor.StreamConfig{Max: 10, PerDevice: 2, PerToken: 3}
	d, _ := newDoor(t, cfg)
	d.Streamed = streamed
	h := newStreamsHandler()
	single, internal := d.Wrap(h, frontdoor.SingleListener), d.Wrap(h, frontdoor.InternalListener)
	var wg sync.WaitGroup
	defer func() { close(h.release); wg.Wait() }()
	for i := range 3 {
		if got := h.try(&wg, single, request("GET", "/board/events", "203.0.113."+strconv.Itoa(i+1)+":1", "")); got != 0 {
			t.Fatalf("anonymous stream %d: %d", i+1, got)
		}
	}
	if got := h.try(&wg, single, request("GET", "/board/events", "203.0.114.1:1", "")); got != 503 {
		t.Errorf("a 4th anonymous stream: %d, want 503 (the public pool is full)", got)
	}
	for i := range 3 {
		if got := h.try(&wg, single, request("GET", "/board/events", "10.1.0."+strconv.Itoa(i+1)+":1", "staff-"+strconv.Itoa(i))); got != 0 {
			t.Errorf("a board logged in as staff, with the public pool full: %d, want open", got)
		}
	}
	dev := request("GET", "/board/events", "10.2.0.1:1", "")
	dev.Header.Set("X-Device-ID", d.EnsureDevice(httptest.NewRecorder(), dev))
	for i, want := range []int{0, 0, 503} {
		r := request("GET", "/board/events", "10.2.0.1:1", "")
		r.Header.Set("X-Device-ID", dev.Header.Get("X-Device-ID"))
		if got := h.try(&wg, internal, r); got != want {
			t.Errorf("internal: the device's stream %d: %d, want %d", i+1, got, want)
		}
	}
	for i, want := range []int{0, 0, 0, 503} {
		if got := h.try(&wg, internal, request("GET", "/board/events", "10.3.0."+strconv.Itoa(i+1)+":1", "staff-9")); got != want {
			t.Errorf("internal: staff 9's stream %d: %d, want %d", i+1, got, want)
		}
	}
	for i := range 3 { // boards with neither: bounded by the pool alone
		if got := h.try(&wg, internal, request("GET", "/board/events", "10.4.0.1:1", "")); got != 0 {
			t.Errorf("internal: a device-less board %d: %d, want open", i+1, got)
		}
	}
}

// TestDevicePool: the device cap counts a signed device wherever it comes
// from.
func TestDevicePool(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PublicStreams = frontdoor.StreamConfig{Max: 100, PerPrefix: 100, PerDevice: 2}
	d, _ := newDoor(t, cfg)
	d.Streamed = streamed
	h := newStreamsHandler()
	public := d.Wrap(h, frontdoor.PublicListener)
	var wg sync.WaitGroup
	defer func() { close(h.release); wg.Wait() }()
	dev := d.EnsureDevice(httptest.NewRecorder(), request("GET", "/", "192.0.2.1:1", ""))
	for i, want := range []int{0, 0, 503} {
		r := request("GET", "/board/events", "198.51."+strconv.Itoa(i)+".1:1", "")
		r.Header.Set("X-Device-ID", dev)
		if got := h.try(&wg, public, r); got != want {
			t.Errorf("the device's stream %d: %d, want %d", i+1, got, want)
		}
	}
}

// TestStaffTokenOnThePublicListener: on the public listener beside an
// internal one no request is in the staff lane, whatever token it carries:
// a staff token there is limited and challenged like no token. On the only
// listener a valid staff token still goes in the staff lane.
func TestStaffTokenOnThePublicListener(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PrefixLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Minute), Burst: 2}
	d, reg := newDoor(t, cfg)
	d.Challenged = func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/book" }
	public, single := d.Wrap(ok, frontdoor.PublicListener), d.Wrap(ok, frontdoor.SingleListener)
	if w := serve(public, request("POST", "/book", "203.0.113.1:1", "staff-1")); w.Code != 428 {
		t.Errorf("a staff token's booking on the public listener: %d, want 428 (challenged)", w.Code)
	}
	serve(public, request("GET", "/x", "203.0.113.2:1", "staff-1"))
	if w := serve(public, request("GET", "/x", "203.0.113.3:1", "staff-1")); w.Code != 429 {
		t.Errorf("a staff token on the public listener past its network's limit: %d, want 429", w.Code)
	}
	if n := counter(t, reg, "staff", "admitted", ""); n != 0 {
		t.Errorf("staff lane admissions on the public listener: %v, want 0", n)
	}
	for i := range 3 {
		if w := serve(single, request("POST", "/book", "192.0.2.1:1", "staff-1")); w.Code != 200 {
			t.Errorf("staff request %d on the only listener: %d, want 200 (staff lane: no limit, no challenge)", i, w.Code)
		}
	}
	// A token Claims refuses (forged, expired or revoked: the service's
	// claims check all three) counts as none on the only listener too.
	if w := serve(single, request("POST", "/book", "192.0.2.9:1", "staff-revoked")); w.Code != 428 {
		t.Errorf("a refused staff token: %d, want 428", w.Code)
	}
}

// TestDevicelessShareOneDevice: clients that send no device, or a made-up
// one, share one device's allowance per network; a signed device has its
// own.
func TestDevicelessShareOneDevice(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.DeviceLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Minute), Burst: 3}
	d, reg := newDoor(t, cfg)
	h := d.Wrap(ok, frontdoor.PublicListener)
	for i := range 3 {
		if w := serve(h, request("GET", "/x", "192.0.2."+strconv.Itoa(i+1)+":1", "")); w.Code != 200 {
			t.Fatalf("device-less request %d: %d", i+1, w.Code)
		}
	}
	w := serve(h, request("GET", "/x", "192.0.2.50:1", ""))
	if w.Code != 429 || !strings.Contains(w.Body.String(), "this device") {
		t.Errorf("4th device-less request from the network: %d %s, want 429 (one device's allowance)", w.Code, w.Body)
	}
	// Refused, it is handed a device of its own: a device-less neighbour
	// cannot keep it out for good.
	again := request("GET", "/x", "192.0.2.50:1", "")
	for _, ck := range w.Result().Cookies() {
		if ck.Name == frontdoor.DeviceCookie {
			again.AddCookie(ck)
		}
	}
	if w := serve(h, again); w.Code != 200 {
		t.Errorf("the refused client again, with the device it was given: %d, want 200", w.Code)
	}
	r := request("GET", "/x", "192.0.2.51:1", "")
	r.Header.Set("X-Device-ID", "made-up-device-value")
	if w := serve(h, r); w.Code != 429 {
		t.Errorf("a made-up device: %d, want 429 (it counts as none)", w.Code)
	}
	signed := request("GET", "/x", "192.0.2.52:1", "")
	signed.Header.Set("X-Device-ID", d.EnsureDevice(httptest.NewRecorder(), signed))
	if w := serve(h, signed); w.Code != 200 {
		t.Errorf("a signed device in the same network: %d, want 200", w.Code)
	}
	if w := serve(h, request("GET", "/x", "192.0.9.1:1", "")); w.Code != 200 {
		t.Errorf("a device-less request from another network: %d, want 200", w.Code)
	}
	if n := counter(t, reg, "public", "limited", "device"); n != 2 {
		t.Errorf("device limits counted: %v, want 2", n)
	}
}
