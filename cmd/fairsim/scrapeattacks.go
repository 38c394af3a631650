package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// clerk is a registration-desk login the scenario owns: what a thief
// steals in (a) and (b).
type clerk struct {
	Username, Password string
	// TOTP is the second factor's secret (base32), known to the clerk (and
	// so to the scenario), never to the attacker of (a).
	TOTP string
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
// factor. The attacker signs in with it, tries whatever the answer hands
// out as a staff session, and tries the next doors: guessed second-factor
// codes and re-enrolling the factor.
func stolenPassword(ctx context.Context, t *target, ppl *people, ck clerk, sd *seeded) Attack {
	l := newAttackLog(ppl, -1)
	c := client(t.Staff, addr(60, 0, 1))
	resp, err := c.Do(ctx, "POST", "/api/v1/staff/login", map[string]string{"username": ck.Username, "password": ck.Password}, nil, false)
	l.record("POST /api/v1/staff/login", resp, err)
	var toks []string
	if err == nil {
		toks = tokensIn(resp.Body)
	}
	// Guessed second-factor codes and recovery codes, on the login and on
	// the enrolment, with every token handed out.
	for i, code := range []string{"000000", "123456", "111111", "654321", "999999"} {
		for _, path := range []string{"/api/v1/staff/login", "/api/v1/staff/enrol"} {
			body := map[string]string{"username": ck.Username, "password": ck.Password, "code": code, "totp": code,
				"recovery_code": fmt.Sprintf("AAAA-BBBB-%04d", i)}
			for _, tok := range append([]string{""}, toks...) {
				c.Token = tok
				resp, err := c.Do(ctx, "POST", path, body, nil, false)
				l.record("POST "+path+" (guessed code)", resp, err)
				if err == nil {
					toks = appendNew(toks, tokensIn(resp.Body)...)
				}
			}
		}
	}
	for _, tok := range toks {
		c.Token = tok
		resp, err := c.Do(ctx, "GET", staffProbe(sd), nil, nil, false)
		l.record("GET /api/v1/staff/sessions/{id}/queue", resp, err)
		if staffDoors(c, ctx, l, sd, ppl, 0)+btoi(ok2xx(resp, err)) > 0 {
			l.a.SessionObtained = true
		}
	}
	l.a.Alert = alerted(t, 0, ck.Username)
	a := l.done()
	a.Notes = append(a.Notes, fmt.Sprintf("%d tokens handed out to the attacker", len(toks)))
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
	c, err := signIn(ctx, t, ck, addr(61, 0, 1))
	if err != nil {
		l.note("the clerk could not sign in: %v", err)
		return l.done()
	}
	if resp, err := c.Do(ctx, "GET", staffProbe(sd), nil, nil, false); !ok2xx(resp, err) {
		l.note("the clerk's own session is refused before the attack (%v %v): the figures below prove nothing", status(resp), err)
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
	resp, err := c.Do(ctx, "GET", staffProbe(sd), nil, nil, false)
	l.record("GET /api/v1/staff/sessions/{id}/queue (after)", resp, err)
	sessionRefused := !ok2xx(resp, err)
	_, err = signIn(ctx, t, ck, addr(62, 0, 1))
	l.a.Locked = sessionRefused && err != nil
	if !l.a.Locked {
		l.note("after the attack: stolen session refused %v, fresh sign-in error %v", sessionRefused, err)
	}
	l.a.Alert = alerted(t, from, ck.Username)
	return l.done()
}

func status(resp *apiclient.Response) int {
	if resp == nil {
		return 0
	}
	return resp.Status
}

// signIn signs a clerk in fully, as the clerk: password, then the second
// factor when the server asks for one.
func signIn(ctx context.Context, t *target, ck clerk, src netip.Addr) (*apiclient.Client, error) {
	c := client(t.Staff, src)
	resp, err := c.Do(ctx, "POST", "/api/v1/staff/login", map[string]string{"username": ck.Username, "password": ck.Password}, nil, false)
	if err != nil {
		return nil, err
	}
	if resp.Status != 200 {
		return nil, fmt.Errorf("login: %d %s", resp.Status, strings.TrimSpace(string(resp.Body)))
	}
	var out struct{ Token string }
	resp.Decode(&out)
	if out.Token == "" {
		return nil, fmt.Errorf("login: no token in %s", resp.Body)
	}
	c.Token = out.Token
	return c, nil
}

// makeClerks makes the two clerks the attacks steal from, one each.
func makeClerks(ctx context.Context, c *common, t *target) ([2]clerk, string, error) {
	desk := clerk{Username: "desk", Password: demo.Password}
	return [2]clerk{desk, desk}, "the demo's desk login with the published demo password (this build has no staff accounts to create)", nil
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
