package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/web"
	"github.com/prometheus/client_golang/prometheus"
)

// doorServer serves every page (the only listener) behind a real front
// door of cfg, with streams recognised as serve does. BoardRefresh is an
// hour: an update a test sees came from the broker's signal, not a timer.
func (e *env) doorServer(t *testing.T, cfg frontdoor.Config, streamed func(*http.Request) bool) *httptest.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	door, err := frontdoor.New(context.Background(), cfg, e.svc.Vault.Key, func(tok string) (string, int64, bool) {
		kind, id, ok := e.svc.TokenClaims(tok)
		return string(kind), id, ok
	}, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { door.Close() })
	door.Challenged = web.Challenged
	door.Streamed = streamed
	door.TokenCookies = []string{web.SessionCookie, web.StaffCookie}
	closing := make(chan struct{})
	api := &httpapi.Server{App: e.svc, Log: log, Door: door, BoardRefresh: time.Hour, Closing: closing}
	pages := &web.Pages{API: api, Log: log, Key: e.svc.Vault.Key}
	h, err := pages.Handler(frontdoor.SingleListener)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(door.Wrap(h, frontdoor.SingleListener))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(closing) }) // runs first: the streams end, then the server closes
	return srv
}

// stream is an open event stream of a page.
type stream struct {
	t      *testing.T
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

// open opens a page's event stream with the browser's cookies; it returns
// the response status and, on 200, the stream.
func (b *browser) open(path string) (int, *stream) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.c.Do(req)
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		cancel()
		return resp.StatusCode, nil
	}
	s := &stream{t: b.t, resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	s.lines.Buffer(make([]byte, 64<<10), 1<<20)
	b.t.Cleanup(s.close)
	return 200, s
}

func (s *stream) close() { s.cancel(); s.resp.Body.Close() }

// next returns the HTML of the next "live" event.
func (s *stream) next() string {
	s.t.Helper()
	event := ""
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "live":
			var d struct{ HTML string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
				s.t.Fatalf("a live event's data: %v", err)
			}
			return d.HTML
		case strings.HasPrefix(line, "data: ") && event == "end":
			s.t.Fatal("the stream ended")
		}
	}
	s.t.Fatalf("the stream closed: %v", s.lines.Err())
	return ""
}

// until reads live events until one contains want (waiting on the
// condition, not on a clock) and returns it.
func (s *stream) until(want string) string {
	s.t.Helper()
	for {
		if html := s.next(); strings.Contains(html, want) {
			return html
		}
	}
}

// staffBrowser logs a staff member in.
func (e *env) staffBrowser(t *testing.T, srv *httptest.Server, user string) *browser {
	t.Helper()
	b := e.browser(t, srv)
	b.get("/staff/login")
	if status, loc, body := b.post("/staff/login", url.Values{"username": {user}, "password": {demo.Password}}); status != 303 || loc != "/staff" {
		t.Fatalf("%s login: %d %s\n%s", user, status, loc, body)
	}
	return b
}

// TestLiveTurnAndRoom: a checked-in patient's booking page and the doctor's
// room are updated over their streams as the queue moves — a priority
// walk-in checked in ahead, then a call — without reloading; neither page
// refreshes itself, and without script each says to reload.
func TestLiveTurnAndRoom(t *testing.T) {
	e := newEnv(t)
	srv := e.doorServer(t, frontdoor.Default(), func(r *http.Request) bool { return httpapi.Streamed(r) || web.Streamed(r) })
	_, _, held := e.paidBooking(t, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID})
	patient := e.browser(t, srv)
	patient.login(e, "13912345678")
	desk := e.staffBrowser(t, srv, "desk")
	desk.get("/kiosk")
	if status, _, page := desk.post("/kiosk/check-in", url.Values{"code": {held.Code}, "id_last4": {testID[14:]}}); status != 200 {
		t.Fatalf("check-in: %d\n%s", status, page)
	}
	bookingPath := fmt.Sprintf("/bookings/%d", held.ID)
	_, page := patient.get(bookingPath)
	for _, want := range []string{`data-live="` + bookingPath + `/events"`, "排在第 1 位", "<noscript>", `href="` + bookingPath + `"`, "/static/live.js"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the booking page lacks %q:\n%s", want, page)
		}
	}
	doctor := e.staffBrowser(t, srv, "doctor")
	_, room := doctor.get("/staff/sessions/1")
	for _, page := range []string{page, room} {
		if strings.Contains(page, "http-equiv") {
			t.Errorf("a page refreshes itself:\n%s", page)
		}
	}
	if !strings.Contains(room, `data-live="/staff/sessions/1/events"`) {
		t.Fatalf("the room page has no live part:\n%s", room)
	}

	status, mine := patient.open(bookingPath + "/events")
	if status != 200 {
		t.Fatalf("the patient's stream: %d", status)
	}
	mine.until("排在第 1 位")
	status, rs := doctor.open("/staff/sessions/1/events")
	if status != 200 {
		t.Fatalf("the room's stream: %d", status)
	}
	rs.until("<td>1</td><td>A001</td><td>李四</td>")

	// An elderly walk-in is checked in: interleaved ahead of A001.
	desk.get("/kiosk/walk-in")
	first := "11010519400101001"
	if status, _, page := desk.post("/kiosk/walk-in", url.Values{"session_id": {"1"}, "name": {"周老伯"}, "id_type": {"cn_resident"},
		"id_number": {first + string(fairslot.ResidentCheckDigit(first))}, "priority": {"elderly"}}); status != 200 {
		t.Fatalf("walk-in: %d\n%s", status, page)
	}
	mine.until("排在第 2 位")
	rs.until(`<tr class="prio"><td>1</td><td>A002</td><td>周老伯</td>`)

	// The doctor calls the walk-in (from another page: the stream is not the one that acted).
	doctor.get("/staff/sessions/1")
	if status, _, body := doctor.post("/staff/sessions/1/call-next", url.Values{}); status != 303 {
		t.Fatalf("call next: %d\n%s", status, body)
	}
	mine.until("排在第 1 位")
	html := rs.until(`<p class="ticket">A002 <span>周老伯</span>`)
	if !strings.Contains(html, `name="csrf"`) || !strings.Contains(html, "/bookings/") {
		t.Errorf("the room's live part lacks its working forms:\n%s", html)
	}
	// Then A001 is called: the patient's page says where to go.
	doctor.get("/staff/sessions/1")
	done := regexp.MustCompile(`action="(/staff/sessions/1/bookings/\d+/complete)"`).FindStringSubmatch(html)
	if done == nil {
		t.Fatalf("no complete form in the room's live part:\n%s", html)
	}
	doctor.post(done[1], url.Values{})
	doctor.post("/staff/sessions/1/call-next", url.Values{})
	mine.until("请到 " + held.Room)

	// Logging out ends the patient's stream at its next read.
	patient.get("/me")
	patient.post("/logout", url.Values{})
	doctor.get("/staff/sessions/1")
	doctor.post(fmt.Sprintf("/staff/sessions/1/bookings/%d/recall", held.ID), url.Values{})
	for mine.lines.Scan() {
		if mine.lines.Text() == "event: end" {
			return
		}
	}
	t.Error("the stream of a logged-out patient did not end with an end event")
}

// TestLiveStreamsInTheirPools: the new streams obey the front door's stream
// limits — a patient's streams are capped per device and account, take no
// place of the patient lane (a lane of one place still serves the
// patient's pages while streams are open), and a full public pool refuses
// a patient's stream but not the staff's room, which has its own pool; a
// stream the door did not admit as one is refused.
func TestLiveStreamsInTheirPools(t *testing.T) {
	e := newEnv(t)
	cfg := frontdoor.Default()
	cfg.PatientLane = frontdoor.LaneConfig{Active: 1, Queue: 0, Deadline: fairslot.Duration(time.Millisecond)}
	cfg.PublicStreams = frontdoor.StreamConfig{Max: 3, PerPrefix: 16, PerDevice: 2, PerToken: 4}
	srv := e.doorServer(t, cfg, func(r *http.Request) bool { return httpapi.Streamed(r) || web.Streamed(r) })
	_, _, held := e.paidBooking(t, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID})
	path := fmt.Sprintf("/bookings/%d/events", held.ID)

	phone := e.browser(t, srv)
	phone.login(e, "13912345678")
	for i := range 2 {
		if status, _ := phone.open(path); status != 200 {
			t.Fatalf("stream %d of one device: %d", i+1, status)
		}
	}
	if status, _ := phone.open(path); status != http.StatusServiceUnavailable {
		t.Errorf("a third stream of one device: %d, want 503", status)
	}
	// The two streams hold no place of the patient lane (one place).
	for range 3 {
		if status, _ := phone.get("/me"); status != 200 {
			t.Fatalf("the patient's page while their streams are open: %d", status)
		}
	}
	// A second device of the same account fills the public pool (3).
	tablet := e.browser(t, srv)
	tablet.login(e, "13912345678")
	if status, _ := tablet.open(path); status != 200 {
		t.Fatalf("the account's third stream, from another device: %d", status)
	}
	third := e.browser(t, srv)
	third.login(e, "13912345678")
	if status, _ := third.open(path); status != http.StatusServiceUnavailable {
		t.Errorf("a stream beyond the public pool: %d, want 503", status)
	}
	// The doctor's room has the staff's pool: the full public one does not stop it.
	doctor := e.staffBrowser(t, srv, "doctor")
	if status, _ := doctor.open("/staff/sessions/1/events"); status != 200 {
		t.Errorf("the room's stream beside a full public pool: %d, want 200", status)
	}

	// Without the door knowing the path as a stream, the handler refuses it.
	e2 := newEnv(t)
	srv2 := e2.doorServer(t, frontdoor.Default(), httpapi.Streamed)
	_, _, held2 := e2.paidBooking(t, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID})
	b := e2.browser(t, srv2)
	b.login(e2, "13912345678")
	if status, _ := b.open(fmt.Sprintf("/bookings/%d/events", held2.ID)); status != http.StatusServiceUnavailable {
		t.Errorf("a stream not admitted to the pool: %d, want 503", status)
	}
	d2 := e2.staffBrowser(t, srv2, "doctor")
	if status, _ := d2.open("/staff/sessions/1/events"); status != http.StatusServiceUnavailable {
		t.Errorf("a room stream not admitted to the pool: %d, want 503", status)
	}
}

// TestLiveStreamOfAnotherAccount: a patient's stream of a booking that is
// not theirs is refused as not found, before any stream opens.
func TestLiveStreamOfAnotherAccount(t *testing.T) {
	e := newEnv(t)
	srv := e.doorServer(t, frontdoor.Default(), func(r *http.Request) bool { return httpapi.Streamed(r) || web.Streamed(r) })
	_, _, held := e.paidBooking(t, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID})
	other := e.browser(t, srv)
	other.login(e, "13912340009")
	if status, _ := other.open(fmt.Sprintf("/bookings/%d/events", held.ID)); status != http.StatusNotFound {
		t.Errorf("another account's booking stream: %d, want 404", status)
	}
	if status, _ := e.browser(t, srv).open(fmt.Sprintf("/bookings/%d/events", held.ID)); status == 200 {
		t.Error("a stream without a login was served")
	}
}

func TestStreamedPaths(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/bookings/7/events", true},
		{"GET", "/staff/sessions/7/events", true},
		{"HEAD", "/bookings/7/events", false},
		{"POST", "/staff/sessions/7/events", false},
		{"GET", "/bookings/7", false},
		{"GET", "/bookings//events", false},
		{"GET", "/bookings/7/events/more", false},
		{"GET", "/me/events", false},
	} {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if got := web.Streamed(r); got != tt.want {
			t.Errorf("Streamed(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
