package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/fairslot/fairslot/internal/privacy"
)

// TestPrivacyAPI: a client that calls the API directly cannot bind or book
// before accepting the notice in force; removal and closing work over the
// API, closing is refused with an active booking and ends the token.
func TestPrivacyAPI(t *testing.T) {
	e := newEnv(t)
	const phone = "13900000077"
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/auth/code", body: `{"phone":"` + phone + `"}`}); code != 202 {
		t.Fatalf("auth/code = %d %v", code, body)
	}
	e.codes.mu.Lock()
	otp := e.codes.last
	e.codes.mu.Unlock()
	tok := e.patientTokenOnly(t, phone, otp)
	bind := `{"name":"李小明","id_type":"cn_resident","id_number":"110105201501010017"}`
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/patients", token: tok, body: bind}); code != 403 || errCode(body) != "forbidden" {
		t.Fatalf("bind without consent = %d %v, want 403", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, body: `{"session_id":1,"patient_id":1}`}); code != 403 {
		t.Fatalf("book without consent = %d %v, want 403", code, body)
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/privacy/consent", token: tok}); code != 200 || body["accepted"] != false || body["version"] != privacy.NoticeVersion {
		t.Fatalf("consent status = %d %v", code, body)
	}
	for _, bad := range []string{`{"version":"1999-01-01","lang":"vi"}`, `{"version":"` + privacy.NoticeVersion + `","lang":"de"}`, `{"version":"` + privacy.NoticeVersion + `","lang":"vi","extra":1}`} {
		if code, body := e.do(t, call{method: "POST", path: "/api/v1/privacy/consent", token: tok, body: bad}); code < 400 || code >= 500 {
			t.Errorf("consent %s = %d %v, want refused", bad, code, body)
		}
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/privacy/consent", body: `{"version":"` + privacy.NoticeVersion + `","lang":"vi"}`}); code != 401 {
		t.Errorf("anonymous consent = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/privacy/consent", token: tok, body: `{"version":"` + privacy.NoticeVersion + `","lang":"vi"}`}); code != 201 || body["lang"] != "vi" {
		t.Fatalf("consent = %d %v", code, body)
	}
	code, body := e.do(t, call{method: "POST", path: "/api/v1/patients", token: tok, body: bind})
	if code != 201 {
		t.Fatalf("bind after consent = %d %v", code, body)
	}
	id := int64(body["id"].(float64))
	if code, body := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/patients/%d/remove", id), token: tok}); code != 200 || body["removed"].(map[string]any)["name"] != "李*" {
		t.Fatalf("remove = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/patients/%d/remove", id), token: tok}); code != 404 {
		t.Errorf("remove twice = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "GET", path: fmt.Sprintf("/api/v1/patients/%d/remove", id), token: tok}); code != 405 {
		t.Errorf("GET of the remove URL = %d %v, want 405", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/account/close", token: tok}); code != 204 {
		t.Fatalf("close = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/patients", token: tok}); code != 401 {
		t.Errorf("the closed account's token = %d %v, want 401", code, body)
	}
}
