package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/demo"
)

// The JSON API's cancellation of a session: admins only; a reason is
// required; the answer says what was done; afterwards the session refuses
// bookings over the API and a second cancellation is refused.
func TestCancelSessionAPI(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	held := e.hold(t, tok, "k-cancel")
	path := "/api/v1/staff/sessions/44/cancel"
	admin := e.staffToken(t, "admin")
	for _, tt := range []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"a patient", call{method: "POST", path: path, token: tok, body: `{"reason":"ill"}`}, 401, "unauthorized"},
		{"the desk", call{method: "POST", path: path, token: e.staffToken(t, "desk"), body: `{"reason":"ill"}`}, 403, "forbidden"},
		{"a doctor", call{method: "POST", path: path, token: e.staffToken(t, "doctor"), body: `{"reason":"ill"}`}, 403, "forbidden"},
		{"no reason", call{method: "POST", path: path, token: admin, body: `{"reason":" "}`}, 400, "invalid"},
		{"no such session", call{method: "POST", path: "/api/v1/staff/sessions/999999/cancel", token: admin, body: `{"reason":"ill"}`}, 404, "not_found"},
	} {
		if status, body := e.do(t, tt.c); status != tt.status || errCode(body) != tt.code {
			t.Errorf("%s: %d %v; want %d %s", tt.name, status, body, tt.status, tt.code)
		}
	}
	status, body := e.do(t, call{method: "POST", path: path, token: admin, body: `{"reason":"doctor ill"}`})
	if status != 200 || body["bookings"] != float64(1) || body["told"] != float64(1) || body["done"] != true {
		t.Fatalf("cancel = %d %v; want 200, 1 booking, 1 account told", status, body)
	}
	_, got := e.do(t, call{method: "GET", path: fmt.Sprintf("/api/v1/bookings/%v", held["id"]), token: tok})
	if got["status"] != "cancelled" || got["cancelled_by"] != "hospital" {
		t.Errorf("the booking after the cancellation = %v; want cancelled by the hospital", got)
	}
	status, body = e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, key: "k-after", body: `{"session_id":44,"patient_id":1}`})
	if msg, _ := body["error"].(map[string]any)["message"].(string); status != 409 || !strings.Contains(msg, "cancelled") {
		t.Errorf("booking the cancelled session = %d %v; want 409, cancelled", status, body)
	}
	if status, body := e.do(t, call{method: "POST", path: path, token: admin, body: `{"reason":"again"}`}); status != 409 || errCode(body) != "conflict" {
		t.Errorf("cancelling twice = %d %v; want 409", status, body)
	}
}
