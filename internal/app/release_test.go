package app_test

import (
	"bytes"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// world is a department with a doctor and sessions planned by the release
// rules, on a service whose clock is before their release.
type world struct {
	svc    *app.Service
	clock  *clock
	dept   fairslot.Department
	doctor fairslot.Doctor
	serial *int // identity numbers handed out
}

// day is the date of the sessions: the release (7 days ahead at 07:00) is on
// 2026-12-10, the fake clock's day.
const day = "2026-12-17"

var releaseAt = time.Date(2026, 12, 10, 7, 0, 0, 0, loc)

func newWorld(t testing.TB, svc *app.Service, c *clock, code string, rules ...release.Rule) *world {
	t.Helper()
	svc.Release = release.Default()
	svc.Release.Rules = rules
	w := &world{svc: svc, clock: c, serial: new(int)}
	err := svc.Store.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		if err := tx.CreateHospital(ctx, &h); err != nil {
			return err
		}
		cp := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		if err := tx.CreateCampus(ctx, &cp); err != nil {
			return err
		}
		w.dept = fairslot.Department{CampusID: cp.ID, Code: code, Name: "Dept " + code}
		if err := tx.CreateDepartment(ctx, &w.dept); err != nil {
			return err
		}
		w.doctor = fairslot.Doctor{DepartmentID: w.dept.ID, Name: "Dr " + code, Title: fairslot.Expert}
		return tx.CreateDoctor(ctx, &w.doctor)
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// session plans a session of n slots on date for the world's doctor.
func (w *world) session(t testing.TB, date string, period fairslot.Period, n int) fairslot.Session {
	t.Helper()
	d, _ := time.ParseInLocation(time.DateOnly, date, loc)
	s := fairslot.Session{DoctorID: w.doctor.ID, DepartmentID: w.dept.ID, Date: date, Period: period,
		Start: d.Add(8 * time.Hour), End: d.Add(12 * time.Hour), Room: "R1", FeeCents: 1000}
	if period == fairslot.Afternoon {
		s.Start, s.End = d.Add(13*time.Hour), d.Add(17*time.Hour)
	}
	slots := make([]fairslot.Slot, n)
	for i := range slots {
		ws := s.Start.Add(time.Duration(i*8/max(n, 1)) * 30 * time.Minute)
		slots[i] = fairslot.Slot{Number: i + 1, Start: ws, End: ws.Add(30 * time.Minute)}
	}
	if err := w.svc.Store.Update(ctx, func(tx storage.Tx) error { return w.svc.NewSession(ctx, tx, w.dept.Code, &s, slots) }); err != nil {
		t.Fatal(err)
	}
	return s
}

// account opens an account with k bound patients, bound long ago.
func (w *world) account(t testing.TB, phone string, k int) (app.Actor, []int64) {
	t.Helper()
	a, err := w.svc.OpenAccount(ctx, app.System, phone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Consent(ctx, a, w.svc.Privacy.Version(), "vi"); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range k {
		*w.serial++
		first := fmt.Sprintf("110105%04d0101%03d", 1940+*w.serial/1000, *w.serial%1000)
		p, err := w.svc.BindPatient(ctx, a, app.PatientInput{Name: "病人", IDType: fairslot.IDResident,
			IDNumber: first + string(fairslot.ResidentCheckDigit(first))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	return a, ids
}

func drawRule(code string) release.Rule {
	return release.Rule{Department: code, Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute)}
}

func TestDrawLifecycle(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "CARD", drawRule("CARD"))
	sess := w.session(t, day, fairslot.Morning, 3)
	var accounts []app.Actor
	var patients []int64
	for i := range 6 {
		a, ids := w.account(t, fmt.Sprintf("1390000%04d", i), 1)
		accounts, patients = append(accounts, a), append(patients, ids[0])
	}

	rel, err := svc.SessionRelease(ctx, sess.ID)
	if err != nil || rel.Mode != fairslot.Draw || rel.Commitment != "" {
		t.Fatalf("before the window: %+v, %v (the commitment is published when the window opens)", rel, err)
	}
	_, err = svc.EnterDraw(ctx, accounts[0], app.EntryInput{SessionID: sess.ID, PatientID: patients[0]})
	wantKind(t, "entry before the window", err, fairslot.Conflict)

	c.now = releaseAt.Add(time.Millisecond)
	_, err = svc.Hold(ctx, accounts[0], app.HoldInput{SessionID: sess.ID, PatientID: patients[0]})
	wantKind(t, "first-come hold of a draw session", err, fairslot.Conflict)
	first, err := svc.EnterDraw(ctx, accounts[0], app.EntryInput{SessionID: sess.ID, PatientID: patients[0]})
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.EnterDraw(ctx, accounts[0], app.EntryInput{SessionID: sess.ID, PatientID: patients[0]})
	if err != nil || again.ID != first.ID || again.Hash != first.Hash {
		t.Errorf("a repeated entry = %+v, %v; want the first entry %d back", again, err, first.ID)
	}
	for i := 1; i < 6; i++ {
		c.Add(5 * time.Minute)
		if _, err := svc.EnterDraw(ctx, accounts[i], app.EntryInput{SessionID: sess.ID, PatientID: patients[i]}); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	_, err = svc.EnterDraw(ctx, accounts[1], app.EntryInput{SessionID: sess.ID, PatientID: patients[0]})
	wantKind(t, "entering another account's patient", err, fairslot.NotFound)
	if rel, _ := svc.SessionRelease(ctx, sess.ID); rel.Commitment == "" || rel.Entries != 6 {
		t.Errorf("in the window: %+v, want the commitment and 6 entries", rel)
	}
	if n, err := svc.RunDueDraws(ctx); n != 0 || err != nil {
		t.Errorf("draws run before the close: %d, %v", n, err)
	}

	c.now = releaseAt.Add(30 * time.Minute)
	_, err = svc.EnterDraw(ctx, accounts[0], app.EntryInput{SessionID: sess.ID, PatientID: patients[0]})
	wantKind(t, "entry at the close", err, fairslot.Conflict)
	if err := svc.Sweep(ctx); err != nil { // runs the due draw
		t.Fatal(err)
	}
	_, err = svc.RunDraw(ctx, app.System, sess.ID)
	wantKind(t, "second run", err, fairslot.Conflict)

	rec, err := svc.DrawRecord(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := release.Verify(rec); err != nil {
		t.Fatalf("the real draw does not verify: %v", err)
	}
	if len(rec.Entries) != 6 || !slices.Equal(rec.Slots, []int{1, 2, 3}) {
		t.Errorf("record: %d entries, slots %v; want 6 and [1 2 3]", len(rec.Entries), rec.Slots)
	}
	won, lost := 0, 0
	for i, a := range accounts {
		es, err := svc.Entries(ctx, a)
		if err != nil || len(es) != 1 {
			t.Fatalf("entries of account %d: %+v, %v", i, es, err)
		}
		e := es[0]
		if !e.Drawn || e.Of != 6 || e.Rank < 1 || e.Rank > 6 {
			t.Errorf("entry view %+v", e)
		}
		if r := rec.Allocation[e.Rank-1]; fmt.Sprintf("%x", []byte(r.Entry)) != e.Hash || r.Outcome != e.Outcome {
			t.Errorf("account %d cannot find its entry at its rank in the record", i)
		}
		switch e.Outcome {
		case fairslot.Won:
			won++
			b, err := svc.Booking(ctx, a, e.BookingID)
			if err != nil || b.Status != fairslot.Held || !b.HeldUntil.Equal(c.now.Add(30*time.Minute)) {
				t.Errorf("winner's booking %+v, %v", b.Booking, err)
			}
		case fairslot.Lost:
			lost++
			wl, _ := svc.Waitlists(ctx, a)
			if len(wl) != 1 || wl[0].Position < 1 {
				t.Errorf("a loser is not on the waitlist in draw order: %+v", wl)
			}
		}
	}
	if won != 3 || lost != 3 {
		t.Errorf("won %d, lost %d; want 3 and 3", won, lost)
	}
	// A winner who does not pay: the slot goes to the first loser in draw
	// order, not back to first come.
	var firstLoser app.Actor
	for _, r := range rec.Allocation {
		if r.Outcome == fairslot.Lost {
			for i, a := range accounts {
				es, _ := svc.Entries(ctx, a)
				if es[0].Rank == r.Rank {
					firstLoser = accounts[i]
				}
			}
			break
		}
	}
	c.Add(31 * time.Minute)
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	bs, _ := svc.Bookings(ctx, firstLoser)
	if len(bs) != 1 || bs[0].Status != fairslot.Held {
		t.Errorf("the first loser's bookings after the winners' holds lapsed: %+v", bs)
	}
	storagetest.CheckNoDoubles(t, svc.Store, sess.ID)
}

// TestFairness: 2,000 human patients enter once each at random moments of
// the 30-minute window; 40 scalper identities over 10 accounts enter 100
// times a second from the first millisecond (simulated for the window's
// first 10 seconds: 10,000 attempts). The scalpers' wins X in a draw of 30
// slots are compared with the hypergeometric distribution of a fair draw
// (N = 2,040 entries, K = 40 scalper entries, n = 30 winners): the test fails
// when P(X ≥ observed) < 1e-4, so a fair draw fails it once in 10,000 runs.
// The same crowd against a first-come session of 30 slots is printed beside it.
func TestFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("fairness run: 2,040 patients")
	}
	const humans, scalperAccounts, perScalper, slots = 2000, 10, 4, 30
	svc, c, _, _ := openServiceTB(t, t.TempDir(), "NORMAL")
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "CARD", drawRule("CARD"))
	svc.Release.EntriesPerAccount = perScalper
	drawn := w.session(t, day, fairslot.Morning, slots)
	// A second doctor, released first come, for the baseline.
	fcDoctor := fairslot.Doctor{DepartmentID: w.dept.ID, Name: "Dr FC", Title: fairslot.Expert}
	if err := svc.Store.Update(ctx, func(tx storage.Tx) error { return tx.CreateDoctor(ctx, &fcDoctor) }); err != nil {
		t.Fatal(err)
	}
	svc.Release.Rules = append(svc.Release.Rules, release.Rule{DoctorID: fcDoctor.ID, Mode: fairslot.FirstCome})
	fcWorld := *w
	fcWorld.doctor = fcDoctor
	firstCome := fcWorld.session(t, "2026-12-17", fairslot.Afternoon, slots)

	type actor struct {
		a        app.Actor
		patients []int64
		scalper  bool
	}
	var crowd []actor
	for i := range humans {
		a, ids := w.account(t, fmt.Sprintf("137%08d", i), 1)
		crowd = append(crowd, actor{a, ids, false})
	}
	for i := range scalperAccounts {
		a, ids := w.account(t, fmt.Sprintf("136%08d", i), perScalper)
		crowd = append(crowd, actor{a, ids, true})
	}
	// Events in time order: each human once at a random moment; each scalper
	// account every 10 ms for 10 s, cycling through its identities.
	type event struct {
		at  time.Duration
		who int
		k   int
	}
	rnd := mrand.New(mrand.NewPCG(7, 11))
	var evs []event
	for i := range humans {
		evs = append(evs, event{time.Duration(rnd.Int64N(int64(30*time.Minute - time.Millisecond))), i, 0})
	}
	for s := range scalperAccounts {
		for k, at := 0, time.Millisecond; at < 10*time.Second; k, at = k+1, at+10*time.Millisecond {
			evs = append(evs, event{at, humans + s, k})
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return int(a.at - b.at) })

	run := func(sess fairslot.Session, act func(actor, int64) error) {
		for _, ev := range evs {
			c.now = releaseAt.Add(ev.at)
			who := crowd[ev.who]
			err := act(who, who.patients[ev.k%len(who.patients)])
			if err != nil && !who.scalper && fairslot.ErrorKind(err) != fairslot.Conflict {
				t.Fatalf("a human's request: %v", err)
			}
		}
	}
	run(drawn, func(x actor, p int64) error {
		_, err := svc.EnterDraw(ctx, x.a, app.EntryInput{SessionID: drawn.ID, PatientID: p})
		return err
	})
	run(firstCome, func(x actor, p int64) error { // book and pay at once
		b, err := svc.Hold(ctx, x.a, app.HoldInput{SessionID: firstCome.ID, PatientID: p})
		if err != nil {
			return err
		}
		_, err = svc.Pay(ctx, x.a, b.ID, fmt.Sprint("pay-", b.ID))
		return err
	})
	c.now = releaseAt.Add(30 * time.Minute)
	if _, err := svc.RunDueDraws(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := svc.DrawRecord(ctx, drawn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := release.Verify(rec); err != nil {
		t.Fatal(err)
	}
	scalperAccount := map[int64]bool{}
	for _, x := range crowd[humans:] {
		scalperAccount[x.a.ID] = true
	}
	share := func(sess fairslot.Session) (scalpers, total int) {
		svc.Store.View(ctx, func(tx storage.Tx) error {
			bs, err := tx.SessionBookings(ctx, sess.ID)
			for _, b := range bs {
				if b.Status.HoldsSlot() {
					total++
					if scalperAccount[b.AccountID] {
						scalpers++
					}
				}
			}
			return err
		})
		return scalpers, total
	}
	ds, dt := share(drawn)
	fs, ft := share(firstCome)
	const n, k = humans + scalperAccounts*perScalper, scalperAccounts * perScalper
	p := hypergeomTail(n, k, dt, ds)
	t.Logf("identities: %d humans, %d scalper identities (%.1f%% of identities)", humans, k, 100*float64(k)/n)
	t.Logf("draw:       scalpers won %d of %d slots (%.1f%%); expected %.2f; P(X ≥ %d | fair draw) = %.3g", ds, dt, 100*float64(ds)/float64(dt),
		float64(dt)*k/n, ds, p)
	t.Logf("first come: scalpers took %d of %d slots (%.1f%%)", fs, ft, 100*float64(fs)/float64(ft))
	if len(rec.Entries) != n {
		t.Errorf("%d entries in the draw, want %d (one per identity)", len(rec.Entries), n)
	}
	if dt != slots || p < 1e-4 {
		t.Errorf("draw: scalpers won %d of %d; a fair draw gives so many with probability %.3g < 1e-4", ds, dt, p)
	}
	if fs < slots*9/10 {
		t.Errorf("first come: scalpers took only %d of %d; the baseline should show them taking nearly all", fs, ft)
	}
}

// hypergeomTail is P(X ≥ x) for X the number of marked items among n drawn
// without replacement from N items of which K are marked.
func hypergeomTail(N, K, n, x int) float64 {
	lchoose := func(a, b int) float64 {
		if b < 0 || b > a {
			return math.Inf(-1)
		}
		la, _ := math.Lgamma(float64(a + 1))
		lb, _ := math.Lgamma(float64(b + 1))
		lc, _ := math.Lgamma(float64(a - b + 1))
		return la - lb - lc
	}
	p := 0.0
	for i := x; i <= min(n, K); i++ {
		p += math.Exp(lchoose(K, i) + lchoose(N-K, n-i) - lchoose(N, n))
	}
	return p
}

// TestLaundering replays incident I1's laundering: a scalper holds a slot
// for a buyer, cancels it at 01:00 and re-books at once under the buyer's
// identity. The re-booking fails, leaves a risk event, and the freed slot
// goes to the waitlist head.
func TestLaundering(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "PED")
	sess := w.session(t, day, fairslot.Morning, 2)
	scalper, fronts := w.account(t, "13600000001", 2) // a front identity, and the buyer's bound too
	buyerAcct, buyer := w.account(t, "13600000002", 1)
	filler, fill := w.account(t, "13600000003", 1)
	head, heads := w.account(t, "13600000004", 1)
	scalper.Device, scalper.Addr = "phone-1", "10.0.0.0/24"
	buyerAcct.Device, buyerAcct.Addr = "phone-1", "10.0.0.0/24" // the scalper works the buyer's account from the same phone

	c.now = releaseAt.Add(time.Second)
	held, err := svc.Hold(ctx, scalper, app.HoldInput{SessionID: sess.ID, PatientID: fronts[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Pay(ctx, scalper, held.ID, "p1"); err != nil {
		t.Fatal(err)
	}
	filled, err := svc.Hold(ctx, filler, app.HoldInput{SessionID: sess.ID, PatientID: fill[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Pay(ctx, filler, filled.ID, "p2"); err != nil {
		t.Fatal(err)
	}
	wl, err := svc.JoinWaitlist(ctx, head, app.WaitInput{SessionID: sess.ID, PatientID: heads[0]})
	if err != nil || wl.Position != 1 {
		t.Fatalf("waitlist head: %+v, %v", wl, err)
	}

	c.now = time.Date(2026, 12, 11, 1, 0, 0, 0, loc)
	if _, err := svc.Cancel(ctx, scalper, held.ID); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Second)
	_, err = svc.Hold(ctx, scalper, app.HoldInput{SessionID: sess.ID, PatientID: fronts[1]})
	wantKind(t, "re-booking from the cancelling account", err, fairslot.Limited)
	_, err = svc.Hold(ctx, buyerAcct, app.HoldInput{SessionID: sess.ID, PatientID: buyer[0]})
	wantKind(t, "re-booking under the buyer's identity", err, fairslot.Conflict) // the slot went to the waitlist

	bs, err := svc.Bookings(ctx, head)
	if err != nil || len(bs) != 1 || bs[0].Status != fairslot.Held || bs[0].SlotID != held.SlotID {
		t.Fatalf("the waitlist head's bookings: %+v, %v; want the freed slot held", bs, err)
	}
	wls, _ := svc.Waitlists(ctx, head)
	if len(wls) != 1 || wls[0].Outcome != "offered" || wls[0].BookingID != bs[0].ID {
		t.Errorf("the head's waitlist entry: %+v", wls)
	}
	admin := app.Actor{Kind: "staff", Role: fairslot.Admin}
	risks, err := svc.RiskEvents(ctx, admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range risks {
		if r.Kind == "rebook_after_cancel" { // the others are what every account does (risk.go)
			kinds = append(kinds, r.Detail["same"]+"/"+r.Detail["refused"])
		}
	}
	if !slices.Equal(kinds, []string{"account,address,device/true", "address,device/false"}) {
		t.Errorf("risk events %v; want the cancelling account (refused) and the buyer's account on the same device and address (recorded)", kinds)
	}

	// The head does not pay: the slot reappears first come only after the
	// random delay, never at once.
	c.Add(31 * time.Minute)
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Hold(ctx, buyerAcct, app.HoldInput{SessionID: sess.ID, PatientID: buyer[0]})
	wantKind(t, "booking the lapsed offer's slot at once", err, fairslot.Conflict)
	c.Add(31 * time.Minute)
	if _, err := svc.Hold(ctx, buyerAcct, app.HoldInput{SessionID: sess.ID, PatientID: buyer[0]}); err != nil {
		t.Errorf("after the delay the slot is open first come: %v", err)
	}
	storagetest.CheckNoDoubles(t, svc.Store, sess.ID)
}

func TestPriorityInterleaveAndExtraSlots(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "ORTH", release.Rule{Mode: fairslot.FirstCome, ReservedPriority: 2})
	today := "2026-12-10"
	sess := w.session(t, today, fairslot.Afternoon, 10)
	c.now = time.Date(2026, 12, 10, 13, 5, 0, 0, loc)
	desk := app.Actor{Kind: "staff", Role: fairslot.Registrar}
	doctor := app.Actor{Kind: "staff", Role: fairslot.DoctorRole, Scope: app.Scope{DoctorID: sess.DoctorID}}
	walkIn := func(i int, prio string, extra bool) error {
		// Born in the 1980s, or the 1930s for an elderly walk-in: the
		// elderly group comes from the ID's birth date (issue 13 item 2).
		born := 80 + i
		if prio == "elderly" {
			born = 30 + i
		}
		first := fmt.Sprintf("11010519%02d0101%03d", born%100, i)
		_, err := svc.WalkIn(ctx, desk, app.WalkInInput{SessionID: sess.ID, Priority: prio, Extra: extra, Patient: app.PatientInput{
			Name: "病人", IDType: fairslot.IDResident, IDNumber: first + string(fairslot.ResidentCheckDigit(first))}})
		return err
	}
	for i := range 8 {
		if err := walkIn(i, "", false); err != nil {
			t.Fatalf("walk-in %d: %v", i, err)
		}
	}
	if err := walkIn(8, "", false); fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Errorf("a 9th general walk-in took a reserved slot: %v", err)
	}
	wantKind(t, "an unknown priority group", walkIn(9, "vip", false), fairslot.Invalid)
	for i := 10; i < 12; i++ {
		if err := walkIn(i, "elderly", false); err != nil {
			t.Fatalf("priority walk-in: %v", err)
		}
	}
	if err := walkIn(12, "", true); fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Errorf("an extra walk-in without an extra slot: %v", err)
	}
	_, err := svc.AddExtraSlot(ctx, doctor, sess.ID, app.ExtraSlotInput{Reason: " "})
	wantKind(t, "an extra slot without a reason", err, fairslot.Invalid)
	_, err = svc.AddExtraSlot(ctx, desk, sess.ID, app.ExtraSlotInput{Reason: "referred from ER"})
	wantKind(t, "an extra slot by the desk", err, fairslot.Forbidden)
	slot, err := svc.AddExtraSlot(ctx, doctor, sess.ID, app.ExtraSlotInput{Reason: "referred from ER"})
	if err != nil || slot.Number != 11 || slot.Quota != fairslot.QuotaExtra {
		t.Fatalf("extra slot %+v, %v", slot, err)
	}
	if err := walkIn(12, "", true); err != nil {
		t.Fatalf("walk-in into the extra slot: %v", err)
	}
	// The addition is audited; the reason, free text, is sealed in its own
	// row and nowhere in the clear.
	var audited bool
	var sealed []byte
	svc.Store.View(ctx, func(tx storage.Tx) error {
		evs, _ := tx.AuditEvents(ctx, 0, 1000)
		for _, e := range evs {
			audited = audited || (e.Action == "slot.add_extra" && e.Subject == fmt.Sprintf("slot:%d", slot.ID))
			if strings.Contains(fmt.Sprint(e.Detail), "referred from ER") {
				t.Errorf("the extra slot's reason is in the audit log in clear: %v", e.Detail)
			}
		}
		sealed, _ = tx.ExtraSlotReason(ctx, slot.ID)
		return nil
	})
	if !audited {
		t.Error("the extra slot is not in the audit log")
	}
	if bytes.Contains(sealed, []byte("referred")) {
		t.Error("the extra slot's reason is stored in clear")
	}
	if got, err := svc.Vault.Open(app.ExtraSlotReasonField(slot.ID), sealed); err != nil || got != "referred from ER" {
		t.Errorf("the sealed reason opens to %q, %v", got, err)
	}
	// 8 general, then 2 priority, then 1 extra in the queue: the calls go
	// P N N P N N N ... (one in every three to a priority patient).
	var got []bool
	for range 11 {
		item, err := svc.CallNext(ctx, doctor, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, item.Priority != "")
		if err := svc.Complete(ctx, doctor, item.BookingID); err != nil {
			t.Fatal(err)
		}
	}
	want := []bool{true, false, false, true, false, false, false, false, false, false, false}
	if !slices.Equal(got, want) {
		t.Errorf("call order (priority?) %v, want %v", got, want)
	}
}

func TestWaitlistRules(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(time.Minute)
	w := newWorld(t, svc, c, "DERM")
	sess := w.session(t, day, fairslot.Morning, 1)
	other := w.session(t, day, fairslot.Afternoon, 1)
	a, ps := w.account(t, "13500000001", 1)
	b, qs := w.account(t, "13500000002", 1)
	d, rs := w.account(t, "13500000003", 1)

	_, err := svc.JoinWaitlist(ctx, b, app.WaitInput{SessionID: sess.ID, PatientID: qs[0]})
	wantKind(t, "joining while places are free", err, fairslot.Conflict)
	if _, err := svc.Hold(ctx, a, app.HoldInput{SessionID: sess.ID, PatientID: ps[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Hold(ctx, d, app.HoldInput{SessionID: other.ID, PatientID: rs[0]}); err != nil {
		t.Fatal(err)
	}
	any, err := svc.JoinWaitlist(ctx, b, app.WaitInput{SessionID: sess.ID, PatientID: qs[0], AnySession: true})
	if err != nil || any.SessionID != 0 || any.Position != 1 {
		t.Fatalf("any-session waitlist: %+v, %v", any, err)
	}
	_, err = svc.JoinWaitlist(ctx, b, app.WaitInput{SessionID: other.ID, PatientID: qs[0]})
	wantKind(t, "joining twice for one doctor and date", err, fairslot.Conflict)
	left, err := svc.LeaveWaitlist(ctx, b, any.ID)
	if err != nil || left.Outcome != "left" || left.Open() {
		t.Fatalf("leave: %+v, %v", left, err)
	}
	_, err = svc.LeaveWaitlist(ctx, b, any.ID)
	wantKind(t, "leaving twice", err, fairslot.Conflict)
	_, err = svc.LeaveWaitlist(ctx, a, any.ID)
	wantKind(t, "leaving another account's entry", err, fairslot.NotFound)
	any, err = svc.JoinWaitlist(ctx, b, app.WaitInput{SessionID: other.ID, PatientID: qs[0], AnySession: true})
	if err != nil {
		t.Fatal(err)
	}
	// The afternoon's hold lapses: the any-session entry gets it, with the
	// offer's payment deadline.
	c.Add(16 * time.Minute)
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	bs, _ := svc.Bookings(ctx, b)
	if len(bs) != 1 || bs[0].Status != fairslot.Held || !bs[0].HeldUntil.Equal(c.now.Add(30*time.Minute)) {
		t.Fatalf("offer from the any-session waitlist: %+v", bs)
	}
	// After the waitlist closes (23:00 the day before), nobody joins.
	c.now = time.Date(2026, 12, 16, 23, 0, 0, 0, loc)
	_, err = svc.JoinWaitlist(ctx, d, app.WaitInput{SessionID: sess.ID, PatientID: rs[0]})
	wantKind(t, "joining after the close", err, fairslot.Conflict)
}

// TestReleaseJitter: a first-come session with jitter opens at a random
// moment after the published release time, not before.
func TestReleaseJitter(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "OPH", release.Rule{Mode: fairslot.FirstCome, Jitter: fairslot.Duration(10 * time.Minute)})
	sess := w.session(t, day, fairslot.Morning, 2)
	a, ps := w.account(t, "13400000001", 1)
	var opens time.Time
	svc.Store.View(ctx, func(tx storage.Tx) error {
		rel, err := tx.Release(ctx, sess.ID)
		opens = rel.Opens
		return err
	})
	if opens.Before(releaseAt) || !opens.Before(releaseAt.Add(10*time.Minute)) {
		t.Fatalf("opens %v, want in [07:00, 07:10)", opens)
	}
	if v, _ := svc.SessionRelease(ctx, sess.ID); !v.OpensAfter.Equal(releaseAt) {
		t.Errorf("the published release time %v, want %v (the jittered moment stays unpublished)", v.OpensAfter, releaseAt)
	}
	c.now = opens.Add(-time.Millisecond)
	_, err := svc.Hold(ctx, a, app.HoldInput{SessionID: sess.ID, PatientID: ps[0]})
	wantKind(t, "a hold just before the jittered opening", err, fairslot.Conflict)
	c.now = opens
	if _, err := svc.Hold(ctx, a, app.HoldInput{SessionID: sess.ID, PatientID: ps[0]}); err != nil {
		t.Errorf("a hold at the opening: %v", err)
	}
}

// TestDrawRunsOnceOnSeveralNodes: three services on one PostgreSQL database
// (as the online role) all try to run a due draw at the same moment; it runs
// exactly once, and its record verifies.
func TestDrawRunsOnceOnSeveralNodes(t *testing.T) {
	_, online := freshPostgres(t)
	dir := t.TempDir()
	var nodes []*app.Service
	c := &clock{now: releaseAt.Add(-time.Hour)}
	for range 3 {
		svc, _, _, _ := serviceOn(t, online(), dir) // one keyset for all
		svc.Now = c.Now
		nodes = append(nodes, svc)
	}
	w := newWorld(t, nodes[0], c, "CARD", drawRule("CARD"))
	for _, n := range nodes[1:] {
		n.Release = nodes[0].Release
	}
	sess := w.session(t, day, fairslot.Morning, 5)
	c.now = releaseAt.Add(time.Minute)
	for i := range 20 {
		a, ps := w.account(t, fmt.Sprintf("1330000%04d", i), 1)
		if _, err := nodes[i%3].EnterDraw(ctx, a, app.EntryInput{SessionID: sess.ID, PatientID: ps[0]}); err != nil {
			t.Fatal(err)
		}
	}
	c.now = releaseAt.Add(30 * time.Minute)
	var wg sync.WaitGroup
	ran := make([]int, len(nodes))
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ran[i], errs[i] = n.RunDueDraws(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
		total += ran[i]
	}
	if total != 1 {
		t.Errorf("the draw ran %d times (%v), want once", total, ran)
	}
	rec, err := nodes[2].DrawRecord(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := release.Verify(rec); err != nil {
		t.Errorf("record: %v", err)
	}
	if n := storagetest.CheckNoDoubles(t, nodes[0].Store, sess.ID); n != 5 {
		t.Errorf("%d bookings after the draw, want 5", n)
	}
}

// TestBindingAgeAndEntryCap: an identity bound minutes before the release is
// of no use when the hospital sets a minimum binding age, and an account's
// entries per release day are capped.
func TestBindingAgeAndEntryCap(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "CARD", drawRule("CARD"))
	svc.Release.EntriesPerAccount = 2
	sess := w.session(t, day, fairslot.Morning, 2)
	old, olds := w.account(t, "13100000001", 3)
	svc.Policy.MinBindingAge = fairslot.Duration(24 * time.Hour)
	c.now = releaseAt // the release, an hour after binding
	_, err := svc.EnterDraw(ctx, old, app.EntryInput{SessionID: sess.ID, PatientID: olds[0]})
	wantKind(t, "an entry for a patient bound an hour ago", err, fairslot.Limited)
	svc.Policy.MinBindingAge = 0
	for i, p := range olds {
		_, err := svc.EnterDraw(ctx, old, app.EntryInput{SessionID: sess.ID, PatientID: p})
		if i < 2 && err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if i == 2 {
			wantKind(t, "a third entry with a cap of 2", err, fairslot.Limited)
		}
	}
}

// TestPriorityWalkInTakesAReservedSlotFirst: with general and reserved
// slots free, a priority walk-in takes the reserved one, leaving the general
// slot to others.
func TestPriorityWalkInTakesAReservedSlotFirst(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-time.Hour)
	w := newWorld(t, svc, c, "ENT", release.Rule{Mode: fairslot.FirstCome, ReservedPriority: 1})
	sess := w.session(t, "2026-12-10", fairslot.Afternoon, 3)
	c.now = time.Date(2026, 12, 10, 13, 5, 0, 0, loc)
	first := "11010519300101077"
	r, err := svc.WalkIn(ctx, app.Actor{Kind: "staff", Role: fairslot.Registrar}, app.WalkInInput{SessionID: sess.ID, Priority: "elderly",
		Patient: app.PatientInput{Name: "老人", IDType: fairslot.IDResident, IDNumber: first + string(fairslot.ResidentCheckDigit(first))}})
	if err != nil {
		t.Fatal(err)
	}
	var quota fairslot.Quota
	svc.Store.View(ctx, func(tx storage.Tx) error {
		sl, err := tx.Slot(ctx, r.Booking.SlotID)
		quota = sl.Quota
		return err
	})
	if quota != fairslot.QuotaPriority {
		t.Errorf("a priority walk-in took a %s slot, want the reserved priority one", quota)
	}
}
