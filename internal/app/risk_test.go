package app_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/riskwatch"
	"github.com/fairslot/fairslot/internal/storage"
)

// setRisk stores an account's risk decision, as the monitor would.
func setRisk(t testing.TB, svc *app.Service, account int64, action string) {
	t.Helper()
	if err := svc.Store.Update(ctx, func(tx storage.Tx) error {
		return tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: account, Action: action, Score: 70, UpdatedAt: svc.Now()})
	}); err != nil {
		t.Fatal(err)
	}
}

// approve is a reviewer approving an account: its decision becomes a
// reviewed allow and its held entries are released, in one transaction.
func approve(t testing.TB, svc *app.Service, account int64) int {
	t.Helper()
	var n int
	if err := svc.Store.Update(ctx, func(tx storage.Tx) (err error) {
		// The reviewer's decision on the record first: the database stores
		// a reviewed decision, and releases held entries, only after one.
		st := fairslot.Staff{Username: fmt.Sprintf("approver-%d-%d", account, svc.Now().UnixNano()), Name: "Sec", Role: fairslot.Security}
		if err := tx.CreateStaff(ctx, &st, "h"); err != nil {
			return err
		}
		if err := tx.AppendRiskReview(ctx, &storage.RiskReview{AccountID: account, Action: "allow", Saw: 70, Reason: "approved", StaffID: st.ID, At: svc.Now()}); err != nil {
			return err
		}
		if err := tx.PutRiskAccount(ctx, storage.RiskAccount{AccountID: account, Action: "allow", Reviewed: true, Score: 70, UpdatedAt: svc.Now()}); err != nil {
			return err
		}
		n, err = svc.ReleaseHeldEntries(ctx, tx, account)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func errorKey(err error) string {
	var fe *fairslot.Error
	if errors.As(err, &fe) {
		return fe.Key
	}
	return ""
}

// bindMore binds k new identities to a at the clock's time.
func (w *world) bindMore(t testing.TB, a app.Actor, k int) []int64 {
	t.Helper()
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
	return ids
}

func riskEvents(t testing.TB, svc *app.Service) []storage.RiskEvent {
	t.Helper()
	var out []storage.RiskEvent
	if err := svc.Store.View(ctx, func(tx storage.Tx) (err error) {
		out, err = tx.RiskEvents(ctx, 0, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRiskEventsOfEachUseCase: binding, unbinding, a booking, its payment,
// its cancellation and a draw entry each append one risk event, in their
// own transaction, carrying only opaque ids: the identity's blind index,
// keyed hashes of the device and address prefix, the doctor, the release.
// No name, ID number or phone; no device of a FHIR client.
func TestRiskEventsOfEachUseCase(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	a.Device, a.Addr = "device-cookie-1", "203.0.113.0/24"
	p := e.bind(t, a, "张三", 1)
	q := e.bind(t, a, "李四", 2)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pay(ctx, a, b.ID, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(ctx, a, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unbind(ctx, a, q.ID); err != nil {
		t.Fatal(err)
	}
	// Through a FHIR client: the account's event, without the client's device.
	acting, _, err := e.svc.ForPatient(ctx, app.FHIRClientActor("his-1", ""), app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Hold(ctx, acting, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID, RequestKey: app.SystemKeyPrefix("his-1") + "k2"}); err != nil {
		t.Fatal(err)
	}

	evs := riskEvents(t, e.svc)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := []string{storage.RiskBind, storage.RiskBind, storage.RiskBook, storage.RiskPay, storage.RiskCancel, storage.RiskUnbind, storage.RiskBook}
	if !slices.Equal(kinds, want) {
		t.Fatalf("risk events %v, want %v", kinds, want)
	}
	allowed := map[string]bool{"patient": true, "device": true, "prefix": true, "doctor": true, "release": true}
	doctor := fmt.Sprint(e.session.DoctorID)
	for i, ev := range evs {
		if ev.AccountID != a.ID {
			t.Errorf("event %d (%s) is account %d's, want %d", i, ev.Kind, ev.AccountID, a.ID)
		}
		for k, v := range ev.Detail {
			if !allowed[k] {
				t.Errorf("event %d (%s) carries %q", i, ev.Kind, k)
			}
			for _, secret := range []string{"张三", "李四", residentID(1), residentID(2), "13812345678", a.Device, a.Addr} {
				if strings.Contains(v, secret) {
					t.Errorf("event %d (%s) %s = %q shows %q", i, ev.Kind, k, v, secret)
				}
			}
		}
		if _, err := hex.DecodeString(ev.Detail["patient"]); err != nil || len(ev.Detail["patient"]) < 32 {
			t.Errorf("event %d (%s) patient = %q, want the blind index in hex", i, ev.Kind, ev.Detail["patient"])
		}
		fhir := i == len(evs)-1
		if _, ok := ev.Detail["device"]; ok == fhir || len(ev.Detail["prefix"]) == 0 != fhir {
			t.Errorf("event %d (%s) device %q prefix %q, want both hashed (none through a FHIR client)", i, ev.Kind, ev.Detail["device"], ev.Detail["prefix"])
		}
	}
	if evs[0].Detail["patient"] != evs[2].Detail["patient"] || evs[0].Detail["patient"] == evs[1].Detail["patient"] {
		t.Error("the blind index does not name one identity alike across events")
	}
	if evs[0].Detail["device"] != evs[2].Detail["device"] {
		t.Error("the device hash differs between two events of one device")
	}
	for _, i := range []int{2, 3, 4, 6} {
		if evs[i].Detail["doctor"] == "" || ((i == 2 || i == 6) && evs[i].Detail["release"] == "") {
			t.Errorf("event %d (%s) = %v, want its doctor and release", i, evs[i].Kind, evs[i].Detail)
		}
	}
	if evs[2].Detail["doctor"] != doctor || evs[2].SessionID != e.session.ID {
		t.Errorf("the booking's event = %+v, want doctor %s, session %d", evs[2], doctor, e.session.ID)
	}
	if _, err := time.Parse(time.RFC3339, evs[2].Detail["release"]); err != nil {
		t.Errorf("the release %q is not RFC 3339", evs[2].Detail["release"])
	}
	// Each event reads back as the tracker's.
	for _, ev := range evs {
		if _, ok := riskwatch.Event(ev); !ok {
			t.Errorf("the monitor has no use for a %s event", ev.Kind)
		}
	}
}

// TestBotAccountIsHeldAndItsEntryTakesNoSlot: an account that binds 8
// identities at 1 a.m. on two nights is held by the monitor; its draw
// entries are stored held and take no slot in the draw, which a person's
// entry wins; its first-come booking elsewhere is refused, saying why.
func TestBotAccountIsHeldAndItsEntryTakesNoSlot(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	svc.Policy.MaxPatientsPerAccount = 10 // a hospital that lets big families bind
	c.now = time.Date(2026, 12, 8, 1, 0, 0, 0, loc)
	w := newWorld(t, svc, c, "EYE", drawRule("EYE"))
	gen := newWorld(t, svc, c, "GEN", drawRule("EYE"))
	sess := w.session(t, day, fairslot.Morning, 2)
	open := gen.session(t, day, fairslot.Morning, 2)
	m, err := riskwatch.New(svc.Store, riskwatch.Config{Rules: risk.DefaultRules(loc), Policy: risk.DefaultPolicy(), Now: svc.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc.Risk = m
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bot, patients := w.account(t, "13900000001", 4)
	c.now = time.Date(2026, 12, 9, 1, 30, 0, 0, loc) // the next night, past the day's binding limit
	patients = append(patients, w.bindMore(t, bot, 4)...)
	c.now = time.Date(2026, 12, 9, 10, 0, 0, 0, loc)
	person, mine := w.account(t, "13900000002", 2)
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot.ID); d.Action != risk.Hold {
		t.Fatalf("the bot's decision = %v (score %d, %v), want hold", d.Action, d.Score.Total, d.Score.Reasons)
	}
	if d := m.Decision(person.ID); d.Action != risk.Allow {
		t.Errorf("the person's decision = %v, want allow", d.Action)
	}

	c.now = releaseAt.Add(time.Millisecond)
	for _, p := range patients[:2] {
		v, err := svc.EnterDraw(ctx, bot, app.EntryInput{SessionID: sess.ID, PatientID: p})
		if err != nil || !v.Held {
			t.Fatalf("the bot's entry = %+v, %v; want it stored held", v, err)
		}
	}
	if v, err := svc.EnterDraw(ctx, person, app.EntryInput{SessionID: sess.ID, PatientID: mine[0]}); err != nil || v.Held {
		t.Fatalf("the person's entry = %+v, %v", v, err)
	}
	_, err = svc.Hold(ctx, bot, app.HoldInput{SessionID: open.ID, PatientID: patients[2]})
	if wantKind(t, "the held bot's first-come booking", err, fairslot.Forbidden); errorKey(err) != "error.risk.held" {
		t.Errorf("the refusal's key = %q, want risk.action.hold", errorKey(err))
	}

	c.now = releaseAt.Add(30 * time.Minute)
	if n, err := svc.RunDueDraws(ctx); n != 1 || err != nil {
		t.Fatalf("RunDueDraws = %d, %v", n, err)
	}
	es, err := svc.Entries(ctx, bot)
	if err != nil || len(es) != 2 {
		t.Fatalf("the bot's entries: %+v, %v", es, err)
	}
	for _, e := range es {
		if e.Outcome != fairslot.Skipped || e.BookingID != 0 || !strings.Contains(e.Reason, "held for review") {
			t.Errorf("the bot's entry after the draw: %s %q booking %d; want skipped, held for review, no booking", e.Outcome, e.Reason, e.BookingID)
		}
	}
	if es, _ := svc.Entries(ctx, person); len(es) != 1 || es[0].Outcome != fairslot.Won {
		t.Errorf("the person's entry: %+v, want won", es)
	}
	rec, err := svc.DrawRecord(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := release.Verify(rec); err != nil || len(rec.Entries) != 1 {
		t.Errorf("the record has %d entries (%v), want the person's one, verified", len(rec.Entries), err)
	}
	if bs, _ := svc.Bookings(ctx, bot); len(bs) != 0 {
		t.Errorf("the held bot has bookings: %+v", bs)
	}
}

// TestHeldEntriesProperty (a seeded loop): in draws of random size where
// random accounts are held, and some of those approved inside the entry
// window or only after it, a held entry never takes a slot unless approved
// inside the window; an approval inside the window restores exactly the
// entry it held — the same id and hash, in the published record, ranked
// like any other — and the draw fills as many slots as it has entries left.
func TestHeldEntriesProperty(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-2 * time.Hour)
	w := newWorld(t, svc, c, "PROP", drawRule("PROP"))
	rnd := mrand.New(mrand.NewPCG(17, 2026))
	const rounds = 12
	base, _ := time.ParseInLocation(time.DateOnly, day, loc)
	type acct struct {
		a       app.Actor
		patient int64
		held    bool
		when    string // "", "inside", "after": when a reviewer approves
	}
	var all [][]acct
	var sessions []fairslot.Session
	var slots []int
	for r := range rounds {
		date := base.AddDate(0, 0, r).Format(time.DateOnly)
		slots = append(slots, 1+rnd.IntN(4))
		sessions = append(sessions, w.session(t, date, fairslot.Morning, slots[r]))
		var accts []acct
		for i := range 2 + rnd.IntN(5) {
			a, ids := w.account(t, fmt.Sprintf("1370%03d%04d", r, i), 1)
			x := acct{a: a, patient: ids[0], held: rnd.IntN(2) == 0}
			if x.held {
				x.when = []string{"", "inside", "after"}[rnd.IntN(3)]
			}
			accts = append(accts, x)
		}
		all = append(all, accts)
	}
	for r, sess := range sessions {
		rel := releaseAt.AddDate(0, 0, r)
		c.now = rel.Add(-time.Minute)
		for _, x := range all[r] {
			action := "allow"
			if x.held {
				action = "hold"
			}
			setRisk(t, svc, x.a.ID, action)
		}
		c.now = rel.Add(time.Millisecond)
		entered := map[int64]app.EntryView{}
		for _, x := range all[r] {
			v, err := svc.EnterDraw(ctx, x.a, app.EntryInput{SessionID: sess.ID, PatientID: x.patient})
			if err != nil || v.Held != x.held {
				t.Fatalf("round %d: entry %+v, %v; want held %v", r, v, err, x.held)
			}
			entered[x.a.ID] = v
		}
		c.now = rel.Add(time.Duration(1+rnd.IntN(28)) * time.Minute)
		for _, x := range all[r] {
			if x.when == "inside" {
				if n := approve(t, svc, x.a.ID); n != 1 {
					t.Errorf("round %d: an approval inside the window released %d entries, want 1", r, n)
				}
			}
		}
		c.now = rel.Add(30 * time.Minute)
		for _, x := range all[r] {
			if x.when == "after" {
				if n := approve(t, svc, x.a.ID); n != 0 {
					t.Errorf("round %d: an approval at the window's close released %d entries, want 0", r, n)
				}
			}
		}
		if _, err := svc.RunDraw(ctx, app.System, sess.ID); err != nil {
			t.Fatal(err)
		}
		rec, err := svc.DrawRecord(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := release.Verify(rec); err != nil {
			t.Fatalf("round %d: the record does not verify: %v", r, err)
		}
		inDraw, won := 0, 0
		for _, x := range all[r] {
			es, err := svc.Entries(ctx, x.a)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(es, func(e app.EntryView) bool { return e.SessionID == sess.ID })
			if i < 0 {
				t.Fatalf("round %d: account %d's entry is gone", r, x.a.ID)
			}
			e, before := es[i], entered[x.a.ID]
			if e.ID != before.ID || e.Hash != before.Hash {
				t.Errorf("round %d: the entry became %d %s, want %d %s as entered", r, e.ID, e.Hash, before.ID, before.Hash)
			}
			inRecord := slices.ContainsFunc(rec.Entries, func(h release.Hex) bool { return hex.EncodeToString(h) == e.Hash })
			counts := !x.held || x.when == "inside"
			if counts {
				inDraw++
				if !inRecord || e.Rank < 1 || (e.Outcome != fairslot.Won && e.Outcome != fairslot.Lost) {
					t.Errorf("round %d: an entry %s took part as %s rank %d, in the record %v", r, map[bool]string{true: "approved in time", false: "never held"}[x.held], e.Outcome, e.Rank, inRecord)
				}
			} else if inRecord || e.Outcome != fairslot.Skipped || e.BookingID != 0 {
				t.Errorf("round %d: an entry held (approved %q) is %s, booking %d, in the record %v; want skipped, no booking, not in it", r, x.when, e.Outcome, e.BookingID, inRecord)
			}
			if e.Outcome == fairslot.Won {
				won++
			}
		}
		if won != min(inDraw, slots[r]) || len(rec.Slots) != won {
			t.Errorf("round %d: %d won (record: %d slots), want min(%d entries, %d slots)", r, won, len(rec.Slots), inDraw, slots[r])
		}
	}
}

// TestRiskNextDoors: a held or blocked account meets its decision through
// every door that gives a place: the app's booking and draw entry, a FHIR
// client's $hold for its patient, the waitlist (a blocked account cannot
// join; a held one waits but is offered nothing, keeping its place), and a
// draw it entered before it was held (its won place is skipped).
func TestRiskNextDoors(t *testing.T) {
	e := newEnv(t)
	held := e.login(t, "13811110001")
	blocked := e.login(t, "13811110002")
	hp := e.bind(t, held, "王五", 11)
	bp := e.bind(t, blocked, "赵六", 12)
	setRisk(t, e.svc, held.ID, "hold")
	setRisk(t, e.svc, blocked.ID, "block")

	for _, c := range []struct {
		name string
		a    app.Actor
		p    int64
		key  string
	}{{"held", held, hp.ID, "error.risk.held"}, {"blocked", blocked, bp.ID, "error.risk.blocked"}} {
		_, err := e.svc.Hold(ctx, c.a, app.HoldInput{SessionID: e.session.ID, PatientID: c.p})
		if wantKind(t, c.name+" account's booking", err, fairslot.Forbidden); errorKey(err) != c.key {
			t.Errorf("%s account's booking: key %q, want %s", c.name, errorKey(err), c.key)
		}
		name := map[int64]string{hp.ID: "王五", bp.ID: "赵六"}[c.p]
		serial := map[int64]int{hp.ID: 11, bp.ID: 12}[c.p]
		acting, _, err := e.svc.ForPatient(ctx, app.FHIRClientActor("his-1", ""), app.PatientInput{Name: name, IDType: fairslot.IDResident, IDNumber: residentID(serial)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Hold(ctx, acting, app.HoldInput{SessionID: e.session.ID, PatientID: c.p, RequestKey: app.SystemKeyPrefix("his-1") + c.name})
		if wantKind(t, "a FHIR client's $hold for the "+c.name+" account", err, fairslot.Forbidden); errorKey(err) != c.key {
			t.Errorf("a FHIR $hold for the %s account: key %q, want %s", c.name, errorKey(err), c.key)
		}
	}

	// The waitlist: fill a session, then places are freed.
	full := e.newSession(t, e.session.DepartmentID, "2026-12-12", 12)
	for i := range 12 {
		a := e.login(t, fmt.Sprintf("1381111%04d", 100+i))
		p := e.bind(t, a, "孙七", 200+i)
		if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: full.ID, PatientID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.JoinWaitlist(ctx, blocked, app.WaitInput{SessionID: full.ID, PatientID: bp.ID})
	if wantKind(t, "a blocked account joining the waitlist", err, fairslot.Forbidden); errorKey(err) != "error.risk.blocked" {
		t.Errorf("a blocked account joining the waitlist: key %q", errorKey(err))
	}
	if _, err := e.svc.JoinWaitlist(ctx, held, app.WaitInput{SessionID: full.ID, PatientID: hp.ID}); err != nil {
		t.Fatalf("a held account may wait: %v", err)
	}
	person := e.login(t, "13811110003")
	pp := e.bind(t, person, "周八", 13)
	if _, err := e.svc.JoinWaitlist(ctx, person, app.WaitInput{SessionID: full.ID, PatientID: pp.ID}); err != nil {
		t.Fatal(err)
	}
	// The first hold lapses: the place would go to the held account first.
	e.clock.Add(2 * time.Hour)
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if bs, _ := e.svc.Bookings(ctx, held); len(bs) != 0 {
		t.Errorf("the held account was offered a place: %+v", bs)
	}
	if bs, _ := e.svc.Bookings(ctx, person); len(bs) != 1 || bs[0].Status != fairslot.Held {
		t.Errorf("the person behind it on the waitlist has %+v, want the offered place", bs)
	}
	wl, err := e.svc.Waitlists(ctx, held)
	if err != nil || len(wl) != 1 || wl[0].Outcome != "" {
		t.Errorf("the held account's waitlist place = %+v, %v; want it still open", wl, err)
	}
}

// TestCancelEventNamesTheRelease: a booking made before its session's
// release (a desk's, a priority quota's) and cancelled before it carries
// the release its freed place goes out in — what the cancel-before-release
// signal times against; one cancelled after the release carries none (the
// freed place's random delay is no time the canceller can aim at).
func TestCancelEventNamesTheRelease(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(-20 * time.Minute)
	w := newWorld(t, svc, c, "SKIN")
	sess := w.session(t, day, fairslot.Morning, 4)
	a, ids := w.account(t, "13900000301", 2)
	book := func(patient int64) int64 {
		t.Helper()
		var id int64
		if err := svc.Store.Update(ctx, func(tx storage.Tx) error {
			slot, err := tx.FreeSlot(ctx, storage.SlotQuery{SessionID: sess.ID, Now: c.Now()})
			if err != nil {
				return err
			}
			b := &fairslot.Booking{Code: fmt.Sprintf("DESK%d", patient), SlotID: slot.ID, SessionID: sess.ID, DepartmentID: sess.DepartmentID,
				Date: sess.Date, PatientID: patient, AccountID: a.ID, Channel: fairslot.Online, Status: fairslot.Held,
				HeldUntil: c.Now().Add(time.Hour), FeeCents: sess.FeeCents, CreatedAt: c.Now(), UpdatedAt: c.Now()}
			err = tx.InsertBooking(ctx, b, storage.Limits{PerDepartmentPerDay: 10, PerDay: 10, Active: 10, Today: c.Now().Format(time.DateOnly)})
			id = b.ID
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	early, late := book(ids[0]), book(ids[1])
	c.now = releaseAt.Add(-3 * time.Minute)
	if _, err := svc.Cancel(ctx, a, early); err != nil {
		t.Fatal(err)
	}
	c.now = releaseAt.Add(time.Minute)
	if _, err := svc.Cancel(ctx, a, late); err != nil {
		t.Fatal(err)
	}
	var cancels []storage.RiskEvent
	for _, ev := range riskEvents(t, svc) {
		if ev.Kind == storage.RiskCancel {
			cancels = append(cancels, ev)
		}
	}
	if len(cancels) != 2 || cancels[0].Detail["release"] != releaseAt.UTC().Format(time.RFC3339) || cancels[1].Detail["release"] != "" {
		t.Fatalf("cancel events %+v; want the first naming the release %s, the second none", cancels, releaseAt.UTC().Format(time.RFC3339))
	}
	e, _ := riskwatch.Event(cancels[0])
	tr := risk.NewTracker(risk.DefaultRules(loc))
	tr.Apply(e)
	if s := tr.Score(a.ID, c.Now()); len(s.Reasons) != 1 || s.Reasons[0].Signal != risk.CancelBeforeRelease {
		t.Errorf("the early cancellation scores %+v, want cancel_before_release", s)
	}
}

// TestAPassedIdentityEntersHeld: the known gap of issue 17's review, end
// to end — a held bot unbinds a customer's identity and a fresh account,
// clean in every other way, binds it the next morning and enters the
// draw: its entry is stored held and takes no slot, like the bot's own.
func TestAPassedIdentityEntersHeld(t *testing.T) {
	svc, c, inbox, _ := openService(t, t.TempDir())
	svc.Policy.MaxPatientsPerAccount = 10
	c.now = time.Date(2026, 12, 8, 1, 0, 0, 0, loc)
	w := newWorld(t, svc, c, "EYE", drawRule("EYE"))
	sess := w.session(t, day, fairslot.Morning, 2)
	m, err := riskwatch.New(svc.Store, riskwatch.Config{Rules: risk.DefaultRules(loc), Policy: risk.DefaultPolicy(), Now: svc.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc.Risk = m
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first := *w.serial + 1
	bot, patients := w.account(t, "13900000001", 4)
	c.now = time.Date(2026, 12, 9, 1, 30, 0, 0, loc)
	w.bindMore(t, bot, 4)
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot.ID); d.Action != risk.Hold {
		t.Fatalf("the bot's decision = %v, want hold", d.Action)
	}

	c.now = time.Date(2026, 12, 9, 9, 0, 0, 0, loc)
	if err := svc.Unbind(ctx, bot, patients[0]); err != nil {
		t.Fatal(err)
	}
	fresh, _ := w.account(t, "13900000002", 0)
	c.now = time.Date(2026, 12, 9, 9, 5, 0, 0, loc)
	id := fmt.Sprintf("110105%04d0101%03d", 1940+first/1000, first%1000)
	id += string(fairslot.ResidentCheckDigit(id))
	// A known identity: the code goes to its phone on record — the bot's,
	// the scalper's own phone.
	if _, err := svc.BindPatient(ctx, fresh, app.PatientInput{Name: "病人", IDType: fairslot.IDResident, IDNumber: id}); fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Fatalf("binding a known identity: %v, want the code sent", err)
	}
	moved, err := svc.ConfirmBinding(ctx, fresh, app.BindingProof{Name: "病人", IDType: fairslot.IDResident, IDNumber: id, Code: inbox.code("13900000001")})
	if err != nil {
		t.Fatal(err)
	}
	if moved.ID != patients[0] {
		t.Fatalf("bound patient %d, want the bot's %d", moved.ID, patients[0])
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(fresh.ID); d.Action < risk.Hold {
		t.Fatalf("the fresh account given the held bot's customer = %v at %d (%v), want hold", d.Action, d.Score.Total, d.Score.Reasons)
	}
	c.now = releaseAt.Add(time.Millisecond)
	v, err := svc.EnterDraw(ctx, fresh, app.EntryInput{SessionID: sess.ID, PatientID: moved.ID})
	if err != nil || !v.Held {
		t.Fatalf("the fresh account's entry = %+v, %v; want it stored held", v, err)
	}
}
