package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/httpapi"
)

// signInSteps are the staff sign-in's steps (the staff branch's second
// factor and enrolment): they take a challenge, not a token.
var signInSteps = map[string]bool{"/api/v1/staff/login": true, "/api/v1/staff/second-factor": true,
	"/api/v1/staff/enrol": true, "/api/v1/staff/enrol/confirm": true}

// A kiosk's token reaches only check-in and walk-in registration: every
// other staff route registered (walked from the registration, not a hand
// list) answers 403 — the look-ups by ID above all.
func TestKioskTokenReachesOnlyKioskRoutes(t *testing.T) {
	e := newEnv(t)
	kiosk := e.staffToken(t, "kiosk")
	walked := 0
	for _, pattern := range httpapi.StaffPatterns() {
		method, path, _ := strings.Cut(pattern, " ")
		if httpapi.KioskPatterns[pattern] || signInSteps[path] {
			continue // the kiosk's own, and the sign-in steps, which take no token
		}
		walked++
		path = strings.ReplaceAll(path, "{id}", "1")
		code, body := e.do(t, call{method: method, path: path, token: kiosk,
			body: `{"id_type":"cn_resident","id_number":"11010519491231002X","reason":"identity_check","patient_id":1,"field":"id"}`})
		if code != http.StatusForbidden {
			t.Errorf("kiosk %s %s = %d %v, want 403", method, path, code, body)
		}
	}
	if walked < 12 {
		t.Errorf("walked %d staff routes; the walk is not reaching them", walked)
	}
	code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/check-in", token: kiosk, body: `{"code":"ZZZZZZZZ","id_last4":"0000"}`})
	if code == http.StatusForbidden && errCode(body) != "not_found" {
		t.Errorf("kiosk check-in refused outright: %d %v", code, body)
	}
}

// A security officer's token reads security events but no patient data.
func TestSecurityTokenSeesNoPatientData(t *testing.T) {
	e := newEnv(t)
	sec := e.staffToken(t, "security")
	for _, c := range []call{
		{method: "POST", path: "/api/v1/staff/lookups", body: `{"id_type":"cn_resident","id_number":"11010519491231002X","reason":"identity_check"}`},
		{method: "POST", path: "/api/v1/staff/reveals", body: `{"patient_id":1,"field":"id","reason":"identity_check"}`},
		{method: "GET", path: "/api/v1/staff/sessions/1/queue"},
		{method: "GET", path: "/api/v1/staff/sessions/1/export.csv"},
	} {
		c.token = sec
		if code, body := e.do(t, c); code != http.StatusForbidden {
			t.Errorf("security %s %s = %d %v, want 403", c.method, c.path, code, body)
		}
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/staff/security-events", token: sec}); code != 200 {
		t.Errorf("security events = %d %v", code, body)
	}
}

// A stolen desk token scripting look-ups by ID number across people: ten
// distinct numbers answer, the eleventh locks the account, and from then on
// the token reaches nothing; the lock is on the security page.
func TestScriptedLookupsLockTheToken(t *testing.T) {
	e := newEnv(t)
	desk := e.staffToken(t, "desk")
	code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/reveals", token: desk, body: `{"patient_id":1,"field":"id","reason":"identity_check"}`})
	if code != 200 || body["value"] != "11010519491231002X" {
		t.Fatalf("reveal = %d %v", code, body)
	}
	code, body = e.do(t, call{method: "POST", path: "/api/v1/staff/lookups", token: desk, body: `{"id_type":"cn_resident","id_number":"11010519491231002X"}`})
	if code != 400 {
		t.Errorf("look-up without a reason = %d %v, want 400", code, body)
	}
	answered := 1 // the reveal
	for i := 0; i < 20; i++ {
		first := fmt.Sprintf("11010519800101%03d", i)
		id := first + string("10X98765432"[checksum(first)])
		code, body = e.do(t, call{method: "POST", path: "/api/v1/staff/lookups", token: desk,
			body: fmt.Sprintf(`{"id_type":"cn_resident","id_number":%q,"reason":"identity_check"}`, id)})
		if code == http.StatusForbidden {
			break
		}
		if code != http.StatusNotFound {
			t.Fatalf("look-up %d = %d %v", i, code, body)
		}
		answered++
	}
	if answered != 10 {
		t.Errorf("%d answers before the lock, want 10", answered)
	}
	if code, _ := e.do(t, call{method: "GET", path: "/api/v1/staff/sessions/1/queue", token: desk}); code != http.StatusForbidden {
		t.Errorf("the locked token still works: %d", code)
	}
	if !strings.Contains(e.logs.String(), "ALERT") {
		t.Error("no ALERT line")
	}
	_, evs := e.do(t, call{method: "GET", path: "/api/v1/staff/security-events", token: e.staffToken(t, "security")})
	if list, _ := evs["security_events"].([]any); len(list) != 1 {
		t.Errorf("security events = %v, want the lock", evs)
	}
}

func checksum(first17 string) int {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		sum += int(first17[i]-'0') * w[i]
	}
	return sum % 11
}

// A patient reads the accesses to their own patients only.
func TestPatientAccessesOwnOnly(t *testing.T) {
	e := newEnv(t)
	desk := e.staffToken(t, "desk")
	e.do(t, call{method: "POST", path: "/api/v1/staff/reveals", token: desk, body: `{"patient_id":1,"field":"phone","reason":"contact_patient"}`})
	mine := e.patientToken(t, "13800138000") // the demo account, bound to patient 1
	code, body := e.do(t, call{method: "GET", path: "/api/v1/patients/1/accesses", token: mine})
	list, _ := body["accesses"].([]any)
	if code != 200 || len(list) != 1 || !strings.Contains(fmt.Sprint(list[0]), "contact_patient") {
		t.Fatalf("own accesses = %d %v", code, body)
	}
	other := e.patientToken(t, "13900000001")
	for id := 1; id <= 3; id++ {
		if code, body := e.do(t, call{method: "GET", path: fmt.Sprintf("/api/v1/patients/%d/accesses", id), token: other}); code != 404 {
			t.Errorf("another account reading patient %d's accesses = %d %v", id, code, body)
		}
	}
}

// A kiosk's tries at a booking's proof are limited at the JSON API's
// check-in as at the kiosk's pages: guessing the last four characters of
// an ID number through the API runs out as fast. A desk is not limited.
func TestKioskCheckInTriesAreLimited(t *testing.T) {
	e := newEnv(t)
	kiosk, desk := e.staffToken(t, "kiosk"), e.staffToken(t, "desk")
	try := func(token string, i int) (int, map[string]any) {
		return e.do(t, call{method: "POST", path: "/api/v1/staff/check-in", token: token,
			body: fmt.Sprintf(`{"code":"ZZZZZZZZ","id_last4":"%04d"}`, i)})
	}
	limited := -1
	for i := range 40 {
		if code, body := try(kiosk, i); code == http.StatusTooManyRequests {
			if errCode(body) != "limit_reached" {
				t.Errorf("try %d: 429 with %v", i+1, body)
			}
			limited = i
			break
		}
	}
	if limited < 0 || limited > 20 {
		t.Fatalf("the kiosk was refused first at try %d of 40, want at most the 11th (10 a code)", limited+1)
	}
	for i := range 15 {
		if code, body := try(desk, i); code != http.StatusNotFound {
			t.Fatalf("desk try %d = %d %v, want 404: a desk's look-ups are not the kiosk's tries", i+1, code, body)
		}
	}
}
