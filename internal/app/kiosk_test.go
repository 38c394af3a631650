package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestKioskProof: pay and reprint at the kiosk ask check-in's proof — the
// last four characters of the ID number, or the whole number as a card
// reader types it — and nothing less; a second tap on pay charges nothing
// more; a reprint is the check-in's ticket.
func TestKioskProof(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三", 1)
	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	id := residentID(1)
	desk, doc := e.staff(t, "desk"), e.staff(t, "doc")
	other := id[:10] + map[bool]string{true: "1", false: "2"}[id[10] != '1'] + id[11:] // the same last four
	for _, c := range []struct {
		name  string
		a     app.Actor
		code  string
		proof string
		want  fairslot.Kind // "" is success
	}{
		{"the last four", desk, held.Code, id[14:], ""},
		{"the whole number, lower case, spaced", desk, strings.ToLower(held.Code), " " + strings.ToLower(id[:9]) + " " + id[9:], ""},
		{"wrong last four", desk, held.Code, "0000", fairslot.Forbidden},
		{"another number with the same last four", desk, held.Code, other, fairslot.Forbidden},
		{"the first four", desk, held.Code, id[:4], fairslot.Forbidden},
		{"three characters", desk, held.Code, id[15:], fairslot.Invalid},
		{"no such code", desk, "ZZZZZZZZ", id[14:], fairslot.NotFound},
		{"a doctor", doc, held.Code, id[14:], fairslot.Forbidden},
		{"a patient", a, held.Code, id[14:], fairslot.Unauthorized},
	} {
		v, err := e.svc.KioskBooking(ctx, c.a, c.code, c.proof)
		if fairslot.ErrorKind(err) != c.want && !(c.want == "" && err == nil) {
			t.Errorf("%s: KioskBooking error %v, want kind %q", c.name, err, c.want)
		}
		if c.want == "" && (v.ID != held.ID || v.FeeCents != 5000 || v.Patient.Name != "张*") {
			t.Errorf("%s: KioskBooking = %+v, want booking %d, its fee, the name masked", c.name, v.Booking, held.ID)
		}
	}
	_, err = e.svc.KioskPay(ctx, desk, held.Code, "0000", "tap", "")
	wantKind(t, "paying with the wrong ID digits", err, fairslot.Forbidden)
	for tap := range 2 {
		paid, err := e.svc.KioskPay(ctx, desk, held.Code, id[14:], "tap", "")
		if err != nil || paid.Status != fairslot.Confirmed {
			t.Fatalf("tap %d: KioskPay = %v, %v", tap+1, paid.Status, err)
		}
	}
	if n := len(e.pay.Held()); n != 1 {
		t.Errorf("%d charges after a double tap, want 1", n)
	}
	_, err = e.svc.KioskPay(ctx, desk, held.Code, id[14:], "another", "")
	wantKind(t, "paying a paid booking", err, fairslot.Conflict)
	_, err = e.svc.Reprint(ctx, desk, held.Code, id[14:])
	wantKind(t, "reprinting before check-in", err, fairslot.Conflict)
	in, err := e.svc.CheckIn(ctx, desk, held.Code, id)
	if err != nil {
		t.Fatalf("check-in with the whole number: %v", err)
	}
	_, err = e.svc.Reprint(ctx, desk, held.Code, other)
	wantKind(t, "reprinting with another number", err, fairslot.Forbidden)
	again, err := e.svc.Reprint(ctx, desk, held.Code, id[14:])
	if err != nil || again.Label != in.Label || again.Ticket.ID != in.Ticket.ID || again.Booking.Patient.Name != "张*" ||
		again.Hospital == "" || again.Hospital != in.Hospital || again.Campus != in.Campus || again.Ahead != in.Ahead {
		t.Errorf("Reprint = %+v, %v; want ticket %s, the name masked", again, err, in.Label)
	}
}

// TestKioskTriesAreLimited: a kiosk's tries at a proof — check-in, pay and
// reprint alike — run out per code from any kiosk, and per kiosk across
// codes; a desk's do not.
func TestKioskTriesAreLimited(t *testing.T) {
	e := newEnv(t)
	kiosk1 := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Kiosk}
	kiosk2 := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Kiosk}
	tries := []func(a app.Actor, code string) error{
		func(a app.Actor, code string) error { _, err := e.svc.CheckIn(ctx, a, code, "0000"); return err },
		func(a app.Actor, code string) error { _, err := e.svc.KioskBooking(ctx, a, code, "0000"); return err },
		func(a app.Actor, code string) error {
			_, err := e.svc.KioskPay(ctx, a, code, "0000", "tap", "")
			return err
		},
		func(a app.Actor, code string) error { _, err := e.svc.Reprint(ctx, a, code, "0000"); return err },
	}
	// One code: ten tries (the burst), whichever proof, then none from any kiosk.
	for i := range 10 {
		if err := tries[i%len(tries)](kiosk1, "ZZZZZZZZ"); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Fatalf("try %d at one code: %v, want not found", i+1, err)
		}
	}
	for i, try := range tries {
		wantKind(t, fmt.Sprintf("proof %d at a code tried ten times, from another kiosk", i), try(kiosk2, "zzzzzzzz "), fairslot.Limited)
	}
	// One kiosk: twenty tries in all (it has spent ten), then none at any code.
	for i := range 10 {
		if err := tries[i%len(tries)](kiosk1, fmt.Sprintf("YYYYYY%02d", i)); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Fatalf("kiosk try %d: %v, want not found", i+11, err)
		}
	}
	wantKind(t, "a fresh code from a kiosk that tried twenty", tries[0](kiosk1, "XXXXXXXX"), fairslot.Limited)
	desk := e.staff(t, "desk")
	for i := range 30 {
		if err := tries[i%len(tries)](desk, "ZZZZZZZZ"); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Fatalf("desk try %d: %v, want not found: a desk is not limited", i+1, err)
		}
	}
}

// TestKioskWalkInIsPaidThroughTheProvider: a walk-in at an unattended
// kiosk for a session with a fee is held, not taken as paid at a desk: no
// payment is recorded and no ticket issued until the kiosk pays it
// through the provider (KioskPay) and checks it in. A free session's
// walk-in, and the desk's, are checked in at once as before.
func TestKioskWalkInIsPaidThroughTheProvider(t *testing.T) {
	e := newEnv(t)
	kiosk := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Kiosk}
	p := app.PatientInput{Name: "王五", IDType: fairslot.IDResident, IDNumber: residentID(77)}
	e.onRecord(t, p)
	r, err := e.svc.WalkIn(ctx, kiosk, app.WalkInInput{SessionID: e.session.ID, Patient: p})
	if err != nil {
		t.Fatal(err)
	}
	if r.Booking.Status != fairslot.Held || r.Label != "" || r.Booking.FeeCents != e.session.FeeCents || r.Booking.HeldUntil.IsZero() {
		t.Fatalf("the kiosk's walk-in with a fee: %+v, want held for %d cents with no ticket", r, e.session.FeeCents)
	}
	if ev := lastAudit(t, e, "booking.walk_in"); ev.Detail["pay"] != "kiosk" {
		t.Errorf("the walk-in's record: %v", ev.Detail)
	}
	if _, err := e.svc.CheckIn(ctx, kiosk, r.Booking.Code, p.IDNumber[14:]); fairslot.ErrorKind(err) == "" {
		t.Error("an unpaid walk-in was checked in")
	}
	paid, err := e.svc.KioskPay(ctx, kiosk, r.Booking.Code, p.IDNumber[14:], "walkin-tap", "")
	if err != nil || paid.Status != fairslot.Confirmed {
		t.Fatalf("paying the walk-in at the kiosk: %+v, %v", paid, err)
	}
	if got := e.pay.Held()[fmt.Sprintf("staff%d:walkin-tap", kiosk.ID)]; got != e.session.FeeCents {
		t.Errorf("the provider holds %d cents for the walk-in, want %d", got, e.session.FeeCents)
	}
	in, err := e.svc.CheckIn(ctx, kiosk, r.Booking.Code, p.IDNumber[14:])
	if err != nil || in.Label == "" {
		t.Fatalf("checking the paid walk-in in: %+v, %v", in, err)
	}

	// The desk takes the fee itself: checked in at once.
	q := app.PatientInput{Name: "赵六", IDType: fairslot.IDResident, IDNumber: residentID(79)}
	d, err := e.svc.WalkIn(ctx, e.staff(t, "desk"), app.WalkInInput{SessionID: e.session.ID, Patient: q})
	if err != nil || d.Booking.Status != fairslot.CheckedIn || d.Label == "" {
		t.Errorf("the desk's walk-in: %+v, %v", d, err)
	}
}
