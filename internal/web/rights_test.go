package web_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/privacy"
)

// TestRightsPages walks the patient's rights through the forms, in
// Vietnamese: the first login lands on the consent page, nothing is bound
// before it is accepted, a family member is removed with a page saying
// who, closing asks first and then says what it did — in the visitor's
// language, logged out.
func TestRightsPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.get("/login")
	if status, _, _ := b.post("/lang", url.Values{"lang": {"vi"}, "back": {"/login"}}); status != 303 {
		t.Fatalf("language switch: %d", status)
	}
	b.get("/login")
	const phone = "13900000042"
	if status, _, body := b.post("/login/code", url.Values{"phone": {phone}}); status != 200 {
		t.Fatalf("ask for a code: %d\n%s", status, body)
	}
	code, _ := e.codes.last()
	if status, loc, body := b.post("/login", url.Values{"phone": {phone}, "code": {code}}); status != 303 || loc != "/me" {
		t.Fatalf("log in: %d %s\n%s", status, loc, body)
	}
	// /me sends a new account to the consent page first.
	if status, body := b.get("/me"); status != 303 || !strings.Contains(body, "/privacy/consent?next=/me") {
		t.Fatalf("the first /me does not send to the consent page: %d\n%s", status, body)
	}
	status, body := b.get("/privacy/consent?next=/me")
	if status != 200 || !strings.Contains(body, `class="page-consent"`) || !strings.Contains(body, "Thông tin cá nhân của bạn") {
		t.Fatalf("the consent page in Vietnamese: %d\n%s", status, body)
	}
	// Binding straight away (an old form, a script) is sent to consent too.
	first := "11010519800101777" // an identity nobody holds: bound at once, no proof
	bind := url.Values{"name": {"张三"}, "id_type": {"cn_resident"}, "id_number": {first + string(fairslot.ResidentCheckDigit(first))}}
	if status, loc, _ := b.post("/me/patients", bind); status != 303 || !strings.HasPrefix(loc, "/privacy/consent") {
		t.Fatalf("binding before consent: %d %s, want the consent page", status, loc)
	}
	// An old page's version is refused.
	if status, _, _ := b.post("/privacy/consent", url.Values{"version": {"1999-01-01"}, "next": {"/me"}}); status != 409 {
		t.Errorf("consent to an old version: %d, want 409", status)
	}
	// next never leaves the site.
	b.get("/privacy/consent")
	if status, loc, _ := b.post("/privacy/consent", url.Values{"version": {privacy.NoticeVersion}, "next": {"//evil.example/"}}); status != 303 || loc != "/" {
		t.Fatalf("accept: %d %s, want 303 to /", status, loc)
	}
	b.get("/me")
	if status, loc, body := b.post("/me/patients", bind); status != 303 || loc != "/me" {
		t.Fatalf("bind after consenting: %d %s\n%s", status, loc, body)
	}
	status, body = b.get("/me")
	if status != 200 || !strings.Contains(body, `id="rights"`) || !strings.Contains(body, "Gỡ khỏi tài khoản của tôi") {
		t.Fatalf("/me has no 'your data' block with a remove button: %d\n%s", status, body)
	}
	ps, err := e.svc.Patients(ctx, e.actorOf(t, phone))
	if err != nil || len(ps) != 1 {
		t.Fatal(ps, err)
	}
	status, _, body = b.post("/me/patients/"+strconv.FormatInt(ps[0].ID, 10)+"/remove", url.Values{})
	if status != 200 || !strings.Contains(body, "张* không còn trong tài khoản của bạn") {
		t.Fatalf("removal: %d\n%s", status, body)
	}
	status, body = b.get("/account/close")
	if status != 200 || !strings.Contains(body, `id="close-account"`) {
		t.Fatalf("close page: %d\n%s", status, body)
	}
	status, _, body = b.post("/account/close", url.Values{})
	if status != 200 || !strings.Contains(body, `lang="vi"`) || !strings.Contains(body, "Tài khoản của bạn đã được đóng") {
		t.Fatalf("closed: %d, want the Vietnamese confirmation\n%s", status, body)
	}
	if strings.Contains(body, `action="/logout"`) {
		t.Error("the confirmation shows the visitor logged in")
	}
	if status, body := b.get("/me"); status != 303 || !strings.Contains(body, `"/login"`) {
		t.Errorf("/me after closing: %d, want a redirect to the login\n%s", status, body)
	}
	// The privacy notice is public.
	anon := e.browser(t, e.public)
	if status, body := anon.get("/privacy"); status != 200 || !strings.Contains(body, "个人信息保护告知书") || !strings.Contains(body, "1,095") {
		t.Errorf("/privacy: %d, want the notice with the retention in days\n%s", status, body)
	}
}
