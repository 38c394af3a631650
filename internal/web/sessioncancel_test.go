package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/demo"
)

// The cancel page: the desk is forbidden it; an admin sees the counts, a
// missing reason is shown at its field with the page kept, and the POST
// says what was done; a forged form without the page's token does nothing.
func TestAdminCancelsASession(t *testing.T) {
	e := newEnv(t)
	const path = "/staff/admin/sessions/44/cancel"
	staff := func(user string) *browser {
		b := e.browser(t, e.internal)
		b.get("/staff/login")
		b.post("/staff/login", url.Values{"username": {user}, "password": {demo.Password}})
		return b
	}
	desk := staff("desk")
	if status, _ := desk.get(path); status != http.StatusForbidden {
		t.Errorf("the desk opening the cancel page: %d, want 403", status)
	}
	if status, _, _ := desk.post(path, url.Values{"reason": {"ill"}}); status != http.StatusForbidden {
		t.Errorf("the desk cancelling: %d, want 403", status)
	}
	admin := staff("admin")
	if _, body := admin.get(strings.TrimSuffix(path, "/cancel")); !strings.Contains(body, `href="`+path+`"`) {
		t.Error("the session's admin page does not link to the cancel page")
	}
	status, body := admin.get(path)
	if status != 200 || !strings.Contains(body, `<dd class="bookings">0</dd>`) || !strings.Contains(body, `name="reason"`) {
		t.Fatalf("the cancel page: %d\n%s", status, body)
	}
	if status, _, _ := admin.post(path, url.Values{"reason": {"ill"}, "csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("a cancel without the page's token: %d, want 403", status)
	}
	status, _, body = admin.post(path, url.Values{"reason": {"  "}})
	if status != http.StatusBadRequest || !strings.Contains(body, `aria-invalid="true" aria-describedby="reason-error"`) || !strings.Contains(body, `id="reason-error"`) {
		t.Errorf("a cancel without a reason: %d, want 400 with the error at the field\n%s", status, body)
	}
	status, _, body = admin.post(path, url.Values{"reason": {"doctor ill"}})
	if status != 200 || !strings.Contains(body, `<dd class="told">0</dd>`) || strings.Contains(body, `name="reason"`) {
		t.Errorf("the cancel: %d, want what was done and no form\n%s", status, body)
	}
	if status, body := e.browser(t, e.internal).get("/sessions/44"); status != 200 || !strings.Contains(body, `class="status cancelled"`) {
		t.Errorf("the session page after the cancellation: %d\n%s", status, body)
	}
}
