package staff

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/e2e"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// TestBrowserRiskReview: a patient's account held for review (written
// into the server's database as the risk monitor would) reads why on /me
// in Vietnamese and asks for a review; a security officer finds the
// account in the queue, opens it (its signals, its appeal), approves with
// a reason, and the patient's page shows the answer and the lifted hold,
// and the patient is told by message. Then, in each language, the security
// officer's pages with their refused and recorded decisions are checked
// with axe-core and for untranslated text.
func TestBrowserRiskReview(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	dir := t.TempDir()
	s := e2e.StartServer(t, e2e.Binary(t), dir, nil)
	b := newRun(t, s)
	const phone = "13900000301"
	patient := b.PatientPhone(t, browser, "vi", phone, "阮文安", e2e.ResidentID(971))

	account := flagHeld(t, dir, phone)
	e2e.Do(t, patient, "vi: /me shows the hold", chromedp.Navigate(s.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("#risk #risk-text")))
	if got := e2e.Value(t, patient, "risk section", chromedp.Text(chromedp.CSS("#risk"))); !strings.Contains(got, b.Cat["vi"]["risk.action.hold"]) {
		t.Errorf("vi: the risk section reads %q, want the hold explained", got)
	}
	b.Page(t, patient, "vi", "me-risk-held", true)
	e2e.Do(t, patient, "vi: ask for a review", chromedp.SendKeys(chromedp.CSS("#risk-text"), "Đây là bố mẹ tôi, tôi thêm họ vào ban đêm sau giờ làm"),
		e2e.Click(`form[action="/me/risk-review"] button`, "#risk .done"))

	sec := e2e.Tab(t, browser, 1280, 900, false)
	b.StaffLogin(t, sec, "en", "security")
	detail := fmt.Sprintf("/staff/risk/accounts/%d", account)
	e2e.Do(t, sec, "the console links to the queue", e2e.Click(`a[href="/staff/risk"]`, "body.page-riskqueue #risk-queue"))
	b.Page(t, sec, "en", "risk-queue", false)
	e2e.Do(t, sec, "open the account", e2e.Click(`#risk-queue a[href="`+detail+`"]`, "body.page-riskaccount #risk-decide"))
	if got := e2e.Value(t, sec, "signals", chromedp.Text(chromedp.CSS("#risk-signals"))); !strings.Contains(got, "its device is behind 12 accounts") {
		t.Errorf("the account's signals read %q, want the stored reason", got)
	}
	if got := e2e.Value(t, sec, "appeals", chromedp.Text(chromedp.CSS("#risk-appeals"))); !strings.Contains(got, "bố mẹ tôi") {
		t.Errorf("the account's appeals read %q", got)
	}
	b.Page(t, sec, "en", "risk-account", false)
	e2e.Do(t, sec, "approve with a reason", chromedp.Click(chromedp.CSS(`input[name="action"][value="approve"]`)),
		chromedp.SendKeys(chromedp.CSS("#reason"), "Family of four; the desk saw the ID cards"),
		e2e.Click(`#risk-decide button`, "body.page-riskaccount .done"))
	if got := e2e.Value(t, sec, "history", chromedp.Text(chromedp.CSS("#risk-history"))); !strings.Contains(got, "the desk saw the ID cards") {
		t.Errorf("the decisions read %q", got)
	}
	if got := e2e.Value(t, sec, "action", chromedp.Text(chromedp.CSS("#risk-action"))); !strings.Contains(got, b.Cat["en"]["risk.review.act.allow"]) {
		t.Errorf("the account's action after approval reads %q", got)
	}
	b.Page(t, sec, "en", "risk-account-decided", false)

	e2e.Do(t, patient, "vi: /me after the answer", chromedp.Navigate(s.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("#risk")))
	got := e2e.Value(t, patient, "risk section", chromedp.Text(chromedp.CSS("#risk")))
	if !strings.Contains(got, b.Cat["vi"]["risk.review.status.answered"]) || !strings.Contains(got, b.Cat["vi"]["risk.action.allow"]) {
		t.Errorf("vi: after the approval the risk section reads %q", got)
	}
	if msg := b.S.Message(t, phone, "fairslot: người xét duyệt", "vi: the approval message"); !strings.Contains(msg, "gỡ bỏ") {
		t.Errorf("vi: the approval message reads %q", msg)
	}

	// The security officer's pages in every language (issue 14: axe-core
	// on every staff page): the queue and its milder view, the account, a
	// decision refused (no choice; the browser's own check off, the
	// server's shown) and one recorded, the security page, the staff
	// accounts as security reads them (unlock only) and the console.
	for _, lang := range []string{"en", "vi", "zh-CN"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			ctx := sec
			if lang != "en" {
				ctx = e2e.Tab(t, browser, 1280, 900, false)
				b.StaffLogin(t, ctx, lang, "security")
			}
			for _, p := range []struct{ path, class, name string }{
				{"/staff/risk", "riskqueue", "risk-queue"}, {"/staff/risk?milder=1", "riskqueue", "risk-queue-milder"},
				{detail, "riskaccount", "risk-account"}, {"/staff/security", "security", "security"},
				{"/staff/accounts", "staffaccounts", "security-staffaccounts"}, {"/staff", "console", "security-console"},
			} {
				e2e.Do(t, ctx, p.name, chromedp.Navigate(s.URL+p.path), chromedp.WaitVisible(chromedp.CSS("body.page-"+p.class)))
				b.Page(t, ctx, lang, p.name, false)
			}
			decide := func(what, want string, steps ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				e2e.Do(t, ctx, what, append(steps, e2e.Click(`#risk-decide button`, want+", body.page-error"))...)
				if e2e.Value(t, ctx, "an error page", chromedp.Evaluate[bool](`!!document.querySelector("body.page-error")`)) {
					t.Fatalf("%s: an error page:\n%s", what, e2e.Value(t, ctx, "its text", chromedp.Text(chromedp.CSS("main"))))
				}
			}
			decide("a decision without a choice", `body.page-riskaccount [aria-invalid="true"], body.page-riskaccount .form-error`,
				chromedp.Navigate(s.URL+detail), chromedp.WaitVisible(chromedp.CSS("#risk-decide")),
				chromedp.Evaluate[chromedp.Void](`document.querySelector("#risk-decide").noValidate = true`),
				chromedp.SendKeys(chromedp.CSS("#reason"), "Checked again: "+lang))
			b.Page(t, ctx, lang, "risk-account-refused", false)
			if lang == "en" {
				return // decided above
			}
			decide("approve again", "body.page-riskaccount .done", chromedp.Click(chromedp.CSS(`input[name="action"][value="approve"]`)))
			b.Page(t, ctx, lang, "risk-account-decided", false)
		})
	}
}

// flagHeld writes a hold with one signal for phone's account into the
// server's database, as the risk monitor would, and returns the account.
func flagHeld(t *testing.T, dir, phone string) int64 {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(dir, "data"), sqlite.Options{BusyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := vault.Open(filepath.Join(dir, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &app.Service{Store: st, Vault: v, Now: time.Now, Location: e2e.Hospital(t), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, err := svc.OpenAccount(ctx, app.System, phone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = st.Update(ctx, func(tx storage.Tx) error {
		return tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: a.ID, Action: "hold", Score: 65,
			Reasons: []string{"its device is behind 12 accounts (+40)", "identities bound between 0:00 and 5:00 on 3 nights in 30 days (+25)"},
			Keys:    []string{"risk.signal.shared_device", "risk.signal.night_bindings"},
			Since:   map[string]time.Time{"challenge": now, "limit": now, "hold": now}, UpdatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}
