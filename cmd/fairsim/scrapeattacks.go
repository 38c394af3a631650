package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// clerk is a registration-desk login the scenario owns: what a thief
// steals in (a) and (b).
type clerk struct {
	Username, Password string
	// TOTP is the second factor's secret (base32), known to the clerk (and
	// so to the scenario), never to the attacker of (a); step is the last
	// 30-second step whose code the clerk used (each is good once).
	TOTP string
	step int64
	// EnrolCode is the one-time enrolment code 'fairslot staff add' printed
	// for the admin to hand to the clerk: the clerk's first sign-in needs
	// it; the attacker of (a) never has it. Empty on a build without one.
	EnrolCode string
	// ID is the login's id, as ALERT lines name it.
	ID int64
}

// staffProbe is a request every signed-in desk may make: a floor
// session's queue. It tells a usable staff session from a refused one.
func staffProbe(sd *seeded) string {
	return fmt.Sprintf("/api/v1/staff/sessions/%d/queue", sd.sessions[0])
}

func ok2xx(resp *apiclient.Response, err error) bool {
	return err == nil && resp.Status >= 200 && resp.Status < 300
}

// tokensIn returns every string in a JSON answer under a key that names a
// token: whatever a login answer hands out, the attacker tries as a bearer.
func tokensIn(body []byte) []string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var out []string
	var walk func(map[string]any)
	walk = func(m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case string:
				if strings.Contains(strings.ToLower(k), "token") && v != "" {
					out = append(out, v)
				}
			case map[string]any:
				walk(v)
			}
		}
	}
	walk(m)
	return out
}

// staffDoors are the staff requests an attacker tries with whatever
// session they hold, for the n-th patient: a look-up by ID number (the API
// and the desk page) and reveals of the ID number and phone. It returns how
// many were answered 2xx.
func staffDoors(c *apiclient.Client, ctx context.Context, l *attackLog, sd *seeded, ppl *people, n int) (answered int) {
	p := ppl.list[n]
	for _, d := range []struct {
		route, method, path string
		body                any
	}{
		{"POST /api/v1/staff/lookups", "POST", "/api/v1/staff/lookups", map[string]string{
			"id_type": "cn_resident", "id_number": p.ID, "reason": "identity_check", "note": "checking a booking"}},
		{"POST /api/v1/staff/reveals id", "POST", "/api/v1/staff/reveals", map[string]any{
			"patient_id": sd.patientIDs[n], "field": "id", "reason": "identity_check", "note": "checking a booking"}},
		{"POST /api/v1/staff/reveals phone", "POST", "/api/v1/staff/reveals", map[string]any{
			"patient_id": sd.patientIDs[n], "field": "phone", "reason": "contact_patient", "note": "calling about a booking"}},
	} {
		resp, err := c.Do(ctx, d.method, d.path, d.body, nil, false)
		l.record(d.route, resp, err)
		if ok2xx(resp, err) {
			answered++
			l.weakMask(n, p.ID, resp.Body)
		}
	}
	resp, err := deskLookup(ctx, c, p.ID)
	l.record("POST /staff/desk (look-up page)", resp, err)
	if ok2xx(resp, err) {
		answered++
		l.weakMask(n, p.ID, resp.Body)
	}
	return answered
}

// getPage gets a page with a cookie, following no redirect.
func getPage(ctx context.Context, c *apiclient.Client, path, cookie string) (*apiclient.Response, error) {
	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Cookie", cookie)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return &apiclient.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// deskLookup looks a patient up by ID number on the desk page, as the
// clerk's browser would with the stolen session in its cookie: it fetches
// the page for its form token, then posts the form. Redirects (to the
// sign-in page) are answers, not followed.
func deskLookup(ctx context.Context, c *apiclient.Client, idNumber string) (*apiclient.Response, error) {
	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(method string, body io.Reader, cookies string) (*apiclient.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.Base+"/staff/desk", body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Cookie", cookies)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return &apiclient.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
	}
	cookies := "fairslot_staff=" + c.Token
	page, err := do("GET", nil, cookies)
	if err != nil || page.Status != 200 {
		return page, err
	}
	for _, sc := range (&http.Response{Header: page.Header}).Cookies() {
		cookies += "; " + sc.Name + "=" + sc.Value
	}
	m := csrfField.FindSubmatch(page.Body)
	if m == nil {
		return page, nil
	}
	form := url.Values{"csrf": {html.UnescapeString(string(m[1]))}, "id_type": {"cn_resident"}, "id_number": {idNumber},
		"reason": {"identity_check"}, "note": {"checking a booking"}}
	return do("POST", strings.NewReader(form.Encode()), cookies)
}

// stolenPassword is attack (a): the clerk's password, without the second
// factor. The attacker signs in with it and takes whatever the answer hands
// out; tries to enrol a factor of their own with the challenge; guesses
// second-factor and recovery codes (five of each, on the login and on the
// second step); and tries every token and challenge as a staff session.
func stolenPassword(ctx context.Context, t *target, ppl *people, ck clerk, sd *seeded) Attack {
	l := newAttackLog(ppl, -1)
	from := logSize(t)
	c := client(t.Staff, addr(60, 0, 1))
	var toks, challenges []string
	take := func(route string, resp *apiclient.Response, err error) {
		l.record(route, resp, err)
		if err != nil {
			return
		}
		toks = appendNew(toks, tokensIn(resp.Body)...)
		var step struct{ Challenge, Secret string }
		resp.Decode(&step)
		if step.Challenge != "" {
			challenges = appendNew(challenges, step.Challenge)
		}
		if step.Secret != "" {
			l.note("the attacker got a second-factor secret from %s", route)
			ck.TOTP = step.Secret
		}
	}
	login := func(code string) {
		in := map[string]string{"username": ck.Username, "password": ck.Password}
		if code != "" {
			in["code"] = code
		}
		resp, err := c.Do(ctx, "POST", "/api/v1/staff/login", in, nil, false)
		take("POST /api/v1/staff/login"+map[bool]string{true: " (guessed code)"}[code != ""], resp, err)
	}
	login("")
	if len(challenges) == 0 {
		// No second-factor step: a new account, which enrols with the
		// admin's enrolment code. Guess a few.
		for i := range 5 {
			login(fmt.Sprintf("7KQ4M-2XP9%d", i))
		}
	}
	// Enrol a factor of the attacker's own on the account.
	for _, ch := range challenges {
		resp, err := c.Do(ctx, "POST", "/api/v1/staff/enrol", map[string]string{"challenge": ch}, nil, false)
		take("POST /api/v1/staff/enrol", resp, err)
		if ck.TOTP != "" {
			code, _ := totpCode(ck.TOTP, time.Now())
			resp, err := c.Do(ctx, "POST", "/api/v1/staff/enrol/confirm", map[string]string{"challenge": ch, "code": code}, nil, false)
			take("POST /api/v1/staff/enrol/confirm", resp, err)
		}
	}
	for i, code := range []string{"000000", "123456", "111111", "654321", "999999"} {
		login(code)
		recovery := fmt.Sprintf("ABCD-EFGH-%04d", i)
		for _, ch := range challenges {
			for _, g := range []string{code, recovery} {
				resp, err := c.Do(ctx, "POST", "/api/v1/staff/second-factor", map[string]string{"challenge": ch, "code": g}, nil, false)
				take("POST /api/v1/staff/second-factor (guessed code)", resp, err)
			}
		}
	}
	for _, tok := range append(toks, challenges...) {
		c.Token = tok
		resp, err := c.Do(ctx, "GET", staffProbe(sd), nil, nil, false)
		l.record("GET /api/v1/staff/sessions/{id}/queue", resp, err)
		if staffDoors(c, ctx, l, sd, ppl, 0)+btoi(ok2xx(resp, err)) > 0 {
			l.a.SessionObtained = true
		}
	}
	l.a.Alert = alerted(t, from, fmt.Sprintf("staff=%d ", ck.ID))
	a := l.done()
	a.Notes = append(a.Notes, fmt.Sprintf("%d tokens and %d sign-in challenges handed out to the attacker", len(toks), len(challenges)))
	return a
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func appendNew(xs []string, ys ...string) []string {
	for _, y := range ys {
		found := false
		for _, x := range xs {
			found = found || x == y
		}
		if !found {
			xs = append(xs, y)
		}
	}
	return xs
}

// stolenSession is attack (b): the clerk's session, taken after the clerk
// passed the second factor (malware on the desk's PC, say). The attacker
// scripts look-ups and reveals across patients until the account is
// refused for good (20 refusals in a row) or k.tries patients are done,
// then checks whether the account is locked: the stolen session refused,
// and a fresh full sign-in by the clerk refused too.
func stolenSession(ctx context.Context, t *target, ppl *people, ck clerk, sd *seeded, k scrapeKnobs) Attack {
	l := newAttackLog(ppl, -1)
	from := logSize(t)
	c, err := signIn(ctx, t, &ck, addr(61, 0, 1))
	if err != nil {
		l.note("the clerk could not sign in: %v", err)
		return l.done()
	}
	if resp, err := c.Do(ctx, "GET", staffProbe(sd), nil, nil, false); !ok2xx(resp, err) {
		l.note("the clerk's own session is refused before the attack (%v %v): the figures below prove nothing", status(resp), err)
	}
	// Many patients at once: every clinic's queue and its exported list.
	for _, id := range sd.sessions {
		resp, err := c.Do(ctx, "GET", fmt.Sprintf("/api/v1/staff/sessions/%d/queue", id), nil, nil, false)
		l.record("GET /api/v1/staff/sessions/{id}/queue (every clinic)", resp, err)
		resp, err = c.Do(ctx, "GET", fmt.Sprintf("/api/v1/staff/sessions/%d/export.csv", id), nil, nil, false)
		l.record("GET /api/v1/staff/sessions/{id}/export.csv", resp, err)
	}
	refused := 0
	for n := 0; n < k.tries && refused < 20; n++ {
		before := l.a.Requests
		got := staffDoors(c, ctx, l, sd, ppl, n)
		l.a.AnsweredBeforeLock += got
		l.a.IDsTried++
		if got == 0 {
			refused += l.a.Requests - before
		} else {
			refused = 0
		}
	}
	// Locked out: the attacker tries to unlock the account with its own
	// session, on both unlock routes.
	for _, path := range []string{"/api/v1/staff/staff/%d/unlock-access", "/api/v1/staff/accounts/%d/unlock"} {
		resp, err := c.Do(ctx, "POST", fmt.Sprintf(path, ck.ID), nil, nil, false)
		l.record("POST "+strings.ReplaceAll(path, "%d", "{id}")+" (self)", resp, err)
	}
	resp, err := c.Do(ctx, "GET", staffProbe(sd), nil, nil, false)
	l.record("GET /api/v1/staff/sessions/{id}/queue (after)", resp, err)
	sessionRefused := !ok2xx(resp, err)
	// The clerk comes back: the right password and a fresh code. Locked
	// means refused at sign-in or in every request after it.
	fresh := "refused at sign-in"
	again, err := signIn(ctx, t, &ck, addr(62, 0, 1))
	refusedAgain := err != nil
	if err == nil {
		resp, err := again.Do(ctx, "GET", staffProbe(sd), nil, nil, false)
		l.record("GET /api/v1/staff/sessions/{id}/queue (fresh sign-in after)", resp, err)
		fresh = fmt.Sprintf("signed in; its session answered %d", status(resp))
		refusedAgain = !ok2xx(resp, err)
	}
	l.a.Locked = sessionRefused && refusedAgain
	l.a.SecurityEvent = onSecurityPage(ctx, t, ck.ID)
	l.note("after the attack: the stolen session refused %v; the clerk's fresh sign-in with the right password and code: %s", sessionRefused, fresh)
	l.a.Alert = alerted(t, from, fmt.Sprintf("staff=%d ", ck.ID))
	return l.done()
}

// onSecurityPage reports whether the security officers' list of events
// (GET /api/v1/staff/security-events, as the demo's security login sees
// it) names the staff member.
func onSecurityPage(ctx context.Context, t *target, staffID int64) bool {
	sec, err := signIn(ctx, t, &clerk{Username: "security", Password: demo.Password}, addr(64, 0, 1))
	if err != nil {
		return false
	}
	resp, err := sec.Do(ctx, "GET", "/api/v1/staff/security-events", nil, nil, false)
	if !ok2xx(resp, err) {
		return false
	}
	var out struct {
		Events []struct {
			StaffID int64 `json:"staff_id"`
		} `json:"security_events"`
	}
	resp.Decode(&out)
	for _, e := range out.Events {
		if e.StaffID == staffID && staffID != 0 {
			return true
		}
	}
	return false
}

func status(resp *apiclient.Response) int {
	if resp == nil {
		return 0
	}
	return resp.Status
}

// signIn signs a clerk in fully, as the clerk: the password, then the
// second factor the server asks for — enrolling it at the first sign-in
// (the clerk keeps the secret) or a code from the clerk's authenticator.
// A server without a second factor signs in on the password alone.
func signIn(ctx context.Context, t *target, ck *clerk, src netip.Addr) (*apiclient.Client, error) {
	c := client(t.Staff, src)
	in := map[string]string{"username": ck.Username, "password": ck.Password}
	if ck.TOTP == "" && ck.EnrolCode != "" {
		in["code"] = ck.EnrolCode // the first sign-in: the password and the admin's enrolment code
	}
	resp, err := c.Do(ctx, "POST", "/api/v1/staff/login", in, nil, false)
	if err != nil {
		return nil, err
	}
	var step struct {
		Token, Next, Challenge, Secret string
		Staff                          struct{ ID int64 }
	}
	resp.Decode(&step)
	switch {
	case resp.Status == 200 && step.Token != "":
	case resp.Status == 401 && step.Next == "enrol":
		en, err := c.Do(ctx, "POST", "/api/v1/staff/enrol", map[string]string{"challenge": step.Challenge}, nil, false)
		if err != nil || en.Status != 200 {
			return nil, fmt.Errorf("enrol: %d %v %s", status(en), err, body(en))
		}
		if err := en.Decode(&step); err != nil || step.Secret == "" {
			return nil, fmt.Errorf("enrol: no secret in %s", body(en))
		}
		ck.TOTP = step.Secret
		if resp, err = confirmCode(ctx, c, "/api/v1/staff/enrol/confirm", step.Challenge, ck); err != nil {
			return nil, err
		}
		resp.Decode(&step)
	case resp.Status == 401 && step.Next == "second_factor" && ck.TOTP != "":
		if resp, err = confirmCode(ctx, c, "/api/v1/staff/second-factor", step.Challenge, ck); err != nil {
			return nil, err
		}
		resp.Decode(&step)
	default:
		return nil, fmt.Errorf("login: %d %s", resp.Status, body(resp))
	}
	if step.Token == "" {
		return nil, fmt.Errorf("login: no token in %s", body(resp))
	}
	c.Token, ck.ID = step.Token, step.Staff.ID
	return c, nil
}

// confirmCode sends the clerk's current code with a challenge. Each code
// is good once, so a second sign-in within the same 30 seconds waits for
// the next step, as the clerk would.
func confirmCode(ctx context.Context, c *apiclient.Client, path, challenge string, ck *clerk) (*apiclient.Response, error) {
	now := time.Now()
	if step := now.Unix() / 30; step <= ck.step {
		next := time.Unix((ck.step+1)*30, 0)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(next) + 50*time.Millisecond):
		}
		now = time.Now()
	}
	code, err := totpCode(ck.TOTP, now)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, "POST", path, map[string]string{"challenge": challenge, "code": code}, nil, false)
	if err != nil {
		return nil, err
	}
	if resp.Status != 200 {
		return nil, fmt.Errorf("%s: %d %s", path, resp.Status, body(resp))
	}
	ck.step = now.Unix() / 30
	return resp, nil
}

func body(r *apiclient.Response) string {
	if r == nil {
		return ""
	}
	return strings.TrimSpace(string(r.Body))
}

// enrolCodeLine is where 'fairslot staff add' prints the enrolment code.
var enrolCodeLine = regexp.MustCompile(`enrolment code: ([0-9A-Z]{5}-[0-9A-Z]{5})`)

// makeClerks makes the clerks the attacks steal from, through the app's
// own account management ('fairslot staff add', the password on standard
// input), on the server's database while it serves. The first two sign in
// once as the clerk would (enrolling the second factor); the third never
// has (the admin handed it its enrolment code, which the thief of (a')
// does not have). A build without staff accounts leaves only the demo's
// desk login.
func makeClerks(ctx context.Context, c *common, t *target) ([]clerk, string, error) {
	var out []clerk
	for i, name := range []string{"scrape-clerk-a", "scrape-clerk-b", "scrape-clerk-new"} {
		pw := make([]byte, 12)
		rand.Read(pw)
		ck := clerk{Username: name, Password: "Scrape-" + hex.EncodeToString(pw)}
		cmd := exec.CommandContext(ctx, c.bin, "staff", "add", "--role", "registrar", "--name", fmt.Sprintf("Scrape clerk %c", 'A'+i),
			"--data-dir", filepath.Join(t.dir, "data"), "--keyset", filepath.Join(t.dir, "keyset.json"), name)
		cmd.Stdin = strings.NewReader(ck.Password + "\n")
		cmd.Env = append(os.Environ(), "FAIRSLOT_LOG_LEVEL=warn")
		if b, err := cmd.CombinedOutput(); err != nil {
			if i == 0 && strings.Contains(string(b), "unknown command") {
				desk := clerk{Username: "desk", Password: demo.Password}
				return []clerk{desk, desk, desk}, "the demo's desk login with the published demo password (this build has no staff accounts to create)", nil
			}
			return nil, "", fmt.Errorf("staff add %s: %v: %s", name, err, b)
		} else if m := enrolCodeLine.FindSubmatch(b); m != nil {
			ck.EnrolCode = string(m[1])
		}
		if i < 2 {
			if _, err := signIn(ctx, t, &ck, addr(63, 0, i+1)); err != nil {
				return nil, "", fmt.Errorf("%s's first sign-in: %w", name, err)
			}
		}
		out = append(out, ck)
	}
	return out, "three registrar logins made with 'fairslot staff add'; two signed in once and enrolled a second factor, one never signed in", nil
}

// patientToken is attack (d): a patient signed in with their own account
// walks ids 1..k.enumerate on every route that takes one — reading,
// paying, cancelling, leaving, booking, queueing and entering for other
// patients, and the staff routes with a patient's token.
func patientToken(ctx context.Context, t *target, ppl *people, sd *seeded, k scrapeKnobs) Attack {
	l := newAttackLog(ppl, sd.attackerSelf)
	me := sd.attacker
	for _, path := range []string{"/api/v1/patients", "/api/v1/bookings", "/api/v1/entries", "/api/v1/waitlist"} {
		resp, err := me.Do(ctx, "GET", path, nil, nil, false)
		l.record("GET "+path, resp, err)
		if path == "/api/v1/patients" && !ok2xx(resp, err) {
			l.note("the attacker's own token is refused (%d): the figures below prove nothing", status(resp))
		}
	}
	staff := &apiclient.Client{HTTP: me.HTTP, Base: t.Staff, Token: me.Token}
	session := sd.sessions[0]
	var wg sync.WaitGroup
	ids := make(chan int64)
	for range 4 {
		wg.Go(func() {
			for id := range ids {
				for _, d := range []struct {
					c                   *apiclient.Client
					route, method, path string
					body                any
				}{
					{me, "GET /api/v1/bookings/{id}", "GET", fmt.Sprintf("/api/v1/bookings/%d", id), nil},
					{me, "POST /api/v1/bookings/{id}/pay", "POST", fmt.Sprintf("/api/v1/bookings/%d/pay", id), nil},
					{me, "POST /api/v1/bookings/{id}/cancel", "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", id), nil},
					{me, "POST /api/v1/waitlist/{id}/leave", "POST", fmt.Sprintf("/api/v1/waitlist/%d/leave", id), nil},
					{me, "GET /api/v1/patients/{id}", "GET", fmt.Sprintf("/api/v1/patients/%d", id), nil},
					{me, "GET /api/v1/patients/{id}/accesses", "GET", fmt.Sprintf("/api/v1/patients/%d/accesses", id), nil},
					{me, "GET /api/v1/entries/{id}", "GET", fmt.Sprintf("/api/v1/entries/%d", id), nil},
					{me, "GET /api/v1/tickets/{id}", "GET", fmt.Sprintf("/api/v1/tickets/%d", id), nil},
					{me, "POST /api/v1/bookings (another's patient)", "POST", "/api/v1/bookings", map[string]int64{"session_id": session, "patient_id": id}},
					{me, "POST /api/v1/waitlist (another's patient)", "POST", "/api/v1/waitlist", map[string]int64{"session_id": session, "patient_id": id}},
					{me, "POST /api/v1/sessions/{id}/draw/entries (another's patient)", "POST", fmt.Sprintf("/api/v1/sessions/%d/draw/entries", sd.draw), map[string]int64{"patient_id": id}},
					{staff, "GET /api/v1/staff/sessions/{id}/queue (patient token)", "GET", fmt.Sprintf("/api/v1/staff/sessions/%d/queue", id), nil},
					{staff, "POST /api/v1/staff/reveals (patient token)", "POST", "/api/v1/staff/reveals", map[string]any{"patient_id": id, "field": "id", "reason": "identity_check"}},
				} {
					h := map[string]string{"Idempotency-Key": fmt.Sprint("scrape-", id, "-", d.route)}
					resp, err := d.c.Do(ctx, d.method, d.path, d.body, h, false)
					l.record(d.route, resp, err)
				}
				// The portal's pages, with the token as the session cookie.
				for _, path := range []string{"/bookings/%d", "/bookings/%d/cancel"} {
					resp, err := getPage(ctx, me, fmt.Sprintf(path, id), "fairslot_session="+me.Token)
					l.record("GET "+strings.ReplaceAll(path, "%d", "{id}")+" (page)", resp, err)
				}
			}
		})
	}
	for id := int64(1); id <= int64(k.enumerate) && ctx.Err() == nil; id++ {
		ids <- id
	}
	close(ids)
	wg.Wait()
	l.a.IDsTried = k.enumerate
	return l.done()
}
