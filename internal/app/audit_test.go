package app_test

import (
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

func auditLog(t *testing.T, e *env) []audit.Event {
	t.Helper()
	var evs []audit.Event
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) (err error) {
		evs, err = tx.AuditEvents(ctx, 0, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestAuditTrail walks a booking through its life and checks each change
// left its record, with the right actor, and that refused changes left none.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	e.svc.RecordConfig(ctx, []byte(`{"a":1}`))
	e.svc.RecordConfig(ctx, []byte(`{"a":1}`)) // unchanged: no second record
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三", 1)
	b, _ := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID}); err == nil {
		t.Fatal("a second hold in one department and day was allowed")
	}
	e.svc.Pay(ctx, a, b.ID, "k")
	desk, doc := e.staff(t, "desk"), e.staff(t, "doc")
	e.svc.CheckIn(ctx, desk, b.Code, "0000")
	e.svc.CheckIn(ctx, desk, b.Code, residentID(1)[14:])
	e.svc.CallNext(ctx, doc, e.session.ID)
	e.svc.Recall(ctx, doc, b.ID)
	e.svc.Complete(ctx, doc, b.ID)

	want := []string{
		"config.change system",
		"login.code_sent anonymous", "account.create anonymous", "account.login account",
		"privacy.consent account", // the notice accepted before any ID number is given
		"patient.create account", "binding.create account",
		"booking.hold account", // once: the refused second hold left nothing
		// The intent before the provider is asked, then the settlement.
		"payment.start account", "booking.pay account",
		// Each staff member's first sign-in enrols a second factor.
		"staff.mfa_enrol staff", "staff.login staff", "staff.mfa_enrol staff", "staff.login staff",
		"booking.identity_mismatch staff", "booking.check_in staff",
		"patient.view_name staff", // the desk saw the full name of the booking it checked in
		"queue.call staff", "queue.recall staff", "queue.complete staff",
	}
	var got []string
	for _, ev := range auditLog(t, e) {
		if ev.Action == "staff.create" {
			continue // the fixture's
		}
		got = append(got, ev.Action+" "+strings.SplitN(ev.Actor, ":", 2)[0])
		for k, v := range ev.Detail {
			for _, secret := range []string{"张三", residentID(1), "13812345678"} {
				if strings.Contains(v, secret) {
					t.Errorf("audit %s detail %s holds personal data", ev.Action, k)
				}
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
