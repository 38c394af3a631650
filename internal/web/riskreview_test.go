package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/storage"
)

// riskMonitor is a monitor that knows one account's decision and links.
type riskMonitor struct {
	account int64
	d       risk.Decision
	links   []risk.Link
}

func (m *riskMonitor) Decision(id int64) risk.Decision {
	if id == m.account {
		return m.d
	}
	return risk.Decision{}
}

func (m *riskMonitor) Linked(id int64) []risk.Link {
	if id == m.account {
		return m.links
	}
	return nil
}

func (m *riskMonitor) Refresh(context.Context, int64) error { return nil }
func (m *riskMonitor) Nudge()                               {}
func (m *riskMonitor) UsedFrom(int64, string) bool          { return false }

// The risk pages: a held patient reads why on /me in their language and
// asks for a review (a short text is refused at its field, kept); the desk
// is refused the queue; security finds the account in the queue, reads its
// signals with their masked evidence, its cluster and the appeal, is told
// at the field that a reason is needed, and approves the cluster; the
// patient's page then shows the answer.
func TestRiskReviewPages(t *testing.T) {
	e := newEnv(t)
	const phone = "13900000055"
	pb := e.browser(t, e.public)
	pb.login(e, phone)
	acct := e.actorOf(t, phone).ID
	linked := e.actorOf(t, "13900000056").ID
	night := risk.Reason{Signal: risk.NightBindings, Weight: 36, Params: []any{0, 5, 3, 30}}
	device := risk.Reason{Signal: risk.SharedDevice, Weight: 40, Params: []any{12}, Evidence: []string{"device d3v1…"}}
	e.svc.Risk = &riskMonitor{account: acct, d: risk.Decision{Action: risk.Hold, Score: risk.Score{Account: acct, Total: 76, Reasons: []risk.Reason{device, night}}},
		links: []risk.Link{{Account: linked, Via: "device", Masked: "d3v1"}}}
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		for _, id := range []int64{acct, linked} {
			if err := tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: id, Action: "hold", Score: 76, Reasons: []string{device.String(), night.String()},
				Keys: []string{device.Key(), night.Key()}, Since: map[string]time.Time{"hold": e.clock()}, UpdatedAt: e.clock()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	_, me := pb.get("/me?lang=en")
	for _, want := range []string{`id="risk"`, "New draw entries from your account are held for review", "the account&#39;s device is used by 12 accounts",
		"identities bound between 0:00 and 5:00 on 3 nights in 30 days", `action="/me/risk-review"`} {
		if !strings.Contains(me, want) {
			t.Errorf("/me lacks %q\n%s", want, me)
		}
	}
	if strings.Contains(me, "d3v1") {
		t.Errorf("/me shows the evidence of a device shared with other accounts")
	}
	if _, zh := pb.get("/me?lang=zh-CN"); !strings.Contains(zh, "30 天内有 3 个夜晚在 0:00 至 5:00 之间绑定身份") || !strings.Contains(zh, "待审核") && !strings.Contains(zh, "等待审核") {
		t.Errorf("/me in zh-CN does not explain the hold\n%s", zh)
	}
	status, _, body := pb.post("/me/risk-review", url.Values{"text": {"too short"}})
	if status != http.StatusBadRequest || !strings.Contains(body, `id="text-error"`) || !strings.Contains(body, ">too short</textarea>") {
		t.Errorf("a short request: %d, want 400 with the error at the field and the text kept\n%s", status, body)
	}
	if status, loc, body := pb.post("/me/risk-review", url.Values{"text": {"these are my parents, I bind them at night after work"}}); status != 303 || loc != "/me?asked=1#risk" {
		t.Fatalf("the request: %d %s\n%s", status, loc, body)
	}
	if _, me = pb.get("/me?asked=1&lang=en"); !strings.Contains(me, "Your request for review was sent") || strings.Contains(me, `action="/me/risk-review"`) ||
		!strings.Contains(me, "waiting for an answer") {
		t.Errorf("/me after the request: want the confirmation, no second form\n%s", me)
	}

	staff := func(user string) *browser {
		b := e.browser(t, e.internal)
		b.get("/staff/login")
		b.post("/staff/login", url.Values{"username": {user}, "password": {demo.Password}})
		return b
	}
	desk := staff("desk")
	detail := fmt.Sprintf("/staff/risk/accounts/%d", acct)
	for _, path := range []string{"/staff/risk", detail} {
		if status, _ := desk.get(path); status != http.StatusForbidden {
			t.Errorf("the desk opens %s: %d, want 403", path, status)
		}
	}
	if status, _, _ := desk.post("/staff/risk/review", url.Values{"account": {fmt.Sprint(acct)}, "action": {"approve"}, "reason": {"ok"}, "back": {fmt.Sprint(acct)}}); status != http.StatusForbidden {
		t.Errorf("the desk decides: %d, want 403", status)
	}
	sec := staff("security")
	if status, q := sec.get("/staff/risk?lang=en"); status != 200 || !strings.Contains(q, `href="`+detail+`"`) {
		t.Errorf("the queue: %d, want a link to %s\n%s", status, detail, q)
	}
	status, page := sec.get(detail + "?lang=en")
	for _, want := range []string{"device d3v1…", fmt.Sprintf(`href="/staff/risk/accounts/%d"`, linked), "these are my parents",
		fmt.Sprintf(`name="account" value="%d" checked`, acct), fmt.Sprintf(`name="account" value="%d"`, linked), `<label for="reason">`} {
		if status != 200 || !strings.Contains(page, want) {
			t.Errorf("the account page lacks %q (%d)\n%s", want, status, page)
		}
	}
	if strings.Contains(page, phone) || strings.Contains(page, phone[7:]) {
		t.Errorf("the account page shows the account's phone")
	}
	form := url.Values{"account": {fmt.Sprint(acct), fmt.Sprint(linked)}, "action": {"approve"}, "back": {fmt.Sprint(acct)}}
	if status, _, _ := sec.post("/staff/risk/review", url.Values{"account": form["account"], "action": {"approve"}, "reason": {"family"}, "back": form["back"], "csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("a decision without the page's token: %d, want 403", status)
	}
	status, _, body = sec.post("/staff/risk/review", form)
	if status != http.StatusBadRequest || !strings.Contains(body, `id="reason-error"`) || !strings.Contains(body, fmt.Sprintf(`name="account" value="%d" checked`, linked)) {
		t.Errorf("a decision without a reason: %d, want 400 at the field with the cluster still ticked\n%s", status, body)
	}
	form.Set("reason", "one family; the desk saw their cards")
	if status, loc, body := sec.post("/staff/risk/review", form); status != 303 || loc != detail+"?done=2" {
		t.Fatalf("the decision: %d %s\n%s", status, loc, body)
	}
	_, page = sec.get(detail + "?done=2&lang=en")
	if !strings.Contains(page, "Decision recorded for 2 accounts.") || !strings.Contains(html.UnescapeString(page), "one family; the desk saw their cards") {
		t.Errorf("the account page after the decision\n%s", page)
	}
	if _, me = pb.get("/me?lang=en"); !strings.Contains(me, "Answered") {
		t.Errorf("/me after the decision does not show the answer\n%s", me)
	}
}
