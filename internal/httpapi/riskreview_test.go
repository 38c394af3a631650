package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/storage"
)

// flagAccount stores a risk decision for the account of a patient token
// and returns the account's id.
func (e *env) flagAccount(t *testing.T, token, action string) int64 {
	t.Helper()
	a, err := e.svc.Authenticate(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	row := storage.RiskAccount{AccountID: a.ID, Action: action, Score: 70, Reasons: []string{"its device is behind 12 accounts (+40)"},
		Keys: []string{"risk.signal.shared_device"}, Since: map[string]time.Time{action: e.clock.Now()}, UpdatedAt: e.clock.Now()}
	if err := e.store.Update(ctx, func(tx storage.Tx) error { return tx.PutRiskAccount(ctx, row) }); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestRiskReviewOverHTTP: security reads the queue and an account and
// decides with a reason; a registrar and a patient are refused at every
// staff route, whatever account they name; a patient reads only their own
// decision and asks for review once at a time.
func TestRiskReviewOverHTTP(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	other := e.patientToken(t, "13900000077")
	mine := e.flagAccount(t, tok, "hold")
	theirs := e.flagAccount(t, other, "block")
	sec, desk := e.staffToken(t, "security"), e.staffToken(t, "desk")

	code, body := e.do(t, call{method: "GET", path: "/api/v1/staff/risk/queue", token: sec})
	accounts, _ := body["accounts"].([]any)
	if code != 200 || len(accounts) != 2 || accounts[0].(map[string]any)["account_id"] != float64(theirs) {
		t.Fatalf("queue = %d %v, want the blocked account first", code, body)
	}
	code, body = e.do(t, call{method: "GET", path: fmt.Sprintf("/api/v1/staff/risk/accounts/%d", mine), token: sec})
	if code != 200 || body["action"] != "hold" || body["signals"] == nil {
		t.Errorf("detail = %d %v", code, body)
	}
	review := fmt.Sprintf(`{"accounts":[%d],"action":"approve","reason":"family tablet"}`, mine)
	for _, c := range []struct {
		who, token string
		want       int
	}{{"a registrar", desk, 403}, {"a patient", tok, 401}, {"nobody", "", 401}} {
		for _, r := range []call{
			{method: "GET", path: "/api/v1/staff/risk/queue?milder=1"},
			{method: "GET", path: fmt.Sprintf("/api/v1/staff/risk/accounts/%d", theirs)},
			{method: "GET", path: fmt.Sprintf("/api/v1/staff/risk/accounts/%d", mine)},
			{method: "POST", path: "/api/v1/staff/risk/reviews", body: review},
		} {
			r.token = c.token
			if code, body := e.do(t, r); code != c.want {
				t.Errorf("%s: %s %s = %d %v, want %d", c.who, r.method, r.path, code, body, c.want)
			}
		}
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/risk/reviews", token: sec, body: fmt.Sprintf(`{"accounts":[%d],"action":"approve"}`, mine)}); code != 400 || errCode(body) != "invalid" {
		t.Errorf("a decision without a reason = %d %v", code, body)
	}

	// The patient's own decision, whatever other account the request names.
	for _, path := range []string{"/api/v1/risk", fmt.Sprintf("/api/v1/risk?account_id=%d", theirs)} {
		code, body := e.do(t, call{method: "GET", path: path, token: tok})
		if code != 200 || body["action"] != "hold" || body["key"] != "risk.action.hold" || body["can_appeal"] != true {
			t.Errorf("GET %s = %d %v, want the caller's own hold", path, code, body)
		}
		if strings.Contains(fmt.Sprint(body), "block") {
			t.Errorf("GET %s shows the other account's block: %v", path, body)
		}
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/risk/appeals", token: tok, body: `{"text":"short"}`}); code != 400 {
		t.Errorf("a short appeal = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/risk/appeals", token: tok, body: `{"text":"these are my parents and my child"}`}); code != 201 || body["status"] != "open" {
		t.Errorf("appeal = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/risk/appeals", token: tok, body: `{"text":"and again while it waits"}`}); code != 409 {
		t.Errorf("a second open appeal = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/risk/appeals", token: sec, body: `{"text":"for the patient, by staff"}`}); code != 401 {
		t.Errorf("staff appeal = %d %v", code, body)
	}

	code, body = e.do(t, call{method: "POST", path: "/api/v1/staff/risk/reviews", token: sec, body: review})
	done, _ := body["accounts"].([]any)
	if code != 200 || len(done) != 1 || done[0].(map[string]any)["action"] != "allow" || done[0].(map[string]any)["answered"] != true {
		t.Fatalf("review = %d %v", code, body)
	}
	code, body = e.do(t, call{method: "GET", path: "/api/v1/risk", token: tok})
	appeals, _ := body["appeals"].([]any)
	if code != 200 || body["action"] != "allow" || len(appeals) != 1 || appeals[0].(map[string]any)["outcome"] != "allow" {
		t.Errorf("after approval = %d %v", code, body)
	}
}
