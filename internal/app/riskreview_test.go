package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/rekey"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// fakeMonitor is the risk monitor as the review sees it: decisions and
// links set by the test, and the accounts it was asked to refresh.
type fakeMonitor struct {
	mu        sync.Mutex
	decisions map[int64]risk.Decision
	links     map[int64][]risk.Link
	used      map[int64]string // account → a device hash it was used from
	refreshed []int64
}

func newFakeMonitor() *fakeMonitor {
	return &fakeMonitor{decisions: map[int64]risk.Decision{}, links: map[int64][]risk.Link{}, used: map[int64]string{}}
}

func (m *fakeMonitor) Decision(id int64) risk.Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.decisions[id]
}

func (m *fakeMonitor) Linked(id int64) []risk.Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.links[id]
}

func (m *fakeMonitor) Nudge() {}

func (m *fakeMonitor) UsedFrom(id int64, device string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return device != "" && m.used[id] == device
}

func (m *fakeMonitor) Refresh(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshed = append(m.refreshed, id)
	return nil
}

// riskEnv is an env with a monitor, a security officer, an admin, and
// accounts the rules flagged.
type riskEnv struct {
	*env
	mon          *fakeMonitor
	sec, admin   app.Actor
	desk, doctor app.Actor
}

func newRiskEnv(t *testing.T) *riskEnv {
	t.Helper()
	e := &riskEnv{env: newEnv(t), mon: newFakeMonitor()}
	e.svc.Risk = e.mon
	e.addStaff(t, fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security}, fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin})
	e.sec, e.admin = e.staff(t, "sec"), e.staff(t, "boss")
	e.desk, e.doctor = e.staff(t, "desk"), e.staff(t, "doc")
	return e
}

// flag stores a decision for the account and gives the monitor the same
// decision, with reasons (their evidence masked as the rules mask it).
func (e *riskEnv) flag(t *testing.T, account int64, action risk.Action, reasons ...risk.Reason) {
	t.Helper()
	s := risk.Score{Account: account, Reasons: reasons}
	row := storage.RiskAccount{AccountID: account, Action: action.String(), Since: map[string]time.Time{}, UpdatedAt: e.clock.Now()}
	for _, r := range reasons {
		s.Total += r.Weight
		row.Reasons, row.Keys = append(row.Reasons, r.String()), append(row.Keys, r.Key())
	}
	row.Score = s.Total
	if action != risk.Allow {
		row.Since[action.String()] = e.clock.Now()
	}
	if err := e.svc.Store.Update(ctx, func(tx storage.Tx) error { return tx.PutRiskAccount(ctx, row) }); err != nil {
		t.Fatal(err)
	}
	e.mon.mu.Lock()
	e.mon.decisions[account] = risk.Decision{Action: action, Score: s}
	e.mon.mu.Unlock()
}

var (
	deviceReason = risk.Reason{Signal: risk.SharedDevice, Weight: 40, Params: []any{12}, Evidence: []string{"device d3v1…"}}
	nightReason  = risk.Reason{Signal: risk.NightBindings, Weight: 36, Params: []any{0, 5, 3, 30}}
)

func TestRiskReviewWhoMay(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13900000001")
	e.flag(t, p.ID, risk.Hold, deviceReason)
	review := app.ReviewInput{Accounts: []int64{p.ID}, Action: "approve", Reason: "the family's own phone"}
	for _, tt := range []struct {
		who  string
		a    app.Actor
		want fairslot.Kind
	}{
		{"anonymous", app.Actor{}, fairslot.Unauthorized},
		{"the patient", p, fairslot.Unauthorized},
		{"a registrar", e.desk, fairslot.Forbidden},
		{"a doctor", e.doctor, fairslot.Forbidden},
	} {
		_, err := e.svc.RiskQueue(ctx, tt.a, app.RiskQueueOptions{})
		wantKind(t, tt.who+" reads the queue", err, tt.want)
		_, err = e.svc.RiskAccountDetail(ctx, tt.a, p.ID)
		wantKind(t, tt.who+" reads an account", err, tt.want)
		_, err = e.svc.ReviewRisk(ctx, tt.a, review)
		wantKind(t, tt.who+" reviews", err, tt.want)
	}
	for _, a := range []app.Actor{e.sec, e.admin} {
		if _, err := e.svc.RiskQueue(ctx, a, app.RiskQueueOptions{}); err != nil {
			t.Errorf("%s reads the queue: %v", a.Role, err)
		}
	}
	if _, err := e.svc.ReviewRisk(ctx, e.admin, review); err != nil {
		t.Errorf("an admin reviews: %v", err)
	}
	if _, err := e.svc.ReviewRisk(ctx, e.sec, review); err != nil {
		t.Errorf("a security officer reviews: %v", err)
	}
}

func TestRiskReviewNeedsReasonActionAndFlaggedAccounts(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13900000001")
	e.flag(t, p.ID, risk.Hold, deviceReason)
	clean := e.login(t, "13900000002")
	for _, tt := range []struct {
		name string
		in   app.ReviewInput
		want fairslot.Kind
		key  string
	}{
		{"no reason", app.ReviewInput{Accounts: []int64{p.ID}, Action: "block"}, fairslot.Invalid, "error.risk.reason"},
		{"a blank reason", app.ReviewInput{Accounts: []int64{p.ID}, Action: "block", Reason: "   x  "}, fairslot.Invalid, "error.risk.reason"},
		{"a reason too long", app.ReviewInput{Accounts: []int64{p.ID}, Action: "block", Reason: strings.Repeat("扰", 501)}, fairslot.Invalid, "error.risk.reason"},
		{"an unknown action", app.ReviewInput{Accounts: []int64{p.ID}, Action: "hold", Reason: "scalper"}, fairslot.Invalid, "error.risk.action"},
		{"no accounts", app.ReviewInput{Action: "block", Reason: "scalper"}, fairslot.Invalid, "error.risk.accounts"},
		{"account 0", app.ReviewInput{Accounts: []int64{0, p.ID}, Action: "block", Reason: "scalper"}, fairslot.Invalid, "error.risk.accounts"},
		{"an account never flagged", app.ReviewInput{Accounts: []int64{p.ID, clean.ID}, Action: "block", Reason: "scalper"}, fairslot.NotFound, "error.risk.no_account"},
	} {
		_, err := e.svc.ReviewRisk(ctx, e.sec, tt.in)
		wantKind(t, tt.name, err, tt.want)
		if key, _ := fairslot.ErrorKey(err); key != tt.key {
			t.Errorf("%s: key %q, want %q", tt.name, key, tt.key)
		}
	}
	// Nothing of the refused decisions was kept: not even p's, which came
	// before the unflagged account in the same request.
	err := e.svc.Store.View(ctx, func(tx storage.Tx) error {
		_, ok, err := tx.LatestRiskReview(ctx, p.ID)
		if ok {
			t.Errorf("a refused decision left a review")
		}
		row, err2 := tx.RiskAccount(ctx, p.ID)
		if row.Action != "hold" || row.Reviewed {
			t.Errorf("a refused decision changed the account: %+v", row)
		}
		return cmpErr(err, err2)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// A bulk decision on a linked cluster: every account gets its review, its
// row, its audit record with the reason and its message; held entries of
// an approved account go back into an open draw, a closed one's stay out;
// the open appeal is answered; the monitor re-decides each.
func TestRiskReviewBulkApproveReleasesHolds(t *testing.T) {
	e := newRiskEnv(t)
	a := e.login(t, "13900000001")
	b := e.login(t, "13900000002")
	c := e.login(t, "13900000003")
	for _, id := range []int64{a.ID, b.ID, c.ID} {
		e.flag(t, id, risk.Hold, deviceReason)
	}
	e.mon.links[a.ID] = []risk.Link{{Account: b.ID, Via: "device", Masked: "d3v1"}, {Account: c.ID, Via: "device", Masked: "d3v1"}, {Account: b.ID, Via: "prefix", Masked: "10.0"}}
	if _, err := e.svc.AskRiskReview(ctx, a, "we are one family sharing a tablet"); err != nil {
		t.Fatal(err)
	}
	pa := e.bind(t, a, "张三", 1)
	pc := e.bind(t, c, "李四", 2)
	now := e.clock.Now()
	var open, closed int64
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.InsertRelease(ctx, fairslot.Release{SessionID: e.later.ID, Mode: fairslot.Draw, Opens: now.Add(-time.Hour),
			EntryCloses: now.Add(time.Hour), Commitment: make([]byte, 32)}, []byte("seed-sealed-not-read")); err != nil {
			return err
		}
		if err := tx.InsertRelease(ctx, fairslot.Release{SessionID: e.other.ID, Mode: fairslot.Draw, Opens: now.Add(-2 * time.Hour),
			EntryCloses: now.Add(-time.Hour), Commitment: make([]byte, 32)}, []byte("seed-sealed-not-read")); err != nil {
			return err
		}
		e1 := fairslot.Entry{SessionID: e.later.ID, PatientID: pa.ID, AccountID: a.ID, Hash: make([]byte, 32), CreatedAt: now.Add(-time.Minute), Held: true}
		e2 := fairslot.Entry{SessionID: e.other.ID, PatientID: pa.ID, AccountID: a.ID, Hash: []byte(strings.Repeat("x", 32)), CreatedAt: now.Add(-90 * time.Minute), Held: true}
		e3 := fairslot.Entry{SessionID: e.later.ID, PatientID: pc.ID, AccountID: c.ID, Hash: []byte(strings.Repeat("y", 32)), CreatedAt: now.Add(-time.Minute), Held: true}
		for _, en := range []*fairslot.Entry{&e1, &e2, &e3} {
			if err := tx.InsertEntry(ctx, en, "2026-12-10", 10); err != nil {
				return err
			}
		}
		open, closed = e1.ID, e2.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	detail, err := e.svc.RiskAccountDetail(ctx, e.sec, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(detail.Cluster, []int64{a.ID, b.ID, c.ID}) || len(detail.Linked) != 3 {
		t.Errorf("cluster %v, linked %+v; want a, b, c", detail.Cluster, detail.Linked)
	}
	res, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: detail.Cluster, Action: "approve", Reason: "  one family, one tablet  "})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]app.ReviewedAccount{
		a.ID: {AccountID: a.ID, Action: "allow", Was: "hold", Saw: 40, Released: 1, Answered: true},
		b.ID: {AccountID: b.ID, Action: "allow", Was: "hold", Saw: 40},
		c.ID: {AccountID: c.ID, Action: "allow", Was: "hold", Saw: 40, Released: 1},
	}
	if len(res.Accounts) != 3 {
		t.Fatalf("result %+v, want 3 accounts", res)
	}
	for _, got := range res.Accounts {
		if got != want[got.AccountID] {
			t.Errorf("account %d: %+v, want %+v", got.AccountID, got, want[got.AccountID])
		}
	}
	err = e.svc.Store.View(ctx, func(tx storage.Tx) error {
		for _, sess := range []int64{e.later.ID, e.other.ID} {
			es, err := tx.Entries(ctx, sess)
			if err != nil {
				return err
			}
			for _, en := range es {
				if wantHeld := en.ID == closed; en.Held != wantHeld {
					t.Errorf("entry %d (open window: %v) held = %v after approval", en.ID, en.ID == open, en.Held)
				}
			}
		}
		for _, id := range []int64{a.ID, b.ID, c.ID} {
			row, err := tx.RiskAccount(ctx, id)
			if err != nil {
				return err
			}
			if row.Action != "allow" || !row.Reviewed || row.Since["hold"].IsZero() {
				t.Errorf("account %d after approval: %+v", id, row)
			}
			r, ok, err := tx.LatestRiskReview(ctx, id)
			if err != nil || !ok || r.Action != "allow" || r.Reason != "one family, one tablet" || r.StaffID != e.sec.ID || r.Saw != 40 {
				t.Errorf("account %d review = %+v, %v, %v", id, r, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	audits := auditOf(t, e.env, "risk.review")
	if len(audits) != 3 {
		t.Fatalf("%d risk.review audit records, want 3", len(audits))
	}
	for _, ev := range audits {
		if ev.Detail["reason"] != "one family, one tablet" || ev.Detail["action"] != "allow" || ev.Detail["cluster"] != "3" || ev.Actor != fmt.Sprintf("staff:%d", e.sec.ID) {
			t.Errorf("audit %+v", ev)
		}
	}
	slices.Sort(e.mon.refreshed)
	if !slices.Equal(e.mon.refreshed, []int64{a.ID, b.ID, c.ID}) {
		t.Errorf("refreshed %v, want the cluster", e.mon.refreshed)
	}
	mine, err := e.svc.MyRisk(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.Appeals) != 1 || mine.Appeals[0].Status != "answered" || mine.Appeals[0].Outcome != "allow" {
		t.Errorf("a's appeals after approval: %+v", mine.Appeals)
	}
}

// auditOf lists the audit records of an action.
func auditOf(t *testing.T, e *env, action string) []storageAudit {
	t.Helper()
	var out []storageAudit
	err := e.svc.Store.View(ctx, func(tx storage.Tx) error {
		evs, err := tx.AuditEvents(ctx, 0, 10000)
		for _, ev := range evs {
			if ev.Action == action {
				out = append(out, storageAudit{Actor: ev.Actor, Subject: ev.Subject, Detail: ev.Detail})
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type storageAudit struct {
	Actor, Subject string
	Detail         map[string]string
}

// The patient is told a reviewer's decision, in the account's language,
// without the reviewer's reason.
func TestRiskReviewTellsThePatient(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13900000001")
	e.flag(t, p.ID, risk.Hold, deviceReason)
	if err := e.svc.SetLanguage(ctx, p, "vi"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{p.ID}, Action: "block", Reason: "a farm of accounts"}); err != nil {
		t.Fatal(err)
	}
	bodies, texts := e.outboxed(t, notify.KeyRiskBlocked)
	if len(bodies) != 1 || bodies[0].Lang != "vi" || !strings.Contains(texts[0], "xét duyệt") {
		t.Fatalf("blocked messages %+v %q, want one in Vietnamese", bodies, texts)
	}
	if strings.Contains(texts[0], "farm") {
		t.Errorf("the reviewer's reason reached the patient: %q", texts[0])
	}
	if _, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{p.ID}, Action: "approve", Reason: "the desk checked the ID cards"}); err != nil {
		t.Fatal(err)
	}
	if bodies, _ := e.outboxed(t, notify.KeyRiskApproved); len(bodies) != 1 {
		t.Errorf("approved messages %+v, want one", bodies)
	}
}

func TestMyRiskExplainsOnlyTheOwnAccount(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13900000001")
	other := e.login(t, "13900000002")
	e.flag(t, p.ID, risk.Hold, deviceReason, nightReason)
	e.flag(t, other.ID, risk.Block, risk.Reason{Signal: risk.SharedPayer, Weight: 25, Params: []any{9}, Evidence: []string{"payer pay9…"}})
	e.mon.links[p.ID] = []risk.Link{{Account: other.ID, Via: "device", Masked: "d3v1"}}

	v, err := e.svc.MyRisk(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != "hold" || v.Key != "risk.action.hold" || len(v.Signals) != 2 || v.Signals[0].Key != "risk.signal.shared_device" ||
		!slices.Equal(v.Signals[0].Args, []any{12}) || !v.CanAppeal {
		t.Errorf("MyRisk = %+v", v)
	}
	raw, _ := json.Marshal(v)
	for _, leak := range []string{"d3v1", "pay9", "shared_payer", fmt.Sprint(other.ID) + ",", "evidence", `"weight"`} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("MyRisk shows %q: %s", leak, raw)
		}
	}
	// The next door: a patient has no way to name another account — every
	// staff use case refuses an account token, whatever id it asks for.
	if _, err := e.svc.RiskAccountDetail(ctx, p, other.ID); fairslot.ErrorKind(err) != fairslot.Unauthorized {
		t.Errorf("a patient reads another account's detail: %v", err)
	}
	if _, err := e.svc.ReviewRisk(ctx, p, app.ReviewInput{Accounts: []int64{p.ID}, Action: "approve", Reason: "it is me"}); fairslot.ErrorKind(err) != fairslot.Unauthorized {
		t.Errorf("a patient approves their own account: %v", err)
	}
	// An account the rules never flagged reads "allow" and cannot appeal.
	clean := e.login(t, "13900000003")
	v, err = e.svc.MyRisk(ctx, clean)
	if err != nil || v.Action != "allow" || v.CanAppeal || v.Why != "error.risk.appeal.nothing" || len(v.Signals) != 0 {
		t.Errorf("a clean account's MyRisk = %+v, %v", v, err)
	}
}

// A security officer reviews behaviour, not people: the detail of an
// account carries none of its patients' names, ID numbers or phones, nor
// the account's phone, in any form, masked or not.
func TestRiskDetailHoldsNoPersonalData(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13912345678")
	pt := e.bind(t, p, "王小明", 7)
	e.flag(t, p.ID, risk.Hold, deviceReason, nightReason)
	if _, err := e.svc.AskRiskReview(ctx, p, "please look again, this is my family"); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.RiskAccountDetail(ctx, e.sec, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(v)
	for _, pd := range []string{"王", "小明", residentID(7), residentID(7)[14:], "13912345678", "5678", "1391", "13800000000", pt.Name} {
		if strings.Contains(string(raw), pd) {
			t.Errorf("the risk detail holds %q: %s", pd, raw)
		}
	}
	if len(v.Signals) != 2 || v.Signals[0].Evidence[0] != "device d3v1…" || len(v.Appeals) != 1 || v.Appeals[0].Text != "please look again, this is my family" {
		t.Errorf("detail = %s", raw)
	}
	// Opening it is recorded.
	if got := auditOf(t, e.env, "risk.view"); len(got) != 1 || got[0].Subject != fmt.Sprintf("account:%d", p.ID) {
		t.Errorf("risk.view audit = %+v", got)
	}
	// The security role still may not reveal a patient's data.
	if _, err := e.svc.Reveal(ctx, e.sec, app.RevealInput{PatientID: pt.ID, Field: access.FieldPhone, Reason: access.ReasonOther, Note: "risk review"}); fairslot.ErrorKind(err) != fairslot.Forbidden {
		t.Errorf("security reveals a patient's phone: %v", err)
	}
	// An account that was never flagged and never appealed has no detail.
	clean := e.login(t, "13900000009")
	if _, err := e.svc.RiskAccountDetail(ctx, e.sec, clean.ID); fairslot.ErrorKind(err) != fairslot.NotFound {
		t.Errorf("detail of an unflagged account: %v", err)
	}
}

func TestAskRiskReviewLimits(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13900000001")
	e.flag(t, p.ID, risk.Block, deviceReason)
	ask := func(text string) error { _, err := e.svc.AskRiskReview(ctx, p, text); return err }
	for _, tt := range []struct {
		text string
		key  string
	}{
		{"", "error.risk.appeal.length"},
		{"too short", "error.risk.appeal.length"},
		{strings.Repeat("长", 1001), "error.risk.appeal.length"},
	} {
		if key, _ := fairslot.ErrorKey(ask(tt.text)); key != tt.key {
			t.Errorf("appeal %.20q: key %q, want %q", tt.text, key, tt.key)
		}
	}
	if err := ask(strings.Repeat("长", 1000)); err != nil {
		t.Fatalf("an appeal of 1000 characters: %v", err)
	}
	err := ask("and once more while the first waits")
	if key, _ := fairslot.ErrorKey(err); key != "error.risk.appeal.open" || fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Errorf("a second open appeal: %v (%s)", err, key)
	}
	// Answered, the account may ask again, up to 3 times in 30 days.
	for i := range 2 {
		e.clock.Add(time.Hour)
		if _, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{p.ID}, Action: "block", Reason: "still a farm"}); err != nil {
			t.Fatal(err)
		}
		if err := ask(fmt.Sprintf("appeal number %d, please", i+2)); err != nil {
			t.Fatalf("appeal %d after an answer: %v", i+2, err)
		}
	}
	if _, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{p.ID}, Action: "block", Reason: "still a farm"}); err != nil {
		t.Fatal(err)
	}
	err = ask("a fourth appeal this month")
	if key, _ := fairslot.ErrorKey(err); key != "error.risk.appeal.limited" || fairslot.ErrorKind(err) != fairslot.Limited {
		t.Errorf("a fourth appeal in 30 days: %v (%s)", err, key)
	}
	v, err := e.svc.MyRisk(ctx, p)
	if err != nil || v.CanAppeal || v.Why != "error.risk.appeal.limited" {
		t.Errorf("MyRisk after 3 appeals = %+v, %v", v, err)
	}
	e.clock.Add(31 * 24 * time.Hour)
	if err := ask("a month later, once more"); err != nil {
		t.Errorf("an appeal a month later: %v", err)
	}
	// Staff cannot appeal for an account, and the text is sealed.
	if _, err := e.svc.AskRiskReview(ctx, e.sec, "on the patient's behalf"); fairslot.ErrorKind(err) != fairslot.Unauthorized {
		t.Errorf("staff appeals: %v", err)
	}
	if got := auditOf(t, e.env, "risk.appeal"); len(got) != 4 || got[0].Detail["text"] != "sealed" {
		t.Errorf("risk.appeal audit = %+v", got)
	}
}

// The queue lists held and blocked accounts and those that asked for
// review, worst first; milder ones only when asked.
func TestRiskQueueOrder(t *testing.T) {
	e := newRiskEnv(t)
	var acc []app.Actor
	for i := range 5 {
		acc = append(acc, e.login(t, fmt.Sprintf("1390000001%d", i)))
	}
	e.flag(t, acc[0].ID, risk.Challenge, risk.Reason{Signal: risk.SharedPrefix, Weight: 20, Params: []any{40}})
	e.flag(t, acc[1].ID, risk.Hold, deviceReason)
	e.flag(t, acc[2].ID, risk.Block, deviceReason)
	e.flag(t, acc[3].ID, risk.Hold, deviceReason, nightReason)
	e.flag(t, acc[4].ID, risk.Limit, nightReason)
	if _, err := e.svc.AskRiskReview(ctx, acc[4], "I bind my parents at night after work"); err != nil {
		t.Fatal(err)
	}
	ids := func(items []app.RiskQueueItem) []int64 {
		var out []int64
		for _, it := range items {
			out = append(out, it.AccountID)
		}
		return out
	}
	q, err := e.svc.RiskQueue(ctx, e.sec, app.RiskQueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{acc[2].ID, acc[3].ID, acc[1].ID, acc[4].ID}; !slices.Equal(ids(q), want) {
		t.Errorf("queue %v, want %v (block, hold by score, then the appeal)", ids(q), want)
	}
	if q[3].Appeal.IsZero() || q[0].Top.Key != "risk.signal.shared_device" || q[0].Top.Evidence != nil {
		t.Errorf("queue items %+v", q)
	}
	q, err = e.svc.RiskQueue(ctx, e.sec, app.RiskQueueOptions{Milder: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{acc[2].ID, acc[3].ID, acc[1].ID, acc[4].ID, acc[0].ID}; !slices.Equal(ids(q), want) {
		t.Errorf("queue with milder %v, want %v", ids(q), want)
	}
}

// An appeal's sealed text is re-sealed by the key rotation like every
// other sealed column: after the rotation, the job and the prune of the
// old keys, the reviewer still reads it.
func TestRiskAppealSurvivesKeyRotation(t *testing.T) {
	e := newRiskEnv(t)
	p := e.login(t, "13900000001")
	e.flag(t, p.ID, risk.Hold, deviceReason)
	const text = "my mother, my father and my son"
	if _, err := e.svc.AskRiskReview(ctx, p, text); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "keyset.json")
	if _, err := vault.Rotate(path, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if changed, err := e.svc.Vault.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	job := rekey.Job{Store: e.svc.Store, Vault: e.svc.Vault}
	for {
		r, err := job.Run(ctx)
		if err != nil || r.Failed > 0 {
			t.Fatalf("rekey: %+v, %v", r, err)
		}
		if r.Changed == 0 {
			break
		}
	}
	s, err := job.Check(ctx)
	if err != nil || s.StaleTotal() != 0 {
		t.Fatalf("after the job: %+v, %v", s, err)
	}
	checked, _ := vault.ReadStatus(path)
	if _, err := vault.Prune(path, checked, vault.Sealing, vault.Index); err != nil {
		t.Fatal(err)
	}
	e.svc.Vault.Reload()
	v, err := e.svc.RiskAccountDetail(ctx, e.sec, p.ID)
	if err != nil || len(v.Appeals) != 1 || v.Appeals[0].Text != text {
		t.Errorf("the appeal after the rotation: %+v, %v", v.Appeals, err)
	}
}

// TestRetentionPurgeErasesAnsweredAppeals: past the retention period the
// text of an answered request for review is erased in the database (the
// request, its times and its answer stay); a waiting one is kept; the
// reviewer and the patient see it erased, not an error; on PostgreSQL the
// online role cannot erase it.
func TestRetentionPurgeErasesAnsweredAppeals(t *testing.T) {
	forBackends(t, func(t *testing.T, e *rightsEnv) {
		e.svc.Privacy.Retention = privacy.MinRetention
		e.addStaff(t, fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security})
		sec := e.staff(t, "sec")
		flag := func(id int64) {
			t.Helper()
			if err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
				return tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: id, Action: "hold", Score: 60, Since: map[string]time.Time{"hold": e.clock.Now()}, UpdatedAt: e.clock.Now()})
			}); err != nil {
				t.Fatal(err)
			}
		}
		old, waiting := e.login(t, "13900000011"), e.login(t, "13900000012")
		flag(old.ID)
		flag(waiting.ID)
		if _, err := e.svc.AskRiskReview(ctx, old, "my family of five, long ago"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ReviewRisk(ctx, sec, app.ReviewInput{Accounts: []int64{old.ID}, Action: "approve", Reason: "family"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(privacy.MinRetention + 24*time.Hour)
		if _, err := e.svc.AskRiskReview(ctx, waiting, "still waiting for an answer"); err != nil {
			t.Fatal(err)
		}
		sealed := func(id int64) int64 {
			return e.raw(t, `SELECT coalesce(sum(length(text_sealed)), -1) FROM risk_appeals WHERE account_id = ?`, id)
		}
		if e.online != nil {
			if err := e.online(`SELECT fairslot.purge_risk_appeals($1)`, e.clock.Now().UnixMilli()); err == nil {
				t.Error("the online role may erase appeals")
			}
		}
		rep, err := e.svc.Purge(ctx, e.purger, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Appeals != 1 || sealed(old.ID) != 0 || sealed(waiting.ID) <= 0 {
			t.Errorf("purge erased %d appeals; sealed bytes left: answered %d, waiting %d", rep.Appeals, sealed(old.ID), sealed(waiting.ID))
		}
		v, err := e.svc.RiskAccountDetail(ctx, sec, old.ID)
		if err != nil || len(v.Appeals) != 1 || !v.Appeals[0].Erased || v.Appeals[0].Text != "" || v.Appeals[0].Outcome != "allow" {
			t.Errorf("the purged appeal for the reviewer: %+v, %v", v.Appeals, err)
		}
		if mine, err := e.svc.MyRisk(ctx, old); err != nil || len(mine.Appeals) != 1 || !mine.Appeals[0].Erased {
			t.Errorf("the purged appeal for the patient: %+v, %v", mine, err)
		}
		if again, err := e.svc.Purge(ctx, e.purger, false); err != nil || again.Appeals != 0 {
			t.Errorf("a second pass erased %d appeals, %v", again.Appeals, err)
		}
	})
}

// TestRiskReviewBulkOnlyOnALinkedCluster: a dishonest reviewer's bulk
// approve of held accounts that share nothing — one click, one reason for a
// hundred unrelated scalper accounts — is refused, and nothing of it kept:
// a decision on several accounts takes the linked cluster of one of them,
// as the account's page offers it; unrelated accounts are decided one by
// one, each with its own reason on the record.
func TestRiskReviewBulkOnlyOnALinkedCluster(t *testing.T) {
	e := newRiskEnv(t)
	a := e.login(t, "13900000001")
	b := e.login(t, "13900000002")
	c := e.login(t, "13900000003")
	for _, id := range []int64{a.ID, b.ID, c.ID} {
		e.flag(t, id, risk.Hold, deviceReason)
	}
	e.mon.links[a.ID] = []risk.Link{{Account: b.ID, Via: "device", Masked: "d3v1"}}
	e.mon.links[b.ID] = []risk.Link{{Account: a.ID, Via: "device", Masked: "d3v1"}}
	_, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{a.ID, b.ID, c.ID}, Action: "approve", Reason: "fine"})
	wantKind(t, "a bulk decision taking an unlinked account", err, fairslot.Invalid)
	if key, _ := fairslot.ErrorKey(err); key != "error.risk.cluster" {
		t.Errorf("key %q, want error.risk.cluster", key)
	}
	for _, id := range []int64{a.ID, b.ID, c.ID} {
		if r, _ := e.svc.RiskAccountDetail(ctx, e.sec, id); r.Action != "hold" || len(r.Reviews) != 0 {
			t.Errorf("the refused bulk decision changed account %d: %s, %d reviews", id, r.Action, len(r.Reviews))
		}
	}
	delete(e.mon.links, b.ID) // the cluster is one account's: b need not list a
	res, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{b.ID, a.ID}, Action: "block", Reason: "one farm"})
	if err != nil || len(res.Accounts) != 2 {
		t.Fatalf("a decision on a linked cluster: %+v, %v", res, err)
	}
	if _, err := e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{c.ID}, Action: "approve", Reason: "checked alone"}); err != nil {
		t.Errorf("one account alone: %v", err)
	}
	e.svc.Risk = nil // no monitor: no links known, so no bulk decision
	_, err = e.svc.ReviewRisk(ctx, e.sec, app.ReviewInput{Accounts: []int64{a.ID, b.ID}, Action: "approve", Reason: "fine"})
	wantKind(t, "a bulk decision with no monitor", err, fairslot.Invalid)
}

// TestRiskReviewNotFromTheAccountsOwnDevice: staff have no patient
// accounts of their own in fairslot, but a reviewer may well have one, on
// their own phone — and a dishonest one would approve it, or a friend's
// farm logged in on it. A decision on an account the monitor saw used from
// the device the reviewer decides from is refused (alone or in a cluster),
// and nothing of it kept: another reviewer decides it.
func TestRiskReviewNotFromTheAccountsOwnDevice(t *testing.T) {
	e := newRiskEnv(t)
	mine := e.login(t, "13900000001")
	other := e.login(t, "13900000002")
	for _, id := range []int64{mine.ID, other.ID} {
		e.flag(t, id, risk.Hold, deviceReason)
	}
	e.mon.links[other.ID] = []risk.Link{{Account: mine.ID, Via: "device", Masked: "d3v1"}}
	sec := e.sec
	sec.Device = "reviewers-own-phone"
	e.mon.used[mine.ID] = e.svc.ClientHash("device", "reviewers-own-phone")
	for _, ids := range [][]int64{{mine.ID}, {other.ID, mine.ID}} {
		_, err := e.svc.ReviewRisk(ctx, sec, app.ReviewInput{Accounts: ids, Action: "approve", Reason: "mine, fine"})
		wantKind(t, fmt.Sprintf("approving %v from the account's own device", ids), err, fairslot.Forbidden)
		if key, _ := fairslot.ErrorKey(err); key != "error.risk.own_device" {
			t.Errorf("key %q, want error.risk.own_device", key)
		}
	}
	if d, _ := e.svc.RiskAccountDetail(ctx, e.sec, mine.ID); len(d.Reviews) != 0 {
		t.Errorf("a refused decision left %d reviews", len(d.Reviews))
	}
	if _, err := e.svc.ReviewRisk(ctx, sec, app.ReviewInput{Accounts: []int64{other.ID}, Action: "block", Reason: "a farm"}); err != nil {
		t.Errorf("another account from the same device: %v", err)
	}
	if _, err := e.svc.ReviewRisk(ctx, e.admin, app.ReviewInput{Accounts: []int64{mine.ID}, Action: "approve", Reason: "checked by another"}); err != nil {
		t.Errorf("another reviewer on another device: %v", err)
	}
}
