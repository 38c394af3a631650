package app_test

import (
	"fmt"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// A FHIR client acts for a patient it names by identity and name, in the
// account that first bound the patient; it reaches only the bookings it
// made; and what it does is recorded as its own act.
func TestForPatientAndForBooking(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "13812345678")
	p := e.bind(t, first, "张三", 1)
	client := app.FHIRClientActor("his-1", "req-1")
	in := app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}

	acting, id, err := e.svc.ForPatient(ctx, client, in)
	if err != nil || id != p.ID || acting.ID != first.ID || acting.Client != "his-1" {
		t.Fatalf("ForPatient = %+v, %d, %v; want the first binding's account %d and patient %d", acting, id, err, first.ID, p.ID)
	}
	for name, c := range map[string]struct {
		a    app.Actor
		in   app.PatientInput
		kind fairslot.Kind
	}{
		"another name":          {client, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: residentID(1)}, fairslot.NotFound},
		"an identity unknown":   {client, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(2)}, fairslot.NotFound},
		"a malformed ID number": {client, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: "123"}, fairslot.Invalid},
		"a patient's account":   {first, in, fairslot.Forbidden},
		"staff":                 {e.staff(t, "desk"), in, fairslot.Forbidden},
	} {
		_, _, err := e.svc.ForPatient(ctx, c.a, c.in)
		wantKind(t, name, err, c.kind)
	}

	// The client's hold, under its key, is recorded as the client's.
	b, err := e.svc.Hold(ctx, acting, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID, RequestKey: app.SystemKeyPrefix("his-1") + "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.ForBooking(ctx, client, b.ID); err != nil || got.ID != first.ID {
		t.Errorf("ForBooking of the client's own booking = %+v, %v", got, err)
	}
	_, err = e.svc.ForBooking(ctx, app.FHIRClientActor("his-2", ""), b.ID)
	wantKind(t, "another client's booking", err, fairslot.NotFound)
	own, err := e.svc.Hold(ctx, first, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ForBooking(ctx, client, own.ID)
	wantKind(t, "the patient's own booking", err, fairslot.NotFound)
	evs := auditLog(t, e)
	var actor string
	for _, ev := range evs {
		if ev.Action == "booking.hold" && ev.Subject == fmt.Sprintf("booking:%d", b.ID) {
			actor = ev.Actor
		}
	}
	if actor != "fhir-client:his-1" {
		t.Errorf("the client's hold is recorded as %q, want fhir-client:his-1", actor)
	}
}
