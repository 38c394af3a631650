package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/frontdoor"
)

// TestAddPatientErrorIsInline: a wrong ID number shows the /me page again in
// the page's language, every field as it was typed, the error beside the ID
// number (aria-invalid, aria-describedby) — not an English error page.
func TestAddPatientErrorIsInline(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.login(e, "13900139000")
	b.get("/me")
	bad := testID[:17] + map[bool]string{true: "1", false: "2"}[testID[17] != '1'] // the check digit wrong
	form := url.Values{"name": {"阮文安"}, "id_type": {"cn_resident"}, "id_number": {bad}, "birth_date": {"1980-01-01"}, "phone": {"13700137000"}}
	status, _, page := b.post("/me/patients?lang=vi", form)
	if status != 400 {
		t.Fatalf("a wrong ID number: status %d\n%s", status, page)
	}
	for _, want := range []string{
		`value="阮文安"`, `value="` + bad + `" aria-invalid="true" aria-describedby="id_number-error"`,
		`<p class="field-error" id="id_number-error" role="alert">Số căn cước này không hợp lệ: ký tự cuối không khớp.`,
		`<option value="cn_resident" selected>`, `value="1980-01-01"`, `<html lang="vi">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the form shown again lacks %s\n%s", want, page)
		}
	}
	for _, never := range []string{"check digit", "resident ID number", "cn_resident\">", "error.id"} {
		if strings.Contains(page, never) {
			t.Errorf("the page shows %q", never)
		}
	}
	// Only the field the error is about is marked.
	if strings.Count(page, `aria-invalid="true"`) != 1 {
		t.Errorf("%d fields marked invalid, want 1", strings.Count(page, `aria-invalid="true"`))
	}
	// And the form, corrected, goes through.
	form.Set("id_number", testID)
	if status, loc, body := b.post("/me/patients", form); status != 303 || loc != "/me" {
		t.Errorf("the corrected form: %d %s\n%s", status, loc, body)
	}
}

// TestWrongCodeShowsTriesLeft: a wrong login code shows the code step again
// with the tries left and when a new code can be sent, in the page's
// language; asking for a new code too soon says when, on the same step.
func TestWrongCodeShowsTriesLeft(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.get("/login")
	phone := "13900139001"
	if status, _, body := b.post("/login/code", url.Values{"phone": {phone}}); status != 200 {
		t.Fatalf("ask for a code: %d\n%s", status, body)
	}
	code, _ := e.codes.last()
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	status, _, page := b.post("/login", url.Values{"phone": {phone}, "code": {wrong}})
	if status != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d\n%s", status, page)
	}
	for _, want := range []string{"验证码错误，还可以尝试4次。60秒后可重新获取验证码。", `aria-describedby="code-error"`,
		`name="phone" value="` + phone + `"`, `action="/login/code"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the code step shown again lacks %s\n%s", want, page)
		}
	}
	e.advance(20e9)
	status, _, page = b.post("/login?lang=vi", url.Values{"phone": {phone}, "code": {wrong}})
	if status != http.StatusUnauthorized || !strings.Contains(page, "Mã không đúng: còn 3 lần thử. Bạn có thể yêu cầu mã mới sau 40 giây.") {
		t.Errorf("a second wrong code, 20 s later: %d\n%s", status, page)
	}
	// A new code asked for too soon: the code step again, saying when.
	status, _, page = b.post("/login/code?lang=en", url.Values{"phone": {phone}, "step": {"code"}})
	if status != http.StatusTooManyRequests || !strings.Contains(page, "A code was sent less than a minute ago. You can ask again in 40 seconds.") ||
		!strings.Contains(page, `id="code"`) {
		t.Errorf("a new code too soon: %d\n%s", status, page)
	}
	// The right code still logs in.
	if status, loc, body := b.post("/login", url.Values{"phone": {phone}, "code": {code}}); status != 303 || loc != "/me" {
		t.Errorf("the right code: %d %s\n%s", status, loc, body)
	}
}

// TestAPIErrorsInTheCallersLanguage: the JSON API keeps its code and adds
// the key and field; the message is in the Accept-Language's language, and
// English for a client that asks for none.
func TestAPIErrorsInTheCallersLanguage(t *testing.T) {
	e := newEnv(t)
	api := e.pages.API.Handler(frontdoor.SingleListener)
	for _, tt := range []struct{ accept, want string }{
		{"vi-VN,vi;q=0.9", "Số điện thoại chỉ được chứa chữ số"},
		{"zh-CN", "电话号码只能包含数字"},
		{"", "phone number may hold only digits"},
		{"fr-FR,fr;q=0.9", "phone number may hold only digits"}, // none of ours: English, not the pages' default
		{"en-GB", "A phone number may hold only digits"},
	} {
		req, _ := http.NewRequest("POST", "/api/v1/auth/code", strings.NewReader(`{"phone":"not a phone"}`))
		req.Header.Set("Content-Type", "application/json")
		if tt.accept != "" {
			req.Header.Set("Accept-Language", tt.accept)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		var body struct {
			Error struct{ Code, Key, Field, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", w.Body, err)
		}
		if w.Code != 400 || body.Error.Code != "invalid" || body.Error.Key != "error.phone.chars" || body.Error.Field != "phone" ||
			!strings.HasPrefix(body.Error.Message, tt.want) {
			t.Errorf("Accept-Language %q: %d %+v, want a message starting %q", tt.accept, w.Code, body.Error, tt.want)
		}
	}
}

// TestBookingRefusalIsInline: a booking the rules refuse shows the session
// page again with the reason above its form, in the page's language, and
// the patient chosen kept.
func TestBookingRefusalIsInline(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.login(e, "13900139003")
	b.get("/me")
	for _, p := range []url.Values{
		{"name": {"王五"}, "id_type": {"cn_resident"}, "id_number": {testID}},
		{"name": {"王六"}, "id_type": {"passport"}, "id_number": {"E12345678"}},
	} {
		if status, _, body := b.post("/me/patients", p); status != 303 {
			t.Fatalf("add a patient: %d\n%s", status, body)
		}
	}
	_, page := b.get("/sessions/4")
	ids := regexpAll(`<option value="(\d+)">王`, page)
	if len(ids) != 2 {
		t.Fatalf("patients on the form: %v\n%s", ids, page)
	}
	// The second patient books session 4, then tries it again.
	if status, _, body := b.post("/sessions/4/book", url.Values{"patient_id": {ids[1]}, "key": {"k1"}}); status != 303 {
		t.Fatalf("book: %d\n%s", status, body)
	}
	b.get("/sessions/4")
	status, _, page := b.post("/sessions/4/book?lang=vi", url.Values{"patient_id": {ids[1]}, "key": {"k2"}})
	if status != 409 && status != 429 {
		t.Fatalf("a second booking of the same session: %d\n%s", status, page)
	}
	for _, want := range []string{`<p class="form-error" id="form-error" role="alert">`, `<option value="` + ids[1] + `" selected>`, `<html lang="vi">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the session page shown again lacks %s\n%s", want, page)
		}
	}
	if !strings.Contains(page, "Người bệnh này đã có 1 lịch hẹn tại khoa này trong ngày (tối đa 1).") || strings.Contains(page, "this patient") {
		t.Errorf("the refusal is not shown in Vietnamese:\n%s", page)
	}
}

func regexpAll(expr, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(expr).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestBookingActionRefusalIsInline: paying a hold that expired meanwhile,
// or cancelling a booking already cancelled (a second tab), shows the page
// the form was on again with the reason at the top, in the page's language
// — not an error page.
func TestBookingActionRefusalIsInline(t *testing.T) {
	e := newEnv(t)
	b, patient := e.patientOf(t, "13900139004", "王七", 7)
	b.get("/sessions/4")
	status, loc, body := b.post("/sessions/4/book", url.Values{"patient_id": {patient}, "key": {"k1"}})
	if status != 303 || !strings.HasPrefix(loc, "/bookings/") {
		t.Fatalf("book: %d %s\n%s", status, loc, body)
	}
	e.advance(time.Hour) // the hold expires unpaid
	refused := func(path, page, want string) {
		t.Helper()
		status, _, body := b.post(path, url.Values{"key": {"k2"}})
		if status < 400 || status >= 500 {
			t.Errorf("%s: status %d", path, status)
		}
		msg := regexp.MustCompile(`<p class="form-error" id="form-error" role="alert">([^<]*)</p>`).FindStringSubmatch(body)
		if msg == nil || !strings.Contains(body, `class="`+page+`"`) || !strings.Contains(msg[1], want) {
			t.Errorf("%s: not its page with the reason in its language\n%s", path, body)
			return
		}
		for _, never := range []string{"error.", "expired", "cancelled", "%!"} {
			if strings.Contains(msg[1], never) {
				t.Errorf("%s: the reason %q shows %q", path, msg[1], never)
			}
		}
	}
	refused(loc+"/pay?lang=vi", "page-booking", "Thời hạn thanh toán đã hết")
	if status, _, body := b.post(loc+"/cancel", url.Values{}); status != 303 {
		t.Fatalf("cancel the lapsed hold: %d\n%s", status, body)
	}
	refused(loc+"/cancel?lang=zh-CN", "page-cancel", "已取消")
}

// TestLoginCodeStepCountsDown: the code step says when a new code may be
// asked for, as a number pages.js counts down, in the page's language.
func TestLoginCodeStepCountsDown(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.get("/login")
	_, _, page := b.post("/login/code?lang=vi", url.Values{"phone": {"13900139005"}})
	if !strings.Contains(page, `data-countdown="60"`) || !strings.Contains(page, "Bạn có thể yêu cầu mã mới sau 60 giây.") ||
		!strings.Contains(page, `data-format="Bạn có thể yêu cầu mã mới sau {n} giây."`) {
		t.Errorf("the code step lacks its countdown\n%s", page)
	}
	e.advance(25 * time.Second)
	_, _, page = b.post("/login?lang=en", url.Values{"phone": {"13900139005"}, "code": {"000000"}})
	if !strings.Contains(page, `data-countdown="35"`) {
		t.Errorf("after a wrong code 25 s later, the countdown does not start at 35\n%s", page)
	}
}
