package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/gate"
)

// raw sends a request and returns the status, the headers and the body
// with the request's own ID (random per request) replaced by "RID".
func (e *env) raw(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if id := resp.Header.Get("X-Request-ID"); id != "" {
		b = bytes.ReplaceAll(b, []byte(id), []byte("RID"))
	}
	return resp.StatusCode, resp.Header, b
}

func residentOf(serial int) string {
	first := fmt.Sprintf("11010519800303%03d", serial)
	return first + string(fairslot.ResidentCheckDigit(first))
}

// TestFailedBindingsAreByteIdentical: over the API, every failed proof of
// a binding — a wrong code, a wrong name, an identity nobody holds, a
// malformed number, a limit — answers the same status, headers and bytes,
// and asking to bind a held identity answers the same with the right name
// or a wrong one (issue 13 item 1).
func TestFailedBindingsAreByteIdentical(t *testing.T) {
	e := newEnv(t)
	// Every test request comes from one address and no device cookie: the
	// per-device and per-prefix limits are the other tests' business.
	wide := gate.Limit{Rate: 1000, Per: time.Hour, Burst: 1000}
	e.svc.Binding = app.BindingLimits{PerRequester: wide, PerAddr: wide}
	owner := e.patientToken(t, "13800000111")
	id := residentOf(1)
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/patients", token: owner, body: `{"name":"张三","id_type":"cn_resident","id_number":"` + id + `"}`}); code != 201 {
		t.Fatalf("binding a new identity: %d %v", code, body)
	}
	e.clock.Add(2 * time.Minute)

	ask := func(tok, name, number string) (int, []byte) {
		t.Helper()
		status, _, b := e.raw(t, "POST", "/api/v1/patients", tok, `{"name":"`+name+`","id_type":"cn_resident","id_number":"`+number+`"}`)
		return status, b
	}
	n := 0
	stranger := func() string {
		t.Helper()
		n++
		e.clock.Add(2 * time.Minute) // past the login code's one-a-minute gap
		return e.patientToken(t, fmt.Sprintf("139000002%02d", n))
	}
	s1, s2 := stranger(), stranger()
	c1, b1 := ask(s1, "张三", id)
	c2, b2 := ask(s2, "李四", id)
	if c1 != 202 || c1 != c2 || !bytes.Equal(b1, b2) {
		t.Errorf("asking with the right name and a wrong one:\n%d %s\n%d %s", c1, b1, c2, b2)
	}
	if bytes.Contains(b1, []byte("0111")) {
		t.Errorf("the answer shows the phone on record: %s", b1)
	}

	type answer struct {
		status int
		header string
		body   string
	}
	fail := func(tok, name, number, code string) answer {
		t.Helper()
		status, h, b := e.raw(t, "POST", "/api/v1/patients/proof", tok,
			`{"name":"`+name+`","id_type":"cn_resident","id_number":"`+number+`","code":"`+code+`"}`)
		return answer{status, fmt.Sprint(h.Get("Content-Type"), "|", h.Get("Content-Length"), "|", h.Get("Retry-After")), string(b)}
	}
	// Each kind from a fresh account with the same history: one request
	// for a code for the held identity, then the failure.
	got := map[string]answer{}
	for _, k := range []struct{ what, name, number, code string }{
		{"a wrong code", "张三", id, "000000"},
		{"a wrong name", "李四", id, "000000"},
		{"an identity nobody holds", "王五", residentOf(2), "000000"},
		{"a malformed number", "张三", id[:17] + "0", "000000"},
		{"an empty code", "张三", id, ""},
	} {
		tok := stranger()
		if c, b := ask(tok, "张三", id); c != 202 {
			t.Fatalf("asking: %d %s", c, b)
		}
		if lastCode(e) == "000000" {
			t.Skip("the random code was 000000")
		}
		got[k.what] = fail(tok, k.name, k.number, k.code)
	}
	want := got["a wrong code"]
	if want.status != 403 || !strings.Contains(want.body, "3 tries left") {
		t.Fatalf("a wrong code: %+v", want)
	}
	for what, a := range got {
		if a != want {
			t.Errorf("%s answers\n%+v\nwant (a wrong code)\n%+v", what, a, want)
		}
	}
	// Limit hit: all spent, the right code is refused like the rest.
	x, y := stranger(), stranger()
	ask(y, "张三", id)
	right := lastCode(e)
	var lx, ly answer
	for range 6 {
		lx = fail(x, "王五", residentOf(2), "000000")
		ly = fail(y, "张三", id, "000001")
	}
	if lr := fail(y, "张三", id, right); lx != ly || lr != lx || !strings.Contains(lx.body, "0 tries left") {
		t.Errorf("limit hit: unknown %+v, held %+v, the right code %+v", lx, ly, lr)
	}
}

// TestBindingOverTheAPI: proof with the code binds; unbinding; the desk's
// binding needs the desk.
func TestBindingOverTheAPI(t *testing.T) {
	e := newEnv(t)
	owner := e.patientToken(t, "13800000111")
	id := residentOf(5)
	body := `{"name":"张三","id_type":"cn_resident","id_number":"` + id + `"}`
	code, p := e.do(t, call{method: "POST", path: "/api/v1/patients", token: owner, body: body})
	if code != 201 {
		t.Fatalf("bind: %d %v", code, p)
	}
	e.clock.Add(2 * time.Minute)
	other := e.patientToken(t, "13900000333")
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/patients", token: other, body: body}); code != 202 || b["status"] != "proof_required" {
		t.Fatalf("a held identity: %d %v", code, b)
	}
	proof := `{"name":"张三","id_type":"cn_resident","id_number":"` + id + `","code":"` + lastCode(e) + `"}`
	code, q := e.do(t, call{method: "POST", path: "/api/v1/patients/proof", token: other, body: proof})
	if code != 201 || q["id"] != p["id"] {
		t.Fatalf("proof: %d %v; want patient %v", code, q, p["id"])
	}
	path := fmt.Sprintf("/api/v1/patients/%v/unbind", q["id"])
	if code, b := e.do(t, call{method: "POST", path: path, token: other}); code != 200 {
		t.Fatalf("unbind: %d %v", code, b)
	}
	if code, b := e.do(t, call{method: "POST", path: path, token: other}); code != 404 {
		t.Errorf("unbinding twice: %d %v", code, b)
	}
	desk := `{"phone":"13900000333","patient":{"name":"张三","id_type":"cn_resident","id_number":"` + id + `"},"reason":"identity_check"}`
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/staff/bindings", token: other, body: desk}); code < 400 {
		t.Errorf("a patient's token on the desk's binding: %d %v", code, b)
	}
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/staff/bindings", token: e.staffToken(t, "kiosk"), body: desk}); code != 403 {
		t.Errorf("a kiosk on the desk's binding: %d %v", code, b)
	}
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/staff/bindings", token: e.staffToken(t, "desk"), body: desk}); code != 201 {
		t.Errorf("the desk's binding: %d %v", code, b)
	}
}

// TestNoDoorTakesADeclaredPriority: a patient's booking, draw entry and
// waitlist bodies have no priority; a kiosk's walk-in declares none.
func TestNoDoorTakesADeclaredPriority(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, "13800000111")
	for _, c := range []struct{ path, body string }{
		{"/api/v1/bookings", `{"session_id":44,"patient_id":1,"priority":"elderly"}`},
		{"/api/v1/waitlist", `{"session_id":44,"patient_id":1,"priority":"elderly"}`},
		{"/api/v1/sessions/44/draw/entries", `{"patient_id":1,"priority":"elderly"}`},
	} {
		code, b := e.do(t, call{method: "POST", path: c.path, token: tok, body: c.body, key: "k"})
		if code != 400 || !strings.Contains(fmt.Sprint(b), "unknown field") {
			t.Errorf("POST %s with a priority: %d %v; want 400 unknown field", c.path, code, b)
		}
	}
	// The patient is on record (a kiosk registers no new identity).
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/patients", token: tok, body: `{"name":"王五","id_type":"cn_resident","id_number":"` + residentOf(9) + `"}`}); code != 201 {
		t.Fatalf("binding the patient: %d %v", code, b)
	}
	kiosk := e.staffToken(t, "kiosk")
	walkIn := `{"session_id":44,"priority":"disabled","priority_reason":"wheelchair","patient":{"name":"王五","id_type":"cn_resident","id_number":"` + residentOf(9) + `"}}`
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/staff/walk-ins", token: kiosk, body: walkIn}); code != 403 {
		t.Errorf("a kiosk declaring disabled: %d %v", code, b)
	}
	walkIn = `{"session_id":44,"priority":"elderly","patient":{"name":"王五","id_type":"cn_resident","id_number":"` + residentOf(9) + `"}}`
	if code, b := e.do(t, call{method: "POST", path: "/api/v1/staff/walk-ins", token: kiosk, body: walkIn}); code != 400 {
		t.Errorf("a kiosk declaring elderly for someone born in 1980: %d %v", code, b)
	}
}

func lastCode(e *env) string {
	e.codes.mu.Lock()
	defer e.codes.mu.Unlock()
	return e.codes.last
}
