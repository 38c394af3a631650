package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/referral"
	"github.com/fairslot/fairslot/internal/referral/referraltest"
	"github.com/fairslot/fairslot/internal/storage"
)

// referralAdmin is an admin login on svc's store, made once.
func referralAdmin(t *testing.T, svc *app.Service) app.Actor {
	t.Helper()
	a := app.Actor{Kind: storage.StaffToken, Role: fairslot.Admin}
	err := svc.Store.Update(ctx, func(tx storage.Tx) error {
		if st, _, err := tx.StaffByUsername(ctx, "referral-admin"); err == nil {
			a.ID = st.ID
			return nil
		}
		st := fairslot.Staff{Username: "referral-admin", Name: "Admin", Role: fairslot.Admin}
		err := tx.CreateStaff(ctx, &st, "x")
		a.ID = st.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// needsReview makes a doctor need referral review, as an admin does.
func needsReview(t *testing.T, svc *app.Service, doctorID int64) {
	t.Helper()
	if err := svc.PutReferralRule(ctx, referralAdmin(t, svc), app.ReferralRuleInput{DoctorID: doctorID, Required: true}); err != nil {
		t.Fatal(err)
	}
}

// outboxKeys lists the pending outbox messages of key, as sent.
func outboxKeys(t *testing.T, svc *app.Service, key string) []string {
	t.Helper()
	_, texts := outboxOf(t, svc, key)
	return texts
}

const rash = "A red rash on the left forearm for three weeks, itching at night; ointment from the pharmacy did not help."

// TestReferralGatesEveryDoor: for a doctor who needs review, a patient
// without an approval is refused by every door to a place — a hold, the
// waitlist, a walk-in at the kiosk and at the desk — with a message that
// says what to do; a pending request, a declined one, a redirected one
// each say where they stand; once approved the patient books. Another
// doctor is not gated.
func TestReferralGatesEveryDoor(t *testing.T) {
	e := newEnv(t)
	needsReview(t, e.svc, e.session.DoctorID)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三丰", 1)
	known := app.PatientInput{Name: "张三丰", IDType: fairslot.IDResident, IDNumber: residentID(1)}
	kiosk := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Kiosk}
	desk := e.staff(t, "desk")
	doc := e.staff(t, "doc")

	doors := func(key string) {
		t.Helper()
		_, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
		wantKey(t, "hold", err, key)
		_, err = e.svc.JoinWaitlist(ctx, a, app.WaitInput{SessionID: e.session.ID, PatientID: p.ID})
		wantKey(t, "waitlist", err, key)
		_, err = e.svc.WalkIn(ctx, kiosk, app.WalkInInput{SessionID: e.session.ID, Patient: known})
		wantKey(t, "kiosk walk-in", err, key)
		_, err = e.svc.WalkIn(ctx, desk, app.WalkInInput{SessionID: e.session.ID, Patient: known})
		wantKey(t, "desk walk-in", err, key)
	}
	doors("error.referral.required")
	if fairslot.ErrorMessage(func() error {
		_, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
		return err
	}()) == "" {
		t.Error("the refusal explains nothing")
	}

	v, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash,
		Images: [][]byte{referraltest.JPEGWithEXIF(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != referral.Pending || v.Images != 1 || v.Admits || !strings.Contains(v.Patient, "*") {
		t.Errorf("submitted %+v", v)
	}
	_, err = e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash})
	wantKey(t, "a second request while one waits", err, "error.referral.pending")
	doors("error.referral.waiting")

	// The doctor's queue: the request with its description and image; a
	// registrar and another doctor may not look.
	q, err := e.svc.ReferralQueue(ctx, doc)
	if err != nil || len(q) != 1 || q[0].Description != rash || q[0].Images != 1 {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	typ, data, err := e.svc.ReferralImage(ctx, doc, v.ID, 1)
	if err != nil || typ != "image/jpeg" {
		t.Fatalf("image: %q, %v", typ, err)
	}
	if bytes.Contains(data, []byte(referraltest.GPSMarker)) || bytes.Contains(data, []byte("Exif\x00")) {
		t.Error("the image served keeps its EXIF segment")
	}
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		t.Errorf("the image served does not decode: %v", err)
	}
	looks, err := e.svc.PatientAccesses(ctx, a, p.ID)
	n := 0
	for _, l := range looks {
		if l.Field == "referral" && l.Purpose == "referral_review" && l.Role == string(fairslot.DoctorRole) {
			n++
		}
	}
	if err != nil || n != 2 {
		t.Errorf("the patient sees %d looks at their request (%+v, %v), want 2: the description and the picture", n, looks, err)
	}
	_, err = e.svc.ReferralQueue(ctx, desk)
	wantKind(t, "a registrar's queue", err, fairslot.Forbidden)
	_, _, err = e.svc.ReferralImage(ctx, desk, v.ID, 1)
	wantKind(t, "a registrar's look at an image", err, fairslot.Forbidden)
	other := app.Actor{Kind: storage.StaffToken, ID: doc.ID, Role: fairslot.DoctorRole, Scope: app.Scope{DoctorID: e.other.DoctorID}}
	_, _, err = e.svc.ReferralImage(ctx, other, v.ID, 1)
	wantKey(t, "another doctor's look at an image", err, "error.referral.not_your_doctor")
	_, err = e.svc.DecideReferral(ctx, other, v.ID, app.DecisionInput{Decision: referral.Approved})
	wantKey(t, "another doctor's decision", err, "error.referral.not_your_doctor")
	_, err = e.svc.DecideReferral(ctx, referralAdmin(t, e.svc), v.ID, app.DecisionInput{Decision: referral.Approved})
	wantKind(t, "an admin's decision", err, fairslot.Forbidden)
	_, err = e.svc.DecideReferral(ctx, a, v.ID, app.DecisionInput{Decision: referral.Approved})
	wantKind(t, "the patient's own decision", err, fairslot.Unauthorized)

	// Declined: with a reason, told, and every door says so.
	_, err = e.svc.DecideReferral(ctx, doc, v.ID, app.DecisionInput{Decision: referral.Declined})
	wantKey(t, "a decline without a reason", err, "error.referral.reason_required")
	d, err := e.svc.DecideReferral(ctx, doc, v.ID, app.DecisionInput{Decision: referral.Declined, Reason: "A dermatology clinic can treat this first."})
	if err != nil || d.Status != referral.Declined || d.Reason == "" {
		t.Fatalf("declined: %+v, %v", d, err)
	}
	_, err = e.svc.DecideReferral(ctx, doc, v.ID, app.DecisionInput{Decision: referral.Approved})
	wantKey(t, "deciding twice", err, "error.referral.decided")
	doors("error.referral.declined")
	if texts := outboxKeys(t, e.svc, notify.KeyReferralDeclined); len(texts) != 1 || strings.Contains(texts[0], "张三丰") || strings.Contains(texts[0], "dermatology clinic") {
		t.Errorf("decline messages %q: want one, with the masked name and without the reason", texts)
	}
	mine, err := e.svc.Referrals(ctx, a)
	if err != nil || len(mine) != 1 || mine[0].Reason != "A dermatology clinic can treat this first." || mine[0].Status != referral.Declined {
		t.Errorf("the patient's requests: %+v, %v", mine, err)
	}

	// A new request, approved: the patient books. Another doctor never needed one.
	v2, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash + " Now spreading to the elbow."})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.svc.DecideReferral(ctx, doc, v2.ID, app.DecisionInput{Decision: referral.Approved})
	if err != nil || !ok.Admits || !ok.ValidUntil.After(e.clock.Now().Add(29*24*time.Hour)) {
		t.Fatalf("approved: %+v, %v", ok, err)
	}
	if texts := outboxKeys(t, e.svc, notify.KeyReferralApproved); len(texts) != 1 {
		t.Errorf("approval messages %q, want one", texts)
	}
	if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID}); err != nil {
		t.Errorf("an approved patient's hold: %v", err)
	}
	_, err = e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash})
	wantKey(t, "a request while approved", err, "error.referral.approved")
	if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.other.ID, PatientID: p.ID}); err != nil {
		t.Errorf("a doctor who needs no review: %v", err)
	}
	_, err = e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.other.DoctorID, Description: rash})
	wantKey(t, "a request for a doctor who needs none", err, "error.referral.not_needed")

	// The approval lapses with its validity.
	e.clock.Add(31 * 24 * time.Hour)
	later := e.newSession(t, e.session.DepartmentID, e.clock.Now().Format(time.DateOnly), 4)
	needsReview(t, e.svc, later.DoctorID)
	_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: later.ID, PatientID: p.ID})
	wantKey(t, "another reviewed doctor", err, "error.referral.required")

	// Every look and decision is in the audit log.
	counts := map[string]int{}
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		evs, err := tx.AuditEvents(ctx, 0, 100000)
		for _, ev := range evs {
			counts[ev.Action]++
		}
		return err
	})
	for action, want := range map[string]int{"referral.submit": 2, "referral.decide": 2, "referral.image.view": 1, "referral.rule": 2, "referral.queue": 1} {
		if counts[action] != want {
			t.Errorf("audit %s: %d records, want %d", action, counts[action], want)
		}
	}
}

// TestReferralSubmitChecksInput: a request's description and images are
// checked before anything is stored, each refusal with its own key; an
// EXIF-laden JPEG is accepted and kept without its EXIF.
func TestReferralSubmitChecksInput(t *testing.T) {
	e := newEnv(t)
	needsReview(t, e.svc, e.session.DoctorID)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三丰", 1)
	png := referraltest.PNG(t, 20, 10)
	tests := []struct {
		name   string
		desc   string
		images [][]byte
		key    string
	}{
		{"short description", "rash", nil, "error.referral.description_short"},
		{"long description", strings.Repeat("痒", referral.MaxDescription+1), nil, "error.referral.description_long"},
		{"too many images", rash, [][]byte{png, png, png, png}, "error.referral.images_many"},
		{"oversized", rash, [][]byte{png, append(bytes.Clone(png), make([]byte, referral.MaxImageBytes)...)}, "error.referral.image_large"},
		{"wrong type", rash, [][]byte{[]byte("GIF89a not really a picture")}, "error.referral.image_type"},
		{"a PDF named .jpg", rash, [][]byte{[]byte("%PDF-1.7 ...")}, "error.referral.image_type"},
		{"decompression bomb", rash, [][]byte{referraltest.PNGBomb(t, 50000, 50000)}, "error.referral.image_pixels"},
		{"broken", rash, [][]byte{png[:40]}, "error.referral.image_broken"},
	}
	for _, tt := range tests {
		_, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: tt.desc, Images: tt.images})
		wantKey(t, tt.name, err, tt.key)
	}
	if mine, err := e.svc.Referrals(ctx, a); err != nil || len(mine) != 0 {
		t.Fatalf("refused requests were stored: %+v, %v", mine, err)
	}
	other := e.login(t, "13900000001")
	_, err := e.svc.SubmitReferral(ctx, other, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash})
	wantKey(t, "another account's patient", err, "error.patient.not_yours")
	_, err = e.svc.SubmitReferral(ctx, app.Actor{}, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash})
	wantKind(t, "anonymous", err, fairslot.Unauthorized)

	v, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: rash,
		Images: [][]byte{referraltest.JPEGWithEXIF(t), png, png}})
	if err != nil || v.Images != 3 {
		t.Fatalf("three good images: %+v, %v", v, err)
	}
}

// TestReferralSealedInTheDatabaseFile: a copied database file shows
// neither a request's description nor its images.
func TestReferralSealedInTheDatabaseFile(t *testing.T) {
	e := newEnv(t)
	needsReview(t, e.svc, e.session.DoctorID)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三丰", 1)
	const marker = "MARKER-rash-7f3a9c-描述"
	upload := referraltest.PNG(t, 64, 48)
	clean, err := referral.Clean(1, upload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID,
		Description: rash + " " + marker, Images: [][]byte{upload}}); err != nil {
		t.Fatal(err)
	}
	var all []byte
	files, _ := filepath.Glob(filepath.Join(e.dir, "data", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatal("no database file to look in")
	}
	if bytes.Contains(all, []byte(marker)) {
		t.Error("the description is readable in the database file")
	}
	for _, chunk := range [][]byte{clean.Data[len(clean.Data)/2 : len(clean.Data)/2+32], upload[len(upload)/2 : len(upload)/2+32]} {
		if bytes.Contains(all, chunk) {
			t.Error("the image's bytes are readable in the database file")
		}
	}
	// The control: the same search finds what is stored in the clear.
	if !bytes.Contains(all, []byte("Dept A")) {
		t.Error("the search finds nothing stored in the clear either: it proves nothing")
	}
}

// TestReferralDeadlines: a request made before a draw's cut-off is for
// that draw and must be decided before its entries close; one made after
// the cut-off is for the next release. Declined patients cannot enter; a
// redirect names the clinic. Undecided by its deadline, a request expires:
// by default the unreviewed patient stays out and is asked to apply again;
// a hospital that admits the undecided lets them into that draw (the
// hospital's delay costs the patient nothing), and only until its close.
func TestReferralDeadlines(t *testing.T) {
	for _, admit := range []bool{false, true} {
		t.Run(fmt.Sprintf("admit undecided %v", admit), func(t *testing.T) { testReferralDeadlines(t, admit) })
	}
}

func testReferralDeadlines(t *testing.T, admitUndecided bool) {
	svc, c, _, _ := openService(t, t.TempDir())
	svc.Referral.AdmitUndecided = admitUndecided
	c.now = releaseAt.Add(-24 * time.Hour)
	w := newWorld(t, svc, c, "DERM", drawRule("DERM"))
	sess := w.session(t, day, fairslot.Morning, 3)
	needsReview(t, svc, w.doctor.ID)
	staff := app.Actor{Kind: storage.StaffToken, ID: 0, Role: fairslot.Nurse} // the specialist's assistant
	var general fairslot.Department
	svc.Store.Update(ctx, func(tx storage.Tx) error {
		general = fairslot.Department{CampusID: w.dept.CampusID, Code: "GEN", Name: "General clinic"}
		if err := tx.CreateDepartment(ctx, &general); err != nil {
			return err
		}
		st := fairslot.Staff{Username: "nurse", Name: "N", Role: fairslot.Nurse}
		err := tx.CreateStaff(ctx, &st, "x")
		staff.ID = st.ID
		return err
	})
	var as []app.Actor
	var ps []int64
	for i := range 5 {
		a, ids := w.account(t, "1391111000"+string(rune('0'+i)), 1)
		as, ps = append(as, a), append(ps, ids[0])
	}
	submit := func(i int) app.ReferralView {
		t.Helper()
		v, err := svc.SubmitReferral(ctx, as[i], app.ReferralInput{PatientID: ps[i], DoctorID: w.doctor.ID, Description: rash})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	rel, _ := svc.SessionRelease(ctx, sess.ID)
	vs := []app.ReferralView{submit(0), submit(1), submit(2), submit(3)}
	for _, v := range vs {
		if v.ForSessionID != sess.ID || !v.DecideBy.Equal(rel.EntryCloses.Add(-referral.DefaultMargin)) || v.ForDate != day {
			t.Fatalf("request %+v: want it for session %d, decided by %v", v, sess.ID, rel.EntryCloses.Add(-referral.DefaultMargin))
		}
	}
	if _, err := svc.DecideReferral(ctx, staff, vs[1].ID, app.DecisionInput{Decision: referral.Approved}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DecideReferral(ctx, staff, vs[2].ID, app.DecisionInput{Decision: referral.Declined, Reason: "not needed"}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.DecideReferral(ctx, staff, vs[3].ID, app.DecisionInput{Decision: referral.Redirected, Reason: "see a GP", DepartmentID: general.ID + 100})
	wantKey(t, "a redirect to no clinic", err, "error.referral.redirect_department")
	r, err := svc.DecideReferral(ctx, staff, vs[3].ID, app.DecisionInput{Decision: referral.Redirected, Reason: "see a GP", DepartmentID: general.ID})
	if err != nil || r.RedirectTo != "General clinic" {
		t.Fatalf("redirected: %+v, %v", r, err)
	}
	if texts := outboxKeys(t, svc, notify.KeyReferralRedirected); len(texts) != 1 || !strings.Contains(texts[0], "General clinic") {
		t.Errorf("redirect messages %q", texts)
	}

	// Past the cut-off, a new request is for the next release (none planned).
	c.now = rel.EntryCloses.Add(-referral.DefaultMargin - referral.DefaultMinReview + time.Second)
	late := submit(4)
	if late.ForSessionID != 0 || !late.DecideBy.Equal(c.now.Add(referral.DefaultNoRelease)) {
		t.Errorf("a late request: %+v, want it for no planned release", late)
	}

	// Nobody decided request 0 by its deadline: it expires.
	c.now = rel.EntryCloses.Add(-referral.DefaultMargin)
	if n, err := svc.ExpireReferrals(ctx); n != 1 || err != nil {
		t.Fatalf("expired %d, %v; want 1", n, err)
	}
	told, first := notify.KeyReferralLapsed, "error.referral.unreviewed"
	if admitUndecided {
		told, first = notify.KeyReferralExpired, ""
	}
	if texts := outboxKeys(t, svc, told); len(texts) != 1 {
		t.Errorf("expiry messages %s %q, want one", told, texts)
	}
	c.now = rel.EntryCloses.Add(-time.Minute)
	for i, want := range []string{first, "", "error.referral.declined", "error.referral.redirected", "error.referral.waiting"} {
		_, err := svc.EnterDraw(ctx, as[i], app.EntryInput{SessionID: sess.ID, PatientID: ps[i]})
		if want == "" && err != nil {
			t.Errorf("patient %d entering: %v", i, err)
		} else if want != "" {
			wantKey(t, "patient entering", err, want)
		}
	}
	mine, _ := svc.Referrals(ctx, as[0])
	until := time.Time{}
	if admitUndecided {
		until = rel.EntryCloses
	}
	if len(mine) != 1 || mine[0].Status != referral.Expired || !mine[0].ValidUntil.Equal(until) || mine[0].Admits != admitUndecided {
		t.Errorf("the expired request: %+v, want it admitting until %v", mine, until)
	}
}

// screener is a fake triage service: scores by a word in the description.
type screener struct{ fail bool }

func (s screener) Screen(_ context.Context, r app.ScreenRequest) (referral.Suggestion, error) {
	if s.fail {
		return referral.Suggestion{}, errors.New("screener down")
	}
	if strings.Contains(r.Description, "urgent") {
		return referral.Suggestion{Score: 0.9, Label: "expert", Note: "melanoma signs"}, nil
	}
	return referral.Suggestion{Score: 0.2, Label: "general"}, nil
}

// TestScreenerOrdersButNeverDecides: the screener's suggestion orders the
// queue within a deadline and is shown; it decides nothing, and a failing
// screener changes nothing but the order.
func TestScreenerOrdersButNeverDecides(t *testing.T) {
	e := newEnv(t)
	needsReview(t, e.svc, e.session.DoctorID)
	doc := e.staff(t, "doc")
	var ids []int64
	var last app.Actor
	for i, desc := range []string{rash, rash + " urgent: the mole is growing and bleeds"} {
		a := e.login(t, "1381234567"+string(rune('0'+i)))
		last = a
		p := e.bind(t, a, "张三丰", 10+i)
		v, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: p.ID, DoctorID: e.session.DoctorID, Description: desc})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	e.svc.Screener = screener{fail: true}
	if n, err := e.svc.ScreenReferrals(ctx); n != 0 || err != nil {
		t.Errorf("a failing screener: %d, %v; want nothing screened and no error", n, err)
	}
	q, _ := e.svc.ReferralQueue(ctx, doc)
	if len(q) != 2 || q[0].ID != ids[0] || q[0].Suggestion != nil {
		t.Errorf("unscreened queue %+v: want the oldest first, no suggestion", q)
	}
	e.svc.Screener = screener{}
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	q, _ = e.svc.ReferralQueue(ctx, doc)
	if len(q) != 2 || q[0].ID != ids[1] || q[0].Suggestion == nil || q[0].Suggestion.Note != "melanoma signs" {
		t.Fatalf("screened queue %+v: want the urgent one first, with its note", q)
	}
	for _, v := range q {
		if v.Status != referral.Pending {
			t.Errorf("the screener decided request %d: %s", v.ID, v.Status)
		}
	}
	if n, _ := e.svc.ScreenReferrals(ctx); n != 0 {
		t.Errorf("screened again: %d", n)
	}
	mine, _ := e.svc.Referrals(ctx, last)
	if len(mine) != 1 || mine[0].Suggestion != nil {
		t.Errorf("the patient sees the screener's suggestion: %+v", mine)
	}
}
