package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/web"
)

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestPagesStayLoggedInAcrossExpiry: a patient's pages refresh the login
// transparently when the hour-long access token has expired — for days, as
// long as the patient comes back — with new cookies each time; logging out
// ends the refresh token too, so a copy of the cookies is worth nothing.
func TestPagesStayLoggedInAcrossExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.login(e, "13912340001")
	refresh := b.cookie(web.RefreshCookie)
	if refresh == "" || b.cookie(web.SessionCookie) == "" {
		t.Fatal("login set no refresh cookie beside the session cookie")
	}
	for day := range 3 {
		e.advance(25 * time.Hour)
		old := b.cookie(web.SessionCookie)
		if status, body := b.get("/me"); status != 200 || !strings.Contains(body, "/logout") {
			t.Fatalf("day %d: /me after the access token expired: %d (want the page, logged in)\n%s", day, status, body)
		}
		if b.cookie(web.SessionCookie) == old || b.cookie(web.RefreshCookie) == refresh {
			t.Fatalf("day %d: the cookies were not renewed", day)
		}
		refresh = b.cookie(web.RefreshCookie)
	}
	// A copy of the cookies taken now, replayed after the patient moved on,
	// ends the login for both.
	thief := e.browser(t, e.public)
	u, _ := url.Parse(b.base)
	thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: b.cookie(web.SessionCookie)}, {Name: web.RefreshCookie, Value: refresh}})
	e.advance(2 * time.Hour)
	if status, _ := b.get("/me"); status != 200 {
		t.Fatalf("the patient after two hours: %d", status)
	}
	e.advance(time.Minute)
	if status, _ := thief.get("/me"); status != http.StatusSeeOther {
		t.Errorf("the thief's replayed refresh cookie: %d, want a redirect to /login", status)
	}
	if status, _ := b.get("/me"); status != http.StatusSeeOther {
		t.Errorf("the patient after the replay: %d, want a redirect to /login (the family is revoked)", status)
	}

	// Logout revokes the family: the cookies, replayed, log no one in.
	b2 := e.browser(t, e.public)
	e.advance(2 * time.Minute)
	b2.login(e, "13912340002")
	session, refresh := b2.cookie(web.SessionCookie), b2.cookie(web.RefreshCookie)
	b2.get("/me")
	if status, loc, body := b2.post("/logout", url.Values{}); status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("logout: %d %s\n%s", status, loc, body)
	}
	copy := e.browser(t, e.public)
	copy.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: session}, {Name: web.RefreshCookie, Value: refresh}})
	if status, _ := copy.get("/me"); status != http.StatusSeeOther {
		t.Errorf("cookies replayed after logout: %d, want a redirect to /login", status)
	}

	// Logging out with an expired access token: the page refreshes first,
	// and the logout ends the refreshed login.
	b3 := e.browser(t, e.public)
	e.advance(2 * time.Minute)
	b3.login(e, "13912340003")
	b3.get("/me")
	e.advance(2 * time.Hour)
	if status, loc, body := b3.post("/logout", url.Values{}); status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("logout after expiry: %d %s\n%s", status, loc, body)
	}
	if b3.cookie(web.SessionCookie) != "" || b3.cookie(web.RefreshCookie) != "" {
		t.Error("logout left cookies")
	}
	n := 0
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		evs, err := tx.AuditEvents(ctx, 0, 10000)
		for _, ev := range evs {
			if ev.Action == "account.refresh_revoked" {
				n++
			}
		}
		return err
	})
	if n != 2 {
		t.Errorf("%d logouts revoked a refresh family, want 2", n)
	}
}
