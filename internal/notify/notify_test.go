package notify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo/demotest"
	"github.com/fairslot/fairslot/internal/localdate"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

var ctx = context.Background()

// clock is a test clock the dispatcher and the service share; tests move
// it, never sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink read while written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// gateway is a fake SMS gateway: it checks the signature, answers with
// status() and counts the requests it accepted per ref.
type gateway struct {
	mu       sync.Mutex
	status   int
	accepted map[string]int
	texts    map[string]string
	requests int
	bad      []string
}

const secret = "gateway-secret"

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(r.Header.Get("X-Timestamp")))
	mac.Write(body)
	var in struct{ Phone, Text, Ref string }
	err := json.Unmarshal(body, &in)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	if err != nil || !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Fairslot-Sign"))) || r.Header.Get("Idempotency-Key") != in.Ref {
		g.bad = append(g.bad, string(body))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if g.status != http.StatusOK {
		w.WriteHeader(g.status)
		return
	}
	g.accepted[in.Ref]++
	g.texts[in.Ref] = in.Phone + " " + in.Text
	w.WriteHeader(http.StatusOK)
}

func (g *gateway) set(status int) { g.mu.Lock(); g.status = status; g.mu.Unlock() }

type env struct {
	svc   *app.Service
	store storage.Store
	clock *clock
	log   *syncBuffer
}

func newEnv(t *testing.T) *env {
	loc := time.FixedZone("CST", 8*3600)
	c := &clock{t: time.Date(2026, 12, 10, 9, 0, 0, 0, loc)}
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
	svc, st := demotest.Service(t, loc, c.Now, nil, log)
	return &env{svc: svc, store: st, clock: c, log: buf}
}

func (e *env) dispatcher(p notify.Provider) *notify.Dispatcher {
	return &notify.Dispatcher{Store: e.store, Vault: e.svc.Vault, Provider: p, Log: slog.New(slog.NewTextHandler(e.log, nil)),
		Now: e.clock.Now, Retry: notify.Retry{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Minute, SendTimeout: 10 * time.Second}}
}

func (e *env) backlog(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.store.View(ctx, func(tx storage.Tx) (err error) { n, err = tx.OutboxBacklog(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	return n
}

// requestCodes asks for a login code for each phone, each from its own
// network.
func (e *env) requestCodes(t *testing.T, phones ...string) {
	t.Helper()
	for i, p := range phones {
		if err := e.svc.RequestLoginCode(ctx, app.Actor{Addr: "198.51." + string(rune('0'+i)) + ".0/24"}, p); err != nil {
			t.Fatalf("code for %s: %v", p, err)
		}
	}
}

func smsGateway(t *testing.T, g *gateway) *notify.SMSHTTP {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	tmpl, err := notify.ParseSMSTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	return &notify.SMSHTTP{URL: srv.URL, Body: tmpl, Secret: []byte(secret), SignatureHeader: "X-Fairslot-Sign"}
}

// The outbox survives a gateway outage and two restarts of the dispatcher
// — one of them while a pass was sending — and afterwards every message
// has been accepted by the gateway exactly once.
func TestOutboxSurvivesOutageAndRestart(t *testing.T) {
	e := newEnv(t)
	g := &gateway{status: http.StatusServiceUnavailable, accepted: map[string]int{}, texts: map[string]string{}}
	sms := smsGateway(t, g)
	phones := []string{"13900000001", "+86 139-0000-0002", "0084912345678", "13900000004", "13900000005"}
	e.requestCodes(t, phones...)
	if n := e.backlog(t); n != len(phones) {
		t.Fatalf("backlog after the requests = %d, want %d", n, len(phones))
	}

	// The outage: every attempt fails and is kept.
	d := e.dispatcher(sms)
	for range 2 {
		if n, err := d.Pass(ctx); err != nil || n != len(phones) {
			t.Fatalf("pass in the outage = %d, %v; want %d taken", n, err, len(phones))
		}
		e.clock.Add(time.Minute) // past the lease
	}
	if st := d.Stats(); st.Sent != 0 || st.Retried != int64(2*len(phones)) || st.Dead != 0 || st.Backlog != int64(len(phones)) {
		t.Fatalf("stats in the outage = %+v", st)
	}

	// Recovery, and the server stops after the second send of a pass.
	g.set(http.StatusOK)
	stopCtx, stop := context.WithCancel(ctx)
	var sends int
	stopping := notify.ProviderFunc(func(ctx context.Context, m notify.Message) error {
		err := sms.Send(ctx, m)
		if sends++; sends == 2 {
			stop()
		}
		return err
	})
	if _, err := e.dispatcher(stopping).Pass(stopCtx); err != nil {
		t.Fatal(err)
	}
	if n := e.backlog(t); n != len(phones)-2 {
		t.Fatalf("backlog after the interrupted pass = %d, want %d", n, len(phones)-2)
	}

	// A new dispatcher (the restarted server) sends the rest once the
	// interrupted pass's lease lapses, and never the two sent already.
	d = e.dispatcher(sms)
	if n, err := d.Pass(ctx); err != nil || n != 0 {
		t.Fatalf("pass within the lease = %d, %v; want none taken", n, err)
	}
	e.clock.Add(time.Minute)
	if n, err := d.Pass(ctx); err != nil || n != len(phones)-2 {
		t.Fatalf("pass after the lease = %d, %v; want %d", n, err, len(phones)-2)
	}
	e.clock.Add(time.Hour)
	if n, err := d.Pass(ctx); err != nil || n != 0 {
		t.Fatalf("pass with nothing due = %d, %v", n, err)
	}
	if n := e.backlog(t); n != 0 {
		t.Errorf("backlog after recovery = %d, want 0", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.bad) != 0 {
		t.Errorf("the gateway refused %d badly signed requests: %q", len(g.bad), g.bad)
	}
	if len(g.accepted) != len(phones) {
		t.Errorf("the gateway accepted %d messages, want %d", len(g.accepted), len(phones))
	}
	for ref, n := range g.accepted {
		if n != 1 {
			t.Errorf("message %s accepted %d times, want once", ref, n)
		}
		if !strings.Contains(g.texts[ref], "您的 fairslot 登录验证码是 ") { // no account, no request language: Chinese
			t.Errorf("message %s = %q, want the login code text", ref, g.texts[ref])
		}
	}
	var got []string
	for _, text := range g.texts {
		got = append(got, strings.Fields(text)[0])
	}
	for _, want := range []string{"13900000001", "13900000002", "+84912345678"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("no message to %s in %v", want, got)
		}
	}
}

// A gateway's 4xx refuses the message for good: it is dead, with an ALERT,
// and never sent again; a message that fails every attempt is dead too.
func TestPermanentFailureGoesDead(t *testing.T) {
	e := newEnv(t)
	g := &gateway{status: http.StatusBadRequest, accepted: map[string]int{}, texts: map[string]string{}}
	d := e.dispatcher(smsGateway(t, g))
	e.requestCodes(t, "13900000001")
	if _, err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Dead != 1 || st.Backlog != 0 {
		t.Errorf("stats after a 400 = %+v, want one dead and no backlog", st)
	}
	if !strings.Contains(e.log.String(), "ALERT: notify: the provider refused a message for good") {
		t.Errorf("no ALERT for the dead message in the log:\n%s", e.log.String())
	}

	g.set(http.StatusInternalServerError)
	e.requestCodes(t, "13900000002")
	for i := range 5 {
		if n, err := d.Pass(ctx); err != nil || n != 1 {
			t.Fatalf("attempt %d: %d taken, %v", i+1, n, err)
		}
		e.clock.Add(time.Hour)
	}
	if n, err := d.Pass(ctx); err != nil || n != 0 {
		t.Errorf("after the last attempt: %d taken, %v; want none", n, err)
	}
	if st := d.Stats(); st.Dead != 2 || st.Retried != 4 || st.Backlog != 0 {
		t.Errorf("stats after 5 failed attempts = %+v, want 2 dead, 4 retried", st)
	}
	if !strings.Contains(e.log.String(), "ALERT: notify: a message failed every attempt") {
		t.Errorf("no ALERT for the exhausted message in the log")
	}
	if g.requests != 6 {
		t.Errorf("the gateway saw %d requests, want 6", g.requests)
	}
}

// smtpBackend is an in-process SMTP server's mailbox.
type smtpBackend struct {
	mu   sync.Mutex
	mail []string
}

type smtpSession struct {
	b        *smtpBackend
	authed   bool
	from, to string
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }
func (s *smtpSession) AuthMechanisms() []string                    { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "fairslot" || pass != "relay-password" {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasSuffix(to, "@nowhere.invalid") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = to
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.mail = append(s.b.mail, "FROM "+s.from+" TO "+s.to+"\n"+string(b))
	s.b.mu.Unlock()
	return err
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// The SMTP provider delivers through a real SMTP server (go-smtp, in
// process): AUTH PLAIN, the text in UTF-8, the ref in the Message-ID; a
// 5xx for the recipient is a permanent refusal.
func TestSMTPDelivers(t *testing.T) {
	be := &smtpBackend{}
	srv := smtp.NewServer(be)
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	p := &notify.SMTP{Addr: ln.Addr().String(), Username: "fairslot", Password: "relay-password", From: "fairslot <noreply@hospital.example>", PhoneDomain: "sms.hospital.example"}
	if err := p.Send(ctx, notify.Message{Channel: "email", Recipient: "patient@example.org", Text: "Mã đăng nhập: 123456", Ref: "ref-1"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, notify.Message{Channel: "sms", Recipient: "+84912345678", Text: "code 654321", Ref: "ref-2"}); err != nil {
		t.Fatal(err)
	}
	err = p.Send(ctx, notify.Message{Channel: "email", Recipient: "someone@nowhere.invalid", Text: "x", Ref: "ref-3"})
	if !notify.IsPermanent(err) {
		t.Errorf("a 550 for the recipient: %v, want a permanent refusal", err)
	}
	bad := *p
	bad.Password = "wrong"
	if err := bad.Send(ctx, notify.Message{Channel: "email", Recipient: "patient@example.org", Text: "x", Ref: "ref-4"}); err == nil {
		t.Error("a wrong relay password: delivered")
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.mail) != 2 {
		t.Fatalf("the server received %d messages, want 2: %q", len(be.mail), be.mail)
	}
	for i, want := range [][]string{
		{"FROM noreply@hospital.example TO patient@example.org", "Message-ID: <ref-1@hospital.example>", "Content-Type: text/plain; charset=utf-8", "Mã đăng nhập: 123456"},
		{"TO 84912345678@sms.hospital.example", "Message-ID: <ref-2@hospital.example>", "code 654321"},
	} {
		for _, w := range want {
			if !strings.Contains(be.mail[i], w) {
				t.Errorf("message %d lacks %q:\n%s", i+1, w, be.mail[i])
			}
		}
	}
}

// blocked is a provider that never returns until the test ends.
type blocked struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blocked) Send(ctx context.Context, m notify.Message) error {
	b.once.Do(func() { close(b.entered) })
	<-b.release // ignores ctx: the worst provider
	return errors.New("released")
}

// A provider that hangs forever holds up the dispatcher, never a request:
// login codes are asked for and used, and the backlog grows, while the
// dispatcher is stuck in a send.
func TestHungProviderDoesNotBlockRequests(t *testing.T) {
	e := newEnv(t)
	b := &blocked{entered: make(chan struct{}), release: make(chan struct{})}
	d := e.dispatcher(b)
	e.svc.Outbox = d
	codes := map[string]string{}
	var mu sync.Mutex
	e.svc.Notifier = notifierFunc(func(phone, text string) {
		mu.Lock()
		defer mu.Unlock()
		codes[phone] = regexp.MustCompile(`\d{6}`).FindString(text)
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(runCtx, time.Hour, nil) }()
	t.Cleanup(func() { close(b.release); cancel(); <-done })

	e.requestCodes(t, "13900000001")
	<-b.entered // the dispatcher is stuck in the provider now
	var token string
	for i, phone := range []string{"13900000001", "13900000002", "13900000003"} {
		if i > 0 {
			e.requestCodes(t, phone)
		}
		mu.Lock()
		code := codes[phone]
		mu.Unlock()
		tok, _, err := e.svc.Login(ctx, app.Actor{Addr: "198.51.0.0/24"}, phone, code)
		if err != nil {
			t.Fatalf("login of %s while the provider hangs: %v", phone, err)
		}
		token = cmpOr(token, tok)
	}
	if n := e.backlog(t); n != 3 {
		t.Errorf("backlog while the provider hangs = %d, want 3", n)
	}
	// And a booking, start to end.
	a, err := e.svc.Authenticate(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Consent(ctx, a, e.svc.Privacy.Version(), "zh-CN"); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: "110105201501010017"})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := e.svc.Sessions(ctx, storage.SessionFilter{DepartmentID: 1, From: "2026-12-11", To: "2026-12-13"})
	if err != nil {
		t.Fatal(err)
	}
	var session int64
	for _, v := range sessions {
		if v.Remaining > 0 && !e.clock.Now().Before(v.Opens) && e.clock.Now().Before(v.Closes) && v.Release.Mode != fairslot.Draw {
			session = v.ID
			break
		}
	}
	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: session, PatientID: p.ID})
	if err != nil {
		t.Fatalf("a booking while the provider hangs: %v", err)
	}
	if _, err := e.svc.Pay(ctx, a, held.ID, "pay-1"); err != nil {
		t.Fatalf("paying while the provider hangs: %v", err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type notifierFunc func(phone, text string)

func (f notifierFunc) Notify(_ context.Context, phone, text string) error { f(phone, text); return nil }

func TestBodies(t *testing.T) {
	got, err := notify.Text(notify.Body{Key: notify.KeyLoginCode, Lang: "fr", Params: map[string]string{"code": "042042"}}.Encode())
	if want := "Your fairslot login code is 042042. It expires in 5 minutes. Never share it."; got != want || err != nil {
		t.Errorf("login code body = %q, %v; want %q (English for a language without messages)", got, err, want)
	}
	if got, err := notify.Text(notify.Body{Key: notify.KeyLoginCode, Lang: "vi", Params: map[string]string{"code": "042042"}}.Encode()); !strings.HasPrefix(got, "Mã đăng nhập fairslot của bạn là 042042.") || err != nil {
		t.Errorf("the Vietnamese login code body = %q, %v", got, err)
	}
	if got, err := notify.Text("a message written before bodies were keys"); got != "a message written before bodies were keys" || err != nil {
		t.Errorf("old body = %q, %v", got, err)
	}
	if _, err := notify.Text(notify.Body{Key: notify.KeyLoginCode}.Encode()); err == nil {
		t.Error("a body without its parameter rendered")
	}
	if _, err := notify.Text(notify.Body{Key: "no_such_message"}.Encode()); err == nil {
		t.Error("an unknown key rendered")
	}
}

// The gateway's answer decides: 2xx sent, 4xx but 429 refused for good,
// 429, 5xx and a closed port tried again; the template's json quotes.
func TestSMSGatewayAnswers(t *testing.T) {
	for _, tt := range []struct {
		status          int
		ok, permanently bool
	}{
		{200, true, false}, {202, true, false}, {400, false, true}, {401, false, true}, {404, false, true},
		{429, false, false}, {500, false, false}, {502, false, false}, {503, false, false},
	} {
		g := &gateway{status: tt.status, accepted: map[string]int{}, texts: map[string]string{}}
		if tt.status/100 == 2 {
			g.status = http.StatusOK
		}
		sms := smsGateway(t, g)
		if tt.status/100 == 2 && tt.status != 200 {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
			sms.URL = srv.URL
			defer srv.Close()
		}
		err := sms.Send(ctx, notify.Message{Channel: "sms", Recipient: "13800138000", Text: `say "hi"\n`, Ref: "r"})
		if (err == nil) != tt.ok || notify.IsPermanent(err) != tt.permanently {
			t.Errorf("status %d: %v; want ok %v, permanent %v", tt.status, err, tt.ok, tt.permanently)
		}
		if tt.status == 200 && g.texts["r"] != `13800138000 say "hi"\n` {
			t.Errorf("the gateway read %q", g.texts["r"])
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	err = (&notify.SMSHTTP{URL: closed, Secret: []byte("k")}).Send(ctx, notify.Message{Channel: "sms", Recipient: "1", Text: "x", Ref: "r"})
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("a closed port: %v, want a retry", err)
	}
}

// Every message exists in every language, renders with its parameters,
// and refuses to render without one (a message with a hole is never sent).
func TestEveryMessageInEveryLanguage(t *testing.T) {
	params := map[string]string{"code": "042042", "name": "张*", "doctor": "Dr Lin", "department": "Fever", "date": "2026-12-12",
		"time": "14:00–14:30", "pay_by": "2026-12-10 11:00", "rank": "2", "of": "9"}
	keys := []string{notify.KeyLoginCode, notify.KeyLoginWarning, notify.KeyWaitlistOffer, notify.KeyDrawWon, notify.KeyDrawLost, notify.KeyDrawSkipped, notify.KeyBookingConfirmed,
		notify.KeyPayReminder, notify.KeyDayReminder}
	english := map[string]string{}
	for _, lang := range notify.Languages {
		for _, k := range keys {
			got, err := notify.Body{Key: k, Lang: lang, Params: params}.Text()
			if err != nil || got == "" {
				t.Errorf("%s in %s: %q, %v", k, lang, got, err)
			}
			if lang == "en" {
				english[k] = got
			} else if got == english[k] {
				t.Errorf("%s in %s is the English text", k, lang)
			}
			if k != notify.KeyLoginCode && k != notify.KeyLoginWarning && !strings.Contains(got, "张*") {
				t.Errorf("%s in %s does not name the patient: %q", k, lang, got)
			}
		}
		if _, err := (notify.Body{Key: notify.KeyWaitlistOffer, Lang: lang, Params: map[string]string{"name": "张*"}}).Text(); err == nil {
			t.Errorf("a waitlist offer without its deadline rendered in %s", lang)
		}
	}
}

// The reminders exist in every language and need nothing personal: each
// renders from the masked name, the place and (the payment reminder) the
// deadline alone — a template asking for a phone, an ID number, a full
// name or a booking code would fail here, as a body missing a parameter
// fails — uses each of them, and writes the dates as the language does.
func TestRemindersHoldNoPersonalData(t *testing.T) {
	place := map[string]string{"name": "张*", "doctor": "Dr Lin", "department": "Fever", "date": "2026-12-12", "time": "14:00–14:30"}
	for _, tt := range []struct {
		key   string
		extra map[string]string
	}{
		{notify.KeyPayReminder, map[string]string{"pay_by": "2026-12-10 11:00"}},
		{notify.KeyDayReminder, nil},
	} {
		params := maps.Clone(place)
		maps.Copy(params, tt.extra)
		texts := map[string]bool{}
		for _, lang := range notify.Languages {
			got, err := notify.Body{Key: tt.key, Lang: lang, Params: params}.Text()
			if err != nil {
				t.Errorf("%s in %s: %v", tt.key, lang, err)
				continue
			}
			texts[got] = true
			want := []string{"张*", "Dr Lin", "Fever", "14:00–14:30", localdate.Day(lang, time.Date(2026, 12, 12, 0, 0, 0, 0, time.UTC))}
			if tt.extra != nil {
				want = append(want, localdate.Stamp(lang, time.Date(2026, 12, 10, 11, 0, 0, 0, time.UTC)))
			}
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("%s in %s lacks %q: %q", tt.key, lang, w, got)
				}
			}
			for k := range params { // every one is said: none is a hole
				short := maps.Clone(params)
				delete(short, k)
				if _, err := (notify.Body{Key: tt.key, Lang: lang, Params: short}).Text(); err == nil {
					t.Errorf("%s in %s renders without %s", tt.key, lang, k)
				}
			}
		}
		if len(texts) != len(notify.Languages) {
			t.Errorf("%s: %d distinct texts in %d languages", tt.key, len(texts), len(notify.Languages))
		}
	}
}
