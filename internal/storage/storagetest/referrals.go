package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/referral"
	"github.com/fairslot/fairslot/internal/storage"
)

// testReferralRules: the latest rule per doctor or department is its rule;
// the database refuses a rule naming both or neither.
func testReferralRules(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	update(t, s, func(tx storage.Tx) error {
		for _, r := range []referral.Rule{
			{DepartmentID: f.dept.ID, Required: true},
			{DoctorID: f.doctor.ID, Required: true, Validity: 24 * time.Hour},
			{DoctorID: f.doctor.ID, Required: false, Validity: 48 * time.Hour}, // the latest wins
		} {
			if err := tx.PutReferralRule(ctx, r, 0, base); err != nil {
				return err
			}
		}
		return nil
	})
	var rules []referral.Rule
	update(t, s, func(tx storage.Tx) (err error) { rules, err = tx.ReferralRules(ctx); return err })
	if len(rules) != 2 {
		t.Fatalf("rules = %+v, want one for the department and one for the doctor", rules)
	}
	p := referral.Policy{Rules: rules}
	if r, need := p.Requires(f.doctor.ID, f.dept.ID); need || r.Validity != 48*time.Hour {
		t.Errorf("Requires = %+v, %v; want the doctor's latest rule (not required, 48h)", r, need)
	}
	if _, need := p.Requires(f.doctor.ID+1, f.dept.ID); !need {
		t.Error("another doctor of the department does not need review")
	}
	err := s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutReferralRule(ctx, referral.Rule{DepartmentID: f.dept.ID, DoctorID: f.doctor.ID}, 0, base)
	})
	if err == nil {
		t.Error("a rule naming a department and a doctor was stored")
	}
}

func newReferral(acc storage.AccountRecord, p storage.PatientRecord, f *fixture) *storage.Referral {
	return &storage.Referral{Ref: fmt.Sprintf("%x", random(8)), AccountID: acc.ID, PatientID: p.ID, DoctorID: f.doctor.ID,
		DescriptionSealed: random(60), ForSessionID: f.session.ID, Shuts: base.Add(48 * time.Hour),
		DecideBy: base.Add(47 * time.Hour), CreatedAt: base}
}

// testReferrals: one pending request per patient and doctor; a request is
// decided once, from pending, with what its outcome needs; images are at
// most 3 and numbered once; the queue orders by deadline.
func testReferrals(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 3)
	acc := newAccount(t, s)
	st := fairslot.Staff{Username: "dr-ref", Name: "Dr", Role: fairslot.DoctorRole}
	update(t, s, func(tx storage.Tx) error { return tx.CreateStaff(ctx, &st, "h") })

	r1 := newReferral(acc, ps[0], f)
	r2 := newReferral(acc, ps[1], f)
	r2.DecideBy = base.Add(time.Hour) // nearer: first in the queue
	r2.ForSessionID, r2.Shuts = 0, time.Time{}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.InsertReferral(ctx, r1); err != nil {
			return err
		}
		return tx.InsertReferral(ctx, r2)
	})
	if r1.ID == 0 || r1.Status != referral.Pending {
		t.Fatalf("inserted %+v", r1)
	}
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.InsertReferral(ctx, newReferral(acc, ps[0], f)) })
	wantKind(t, "a second pending request", err, fairslot.Conflict)

	// Images: 1..3, each number once, data read back only by ReferralImage.
	data := random(1000)
	update(t, s, func(tx storage.Tx) error {
		for n := 1; n <= 3; n++ {
			img := storage.ReferralImage{Ref: fmt.Sprintf("%x", random(8)), ReferralID: r1.ID, N: n, Type: "image/png", Width: 4, Height: 3,
				DataSealed: data, CreatedAt: base}
			if err := tx.InsertReferralImage(ctx, &img); err != nil {
				return err
			}
		}
		return nil
	})
	for _, n := range []int{2, 4, 0} {
		err := s.Update(ctx, func(tx storage.Tx) error {
			return tx.InsertReferralImage(ctx, &storage.ReferralImage{Ref: fmt.Sprintf("%x", random(8)), ReferralID: r1.ID, N: n,
				Type: "image/png", Width: 1, Height: 1, DataSealed: data, CreatedAt: base})
		})
		if err == nil {
			t.Errorf("image %d of a request with 3 was stored", n)
		}
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.InsertReferralImage(ctx, &storage.ReferralImage{Ref: fmt.Sprintf("%x", random(8)), ReferralID: r2.ID, N: 1,
			Type: "image/gif", Width: 1, Height: 1, DataSealed: data, CreatedAt: base})
	})
	if err == nil {
		t.Error("a GIF image was stored")
	}
	update(t, s, func(tx storage.Tx) error {
		imgs, err := tx.ReferralImages(ctx, r1.ID)
		if err != nil {
			return err
		}
		if len(imgs) != 3 || imgs[0].N != 1 || imgs[2].N != 3 || imgs[0].DataSealed != nil {
			t.Errorf("images = %+v, want 1..3 without data", imgs)
		}
		img, err := tx.ReferralImage(ctx, r1.ID, 2)
		if err != nil {
			return err
		}
		if !bytes.Equal(img.DataSealed, data) || img.Width != 4 || img.Type != "image/png" {
			t.Errorf("image 2 = %+v", img)
		}
		_, err = tx.ReferralImage(ctx, r2.ID, 1)
		wantKind(t, "a missing image", err, fairslot.NotFound)
		got, err := tx.Referral(ctx, r1.ID)
		if err != nil {
			return err
		}
		if got.Images != 3 || !got.DecideBy.Equal(r1.DecideBy) || !got.Shuts.Equal(r1.Shuts) || got.ForSessionID != f.session.ID ||
			!bytes.Equal(got.DescriptionSealed, r1.DescriptionSealed) {
			t.Errorf("read back %+v, want %+v with 3 images", got, r1)
		}
		q, err := tx.PendingReferrals(ctx, storage.ReferralQueue{DoctorID: f.doctor.ID})
		if err != nil {
			return err
		}
		if len(q) != 2 || q[0].ID != r2.ID {
			t.Errorf("queue = %v, want r2 (nearer deadline) then r1", q)
		}
		if q, err := tx.PendingReferrals(ctx, storage.ReferralQueue{DepartmentID: f.dept.ID + 1000}); err != nil || len(q) != 0 {
			t.Errorf("queue of another department = %v, %v", q, err)
		}
		due, err := tx.DueReferrals(ctx, base.Add(2*time.Hour), 10)
		if err != nil || len(due) != 1 || due[0].ID != r2.ID {
			t.Errorf("due = %v, %v; want r2", due, err)
		}
		return nil
	})

	// Screening: once, while pending.
	update(t, s, func(tx storage.Tx) error {
		return tx.ScreenReferral(ctx, r1.ID, referral.Suggestion{Score: 0.8, Label: "expert"}, random(20))
	})
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.ScreenReferral(ctx, r1.ID, referral.Suggestion{Score: 0.1}, nil)
	})
	wantKind(t, "screening twice", err, fairslot.Conflict)
	update(t, s, func(tx storage.Tx) error {
		un, err := tx.UnscreenedReferrals(ctx, 10)
		if err != nil || len(un) != 1 || un[0].ID != r2.ID {
			t.Errorf("unscreened = %v, %v; want r2", un, err)
		}
		return err
	})

	// Decisions the database refuses: each outcome without what it needs.
	bad := []storage.ReferralDecision{
		{ID: r1.ID, Status: referral.Approved, StaffID: st.ID, At: base},                                                    // no validity
		{ID: r1.ID, Status: referral.Declined, StaffID: st.ID, At: base},                                                    // no reason
		{ID: r1.ID, Status: referral.Redirected, StaffID: st.ID, At: base, ReasonSealed: random(10)},                        // no clinic
		{ID: r1.ID, Status: referral.Expired, StaffID: st.ID, At: base},                                                     // expired by a person
		{ID: r1.ID, Status: referral.Pending, StaffID: st.ID, At: base},                                                     // to pending
		{ID: r1.ID, Status: "granted", StaffID: st.ID, At: base, ValidUntil: base.Add(time.Hour)},                           // unknown
		{ID: r1.ID, Status: referral.Declined, At: base, ReasonSealed: random(10)},                                          // by nobody
		{ID: r1.ID, Status: referral.Approved, StaffID: st.ID, At: base, ValidUntil: base, RedirectDepartmentID: f.dept.ID}, // a clinic on approval
	}
	for i, d := range bad {
		if err := s.Update(ctx, func(tx storage.Tx) error { return tx.DecideReferral(ctx, d) }); err == nil {
			t.Errorf("bad decision %d (%s) was stored", i, d.Status)
		}
	}
	update(t, s, func(tx storage.Tx) error {
		return tx.DecideReferral(ctx, storage.ReferralDecision{ID: r1.ID, Status: referral.Approved, StaffID: st.ID, At: base.Add(time.Minute),
			ValidUntil: base.Add(30 * 24 * time.Hour)})
	})
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.DecideReferral(ctx, storage.ReferralDecision{ID: r1.ID, Status: referral.Declined, StaffID: st.ID, At: base, ReasonSealed: random(10)})
	})
	wantKind(t, "deciding twice", err, fairslot.Conflict)
	update(t, s, func(tx storage.Tx) error {
		return tx.DecideReferral(ctx, storage.ReferralDecision{ID: r2.ID, Status: referral.Expired, At: base.Add(time.Hour)})
	})
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.DecideReferral(ctx, storage.ReferralDecision{ID: r2.ID + 1000, Status: referral.Expired, At: base})
	})
	wantKind(t, "deciding a missing request", err, fairslot.NotFound)

	// After a decision the patient may ask again; listings are newest first.
	r3 := newReferral(acc, ps[0], f)
	update(t, s, func(tx storage.Tx) error { return tx.InsertReferral(ctx, r3) })
	update(t, s, func(tx storage.Tx) error {
		mine, err := tx.ReferralsOf(ctx, acc.ID)
		if err != nil {
			return err
		}
		if len(mine) != 3 || mine[0].ID != r3.ID {
			t.Errorf("ReferralsOf = %v, want 3, newest first", mine)
		}
		ps0, err := tx.PatientReferrals(ctx, ps[0].ID, f.doctor.ID)
		if err != nil {
			return err
		}
		if len(ps0) != 2 || ps0[0].ID != r3.ID || ps0[1].Status != referral.Approved || ps0[1].DecidedBy != st.ID ||
			!ps0[1].ValidUntil.Equal(base.Add(30*24*time.Hour)) || !ps0[1].DecidedAt.Equal(base.Add(time.Minute)) {
			t.Errorf("PatientReferrals = %+v", ps0)
		}
		got, err := tx.Referral(ctx, r2.ID)
		if err != nil {
			return err
		}
		if got.Status != referral.Expired || got.DecidedBy != 0 || !got.ValidUntil.IsZero() {
			t.Errorf("expired request = %+v", got)
		}
		return nil
	})
}
