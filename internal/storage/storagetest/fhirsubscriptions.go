package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testFHIRSubscriptions: a change fans out to the active subscriptions of
// clients not revoked whose doctor and department match, once per change
// and subscription; a delivery's attempt is taken once and it ends once; a
// subscription goes from active to error or off, and from error to off,
// never back. On PostgreSQL this runs as the online role, which has no
// UPDATE on either table: the changes go through the migration's functions.
func testFHIRSubscriptions(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	p := newPatients(t, s, 1)[0]
	b := newBooking(f, f.slots[0], p.ID, fairslot.Held)
	for _, id := range []string{"c1", "c2"} {
		update(t, s, func(tx storage.Tx) error {
			return tx.CreateFHIRClient(ctx, storage.FHIRClient{ID: id, Name: id, JWKS: []byte(`{"keys":[]}`), Scopes: []string{"system/Subscription.c"}, CreatedAt: base})
		})
	}
	subs := []storage.FHIRSubscription{
		{ID: "all", ClientID: "c1", Criteria: "Appointment"},
		{ID: "doctor", ClientID: "c1", Criteria: "Appointment?practitioner=x", DoctorID: f.doctor.ID, DepartmentID: f.dept.ID},
		{ID: "other-doctor", ClientID: "c1", Criteria: "Appointment?practitioner=y", DoctorID: f.doctor.ID + 1000},
		{ID: "revoked", ClientID: "c2", Criteria: "Appointment"},
		{ID: "off", ClientID: "c1", Criteria: "Appointment"},
	}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.InsertBooking(ctx, b, noLimits); err != nil {
			return err
		}
		for _, sub := range subs {
			if sub.DoctorID > f.doctor.ID { // no such doctor: the foreign key refuses it
				continue
			}
			sub.Reason, sub.Endpoint, sub.Base, sub.CreatedAt = "r", "https://his.example/hook", "https://fhir.example/fhir/R4", base
			if err := tx.CreateFHIRSubscription(ctx, sub); err != nil {
				return err
			}
		}
		if err := tx.RevokeFHIRClient(ctx, "c2", base); err != nil {
			return err
		}
		return tx.SetFHIRSubscriptionStatus(ctx, "off", storage.FHIRSubOff, "", base)
	})
	change := storage.FHIRChange{Seq: 41, Kind: "booking", ID: b.ID, Action: "booking.hold", At: base}
	fan := func(c storage.FHIRChange) (n int) {
		t.Helper()
		update(t, s, func(tx storage.Tx) (err error) { n, err = tx.FanOutFHIRChange(ctx, c); return err })
		return n
	}
	if n := fan(change); n != 2 {
		t.Errorf("a change fanned out to %d subscriptions, want 2 (all, doctor)", n)
	}
	if n := fan(change); n != 0 {
		t.Errorf("the same change again: %d deliveries, want 0", n)
	}
	var due []storage.FHIRDelivery
	if err := s.View(ctx, func(tx storage.Tx) (err error) { due, err = tx.DueFHIRDeliveries(ctx, base, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].Focus != fmt.Sprintf("booking:%d", b.ID) || due[0].EventSeq != 41 || due[0].Subscription.Base != "https://fhir.example/fhir/R4" {
		t.Fatalf("due = %+v", due)
	}
	d := due[0]
	update(t, s, func(tx storage.Tx) error { return tx.AttemptFHIRDelivery(ctx, d.ID, 1, base.Add(time.Minute)) })
	wantKind(t, "a second attempt 1", s.Update(ctx, func(tx storage.Tx) error { return tx.AttemptFHIRDelivery(ctx, d.ID, 1, base.Add(time.Minute)) }), fairslot.Conflict)
	if err := s.View(ctx, func(tx storage.Tx) (err error) { due, err = tx.DueFHIRDeliveries(ctx, base, 10); return err }); err != nil || len(due) != 1 {
		t.Errorf("due while leased: %d, %v; want 1", len(due), err)
	}
	update(t, s, func(tx storage.Tx) error { return tx.FinishFHIRDelivery(ctx, d.ID, storage.OutboxSent, base, "") })
	wantKind(t, "finishing twice", s.Update(ctx, func(tx storage.Tx) error { return tx.FinishFHIRDelivery(ctx, d.ID, storage.OutboxDead, base, "x") }), fairslot.Conflict)

	set := func(id, status string) error {
		return s.Update(ctx, func(tx storage.Tx) error { return tx.SetFHIRSubscriptionStatus(ctx, id, status, "why", base) })
	}
	if err := set("all", storage.FHIRSubError); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "error to error", set("all", storage.FHIRSubError), fairslot.Conflict)
	wantKind(t, "off to error", set("off", storage.FHIRSubError), fairslot.Conflict)
	wantKind(t, "an unknown subscription", set("nobody", storage.FHIRSubOff), fairslot.NotFound)
	if err := set("all", storage.FHIRSubOff); err != nil {
		t.Errorf("error to off: %v", err)
	}
	if n := fan(storage.FHIRChange{Seq: 42, Kind: "booking", ID: b.ID, Action: "booking.cancel", At: base}); n != 1 {
		t.Errorf("a change after all went off: %d deliveries, want 1 (doctor)", n)
	}
	var list []storage.FHIRSubscription
	if err := s.View(ctx, func(tx storage.Tx) (err error) { list, err = tx.ListFHIRSubscriptions(ctx, "c1"); return err }); err != nil || len(list) != 1 || list[0].ID != "doctor" {
		t.Errorf("c1's subscriptions not off: %+v, %v", list, err)
	}
	var states []storage.FHIRDeliveryState
	if err := s.View(ctx, func(tx storage.Tx) (err error) { states, err = tx.FHIRDeliveries(ctx, "all"); return err }); err != nil ||
		len(states) != 1 || states[0].Status != storage.OutboxSent || states[0].Attempts != 1 {
		t.Errorf("all's deliveries %+v, %v", states, err)
	}
}
