package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/demo/demotest"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/testlog"
)

var ctx = context.Background()

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type codes struct {
	mu   sync.Mutex
	last string
}

func (c *codes) Notify(_ context.Context, _, text string) error {
	c.mu.Lock()
	c.last = regexp.MustCompile(`\d{6}`).FindString(text)
	c.mu.Unlock()
	return nil
}

type env struct {
	srv   *httptest.Server
	clock *clock
	codes *codes
	svc   *app.Service
	store *sqlite.Store
	logs  *testlog.Buffer
}

var loc = time.FixedZone("CST", 8*3600)

// newEnv serves the API over the demo hospital at 09:00 on its first day.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: &clock{now: time.Date(2026, 12, 10, 9, 0, 0, 0, loc)}, codes: &codes{}, logs: &testlog.Buffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	svc, st := demotest.Service(t, loc, e.clock.Now, e.codes, log)
	e.svc, e.store = svc, st
	api := &httpapi.Server{App: svc, Log: log, Ready: st.Ping, BoardRefresh: time.Hour}
	e.srv = httptest.NewServer(api.Handler(frontdoor.SingleListener))
	t.Cleanup(e.srv.Close)
	return e
}

type call struct {
	method, path, token, body, key, contentType string
}

// do sends a request and decodes the JSON answer.
func (e *env) do(t *testing.T, c call) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
	if c.body != "" {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) patientToken(t *testing.T, phone string) string {
	t.Helper()
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/auth/code", body: `{"phone":"` + phone + `"}`}); code != 202 {
		t.Fatalf("auth/code = %d %v", code, body)
	}
	e.codes.mu.Lock()
	otp := e.codes.last
	e.codes.mu.Unlock()
	tok := e.patientTokenOnly(t, phone, otp)
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/privacy/consent", token: tok,
		body: `{"version":"` + privacy.NoticeVersion + `","lang":"zh-CN"}`}); code != 201 {
		t.Fatalf("privacy/consent = %d %v", code, body)
	}
	return tok
}

// patientTokenOnly logs in with otp without accepting the privacy notice.
func (e *env) patientTokenOnly(t *testing.T, phone, otp string) string {
	t.Helper()
	code, body := e.do(t, call{method: "POST", path: "/api/v1/auth/login", body: fmt.Sprintf(`{"phone":%q,"code":%q}`, phone, otp)})
	if code != 200 {
		t.Fatalf("auth/login = %d %v", code, body)
	}
	return body["token"].(string)
}

func (e *env) staffToken(t *testing.T, user string) string {
	t.Helper()
	code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/login", body: `{"username":"` + user + `","password":"` + demo.Password + `"}`})
	if code != 200 {
		t.Fatalf("staff/login = %d %v", code, body)
	}
	return body["token"].(string)
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// hold books the demo patient (id 1) into the afternoon session of department 2 today (id 44).
func (e *env) hold(t *testing.T, tok, key string) map[string]any {
	t.Helper()
	code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, key: key, body: `{"session_id":44,"patient_id":1}`})
	if code != 201 {
		t.Fatalf("hold = %d %v", code, body)
	}
	return body
}

func TestBadRequestsChangeNothing(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	doctor := e.staffToken(t, "doctor")
	big := `{"name":"` + strings.Repeat("x", httpapi.MaxBody) + `"}`
	tests := []struct {
		name     string
		c        call
		status   int
		code     string
		contains string
	}{
		{"malformed JSON", call{method: "POST", path: "/api/v1/patients", token: tok, body: `{"name":`}, 400, "invalid", "malformed JSON"},
		{"unknown field", call{method: "POST", path: "/api/v1/patients", token: tok, body: `{"name":"A","id_type":"passport","id_number":"E1234567","nickname":"x"}`}, 400, "invalid", "nickname"},
		{"two values", call{method: "POST", path: "/api/v1/patients", token: tok, body: `{} {}`}, 400, "invalid", "single JSON value"},
		{"wrong type", call{method: "POST", path: "/api/v1/bookings", token: tok, body: `{"session_id":"15","patient_id":1}`}, 400, "invalid", "session_id"},
		{"oversized body", call{method: "POST", path: "/api/v1/patients", token: tok, body: big}, 413, "too_large", "larger than"},
		{"not JSON", call{method: "POST", path: "/api/v1/patients", token: tok, body: `name=A`, contentType: "application/x-www-form-urlencoded"}, 400, "invalid", "Content-Type"},
		{"bad check digit", call{method: "POST", path: "/api/v1/patients", token: tok, body: `{"name":"李四","id_type":"cn_resident","id_number":"110105194912310021"}`}, 400, "invalid", "check digit"},
		{"no token", call{method: "GET", path: "/api/v1/bookings"}, 401, "unauthorized", "Bearer"},
		{"forged token", call{method: "GET", path: "/api/v1/bookings", token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, "unauthorized", "log in again"},
		{"patient on a staff route", call{method: "POST", path: "/api/v1/staff/check-in", token: tok, body: `{"code":"ABCDEFGH","id_last4":"002X"}`}, 401, "unauthorized", "staff"},
		{"doctor checking in", call{method: "POST", path: "/api/v1/staff/check-in", token: doctor, body: `{"code":"ABCDEFGH","id_last4":"002X"}`}, 403, "forbidden", "doctor"},
		{"bad path id", call{method: "GET", path: "/api/v1/sessions/abc"}, 400, "invalid", "positive integer"},
		{"unknown endpoint", call{method: "GET", path: "/api/v1/nothing"}, 404, "not_found", "no such endpoint"},
		{"missing session", call{method: "GET", path: "/api/v1/sessions/999999"}, 404, "not_found", "session"},
	}
	for _, tt := range tests {
		status, body := e.do(t, tt.c)
		msg, _ := body["error"].(map[string]any)["message"].(string)
		rid, _ := body["error"].(map[string]any)["request_id"].(string)
		if status != tt.status || errCode(body) != tt.code || !strings.Contains(msg, tt.contains) || rid == "" {
			t.Errorf("%s: %d %v; want %d %s mentioning %q with a request id", tt.name, status, body, tt.status, tt.code, tt.contains)
		}
	}
	_, body := e.do(t, call{method: "GET", path: "/api/v1/patients", token: tok})
	if n := len(body["patients"].([]any)); n != 1 {
		t.Errorf("patients after bad requests = %d, want the demo's 1", n)
	}
}

func TestIdempotencyAndPayment(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	first := e.hold(t, tok, "k1")
	again := e.hold(t, tok, "k1")
	if first["id"] != again["id"] {
		t.Errorf("a replayed hold made booking %v after %v", again["id"], first["id"])
	}
	id := fmt.Sprint(first["id"])
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/pay", token: tok}); code != 400 || !strings.Contains(fmt.Sprint(body), "Idempotency-Key") {
		t.Errorf("pay without a key = %d %v, want 400 asking for it", code, body)
	}
	for i := 0; i < 2; i++ {
		if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/pay", token: tok, key: "pay-1"}); code != 200 || body["status"] != "confirmed" {
			t.Errorf("pay #%d = %d %v", i+1, code, body)
		}
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/pay", token: tok, key: "pay-2"}); code != 409 {
		t.Errorf("second payment with a new key = %d %v, want 409", code, body)
	}
	// A cancel is never a GET.
	if code, _ := e.do(t, call{method: "GET", path: "/api/v1/bookings/" + id + "/cancel", token: tok}); code != 405 {
		t.Errorf("GET cancel = %d, want 405", code)
	}
	if _, body := e.do(t, call{method: "GET", path: "/api/v1/bookings/" + id, token: tok}); body["status"] != "confirmed" {
		t.Errorf("after GET cancel the booking is %v, want confirmed", body["status"])
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/cancel", token: tok}); code != 200 || body["status"] != "cancelled" {
		t.Errorf("POST cancel = %d %v", code, body)
	}
}

func TestExpiredHold(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	id := fmt.Sprint(e.hold(t, tok, "")["id"])
	e.clock.Add(15 * time.Minute)
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/pay", token: tok, key: "p"}); code != 410 || errCode(body) != "gone" {
		t.Errorf("pay after expiry = %d %v, want 410 gone", code, body)
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	code, body := e.do(t, call{method: "GET", path: "/api/v1/departments"})
	if code != 500 || body["error"].(map[string]any)["message"] != "internal error" {
		t.Errorf("with the database closed: %d %v; want 500 with a bare message", code, body)
	}
	if code, _ := e.do(t, call{method: "GET", path: "/readyz"}); code != 503 {
		t.Errorf("readyz with the database closed = %d, want 503", code)
	}
	if !strings.Contains(e.logs.String(), "database is closed") {
		t.Error("the internal error was not logged in full")
	}
}

func TestCheckInCallAndDisplayFeed(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	b := e.hold(t, tok, "")
	id := fmt.Sprint(b["id"])
	e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/pay", token: tok, key: "p"})
	desk, doc := e.staffToken(t, "desk"), e.staffToken(t, "doctor")
	// The demo doctor is linked to the fever clinic's first doctor; this
	// clinic is another doctor's, so link the login to it (a doctor acts on
	// their own record's sessions only).
	var sess fairslot.Session
	e.store.View(ctx, func(tx storage.Tx) (err error) { sess, err = tx.Session(ctx, 44); return err })
	if _, err := e.svc.SetStaffScope(ctx, app.System, "doctor", func(sc *app.Scope) { sc.DoctorID = sess.DoctorID }); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/check-in", token: desk, body: fmt.Sprintf(`{"code":%q,"id_last4":"1234"}`, b["code"])}); code != 403 {
		t.Errorf("check-in with wrong ID digits = %d %v, want 403", code, body)
	}
	code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/check-in", token: desk, body: fmt.Sprintf(`{"code":%q,"id_last4":"002x"}`, b["code"])})
	if code != 200 || body["ticket_label"] != "A001" {
		t.Fatalf("check-in = %d %v", code, body)
	}

	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/display/departments/2/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()
	// Nobody called yet; the checked-in patient is asked to get ready.
	if first := <-events; first != `{"calls":[],"next":[{"ticket":"A001","name":"张*","room":"PED-104"}]}` {
		t.Errorf("first board = %s, want no call and A001 to get ready", first)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/sessions/44/call-next", token: doc}); code != 200 || body["ticket"] != "A001" {
		t.Fatalf("call-next = %d %v", code, body)
	}
	select {
	case ev := <-events:
		if !strings.Contains(ev, `"ticket":"A001"`) || !strings.Contains(ev, `"name":"张*"`) || !strings.Contains(ev, `"next":[]`) {
			t.Errorf("board after the call = %s", ev)
		}
	case <-time.After(5 * time.Second): // a deadline on a hang, not a speed target
		t.Fatal("the display feed did not show the call")
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/staff/sessions/44/queue", token: doc}); code != 200 ||
		len(body["queue"].([]any)) != 1 || body["queue"].([]any)[0].(map[string]any)["status"] != "called" {
		t.Errorf("queue = %d %v; want the one called patient", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/bookings/" + id + "/recall", token: doc}); code != 200 || body["status"] != "ok" {
		t.Errorf("recall = %d %v", code, body)
	}
	// The recall shows on the board again, marked.
	select {
	case ev := <-events:
		if !strings.Contains(ev, `"ticket":"A001"`) || !strings.Contains(ev, `"recalls":1`) {
			t.Errorf("board after the recall = %s", ev)
		}
	case <-time.After(5 * time.Second): // a deadline on a hang, not a speed target
		t.Fatal("the display feed did not show the recall")
	}
	if code, _ := e.do(t, call{method: "POST", path: "/api/v1/staff/bookings/" + id + "/complete", token: doc}); code != 200 {
		t.Errorf("complete = %d", code)
	}
	if _, body := e.do(t, call{method: "GET", path: "/api/v1/bookings/" + id, token: tok}); body["status"] != "completed" {
		t.Errorf("final status = %v", body["status"])
	}
}

func TestResponsesAndLogsAreMasked(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, "13912345678")
	code, body := e.do(t, call{method: "POST", path: "/api/v1/patients", token: tok,
		body: `{"name":"欧阳娜娜","id_type":"cn_resident","id_number":"110105201501010017","phone":"13912345678"}`})
	if code != 201 {
		t.Fatalf("bind = %d %v", code, body)
	}
	_, list := e.do(t, call{method: "GET", path: "/api/v1/patients", token: tok})
	out, _ := json.Marshal([]any{body, list})
	for _, secret := range []string{"欧阳娜娜", "110105201501010017", "13912345678", "娜娜"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("a response holds %q: %s", secret, out)
		}
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	if !strings.Contains(string(out), `"欧*"`) || !strings.Contains(string(out), "139******78") {
		t.Errorf("masked values missing: %s", out)
	}
}
