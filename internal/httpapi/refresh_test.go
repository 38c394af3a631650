package httpapi_test

import (
	"fmt"
	"testing"
	"time"
)

// TestRefreshOverHTTP: login answers a refresh token beside the access
// token; POST /api/v1/auth/refresh swaps it for new ones after the access
// token expired; replaying the spent one is refused and ends the login;
// logout ends the refresh family too.
func TestRefreshOverHTTP(t *testing.T) {
	e := newEnv(t)
	login := func() map[string]any {
		if code, body := e.do(t, call{method: "POST", path: "/api/v1/auth/code", body: `{"phone":"13900000001"}`}); code != 202 {
			t.Fatalf("auth/code = %d %v", code, body)
		}
		e.codes.mu.Lock()
		otp := e.codes.last
		e.codes.mu.Unlock()
		code, body := e.do(t, call{method: "POST", path: "/api/v1/auth/login", body: fmt.Sprintf(`{"phone":"13900000001","code":%q}`, otp)})
		if code != 200 || body["token"] == nil || body["refresh_token"] == nil || body["expires_at"] == nil || body["account"] == nil {
			t.Fatalf("auth/login = %d %v", code, body)
		}
		return body
	}
	refresh := func(tok string) (int, map[string]any) {
		return e.do(t, call{method: "POST", path: "/api/v1/auth/refresh", body: fmt.Sprintf(`{"refresh_token":%q}`, tok)})
	}
	first := login()
	e.clock.Add(2 * time.Hour)
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/patients", token: first["token"].(string)}); code != 401 {
		t.Fatalf("an access token two hours old: %d %v, want 401", code, body)
	}
	code, next := refresh(first["refresh_token"].(string))
	if code != 200 || next["token"] == nil || next["refresh_token"] == first["refresh_token"] {
		t.Fatalf("refresh = %d %v", code, next)
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/patients", token: next["token"].(string)}); code != 200 {
		t.Fatalf("the refreshed access token: %d %v", code, body)
	}
	e.clock.Add(time.Minute)
	if code, body := refresh(first["refresh_token"].(string)); code != 401 || errCode(body) != "unauthorized" {
		t.Errorf("a replayed refresh token: %d %v, want 401", code, body)
	}
	if code, _ := e.do(t, call{method: "GET", path: "/api/v1/patients", token: next["token"].(string)}); code != 401 {
		t.Errorf("the family's access token after a replay: %d, want 401", code)
	}
	for _, bad := range []string{`{}`, `{"refresh_token":"nope"}`, `{"refresh_token":1}`} {
		if code, body := e.do(t, call{method: "POST", path: "/api/v1/auth/refresh", body: bad}); code != 401 && code != 400 {
			t.Errorf("refresh %s: %d %v", bad, code, body)
		}
	}

	// Logout ends the whole login.
	e.clock.Add(2 * time.Minute)
	second := login()
	if code, _ := e.do(t, call{method: "POST", path: "/api/v1/auth/logout", token: second["token"].(string)}); code != 204 {
		t.Fatalf("logout = %d", code)
	}
	if code, body := refresh(second["refresh_token"].(string)); code != 401 {
		t.Errorf("refresh after logout: %d %v, want 401", code, body)
	}
}
