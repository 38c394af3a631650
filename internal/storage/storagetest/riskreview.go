package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testRiskReviews: reviews are appended and the latest is the account's
// (none before the first); an account has one open appeal at a time, which
// a review of that account answers once, and a review of another account
// never; reviews and appeals refuse what their CHECKs refuse. On
// PostgreSQL this runs as the online role, which answers through
// answer_risk_appeal.
func testRiskReviews(t *testing.T, s storage.Store) {
	a, b := newAccount(t, s), newAccount(t, s)
	st := fairslot.Staff{Username: "sec1", Name: "Sec", Role: fairslot.Security}
	update(t, s, func(tx storage.Tx) error { return tx.CreateStaff(ctx, &st, "h") })

	latest := func(account int64) (storage.RiskReview, bool) {
		t.Helper()
		var r storage.RiskReview
		var ok bool
		if err := s.View(ctx, func(tx storage.Tx) (err error) { r, ok, err = tx.LatestRiskReview(ctx, account); return err }); err != nil {
			t.Fatal(err)
		}
		return r, ok
	}
	if _, ok := latest(a.ID); ok {
		t.Errorf("LatestRiskReview before any review: found one")
	}
	r1 := storage.RiskReview{AccountID: a.ID, Action: "block", Saw: 75, Reason: "a farm of 30 accounts", StaffID: st.ID, At: base}
	r2 := storage.RiskReview{AccountID: a.ID, Action: "allow", Saw: 80, Reason: "the family's own phone", StaffID: st.ID, At: base.Add(time.Hour)}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.AppendRiskReview(ctx, &r1); err != nil {
			return err
		}
		return tx.AppendRiskReview(ctx, &r2)
	})
	if r1.ID == 0 || r2.ID <= r1.ID {
		t.Errorf("review ids %d, %d: want increasing", r1.ID, r2.ID)
	}
	if got, ok := latest(a.ID); !ok || got != r2 {
		t.Errorf("LatestRiskReview = %+v, %v; want %+v", got, ok, r2)
	}
	if _, ok := latest(b.ID); ok {
		t.Errorf("another account's LatestRiskReview: found one")
	}
	var list []storage.RiskReview
	if err := s.View(ctx, func(tx storage.Tx) (err error) { list, err = tx.RiskReviewsOf(ctx, a.ID, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0] != r2 || list[1] != r1 {
		t.Errorf("RiskReviewsOf = %+v, want r2 then r1", list)
	}
	for _, bad := range []storage.RiskReview{
		{AccountID: a.ID, Action: "hold", Saw: 1, Reason: "not a reviewer's action", StaffID: st.ID, At: base},
		{AccountID: a.ID, Action: "allow", Saw: -1, Reason: "a negative score", StaffID: st.ID, At: base},
		{AccountID: a.ID, Action: "allow", Saw: 1, Reason: " ", StaffID: st.ID, At: base},
		{AccountID: a.ID, Action: "allow", Saw: 1, Reason: "no such staff", StaffID: st.ID + 99, At: base},
	} {
		if err := s.Update(ctx, func(tx storage.Tx) error { return tx.AppendRiskReview(ctx, &bad) }); err == nil {
			t.Errorf("AppendRiskReview(%+v) stored", bad)
		}
	}

	appeal := func(account int64, at time.Time) (storage.RiskAppeal, error) {
		ap := storage.RiskAppeal{Ref: fmt.Sprintf("%x", random(8)), AccountID: account, TextSealed: random(40), CreatedAt: at}
		err := s.Update(ctx, func(tx storage.Tx) error { return tx.InsertRiskAppeal(ctx, &ap) })
		return ap, err
	}
	ap1, err := appeal(a.ID, base.Add(2*time.Hour))
	if err != nil || ap1.ID == 0 || ap1.Status != storage.RiskAppealOpen {
		t.Fatalf("first appeal = %+v, %v", ap1, err)
	}
	_, err = appeal(a.ID, base.Add(3*time.Hour))
	wantKind(t, "a second open appeal", err, fairslot.Conflict)
	apB, err := appeal(b.ID, base.Add(3*time.Hour))
	if err != nil {
		t.Fatalf("another account's appeal: %v", err)
	}
	var open []storage.RiskAppeal
	if err := s.View(ctx, func(tx storage.Tx) (err error) { open, err = tx.OpenRiskAppeals(ctx, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(open) != 2 || open[0].ID != ap1.ID || open[1].ID != apB.ID || !bytes.Equal(open[0].TextSealed, ap1.TextSealed) ||
		!open[0].CreatedAt.Equal(ap1.CreatedAt) || open[0].Ref != ap1.Ref {
		t.Errorf("OpenRiskAppeals = %+v, want a's then b's", open)
	}

	answer := func(account, review int64) bool {
		t.Helper()
		var ok bool
		update(t, s, func(tx storage.Tx) (err error) {
			ok, err = tx.AnswerRiskAppeal(ctx, account, review, base.Add(4*time.Hour))
			return err
		})
		return ok
	}
	if answer(b.ID, r2.ID) {
		t.Errorf("b's appeal answered by a review of a")
	}
	if !answer(a.ID, r2.ID) {
		t.Errorf("a's appeal not answered by a's review")
	}
	if answer(a.ID, r2.ID) {
		t.Errorf("a's appeal answered twice")
	}
	var mine []storage.RiskAppeal
	if err := s.View(ctx, func(tx storage.Tx) (err error) { mine, err = tx.RiskAppealsOf(ctx, a.ID, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].Status != storage.RiskAppealAnswered || mine[0].ReviewID != r2.ID || !mine[0].AnsweredAt.Equal(base.Add(4*time.Hour)) {
		t.Errorf("a's appeals after the answer = %+v", mine)
	}
	// Answered, a may appeal again.
	if ap2, err := appeal(a.ID, base.Add(5*time.Hour)); err != nil || ap2.ID <= ap1.ID {
		t.Errorf("an appeal after the answer = %+v, %v", ap2, err)
	}
	if err := s.View(ctx, func(tx storage.Tx) (err error) { mine, err = tx.RiskAppealsOf(ctx, a.ID, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(mine) != 2 || mine[0].Status != storage.RiskAppealOpen || mine[1].ID != ap1.ID {
		t.Errorf("a's appeals, newest first = %+v", mine)
	}
}

// testRiskDecisionsFollowReviews: the attack of a session of the online
// role (or a bug) unblocking an account, or releasing its held entries,
// with no reviewer's decision on the append-only record. A decision stored
// as reviewed must be the account's latest review's action; one stored by
// the score must not be milder than it (the policy never is:
// risk.Policy.Decide); held entries are released only while the latest
// review approves. On PostgreSQL this runs as the online role.
func testRiskDecisionsFollowReviews(t *testing.T, s storage.Store) {
	acct := newAccount(t, s).ID
	st := fairslot.Staff{Username: "sec2", Name: "Sec", Role: fairslot.Security}
	update(t, s, func(tx storage.Tx) error { return tx.CreateStaff(ctx, &st, "h") })
	put := func(action string, reviewed bool) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: acct, Action: action, Score: 70, Reviewed: reviewed,
				Since: map[string]time.Time{}, UpdatedAt: base, Reasons: []string{}, Keys: []string{}})
		})
	}
	review := func(action string) {
		t.Helper()
		update(t, s, func(tx storage.Tx) error {
			return tx.AppendRiskReview(ctx, &storage.RiskReview{AccountID: acct, Action: action, Saw: 70, Reason: "checked", StaffID: st.ID, At: base})
		})
	}
	must := func(what string, err error, ok bool) {
		t.Helper()
		if ok && err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if !ok && err == nil {
			t.Errorf("%s: stored", what)
		}
	}
	must("held by the score", put("hold", false), true)
	must("allowed as reviewed with no review", put("allow", true), false)
	must("allowed by a score that fell, no review", put("allow", false), true)
	must("held again", put("hold", false), true)
	review("block")
	must("allowed as reviewed after a block", put("allow", true), false)
	must("allowed by the score after a reviewer's block", put("allow", false), false)
	must("held by the score after a reviewer's block", put("hold", false), false)
	must("blocked as reviewed", put("block", true), true)
	review("allow")
	must("allowed as reviewed after an approval", put("allow", true), true)
	must("held by a score grown past the approval", put("hold", false), true)
	review("limit")
	must("limited as reviewed", put("limit", true), true)
	must("blocked as reviewed, the review said limit", put("block", true), false)

	// Held entries: released only under an approval.
	f := newFixture(t, s, 2)
	p := newPatients(t, s, 1)[0]
	now := base
	update(t, s, func(tx storage.Tx) error {
		if err := tx.InsertRelease(ctx, fairslot.Release{SessionID: f.session.ID, Mode: fairslot.Draw, Opens: now.Add(-time.Hour),
			EntryCloses: now.Add(time.Hour), Commitment: make([]byte, 32)}, []byte("seed")); err != nil {
			return err
		}
		return tx.InsertEntry(ctx, &fairslot.Entry{SessionID: f.session.ID, PatientID: p.ID, AccountID: acct, Hash: make([]byte, 32), CreatedAt: now, Held: true},
			"2026-12-10", 10)
	})
	release := func() int {
		t.Helper()
		var n int
		if err := s.Update(ctx, func(tx storage.Tx) (err error) { n, err = tx.ReleaseHeldEntries(ctx, acct, now); return err }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := release(); n != 0 {
		t.Errorf("held entries released under a reviewer's limit: %d", n)
	}
	review("allow")
	if n := release(); n != 1 {
		t.Errorf("held entries released under an approval: %d, want 1", n)
	}
}

// testHeldAccountsTakeNoPlace: the use cases read an account's risk
// decision in their transaction and store a held account's draw entry held,
// refuse a blocked one's, and give neither an online booking; the database
// holds them to it, so that no path — a future one, or a session of the
// online role writing directly — hands a place to an account the reviewers
// or the rules hold or block. A booking with no account (a walk-in) is
// not theirs to refuse. On PostgreSQL this runs as the online role.
func testHeldAccountsTakeNoPlace(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 4)
	held, blocked, free := newAccount(t, s).ID, newAccount(t, s).ID, newAccount(t, s).ID
	update(t, s, func(tx storage.Tx) error {
		for id, action := range map[int64]string{held: "hold", blocked: "block", free: "challenge"} {
			if err := tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: id, Action: action, Score: 70, Since: map[string]time.Time{},
				UpdatedAt: base, Reasons: []string{}, Keys: []string{}}); err != nil {
				return err
			}
		}
		return tx.InsertRelease(ctx, fairslot.Release{SessionID: f.session.ID, Mode: fairslot.Draw, Opens: base.Add(-time.Hour),
			EntryCloses: base.Add(time.Hour), Commitment: make([]byte, 32)}, []byte("seed"))
	})
	entry := func(account int64, p int, isHeld bool) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.InsertEntry(ctx, &fairslot.Entry{SessionID: f.session.ID, PatientID: ps[p].ID, AccountID: account,
				Hash: random(32), CreatedAt: base, Held: isHeld}, "2026-12-10", 10)
		})
	}
	booking := func(account int64, slot int) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			b := newBooking(f, f.slots[slot], ps[slot].ID, fairslot.Held)
			b.AccountID = account
			if account == 0 {
				b.Channel, b.Status = fairslot.OnSite, fairslot.Confirmed
			}
			return tx.InsertBooking(ctx, b, noLimits)
		})
	}
	for _, tt := range []struct {
		what string
		err  error
		ok   bool
	}{
		{"a held account's entry stored taking part", entry(held, 0, false), false},
		{"a blocked account's entry, even held", entry(blocked, 1, true), false},
		{"a held account's online booking", booking(held, 0), false},
		{"a blocked account's online booking", booking(blocked, 1), false},
		{"a held account's entry stored held", entry(held, 0, true), true},
		{"a challenged account's entry", entry(free, 2, false), true},
		{"a challenged account's booking", booking(free, 2), true},
		{"a walk-in's booking", booking(0, 3), true},
	} {
		if tt.ok && tt.err != nil {
			t.Errorf("%s: %v", tt.what, tt.err)
		}
		if !tt.ok && tt.err == nil {
			t.Errorf("%s: stored", tt.what)
		}
	}
}
