package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
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
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/web"
)

var ctx = context.Background()

type codes struct {
	mu   sync.Mutex
	sent []string
}

func (c *codes) Notify(_ context.Context, _, text string) error {
	c.mu.Lock()
	c.sent = append(c.sent, regexp.MustCompile(`\d{6}`).FindString(text))
	c.mu.Unlock()
	return nil
}

func (c *codes) last() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sent) == 0 {
		return "", 0
	}
	return c.sent[len(c.sent)-1], len(c.sent)
}

type env struct {
	mu       sync.Mutex
	now      time.Time
	svc      *app.Service
	codes    *codes
	internal *httptest.Server // every page (the only listener)
	public   *httptest.Server // the portal only
	pages    *web.Pages
}

var loc = time.FixedZone("CST", 8*3600)

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

// testID is a made-up resident ID number (not the demo patient's).
var testID = func() string {
	first := "11010519800101123"
	return first + string(fairslot.ResidentCheckDigit(first))
}()

// newEnv serves the pages over the demo hospital at 09:00 on its first day,
// with the front door off (its challenges are tested with the door).
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{codes: &codes{}, now: time.Date(2026, 12, 10, 9, 0, 0, 0, loc)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, st := demotest.Service(t, loc, e.clock, e.codes, log)
	e.svc = svc
	e.svc.Release = release.Default()
	e.svc.Policy.SameDayUntilEnd = true // as the demo: the fever clinic takes bookings until a session ends
	api := &httpapi.Server{App: e.svc, Log: log, Ready: st.Ping}
	pages := &web.Pages{API: api, Log: log, Key: svc.Vault.Key}
	e.pages = pages
	// e.internal is the only listener of a server without an internal one
	// (every page); e.public the public one beside an internal one.
	for _, l := range []frontdoor.Listener{frontdoor.SingleListener, frontdoor.PublicListener} {
		h, err := pages.Handler(l)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		if l == frontdoor.SingleListener {
			e.internal = srv
		} else {
			e.public = srv
		}
	}
	return e
}

// browser is a client with its own cookies, like one phone or kiosk.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (e *env) browser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	// The pages' cookies are Secure; the jar keeps them for http://127.0.0.1
	// only if told the connection is trustworthy, so keep them by hand.
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: insecureJar{jar}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// insecureJar keeps Secure cookies over plain HTTP, as browsers do for
// localhost.
type insecureJar struct{ *cookiejar.Jar }

func (j insecureJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		c.Secure = false
	}
	j.Jar.SetCookies(u, cs)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and keeps its form token.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body)
}

// post sends a form with the page's token (unless form sets csrf itself)
// and returns the status, the Location and the body.
func (b *browser) post(path string, form url.Values, header ...string) (int, string, string) {
	b.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// login logs a patient in through the login forms.
func (b *browser) login(e *env, phone string) {
	b.t.Helper()
	b.get("/login")
	if status, _, body := b.post("/login/code", url.Values{"phone": {phone}}); status != 200 {
		b.t.Fatalf("ask for a code: %d\n%s", status, body)
	}
	code, _ := e.codes.last()
	if status, loc, body := b.post("/login", url.Values{"phone": {phone}, "code": {code}}); status != 303 || loc != "/me" {
		b.t.Fatalf("log in: %d %s\n%s", status, loc, body)
	}
	if status, loc, body := b.post("/privacy/consent", url.Values{"version": {privacy.NoticeVersion}, "next": {"/me"}}); status != 303 || loc != "/me" {
		b.t.Fatalf("accept the privacy notice: %d %s\n%s", status, loc, body)
	}
}

func TestFormsNeedTheirToken(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.get("/login")
	other := e.browser(t, e.public)
	other.get("/login")
	tests := []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"csrf": {""}}, nil},
		{"a forged token", url.Values{"csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, nil},
		{"another visitor's token", url.Values{"csrf": {other.csrf}}, nil},
		{"a form posted from another site", url.Values{}, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
	}
	for _, tt := range tests {
		tt.form.Set("phone", "13912345678")
		status, _, body := b.post("/login/code", tt.form, tt.header...)
		if status != http.StatusForbidden || !strings.Contains(body, "X-Request-ID") && !regexp.MustCompile(`<code>[0-9a-f]{16}</code>`).MatchString(body) {
			t.Errorf("%s: %d, want 403 with an error page and its request ID\n%s", tt.name, status, body)
		}
		if _, n := e.codes.last(); n != 0 {
			t.Fatalf("%s: a code was sent", tt.name)
		}
	}
	if status, _, body := b.post("/login/code", url.Values{"phone": {"13912345678"}}); status != 200 {
		t.Fatalf("the page's own form: %d\n%s", status, body)
	}
	if _, n := e.codes.last(); n != 1 {
		t.Errorf("%d codes sent, want 1", n)
	}
}

func TestPageHeadersAndCookies(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.public.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{
		"Content-Security-Policy": web.CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(web.CSP, "script-src 'self'") || strings.Contains(web.CSP, "unsafe-inline") {
		t.Errorf("the CSP allows inline script: %s", web.CSP)
	}
	form := resp.Cookies()
	if len(form) != 1 || !form[0].HttpOnly || !form[0].Secure || form[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("form cookie = %+v, want HttpOnly, Secure, SameSite=Strict", form)
	}

	b := e.browser(t, e.public)
	b.get("/login")
	b.post("/login/code", url.Values{"phone": {"13912345678"}})
	code, _ := e.codes.last()
	req, _ := http.NewRequest("POST", e.public.URL+"/login", strings.NewReader(url.Values{"phone": {"13912345678"}, "code": {code}, "csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range b.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie = %+v, want HttpOnly, Secure, SameSite=Lax", session)
	}
	if strings.Contains(resp.Header.Get("Location"), "139") {
		t.Errorf("the phone is in a URL: %s", resp.Header.Get("Location"))
	}
}

// TestCancelNeedsAPost: following the cancel link shows a confirmation and
// changes nothing; only the confirmation's POST cancels.
func TestCancelNeedsAPost(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.login(e, "13912345678")
	b.get("/me")
	if status, loc, body := b.post("/me/patients", url.Values{"name": {"张三"}, "id_type": {"cn_resident"}, "id_number": {testID}}); status != 303 || loc != "/me" {
		t.Fatalf("add a patient: %d %s\n%s", status, loc, body)
	}
	_, me := b.get("/me")
	if !strings.Contains(me, "张*") || strings.Contains(me, testID) || strings.Contains(me, "张三") {
		t.Fatalf("the patient is not listed masked:\n%s", me)
	}
	// Tomorrow's first session: one that has not started can be cancelled.
	ss, err := e.svc.Sessions(ctx, storage.SessionFilter{DepartmentID: 1, From: "2026-12-11", To: "2026-12-11"})
	if err != nil || len(ss) == 0 {
		t.Fatalf("tomorrow's sessions: %v", err)
	}
	session := fmt.Sprintf("/sessions/%d", ss[0].ID)
	patient := regexp.MustCompile(`value="(\d+)">张\*`).FindStringSubmatch(func() string { _, s := b.get(session); return s }())
	if patient == nil {
		t.Fatalf("no booking form on %s", session)
	}
	status, loc, body := b.post(session+"/book", url.Values{"patient_id": {patient[1]}, "key": {"k1"}})
	if status != 303 || !strings.HasPrefix(loc, "/bookings/") {
		t.Fatalf("book: %d %s\n%s", status, loc, body)
	}
	// The same form sent twice books once.
	if status, again, _ := b.post(session+"/book", url.Values{"patient_id": {patient[1]}, "key": {"k1"}}); status != 303 || again != loc {
		t.Errorf("a repeated booking form went to %d %s, want the same booking %s", status, again, loc)
	}
	for range 2 {
		if status, page := b.get(loc + "/cancel"); status != 200 || !strings.Contains(page, `method="post" action="`+loc+`/cancel"`) {
			t.Fatalf("cancel link: %d\n%s", status, page)
		}
	}
	if _, page := b.get(loc); !strings.Contains(page, `<strong>待支付</strong>`) {
		t.Fatalf("after following the cancel link the booking is not held any more:\n%s", page)
	}
	if status, back, body := b.post(loc+"/cancel", url.Values{}); status != 303 || back != loc {
		t.Fatalf("confirm cancel: %d %s\n%s", status, back, body)
	}
	if _, page := b.get(loc); !strings.Contains(page, `<strong>已取消</strong>`) {
		t.Fatalf("the confirmed cancel did not cancel:\n%s", page)
	}
}

func TestStaffPagesOnlyInside(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/kiosk", "/staff/login", "/staff", "/board/1"} {
		if status, _ := e.browser(t, e.public).get(path); status != 404 {
			t.Errorf("public %s: %d, want 404", path, status)
		}
	}
	if status, _ := e.browser(t, e.internal).get("/staff/login"); status != 200 {
		t.Errorf("internal /staff/login: %d", status)
	}
	// Without a staff login the kiosk sends the visitor to it, and a
	// patient's session is no staff login.
	b := e.browser(t, e.internal)
	resp, err := b.c.Get(e.internal.URL + "/kiosk")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/staff/login" {
		t.Errorf("kiosk without login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	b.login(e, "13912345678")
	if status, _, _ := b.post("/kiosk/check-in", url.Values{"code": {"ABCDEFGH"}, "id_last4": {"1234"}}); status != http.StatusUnauthorized {
		t.Errorf("a patient posting to the kiosk: %d, want 401", status)
	}
}

// TestInternalListenerHasNoPortal: beside a public listener, the internal
// one serves the staff's, kiosks' and boards' pages only: the patients'
// portal is not there, so no patient form is reached past the public rules.
func TestInternalListenerHasNoPortal(t *testing.T) {
	e := newEnv(t)
	h, err := e.pages.Handler(frontdoor.InternalListener)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := e.browser(t, srv)
	for path, want := range map[string]int{"/login": 404, "/me": 404, "/departments/1": 404, "/sessions/1": 404, "/bookings/1": 404,
		"/staff/login": 200, "/board/1": 200} {
		if status, _ := b.get(path); status != want {
			t.Errorf("internal %s: %d, want %d", path, status, want)
		}
	}
	resp, err := b.c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/staff" {
		t.Errorf("internal /: %d %s, want a redirect to the staff console", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestErrorPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	resp, err := b.c.Get(e.public.URL + "/sessions/999999")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-ID")
	if resp.StatusCode != 404 || id == "" || !strings.Contains(string(body), "<code>"+id+"</code>") || !strings.Contains(string(body), "未找到") {
		t.Errorf("missing session: %d, request %q\n%s", resp.StatusCode, id, body)
	}
	b.get("/login")
	status, _, page := b.post("/login/code", url.Values{"phone": {"not a phone"}})
	// Shown in the form, translated, next to the field, the input kept.
	if status != 400 || !strings.Contains(page, "电话号码只能包含数字") || !strings.Contains(page, `value="not a phone" aria-invalid="true" aria-describedby="phone-error"`) {
		t.Errorf("a bad phone: %d\n%s", status, page)
	}
	status, _, page = b.post("/login/code", url.Values{"phone": {strings.Repeat("1", 20000)}})
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized form: %d\n%s", status, page)
	}
	if status, _, _ := b.post("/lang", url.Values{"lang": {"vi"}, "back": {"//evil.example/"}}); status != 303 {
		t.Errorf("language switch: %d", status)
	}
}

// TestKioskAndRoom checks a booking in at the kiosk and calls it from the
// room's page, through the forms.
func TestKioskAndRoom(t *testing.T) {
	e := newEnv(t)
	a, _, held := e.paidBooking(t, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: testID})
	desk := e.browser(t, e.internal)
	desk.get("/staff/login")
	if status, loc, body := desk.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}}); status != 303 || loc != "/staff" {
		t.Fatalf("staff login: %d %s\n%s", status, loc, body)
	}
	desk.get("/staff/desk")
	_, _, found := desk.post("/staff/desk", url.Values{"id_type": {"cn_resident"}, "id_number": {testID}, "reason": {"identity_check"}})
	if !strings.Contains(found, held.Code) || !strings.Contains(found, "李*") || strings.Contains(found, "李四") || strings.Contains(found, testID) {
		t.Fatalf("desk look-up by ID number:\n%s", found)
	}
	desk.get("/kiosk")
	if status, _, page := desk.post("/kiosk/check-in", url.Values{"code": {held.Code}, "id_last4": {"0000"}}); status != http.StatusForbidden {
		t.Errorf("check-in with the wrong ID digits: %d\n%s", status, page)
	}
	status, _, ticket := desk.post("/kiosk/check-in", url.Values{"code": {strings.ToLower(held.Code)}, "id_last4": {strings.ToLower(testID[14:])}})
	if status != 200 || !strings.Contains(ticket, `<p class="ticket">A001</p>`) {
		t.Fatalf("check-in: %d\n%s", status, ticket)
	}
	// An elderly walk-in, registered on site from the reserved quota.
	desk.get("/kiosk/walk-in")
	first := "11010519400101001"
	// A mistyped ID number: the form again, as typed, the error beside it.
	bad := first + map[bool]string{true: "0", false: "1"}[fairslot.ResidentCheckDigit(first) != '0']
	status, _, page := desk.post("/kiosk/walk-in?lang=vi", url.Values{"session_id": {"1"}, "name": {"周老伯"}, "id_type": {"cn_resident"},
		"id_number": {bad}, "priority": {"elderly"}, "referral": {"on"}})
	for _, want := range []string{`value="` + bad + `" aria-invalid="true" aria-describedby="id_number-error"`, "ký tự cuối không khớp",
		`value="周老伯"`, `<option value="elderly" selected>`, `name="referral" checked`, `<option value="1" selected>`} {
		if status != 400 || !strings.Contains(page, want) {
			t.Errorf("a walk-in with a wrong ID number: %d, lacks %s\n%s", status, want, page)
		}
	}
	status, _, ticket = desk.post("/kiosk/walk-in", url.Values{"session_id": {"1"}, "name": {"周老伯"}, "id_type": {"cn_resident"},
		"id_number": {first + string(fairslot.ResidentCheckDigit(first))}, "priority": {"elderly"}})
	if status != 200 || !strings.Contains(ticket, `<p class="ticket">A002</p>`) {
		t.Fatalf("walk-in: %d\n%s", status, ticket)
	}
	doc := e.browser(t, e.internal)
	doc.get("/staff/login")
	doc.post("/staff/login", url.Values{"username": {"doctor"}, "password": {demo.Password}})
	_, room := doc.get("/staff/sessions/1")
	// The calling order interleaves priority patients: the elderly walk-in
	// is called first, though A001 arrived earlier.
	// The doctor sees the full names of their own queue (each view recorded).
	if !strings.Contains(room, `<tr class="prio"><td>1</td><td>A002</td><td>周老伯</td>`) || !strings.Contains(room, "<td>2</td><td>A001</td><td>李四</td>") {
		t.Fatalf("the room's queue is not in calling order with the priority patient marked:\n%s", room)
	}
	if status, loc, body := doc.post("/staff/sessions/1/call-next", url.Values{}); status != 303 || loc != "/staff/sessions/1" {
		t.Fatalf("call next: %d %s\n%s", status, loc, body)
	}
	board, err := e.svc.Board(ctx, 1)
	if calls := board.Calls; err != nil || len(calls) != 1 || calls[0].Ticket != "A002" || calls[0].Name != "周*" {
		t.Errorf("board after the call = %+v, %v", calls, err)
	}
	// A001 waits in the same room: the board asks them to get ready.
	if next := board.Next; len(next) != 1 || next[0].Ticket != "A001" || next[0].Name != "李*" {
		t.Errorf("board's get-ready list after the call = %+v; want A001 李*", next)
	}
	if _, board := e.browser(t, e.internal).get("/board/1"); !strings.Contains(board, "<td class=\"ticket\">A002</td><td>周*</td>") {
		t.Errorf("the board page does not show the call:\n%s", board)
	}
	// The patient who booked sees their turn: next.
	if v, err := e.svc.Booking(ctx, a, held.ID); err != nil || v.Turn != 1 {
		t.Errorf("the booked patient's turn = %d, %v; want 1", v.Turn, err)
	}
}

func TestAdminSchedulesASession(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"doctor_id": {"1"}, "date": {"2026-12-20"}, "period": {"morning"}, "start": {"08:00"}, "end": {"09:00"},
		"room": {"R-new"}, "fee": {"12.50"}, "per_window": {"2"}}
	for user, want := range map[string]int{"desk": http.StatusForbidden, "admin": http.StatusSeeOther} {
		b := e.browser(t, e.internal)
		b.get("/staff/login")
		b.post("/staff/login", url.Values{"username": {user}, "password": {demo.Password}})
		b.get("/staff/admin")
		if status, _, body := b.post("/staff/admin/sessions", url.Values(maps.Clone(form))); status != want {
			t.Errorf("%s adding a session: %d, want %d\n%s", user, status, want, body)
		}
		if status, _, body := b.post("/staff/admin/doctors", url.Values{"department_id": {"2"}, "name": {"新来的 Dr New"}, "title": {"expert"}}); status != want {
			t.Errorf("%s adding a doctor: %d, want %d\n%s", user, status, want, body)
		}
	}
	ss, err := e.svc.Sessions(ctx, storage.SessionFilter{DoctorID: 1, From: "2026-12-20", To: "2026-12-20"})
	if err != nil {
		t.Fatal(err)
	}
	var added []app.SessionView
	for _, s := range ss {
		if s.Room == "R-new" {
			added = append(added, s)
		}
	}
	docs, err := e.svc.Doctors(ctx, 2)
	if err != nil || len(docs) != 4 || docs[3].Name != "新来的 Dr New" || docs[3].Title != fairslot.Expert {
		t.Errorf("department 2's doctors = %+v, %v; want the three of the demo and the new expert", docs, err)
	}
	if len(added) != 1 || added[0].FeeCents != 1250 || len(added[0].Windows) != 2 || added[0].Remaining != 4 {
		t.Errorf("sessions in R-new = %+v; want one of 2 windows × 2 places at 12.50", added)
	}
}

// newSession adds a session of a new doctor on 12 December, released by rule at
// opens, with one slot per window from 08:00 to end.
func (e *env) newSession(t *testing.T, rule release.Rule, opens time.Time, end string) int64 {
	t.Helper()
	day := time.Date(2026, 12, 12, 0, 0, 0, 0, loc)
	at := func(hhmm string) time.Time {
		tm, _ := time.Parse("15:04", hhmm)
		return day.Add(time.Duration(tm.Hour()*60+tm.Minute()) * time.Minute)
	}
	sess := fairslot.Session{DepartmentID: 1, Date: "2026-12-12", Period: fairslot.Afternoon, Start: at("14:00"), End: at(end), Room: "R9", FeeCents: 100}
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		doc := fairslot.Doctor{DepartmentID: 1, Name: "Dr New", Title: fairslot.General} // a doctor of its own: the demo's are fully booked
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		sess.DoctorID = doc.ID
		return e.svc.NewSessionAt(ctx, tx, rule, &sess, fairslot.Windows(sess.Start, sess.End, 1), opens)
	})
	if err != nil {
		t.Fatal(err)
	}
	return sess.ID
}

// patientOf logs a new phone in through the forms and adds a patient; it
// returns the browser and the patient's id as the pages show it.
func (e *env) patientOf(t *testing.T, phone, name string, serial int) (*browser, string) {
	t.Helper()
	b := e.browser(t, e.public)
	b.login(e, phone)
	b.get("/me")
	first := fmt.Sprintf("11010519800102%03d", serial)
	if status, _, body := b.post("/me/patients", url.Values{"name": {name}, "id_type": {"cn_resident"}, "id_number": {first + string(fairslot.ResidentCheckDigit(first))}}); status != 303 {
		t.Fatalf("add a patient: %d\n%s", status, body)
	}
	_, me := b.get("/me")
	// The patients' select on a session page carries their ids.
	ps, err := e.svc.Patients(ctx, e.actorOf(t, phone))
	if err != nil || len(ps) != 1 {
		t.Fatalf("patients of %s: %v %v\n%s", phone, ps, err, me)
	}
	return b, fmt.Sprint(ps[0].ID)
}

// paidBooking opens an account (phone 13912345678), binds the patient in
// and books them into session 1, paid.
func (e *env) paidBooking(t *testing.T, in app.PatientInput) (app.Actor, fairslot.Patient, app.BookingView) {
	t.Helper()
	a, err := e.svc.OpenAccount(ctx, app.System, "13912345678")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "zh-CN"); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.BindPatient(ctx, a, in)
	if err != nil {
		t.Fatal(err)
	}
	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: 1, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pay(ctx, a, held.ID, "pay"); err != nil {
		t.Fatal(err)
	}
	return a, p, held
}

func (e *env) actorOf(t *testing.T, phone string) app.Actor {
	a, err := e.svc.OpenAccount(ctx, app.System, phone)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDrawAndWaitlistPages enters a draw from its page, sees the result,
// rank and commitment after the draw; and joins the waitlist of a full
// session and sees the place.
func TestDrawAndWaitlistPages(t *testing.T) {
	e := newEnv(t)
	draw := e.newSession(t, release.Rule{Mode: fairslot.Draw, Window: fairslot.Duration(2 * time.Hour)}, e.clock().Add(-30*time.Minute), "15:00")
	b, patient := e.patientOf(t, "13912345678", "赵一", 1)
	path := fmt.Sprintf("/sessions/%d", draw)
	_, page := b.get(path)
	commitment := regexp.MustCompile(`<code class="wrap">([0-9a-f]{64})</code>`).FindStringSubmatch(page)
	if !strings.Contains(page, `action="`+path+`/enter"`) || commitment == nil {
		t.Fatalf("the draw's page has no entry form or no commitment:\n%s", page)
	}
	if status, loc, body := b.post(path+"/enter", url.Values{"patient_id": {patient}}); status != 303 || loc != "/me" {
		t.Fatalf("enter the draw: %d %s\n%s", status, loc, body)
	}
	if _, me := b.get("/me"); !strings.Contains(me, "等待抽签") || !strings.Contains(me, commitment[1]) {
		t.Fatalf("my entries before the draw:\n%s", me)
	}
	e.advance(2 * time.Hour)
	if _, err := e.svc.RunDraw(ctx, app.System, draw); err != nil {
		t.Fatal(err)
	}
	_, me := b.get("/me")
	if !strings.Contains(me, "<strong>中签</strong> · 排名 1 / 1") || !regexp.MustCompile(`href="/bookings/\d+">查看预约`).MatchString(me) {
		t.Fatalf("my entries after the draw:\n%s", me)
	}
	if _, page := b.get(path); !strings.Contains(page, `href="/api/v1/sessions/`+fmt.Sprint(draw)+`/draw/record"`) {
		t.Errorf("the drawn session links no record:\n%s", page)
	}

	// A first-come session of one place: the second patient waits.
	full := e.newSession(t, release.Rule{Mode: fairslot.FirstCome}, e.clock().Add(-time.Hour), "14:30")
	path = fmt.Sprintf("/sessions/%d", full)
	first, p1 := e.patientOf(t, "13912340001", "钱二", 2)
	first.get(path)
	if status, _, body := first.post(path+"/book", url.Values{"patient_id": {p1}, "key": {"a"}}); status != 303 {
		t.Fatalf("the first booking: %d\n%s", status, body)
	}
	second, p2 := e.patientOf(t, "13912340002", "孙三", 3)
	_, page = second.get(path)
	if strings.Contains(page, `action="`+path+`/book"`) || !strings.Contains(page, `action="`+path+`/waitlist"`) {
		t.Fatalf("a full session's page should offer the waitlist, not booking:\n%s", page)
	}
	if status, loc, body := second.post(path+"/waitlist", url.Values{"patient_id": {p2}}); status != 303 || loc != "/me" {
		t.Fatalf("join the waitlist: %d %s\n%s", status, loc, body)
	}
	_, me = second.get("/me")
	if !strings.Contains(me, "第 1 位") {
		t.Fatalf("my waitlist place:\n%s", me)
	}
	leave := regexp.MustCompile(`action="(/waitlist/\d+/leave)"`).FindStringSubmatch(me)
	if leave == nil {
		t.Fatal("no leave form")
	}
	if status, _, body := second.post(leave[1], url.Values{}); status != 303 {
		t.Fatalf("leave the waitlist: %d\n%s", status, body)
	}
	if _, me := second.get("/me"); strings.Contains(me, "第 1 位") {
		t.Errorf("still on the waitlist after leaving:\n%s", me)
	}
}
