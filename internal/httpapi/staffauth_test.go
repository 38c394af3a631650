package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/staffauth"
)

// TestStaffSignInOverHTTP walks the API a client scripts: the password
// step names the next step in a 401, enrolment gives a secret and then the
// session with recovery codes, a later sign-in takes the code with the
// password, and a stale factor is asked again for account management.
func TestStaffSignInOverHTTP(t *testing.T) {
	e := newEnv(t)
	const pw = "lantern orbit pickle fjord"
	if err := e.svc.CreateStaff(ctx, app.System, &fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}, pw); err != nil {
		t.Fatal(err)
	}
	login := func(user, pw, code string) (int, map[string]any) {
		return e.do(t, call{method: "POST", path: "/api/v1/staff/login", body: fmt.Sprintf(`{"username":%q,"password":%q,"code":%q}`, user, pw, code)})
	}
	boss, _ := e.svc.StaffByUsername(ctx, app.System, "boss")
	enrol, err := e.svc.ResetStaffMFA(ctx, app.System, boss.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The password alone (a thief's) is refused like a wrong one: no
	// challenge, no enrolment.
	code, body := login("boss", pw, "")
	if code != 401 || errCode(body) != "unauthorized" || body["challenge"] != nil {
		t.Fatalf("password step without the enrolment code = %d %v", code, body)
	}
	code, body = login("boss", pw, enrol.Code)
	if code != 401 || errCode(body) != "enrolment_required" || body["challenge"] == "" || body["token"] != nil {
		t.Fatalf("password and enrolment code = %d %v", code, body)
	}
	ch := body["challenge"].(string)
	code, en := e.do(t, call{method: "POST", path: "/api/v1/staff/enrol", body: fmt.Sprintf(`{"challenge":%q}`, ch)})
	if code != 200 || en["secret"] == nil || en["otpauth_url"] == nil {
		t.Fatalf("enrol = %d %v", code, en)
	}
	secret := en["secret"].(string)
	totp := func() string { c, _ := staffauth.Code(secret, staffauth.Step(e.clock.Now())); return c }
	code, done := e.do(t, call{method: "POST", path: "/api/v1/staff/enrol/confirm", body: fmt.Sprintf(`{"challenge":%q,"code":%q}`, ch, totp())})
	if code != 200 || done["token"] == nil || len(done["recovery_codes"].([]any)) != 10 {
		t.Fatalf("enrol/confirm = %d %v", code, done)
	}
	// Replay of the same code, then the next step's code with the password.
	if code, body := login("boss", pw, totp()); code != 401 || errCode(body) != "unauthorized" {
		t.Errorf("a replayed code = %d %v", code, body)
	}
	e.clock.now = e.clock.now.Add(30 * time.Second)
	code, body = login("boss", pw, totp())
	if code != 200 || body["token"] == nil {
		t.Fatalf("password and code = %d %v", code, body)
	}
	tok := body["token"].(string)
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/staff/accounts", token: tok}); code != 200 || len(body["accounts"].([]any)) < 2 {
		t.Errorf("accounts = %d %v", code, body)
	}
	// The second-factor step on its own.
	e.clock.now = e.clock.now.Add(30 * time.Second)
	_, body = login("boss", pw, "")
	if errCode(body) != "second_factor_required" {
		t.Fatalf("password step of an enrolled account = %v", body)
	}
	code, body = e.do(t, call{method: "POST", path: "/api/v1/staff/second-factor", body: fmt.Sprintf(`{"challenge":%q,"code":%q}`, body["challenge"], totp())})
	if code != 200 || body["token"] == nil {
		t.Fatalf("second-factor = %d %v", code, body)
	}

	// Six minutes on, a change is refused with step_up_required until the
	// factor is checked again.
	e.clock.now = e.clock.now.Add(6 * time.Minute)
	desk, _ := e.svc.StaffByUsername(ctx, app.System, "desk")
	path := fmt.Sprintf("/api/v1/staff/accounts/%d/disable", desk.ID)
	if code, body := e.do(t, call{method: "POST", path: path, token: tok}); code != 403 || errCode(body) != "step_up_required" {
		t.Fatalf("a change with a stale factor = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/step-up", token: tok, body: fmt.Sprintf(`{"code":%q}`, totp())}); code != 200 {
		t.Fatalf("step-up = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: path, token: tok}); code != 200 {
		t.Fatalf("disable after step-up = %d %v", code, body)
	}
	// Adding an account and resetting its factor each return an enrolment
	// code, once.
	code, added := e.do(t, call{method: "POST", path: "/api/v1/staff/accounts", token: tok,
		body: `{"username":"nurse2","name":"Li Na","role":"nurse","password":"velvet harbor quartz tundra"}`})
	if code != 201 || added["enrolment_code"] == nil || added["enrolment_code_expires_at"] == nil || added["staff"] == nil {
		t.Fatalf("add = %d %v", code, added)
	}
	nurseID := int64(added["staff"].(map[string]any)["id"].(float64))
	code, reset := e.do(t, call{method: "POST", path: fmt.Sprintf("/api/v1/staff/accounts/%d/reset-mfa", nurseID), token: tok})
	if code != 200 || reset["enrolment_code"] == nil || reset["enrolment_code"] == added["enrolment_code"] {
		t.Fatalf("reset-mfa = %d %v", code, reset)
	}
	if code, body := login("nurse2", "velvet harbor quartz tundra", added["enrolment_code"].(string)); code != 401 || errCode(body) != "unauthorized" {
		t.Errorf("the replaced enrolment code = %d %v", code, body)
	}
	if code, body := login("nurse2", "velvet harbor quartz tundra", reset["enrolment_code"].(string)); errCode(body) != "enrolment_required" {
		t.Errorf("the new enrolment code = %d %v", code, body)
	}
	// A registrar (the demo desk, re-enabled) may not manage accounts.
	if err := e.svc.EnableStaff(ctx, app.System, desk.ID); err != nil {
		t.Fatal(err)
	}
	deskTok := e.staffToken(t, "desk")
	for _, c := range []call{
		{method: "GET", path: "/api/v1/staff/accounts", token: deskTok},
		{method: "POST", path: "/api/v1/staff/accounts", token: deskTok, body: `{"username":"x1","name":"X","role":"admin","password":"` + pw + `"}`},
		{method: "POST", path: fmt.Sprintf("/api/v1/staff/accounts/%d/unlock", desk.ID), token: deskTok},
	} {
		if code, body := e.do(t, c); code != 403 {
			t.Errorf("a registrar's %s %s = %d %v", c.method, c.path, code, body)
		}
	}
}

// TestDemoPasswordRefusedWithoutDemoMode: the API over a demo-seeded
// database, served without demo mode, refuses the published password on
// every demo account, with the generic message.
func TestDemoPasswordRefusedWithoutDemoMode(t *testing.T) {
	e := newEnv(t)
	e.svc.DemoMode = false // as 'serve' without --demo on the same database
	var generic string
	for i, s := range demo.Staff {
		e.clock.now = e.clock.now.Add(time.Duration(i) * time.Second)
		code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/login", body: `{"username":"` + s.Username + `","password":"` + demo.Password + `"}`})
		msg := fmt.Sprint(body["error"].(map[string]any)["message"])
		if code != 401 || body["token"] != nil || body["challenge"] != nil {
			t.Errorf("%s with the demo password = %d %v", s.Username, code, body)
		}
		if generic == "" {
			generic = msg
		} else if msg != generic {
			t.Errorf("%s: message %q differs from %q", s.Username, msg, generic)
		}
	}
	_, body := e.do(t, call{method: "POST", path: "/api/v1/staff/login", body: `{"username":"nobody-at-all","password":"x"}`})
	if msg := fmt.Sprint(body["error"].(map[string]any)["message"]); msg != generic {
		t.Errorf("unknown user: %q, demo password: %q", msg, generic)
	}
}
