package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testRiskAccounts: a decision reads back as put; a later put replaces the
// action, score and reasons but never moves when an action was first
// reached; the list filters by the mildest action asked for, worst first
// then newest; an unknown action is refused. On PostgreSQL this runs as the
// online role (no UPDATE: put_risk_account).
func testRiskAccounts(t *testing.T, s storage.Store) {
	a, b, c := newAccount(t, s).ID, newAccount(t, s).ID, newAccount(t, s).ID
	put := func(r storage.RiskAccount) {
		t.Helper()
		update(t, s, func(tx storage.Tx) error { return tx.PutRiskAccount(ctx, r) })
	}
	get := func(id int64) (r storage.RiskAccount, err error) {
		err = s.View(ctx, func(tx storage.Tx) (err error) { r, err = tx.RiskAccount(ctx, id); return err })
		return r, err
	}
	_, err := get(a)
	wantKind(t, "the decision of an account never flagged", err, fairslot.NotFound)

	t0 := base
	put(storage.RiskAccount{AccountID: a, Action: "hold", Score: 75, Reasons: []string{"8 patients bound to the account (+45)", "night (+30)"},
		Keys:  []string{"risk.signal.many_patients", "risk.signal.night_bindings"},
		Since: map[string]time.Time{"challenge": t0, "limit": t0, "hold": t0}, UpdatedAt: t0})
	got, err := get(a)
	if err != nil {
		t.Fatal(err)
	}
	if got.Action != "hold" || got.Score != 75 || got.Reviewed || len(got.Reasons) != 2 || got.Keys[1] != "risk.signal.night_bindings" ||
		!got.Since["hold"].Equal(t0) || len(got.Since) != 3 || !got.UpdatedAt.Equal(t0) {
		t.Errorf("RiskAccount = %+v", got)
	}

	// A reviewer allows it an hour later; then the score holds it again the
	// next day: "hold" stays first reached at t0, "block" is new.
	t1, t2 := t0.Add(time.Hour), t0.Add(24*time.Hour)
	reviewed(t, s, a, "allow")
	put(storage.RiskAccount{AccountID: a, Action: "allow", Score: 75, Reviewed: true, Since: map[string]time.Time{}, UpdatedAt: t1})
	if got, _ := get(a); got.Action != "allow" || !got.Reviewed || len(got.Reasons) != 0 || !got.Since["hold"].Equal(t0) {
		t.Errorf("after the review: %+v, want allow, reviewed, no reasons, hold still since %v", got, t0)
	}
	put(storage.RiskAccount{AccountID: a, Action: "block", Score: 120, Reasons: []string{"x"}, Keys: []string{"risk.signal.x"},
		Since: map[string]time.Time{"hold": t2, "block": t2, "challenge": t2, "limit": t2}, UpdatedAt: t2})
	got, _ = get(a)
	if got.Action != "block" || got.Score != 120 || got.Reviewed || !got.Since["hold"].Equal(t0) || !got.Since["challenge"].Equal(t0) ||
		!got.Since["block"].Equal(t2) {
		t.Errorf("after the block: %+v, want hold and challenge since %v, block since %v", got, t0, t2)
	}

	put(storage.RiskAccount{AccountID: b, Action: "challenge", Score: 20, Since: map[string]time.Time{"challenge": t1}, UpdatedAt: t1})
	put(storage.RiskAccount{AccountID: c, Action: "hold", Score: 60, Since: map[string]time.Time{"hold": t2}, UpdatedAt: t2.Add(time.Minute)})
	list := func(min string, limit int) []int64 {
		t.Helper()
		var ids []int64
		if err := s.View(ctx, func(tx storage.Tx) error {
			rs, err := tx.RiskAccounts(ctx, min, limit)
			for _, r := range rs {
				ids = append(ids, r.AccountID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, tt := range []struct {
		min   string
		limit int
		want  []int64
	}{
		{"allow", 10, []int64{a, c, b}},
		{"challenge", 10, []int64{a, c, b}},
		{"limit", 10, []int64{a, c}},
		{"hold", 1, []int64{a}},
		{"block", 10, []int64{a}},
	} {
		if got := list(tt.min, tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("RiskAccounts(%s, %d) = %v, want %v", tt.min, tt.limit, got, tt.want)
		}
	}
	err = s.View(ctx, func(tx storage.Tx) error { _, err := tx.RiskAccounts(ctx, "worse", 10); return err })
	wantKind(t, "a list by an unknown action", err, fairslot.Invalid)
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: b, Action: "ban", UpdatedAt: t2})
	})
	if err == nil {
		t.Error("a decision with an unknown action was stored")
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: b, Action: "hold", Score: -1, UpdatedAt: t2})
	})
	if err == nil {
		t.Error("a decision with a negative score was stored")
	}
}

// testHeldEntries: an entry stored held reads back held; releasing an
// account's holds turns off exactly its held entries whose entry window is
// still open and whose draw has not run — not another account's, not those
// of a closed window — and a second release finds nothing.
func testHeldEntries(t *testing.T, s storage.Store) {
	open := newFixture(t, s, 4)
	closed := &fixture{dept: open.dept, doctor: open.doctor}
	update(t, s, func(tx storage.Tx) error { newSession(t, tx, closed, "2026-12-11", 4); return nil })
	ps := newPatients(t, s, 4)
	held, other := newAccount(t, s).ID, newAccount(t, s).ID
	now := base
	update(t, s, func(tx storage.Tx) error {
		if err := tx.InsertRelease(ctx, fairslot.Release{SessionID: open.session.ID, Mode: fairslot.Draw, Opens: now.Add(-time.Hour),
			EntryCloses: now.Add(time.Hour), Commitment: random(32)}, random(60)); err != nil {
			return err
		}
		return tx.InsertRelease(ctx, fairslot.Release{SessionID: closed.session.ID, Mode: fairslot.Draw, Opens: now.Add(-2 * time.Hour),
			EntryCloses: now.Add(-time.Hour), Commitment: random(32)}, random(60))
	})
	type row struct {
		session, patient, account int64
		held                      bool
	}
	rows := []row{
		{open.session.ID, ps[0].ID, held, true},    // released
		{open.session.ID, ps[1].ID, held, false},   // never held
		{closed.session.ID, ps[2].ID, held, true},  // its window closed: stays out
		{open.session.ID, ps[3].ID, other, true},   // another account's
		{closed.session.ID, ps[0].ID, held, false}, // never held
	}
	ids := make([]int64, len(rows))
	update(t, s, func(tx storage.Tx) error {
		for i, r := range rows {
			e := fairslot.Entry{SessionID: r.session, PatientID: r.patient, AccountID: r.account, Hash: random(32), CreatedAt: now.Add(-2 * time.Hour), Held: r.held}
			if err := tx.InsertEntry(ctx, &e, "2026-12-03", 10); err != nil {
				return err
			}
			ids[i] = e.ID
		}
		return nil
	})
	heldOf := func() map[int64]bool {
		t.Helper()
		out := map[int64]bool{}
		if err := s.View(ctx, func(tx storage.Tx) error {
			for _, f := range []*fixture{open, closed} {
				es, err := tx.Entries(ctx, f.session.ID)
				if err != nil {
					return err
				}
				for _, e := range es {
					out[e.ID] = e.Held
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := heldOf()
	for i, r := range rows {
		if before[ids[i]] != r.held {
			t.Errorf("entry %d held = %v, want %v as stored", i, before[ids[i]], r.held)
		}
	}
	reviewed(t, s, held, "allow") // released only under an approval (testRiskDecisionsFollowReviews)
	reviewed(t, s, other, "allow")
	var n int
	update(t, s, func(tx storage.Tx) (err error) { n, err = tx.ReleaseHeldEntries(ctx, held, now); return err })
	if n != 1 {
		t.Errorf("ReleaseHeldEntries = %d, want 1 (the open window's held entry)", n)
	}
	after := heldOf()
	want := []bool{false, false, true, true, false}
	for i := range rows {
		if after[ids[i]] != want[i] {
			t.Errorf("after the release, entry %d held = %v, want %v", i, after[ids[i]], want[i])
		}
	}
	update(t, s, func(tx storage.Tx) (err error) { n, err = tx.ReleaseHeldEntries(ctx, held, now); return err })
	if n != 0 {
		t.Errorf("a second ReleaseHeldEntries = %d, want 0", n)
	}
	// At the window's close, the other account's held entry stays out.
	update(t, s, func(tx storage.Tx) (err error) {
		n, err = tx.ReleaseHeldEntries(ctx, other, now.Add(time.Hour))
		return err
	})
	if n != 0 || !heldOf()[ids[3]] {
		t.Errorf("a release at the window's close released %d, want 0 and the entry still held", n)
	}
}

// testRiskEventStart: reading after RiskEventStart(since) gives exactly the
// events made at or after since; with none that recent, nothing.
func testRiskEventStart(t *testing.T, s storage.Store) {
	var ids []int64
	update(t, s, func(tx storage.Tx) error {
		for i := range 4 {
			e := storage.RiskEvent{At: base.Add(time.Duration(i) * time.Hour), Kind: storage.RiskBind, AccountID: 1, Detail: map[string]string{"patient": "ab"}}
			if err := tx.AppendRisk(ctx, &e); err != nil {
				return err
			}
			ids = append(ids, e.ID)
		}
		return nil
	})
	for _, tt := range []struct {
		since time.Time
		want  []int64
	}{
		{base.Add(-time.Hour), ids},
		{base.Add(90 * time.Minute), ids[2:]},
		{base.Add(3 * time.Hour), ids[3:]},
		{base.Add(4 * time.Hour), nil},
	} {
		var got []int64
		update(t, s, func(tx storage.Tx) error {
			after, err := tx.RiskEventStart(ctx, tt.since)
			if err != nil {
				return err
			}
			es, err := tx.RiskEvents(ctx, after, 100)
			for _, e := range es {
				got = append(got, e.ID)
			}
			return err
		})
		if !slices.Equal(got, tt.want) {
			t.Errorf("events after RiskEventStart(%v) = %v, want %v", tt.since, got, tt.want)
		}
	}
}

// reviewed appends a reviewer's decision on account, by a new security
// officer: a reviewed risk decision and a release of held entries follow
// one (testRiskDecisionsFollowReviews).
func reviewed(t *testing.T, s storage.Store, account int64, action string) {
	t.Helper()
	update(t, s, func(tx storage.Tx) error {
		st := fairslot.Staff{Username: fmt.Sprintf("sec-%x", random(6)), Name: "Sec", Role: fairslot.Security}
		if err := tx.CreateStaff(ctx, &st, "h"); err != nil {
			return err
		}
		return tx.AppendRiskReview(ctx, &storage.RiskReview{AccountID: account, Action: action, Saw: 70, Reason: "checked", StaffID: st.ID, At: base})
	})
}
