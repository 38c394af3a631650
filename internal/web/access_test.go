package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/web"
)

var linkAttr = regexp.MustCompile(`(?:href|action)="([^"]*)"`)

// kioskOnlyLinks reports the links and form targets of a page that lead
// anywhere but the kiosk's pages (or the stylesheet, scripts and language
// switch every page has).
func kioskOnlyLinks(page string) []string {
	var bad []string
	for _, m := range linkAttr.FindAllStringSubmatch(page, -1) {
		l := m[1]
		if l == "/kiosk" || strings.HasPrefix(l, "/kiosk/") || strings.HasPrefix(l, "/static/") || l == "/lang" || l == "#main" {
			continue
		}
		bad = append(bad, l)
	}
	return bad
}

// A kiosk's login reaches no staff page: every staff page registered on the
// mux (walked from the registration, not a hand list) sends it to the
// kiosk's start or refuses it with a page that links only to the kiosk, and
// the kiosk's own pages link nowhere else.
func TestKioskReachesOnlyTheKiosk(t *testing.T) {
	e := newEnv(t)
	k := e.browser(t, e.internal)
	k.get("/staff/login")
	if status, loc, body := k.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}}); status != 303 {
		t.Fatalf("kiosk login: %d %s\n%s", status, loc, body)
	}
	for _, path := range []string{"/kiosk", "/kiosk/walk-in"} {
		status, page := k.get(path)
		if status != 200 {
			t.Fatalf("GET %s = %d\n%s", path, status, page)
		}
		if bad := kioskOnlyLinks(page); len(bad) > 0 {
			t.Errorf("GET %s links outside the kiosk: %v", path, bad)
		}
	}
	// An error on a kiosk page (a wrong code) links only to the kiosk.
	status, _, page := k.post("/kiosk/check-in", url.Values{"code": {"ZZZZZZZZ"}, "id_last4": {"0000"}})
	if status == 200 {
		t.Fatalf("check-in of no booking: 200")
	}
	if bad := kioskOnlyLinks(page); len(bad) > 0 {
		t.Errorf("the kiosk's error page links outside the kiosk: %v\n%s", bad, page)
	}
	patterns := web.StaffPatterns(e.pages)
	walked := 0
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{id}", "1", "{booking}", "1").Replace(path)
		if httpapi.KioskPatterns[pattern] || signInSteps[path] || strings.HasPrefix(path, "/board") {
			continue // the kiosk's own, the sign-in form and its steps, and the public boards need no staff login
		}
		walked++
		switch method {
		case http.MethodGet:
			status, page := k.get(path)
			if status != http.StatusSeeOther {
				t.Errorf("kiosk GET %s = %d, want a redirect to the kiosk\n%.300s", path, status, page)
			}
			resp, err := k.c.Get(k.base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "/kiosk" {
				t.Errorf("kiosk GET %s redirects to %q, want /kiosk", path, loc)
			}
		case http.MethodPost:
			status, _, page := k.post(path, url.Values{"reason": {"identity_check"}, "id_type": {"cn_resident"}, "id_number": {"11010519491231002X"}})
			if status != http.StatusForbidden {
				t.Errorf("kiosk POST %s = %d, want 403", path, status)
			}
			if strings.Contains(page, "张三") || strings.Contains(page, "11010519491231002X") {
				t.Errorf("kiosk POST %s shows patient data", path)
			}
			if bad := kioskOnlyLinks(page); len(bad) > 0 {
				t.Errorf("kiosk POST %s: the refusal links outside the kiosk: %v", path, bad)
			}
		}
	}
	if walked < 10 {
		t.Errorf("walked %d staff pages of %d; the walk is not reaching them", walked, len(patterns))
	}
	// A desk login still reaches the desk: the guard is the kiosk's only.
	d := e.browser(t, e.internal)
	d.get("/staff/login")
	d.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	if status, _ := d.get("/staff/desk"); status != 200 {
		t.Errorf("desk GET /staff/desk = %d", status)
	}
}

// signInSteps are the sign-in form and its later steps (the staff
// branch's second factor and enrolment): reached before any login, so a
// kiosk's cookie gives them nothing.
var signInSteps = map[string]bool{"/staff/login": true, "/staff/login/factor": true, "/staff/enrol": true}

// The security page is for security officers and admins; it shows no
// patient data.
func TestSecurityPage(t *testing.T) {
	e := newEnv(t)
	for user, want := range map[string]int{"security": 200, "admin": 200, "desk": http.StatusForbidden, "doctor": http.StatusForbidden} {
		b := e.browser(t, e.internal)
		b.get("/staff/login")
		b.post("/staff/login", url.Values{"username": {user}, "password": {demo.Password}})
		if status, page := b.get("/staff/security"); status != want {
			t.Errorf("%s GET /staff/security = %d, want %d\n%.300s", user, status, want, page)
		}
	}
}
