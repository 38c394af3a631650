package storagetest

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// PaymentsMigration checks what a backend's payments migration makes of
// payments of the old schema (one per booking, settled or nothing): it
// books a confirmed, a cancelled and a completed booking on s (migrated to
// just before the payments migration), has the backend write their old
// payments with insertOld, runs migrate, and checks that a confirmed or
// completed booking's payment is settled and a cancelled one's — whose
// refund the old schema never recorded — is refunding, due for the sweep,
// each with its terms kept.
func PaymentsMigration(t *testing.T, s storage.Store, insertOld func(key string, bookingID int64, ref string, at time.Time) error, migrate func() error) {
	t.Helper()
	at := time.Date(2026, 12, 10, 8, 0, 0, 0, time.UTC)
	statuses := []fairslot.Status{fairslot.Confirmed, fairslot.Cancelled, fairslot.Completed}
	var ids []int64
	err := s.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		tx.CreateHospital(ctx, &h)
		c := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		tx.CreateCampus(ctx, &c)
		d := fairslot.Department{CampusID: c.ID, Code: "D", Name: "D"}
		tx.CreateDepartment(ctx, &d)
		doc := fairslot.Doctor{DepartmentID: d.ID, Name: "Dr", Title: fairslot.General}
		tx.CreateDoctor(ctx, &doc)
		sess := fairslot.Session{DoctorID: doc.ID, DepartmentID: d.ID, Date: "2026-12-10", Period: fairslot.Morning,
			Start: at, End: at.Add(4 * time.Hour), FeeCents: 5000}
		slots := []fairslot.Slot{{Number: 1, Start: at, End: at.Add(30 * time.Minute)}, {Number: 2, Start: at, End: at.Add(30 * time.Minute)},
			{Number: 3, Start: at, End: at.Add(30 * time.Minute)}}
		if err := tx.CreateSession(ctx, &sess, slots); err != nil {
			return err
		}
		for i, st := range statuses {
			p := storage.PatientRecord{Ref: string(rune('a' + i)), IDType: fairslot.IDPassport, IDIndex: []byte{byte(i)}, IDSealed: []byte{1},
				NameSealed: []byte{1}, CreatedAt: at}
			if err := tx.CreatePatient(ctx, &p); err != nil {
				return err
			}
			b := fairslot.Booking{Code: string(rune('A' + i)), SlotID: slots[i].ID, SessionID: sess.ID, DepartmentID: d.ID, Date: sess.Date,
				PatientID: p.ID, Channel: fairslot.Online, Status: st, FeeCents: 5000, CreatedAt: at, UpdatedAt: at}
			if err := tx.InsertBooking(ctx, &b, storage.Limits{PerDepartmentPerDay: 9, PerDay: 9, Active: 9}); err != nil {
				return err
			}
			ids = append(ids, b.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if err := insertOld(string(statuses[i]), id, "ref-"+string(statuses[i]), at); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate(); err != nil {
		t.Fatal(err)
	}
	want := map[fairslot.Status]storage.PaymentStatus{
		fairslot.Confirmed: storage.PaymentSettled, fairslot.Cancelled: storage.PaymentRefunding, fairslot.Completed: storage.PaymentSettled,
	}
	s.View(ctx, func(tx storage.Tx) error {
		for i, st := range statuses {
			p, err := tx.Payment(ctx, string(st))
			if err != nil || p.Status != want[st] || p.BookingID != ids[i] || p.ProviderRef != "ref-"+string(st) ||
				p.AmountCents != 5000 || !p.UpdatedAt.Equal(at) || !p.CreatedAt.Equal(at) {
				t.Errorf("the payment of a %s booking after migrating: %+v, %v; want %s, its terms kept", st, p, err, want[st])
			}
		}
		due, err := tx.DuePayments(ctx, "sandbox", at, 10)
		if err != nil || len(due) != 1 || due[0].Key != string(fairslot.Cancelled) {
			t.Errorf("due after migrating = %+v, %v; want the cancelled booking's refund", due, err)
		}
		return nil
	})
}
