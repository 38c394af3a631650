package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/demo"
)

// TestBindingProofPages: adding a patient someone else holds leads to the
// proof step, with the identity kept in the form; a wrong code shows the
// one failure inline with the tries left; the code binds (issue 13 item 1).
func TestBindingProofPages(t *testing.T) {
	e := newEnv(t)
	e.patientOf(t, "13800000001", "张三", 1)
	first := fmt.Sprintf("11010519800102%03d", 1)
	id := first + string(fairslot.ResidentCheckDigit(first))
	s := e.browser(t, e.public)
	s.login(e, "13900000002")
	s.get("/me")
	status, _, page := s.post("/me/patients", url.Values{"name": {"张三"}, "id_type": {"cn_resident"}, "id_number": {id}})
	if status != 202 || !strings.Contains(page, `action="/me/patients/proof"`) || !strings.Contains(page, `name="id_number" value="`+id+`"`) {
		t.Fatalf("a held identity: %d\n%s", status, page)
	}
	if strings.Contains(page, "0001") {
		t.Errorf("the proof page shows the phone on record:\n%s", page)
	}
	// The proof page's form carries its own token.
	token := func(page string) string {
		m := csrfField.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form token on\n%s", page)
		}
		return m[1]
	}
	code, _ := e.codes.last()
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	status, _, page = s.post("/me/patients/proof", url.Values{"csrf": {token(page)}, "name": {"张三"}, "id_type": {"cn_resident"}, "id_number": {id}, "code": {wrong}})
	if status != 403 || !strings.Contains(page, `id="code-error"`) || !strings.Contains(page, "剩余 3 次机会") ||
		!strings.Contains(page, `aria-invalid="true"`) || !strings.Contains(page, `name="id_number" value="`+id+`"`) {
		t.Fatalf("a wrong code: %d\n%s", status, page)
	}
	status, loc, page := s.post("/me/patients/proof", url.Values{"csrf": {token(page)}, "name": {"张三"}, "id_type": {"cn_resident"}, "id_number": {id}, "code": {code}})
	if status != 303 || loc != "/me" {
		t.Fatalf("the right code: %d %s\n%s", status, loc, page)
	}
	if _, me := s.get("/me"); !strings.Contains(me, "张*") {
		t.Errorf("the patient is not on /me:\n%s", me)
	}
}

// TestKioskWalkInOffersNoPriority: the kiosk's walk-in page has no priority
// to choose, and a priority posted to it anyway is refused; the desk's
// page has the groups and the reason (issue 13 item 2).
func TestKioskWalkInOffersNoPriority(t *testing.T) {
	e := newEnv(t)
	k := e.browser(t, e.internal)
	k.get("/staff/login")
	k.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}})
	_, page := k.get("/kiosk/walk-in")
	if strings.Contains(page, `name="priority"`) || strings.Contains(page, `name="priority_reason"`) {
		t.Errorf("the kiosk's walk-in page offers a priority:\n%s", page)
	}
	first := "110105198001020777"[:17]
	id := first + string(fairslot.ResidentCheckDigit(first))
	status, _, page := k.post("/kiosk/walk-in", url.Values{"session_id": {"1"}, "name": {"王五"}, "id_type": {"cn_resident"}, "id_number": {id},
		"priority": {"disabled"}, "priority_reason": {"wheelchair"}})
	if status == 200 || strings.Contains(page, "ticket") && !strings.Contains(page, "error") {
		t.Errorf("a kiosk posting a priority: %d\n%s", status, page)
	}
	d := e.browser(t, e.internal)
	d.get("/staff/login")
	d.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	if _, page := d.get("/kiosk/walk-in"); !strings.Contains(page, `name="priority"`) || !strings.Contains(page, `name="priority_reason"`) {
		t.Errorf("the desk's walk-in page has no priority to confirm:\n%s", page)
	}
	if _, page := d.get("/staff/desk"); !strings.Contains(page, `action="/staff/desk/bind"`) {
		t.Errorf("the desk page has no binding after an ID check:\n%s", page)
	}
}

// TestDeskBindForm: the desk binds a held identity to another account
// from the desk page after checking the card; a kiosk's post is refused.
func TestDeskBindForm(t *testing.T) {
	e := newEnv(t)
	e.patientOf(t, "13800000001", "张三", 1)
	other := e.browser(t, e.public)
	other.login(e, "13900000002")
	first := fmt.Sprintf("11010519800102%03d", 1)
	form := url.Values{"account_phone": {"13900000002"}, "name": {"张三"}, "id_type": {"cn_resident"},
		"id_number": {first + string(fairslot.ResidentCheckDigit(first))}, "reason": {"identity_check"}}

	k := e.browser(t, e.internal)
	k.get("/staff/login")
	k.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}})
	k.get("/kiosk")
	if status, _, _ := k.post("/staff/desk/bind", cloneForm(form)); status == 200 {
		t.Error("a kiosk bound an identity through the desk's form")
	}
	d := e.browser(t, e.internal)
	d.get("/staff/login")
	d.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	d.get("/staff/desk")
	status, _, page := d.post("/staff/desk/bind", cloneForm(form))
	if status != 200 || !strings.Contains(page, `id="desk-bound"`) || !strings.Contains(page, "张*") {
		t.Fatalf("the desk's binding: %d\n%s", status, page)
	}
	if ps, err := e.svc.Patients(ctx, e.actorOf(t, "13900000002")); err != nil || len(ps) != 1 {
		t.Errorf("the account's patients after the desk's binding: %v, %v", ps, err)
	}
}

// cloneForm copies a form: post sets its token in the form it is given.
func cloneForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}
