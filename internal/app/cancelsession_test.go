package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/storage"
)

// wantKey checks err is a fairslot error with the message key key.
func wantKey(t *testing.T, what string, err error, key string) {
	t.Helper()
	var fe *fairslot.Error
	if !errors.As(err, &fe) || fe.Key != key {
		t.Errorf("%s: error = %v, want key %s", what, err, key)
	}
}

// admin creates an admin login and returns it as an actor.
func (e *env) admin(t *testing.T) app.Actor {
	t.Helper()
	st := fairslot.Staff{Username: "boss", Name: "Boss", Role: fairslot.Admin}
	if err := e.svc.Store.Update(ctx, func(tx storage.Tx) error { return tx.CreateStaff(ctx, &st, staffPasswordHash()) }); err != nil {
		t.Fatal(err)
	}
	return app.Actor{Kind: storage.StaffToken, ID: st.ID, Role: fairslot.Admin}
}

// paymentOf reads a payment by its key.
func (e *env) paymentOf(t *testing.T, key string) (p storage.Payment) {
	t.Helper()
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { p, err = tx.Payment(ctx, key); return err }); err != nil {
		t.Fatal(err)
	}
	return p
}

// A session with a paid booking (its account in Vietnamese), a held one
// (English) and a waitlisted patient (Chinese) is cancelled by an admin:
// each account is told once in its language with the masked name only,
// the payment is refunded and recorded, the waitlist place closed, the
// bookings read as cancelled by the hospital; a second cancellation
// changes nothing; nobody else may cancel; and no door takes a new claim
// on the session afterwards.
func TestCancelSession(t *testing.T) { testCancelSession(t, newEnv(t)) }

func TestCancelSessionPostgres(t *testing.T) {
	_, online := freshPostgres(t)
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, online(), e.dir)
	e.seed(t)
	testCancelSession(t, e)
}

func testCancelSession(t *testing.T, e *env) {
	sess := e.newSession(t, e.session.DepartmentID, "2026-12-12", 2) // its waitlist closes the day before
	type patient struct {
		a    app.Actor
		p    fairslot.Patient
		lang string
		name string
	}
	mk := func(phone, name, lang string, serial int) patient {
		a := e.login(t, phone)
		if err := e.svc.SetLanguage(ctx, a, lang); err != nil {
			t.Fatal(err)
		}
		return patient{a, e.bind(t, a, name, serial), lang, name}
	}
	paid, held, waiting := mk("13811110001", "阮文安", "vi", 11), mk("13811110002", "王小明", "en", 12), mk("13811110003", "李大山", "zh-CN", 13)
	pb, err := e.svc.Hold(ctx, paid.a, app.HoldInput{SessionID: sess.ID, PatientID: paid.p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pay(ctx, paid.a, pb.ID, "pay-cancel-1"); err != nil {
		t.Fatal(err)
	}
	hb, err := e.svc.Hold(ctx, held.a, app.HoldInput{SessionID: sess.ID, PatientID: held.p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.JoinWaitlist(ctx, waiting.a, app.WaitInput{SessionID: sess.ID, PatientID: waiting.p.ID}); err != nil {
		t.Fatal(err)
	}

	admin := e.admin(t)
	for _, tt := range []struct {
		who  string
		a    app.Actor
		kind fairslot.Kind
	}{
		{"the desk", e.staff(t, "desk"), fairslot.Forbidden},
		{"a doctor", e.staff(t, "doc"), fairslot.Forbidden},
		{"a patient", paid.a, fairslot.Unauthorized},
		{"nobody", app.Actor{}, fairslot.Unauthorized},
	} {
		_, err := e.svc.CancelSession(ctx, tt.a, sess.ID, "doctor ill")
		wantKind(t, tt.who+" cancelling a session", err, tt.kind)
		_, err = e.svc.CancelSessionPreview(ctx, tt.a, sess.ID)
		wantKind(t, tt.who+" previewing a cancellation", err, tt.kind)
	}
	_, err = e.svc.CancelSession(ctx, admin, sess.ID, "  ")
	wantKey(t, "no reason", err, "error.session.cancel_reason")

	pre, err := e.svc.CancelSessionPreview(ctx, admin, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pre.Bookings != 2 || pre.Paid != 1 || pre.RefundCents != sess.FeeCents || pre.Waitlist != 1 || pre.Done {
		t.Errorf("preview = %+v; want 2 bookings, 1 paid (%d), 1 waitlist place, not done", pre, sess.FeeCents)
	}
	if got, _ := e.outboxed(t, notify.KeySessionCancelled); len(got) != 0 {
		t.Fatalf("the preview wrote messages: %+v", got)
	}

	res, err := e.svc.CancelSession(ctx, admin, sess.ID, "Dr Extra is ill")
	if err != nil {
		t.Fatal(err)
	}
	want := app.CancelSessionResult{Bookings: 2, Paid: 1, RefundCents: sess.FeeCents, Refunded: 1, Waitlist: 1, Told: 3, Done: true}
	if got := (app.CancelSessionResult{Bookings: res.Bookings, Paid: res.Paid, RefundCents: res.RefundCents, Refunded: res.Refunded,
		Entries: res.Entries, Waitlist: res.Waitlist, Told: res.Told, Done: res.Done}); got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}

	checkTold := func() {
		t.Helper()
		booked, btexts := e.outboxed(t, notify.KeySessionCancelled)
		waits, wtexts := e.outboxed(t, notify.KeySessionCancelledWaiting)
		bodies, texts := append(booked, waits...), append(btexts, wtexts...)
		if len(bodies) != 3 || len(booked) != 2 {
			t.Fatalf("messages = %q; want one to each of the three accounts, two about bookings", texts)
		}
		for _, tt := range []struct {
			pt       patient
			key      string
			contains []string
		}{
			{paid, notify.KeySessionCancelled, []string{"bệnh viện đã hủy", "阮*", "hoàn lại"}},
			{held, notify.KeySessionCancelled, []string{"the hospital has cancelled", "王*", "Dr Extra", "08:00–20:00"}},
			{waiting, notify.KeySessionCancelledWaiting, []string{"医院已停诊", "李*", "候补"}},
		} {
			n := 0
			for i, b := range bodies {
				if b.Lang != tt.pt.lang || b.Key != tt.key {
					continue
				}
				n++
				for _, w := range tt.contains {
					if !strings.Contains(texts[i], w) {
						t.Errorf("%s message lacks %q: %q", tt.pt.lang, w, texts[i])
					}
				}
				full := []rune(tt.pt.name)
				for _, secret := range []string{"阮文安", "王小明", "李大山", string(full[1:]), pb.Code, hb.Code} {
					if strings.Contains(texts[i], secret) {
						t.Errorf("the message holds %q: %q", secret, texts[i])
					}
				}
				if strings.Contains(texts[i], "is ill") {
					t.Errorf("the admin's reason went to a patient: %q", texts[i])
				}
				if tt.pt.a.ID == held.a.ID && strings.Contains(texts[i], "refunded") {
					t.Errorf("an unpaid hold is told of a refund: %q", texts[i])
				}
			}
			if n != 1 {
				t.Errorf("%s account told %d times, want once", tt.pt.lang, n)
			}
		}
	}
	checkTold()

	if p := e.paymentOf(t, fmt.Sprintf("%d:pay-cancel-1", paid.a.ID)); p.Status != storage.PaymentRefunded {
		t.Errorf("the paid booking's payment is %s, want refunded", p.Status)
	}
	if c, _ := e.pay.Status(ctx, fmt.Sprintf("%d:pay-cancel-1", paid.a.ID)); c.State != payment.Refunded {
		t.Errorf("the provider holds %s for the payment, want refunded", c.State)
	}
	for _, tt := range []struct {
		pt patient
		id int64
	}{{paid, pb.ID}, {held, hb.ID}} {
		v, err := e.svc.Booking(ctx, tt.pt.a, tt.id)
		if err != nil || v.Status != fairslot.Cancelled || v.CancelledBy != fairslot.CancelledByHospital {
			t.Errorf("booking %d after the cancellation = %s by %q, %v; want cancelled by the hospital", tt.id, v.Status, v.CancelledBy, err)
		}
	}
	ws, err := e.svc.Waitlists(ctx, waiting.a)
	if err != nil || len(ws) != 1 || ws[0].State != "cancelled" || !ws[0].Session.Cancelled {
		t.Errorf("waitlist after the cancellation = %+v, %v; want one place, cancelled", ws, err)
	}
	if v, err := e.svc.Session(ctx, sess.ID); err != nil || !v.Cancelled() || v.Remaining != 0 || v.Release.Bookable {
		t.Errorf("session view = cancelled %v, %d remaining, bookable %v, %v; want cancelled, none, not bookable", v.Cancelled(), v.Remaining, v.Release.Bookable, err)
	}

	// Twice: refused, nothing refunded or sent again.
	refunding := e.auditCount(t, "payment.refunding")
	_, err = e.svc.CancelSession(ctx, admin, sess.ID, "again")
	wantKey(t, "cancelling twice", err, "error.session.already_cancelled")
	_, err = e.svc.CancelSessionPreview(ctx, admin, sess.ID)
	wantKey(t, "previewing a cancelled session", err, "error.session.already_cancelled")
	if got := e.auditCount(t, "payment.refunding"); got != refunding {
		t.Errorf("refunds begun after a second cancel = %d, want %d", got, refunding)
	}
	checkTold()
	if got := e.auditCount(t, "session.cancel"); got != 1 {
		t.Errorf("session.cancel audit records = %d, want 1", got)
	}

	// Every door refuses a new claim on the session.
	other := mk("13811110004", "赵四", "en", 14)
	_, err = e.svc.Hold(ctx, other.a, app.HoldInput{SessionID: sess.ID, PatientID: other.p.ID})
	wantKey(t, "a hold", err, "error.session.cancelled")
	_, err = e.svc.JoinWaitlist(ctx, other.a, app.WaitInput{SessionID: sess.ID, PatientID: other.p.ID})
	wantKey(t, "joining the waitlist", err, "error.session.cancelled")
	_, err = e.svc.JoinWaitlist(ctx, other.a, app.WaitInput{SessionID: sess.ID, PatientID: other.p.ID, AnySession: true})
	wantKey(t, "joining the doctor's day's waitlist", err, "error.session.cancelled")
	_, err = e.svc.EnterDraw(ctx, other.a, app.EntryInput{SessionID: sess.ID, PatientID: other.p.ID})
	wantKey(t, "entering a draw", err, "error.session.cancelled")
	_, err = e.svc.Pay(ctx, held.a, hb.ID, "pay-late")
	if err == nil {
		t.Error("paying a hold of a cancelled session succeeded")
	}
	desk := e.staff(t, "desk")
	_, err = e.svc.CheckIn(ctx, desk, pb.Code, residentID(11)[14:])
	if err == nil {
		t.Error("checking in a booking of a cancelled session succeeded")
	}
	walkIn := app.WalkInInput{SessionID: sess.ID, Patient: app.PatientInput{Name: "钱五", IDType: fairslot.IDResident, IDNumber: residentID(15)}}
	e.clock.Add(48 * time.Hour) // the session's day, 07:30
	_, err = e.svc.WalkIn(ctx, desk, walkIn)
	wantKey(t, "a walk-in at the desk", err, "error.session.cancelled")
	e.clock.Add(time.Hour)
	_, err = e.svc.EnterAfterOutage(ctx, desk, "paper", []app.OutageEntry{{Line: 2, Kind: "walk_in", At: e.clock.Now().Add(-time.Minute), WalkIn: walkIn}})
	wantKey(t, "a walk-in entered from the downtime kit", err, "error.session.cancelled")
	_, err = e.svc.AddExtraSlot(ctx, admin, sess.ID, app.ExtraSlotInput{Reason: "urgent case"})
	wantKey(t, "an extra slot", err, "error.session.cancelled")
}

// A session that has started, or has a patient checked in, is not
// cancelled here: the clinic tells those patients in person.
func TestCancelSessionStartedOrCheckedIn(t *testing.T) {
	e := newEnv(t)
	admin := e.admin(t)
	a := e.login(t, "13811120001")
	p := e.bind(t, a, "张三", 21)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pay(ctx, a, b.ID, "pay-started"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckIn(ctx, e.staff(t, "desk"), b.Code, residentID(21)[14:]); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CancelSession(ctx, admin, e.session.ID, "room flooded")
	wantKey(t, "a session with a patient checked in", err, "error.session.cancel_checked_in")
	e.clock.Add(time.Hour) // 08:30: started
	_, err = e.svc.CancelSession(ctx, admin, e.session.ID, "room flooded")
	wantKey(t, "a started session", err, "error.session.cancel_started")
	if v, _ := e.svc.Session(ctx, e.session.ID); v.Cancelled() {
		t.Error("a refused cancellation left the session cancelled")
	}
}

// A refund the provider does not answer is kept refunding, recorded, and
// the sweep finishes it; the cancellation stands and the patient is told.
// With the hospital's option on, the message names the doctor's next
// session with free places (nothing is booked).
func TestCancelSessionRefundOutageAndNextSession(t *testing.T) {
	e := newEnv(t)
	prov := &faultyProvider{Sandbox: e.pay}
	e.svc.Payments = prov
	e.svc.OfferNextSession = true
	admin := e.admin(t)
	a := e.login(t, "13811130001")
	if err := e.svc.SetLanguage(ctx, a, "en"); err != nil {
		t.Fatal(err)
	}
	p := e.bind(t, a, "张三", 31)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pay(ctx, a, b.ID, "pay-outage"); err != nil {
		t.Fatal(err)
	}
	prov.plan("refund", lostRequest)
	res, err := e.svc.CancelSession(ctx, admin, e.session.ID, "doctor ill")
	if err != nil {
		t.Fatal(err)
	}
	if res.Paid != 1 || res.Refunded != 0 || res.Next.ID != e.later.ID {
		t.Errorf("result = %+v; want 1 paid, 0 refunded yet, next session %d", res, e.later.ID)
	}
	if p := e.paymentOf(t, fmt.Sprintf("%d:pay-outage", a.ID)); p.Status != storage.PaymentRefunding {
		t.Fatalf("after a lost refund the payment is %s, want refunding", p.Status)
	}
	e.clock.Add(grace + time.Second)
	if err := e.svc.ReconcilePayments(ctx); err != nil {
		t.Fatal(err)
	}
	if p := e.paymentOf(t, fmt.Sprintf("%d:pay-outage", a.ID)); p.Status != storage.PaymentRefunded {
		t.Errorf("after the sweep the payment is %s, want refunded", p.Status)
	}
	_, texts := e.outboxed(t, notify.KeySessionCancelled)
	if len(texts) != 1 || !strings.Contains(texts[0], "next clinic with free places is on Fri 11 Dec 2026 08:00–20:00") {
		t.Errorf("messages = %q; want one naming the next session on 2026-12-11 08:00–20:00", texts)
	}
	bs, err := e.svc.Bookings(ctx, a)
	if err != nil || len(bs) != 1 {
		t.Errorf("bookings after the offer = %d, %v; want the cancelled one only (nothing booked)", len(bs), err)
	}
}

// A draw session cancelled while its entries are open: every entrant's
// account is told once (two patients of one account in one message), the
// draw never runs, and no entry or booking gets in afterwards.
func TestCancelSessionInDraw(t *testing.T) {
	svc, c, _, _ := openService(t, t.TempDir())
	c.now = releaseAt.Add(time.Millisecond)
	w := newWorld(t, svc, c, "CARD", drawRule("CARD"))
	sess := w.session(t, day, fairslot.Morning, 3)
	e := &env{svc: svc, clock: c}
	family, kids := w.account(t, "13900000101", 2)
	single, ids := w.account(t, "13900000102", 1)
	for _, in := range []struct {
		a  app.Actor
		id int64
	}{{family, kids[0]}, {family, kids[1]}, {single, ids[0]}} {
		if _, err := svc.EnterDraw(ctx, in.a, app.EntryInput{SessionID: sess.ID, PatientID: in.id}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := svc.CancelSession(ctx, e.admin(t), sess.ID, "clinic closed")
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 3 || res.Told != 2 || res.Bookings != 0 {
		t.Errorf("result = %+v; want 3 entries, 2 accounts told, no booking", res)
	}
	bodies, texts := e.outboxed(t, notify.KeySessionCancelledWaiting)
	if len(bodies) != 2 {
		t.Fatalf("messages = %q; want one to each of the two accounts", texts)
	}
	var names []int
	for _, text := range texts {
		names = append(names, strings.Count(text, "病*"))
	}
	if !(names[0] == 2 && names[1] == 1) && !(names[0] == 1 && names[1] == 2) {
		t.Errorf("messages %q; want the family's two patients in one, the single patient in the other", texts)
	}
	c.now = releaseAt.Add(31 * time.Minute)
	if n, err := svc.RunDueDraws(ctx); n != 0 || err != nil {
		t.Errorf("draws run after the cancellation: %d, %v", n, err)
	}
	es, err := svc.Entries(ctx, single)
	if err != nil || len(es) != 1 || !es[0].Session.Cancelled || es[0].Drawn {
		t.Errorf("entries after the cancellation = %+v, %v; want one, undrawn, its session cancelled", es, err)
	}
	_, err = svc.EnterDraw(ctx, single, app.EntryInput{SessionID: sess.ID, PatientID: ids[0]})
	wantKey(t, "entering again", err, "error.session.cancelled")
}
