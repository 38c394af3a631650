// Package storagetest is the conformance suite every storage.Store backend
// must pass, as io/fs has fstest: call Run from the backend's tests with a
// function that opens a fresh, migrated store.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

// Run runs the suite. open must return a new, empty, migrated store; Run
// closes it.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Store)
	}{
		{"Schema", testSchema},
		{"Catalogue", testCatalogue},
		{"Patients", testPatients},
		{"Bind", testBind},
		{"UnbindKeepsHistory", testUnbindKeepsHistory},
		{"BindingCodes", testBindingCodes},
		{"SetPatientPhone", testSetPatientPhone},
		{"InsertBooking", testInsertBooking},
		{"MoveBooking", testMoveBooking},
		{"LifecycleIsTheVocabularys", testLifecycle},
		{"ExpireHoldsAndNoShows", testExpireAndNoShows},
		{"Payments", testPayments},
		{"PaymentLifecycle", testPaymentLifecycle},
		{"DuePayments", testDuePayments},
		{"ConcurrentPayments", testConcurrentPayments},
		{"Tickets", testTickets},
		{"BoardTickets", testBoardTickets}, // board.go
		{"Recalls", testRecalls},           // board.go
		{"LoginAndTokens", testLoginAndTokens},
		{"LoginCodes", testLoginCodes},               // outbox.go
		{"Outbox", testOutbox},                       // outbox.go
		{"OutboxDedupe", testOutboxDedupe},           // outbox.go
		{"AccountLanguages", testAccountLanguages},   // languages.go
		{"FHIRClients", testFHIRClients},             // fhirclients.go
		{"FHIRSubscriptions", testFHIRSubscriptions}, // fhirsubscriptions.go
		{"ReferralRules", testReferralRules},         // referrals.go
		{"Referrals", testReferrals},                 // referrals.go
		{"RefreshTokens", testRefreshTokens},
		{"StaffAccounts", testStaffAccounts}, // staffaccounts.go
		{"Access", testAccess},
		{"ConcurrentRefresh", testConcurrentRefresh},
		{"Audit", testAudit},
		{"ConcurrentBooking", testConcurrentBooking},
		{"ConcurrentUpdatesAreIsolated", testConcurrentUpdatesIsolated},
		{"Release", testRelease},
		{"Waitlist", testWaitlist},
		{"SlotsAndQuotas", testSlotsAndQuotas},
		{"CancelSession", testCancelSession},                           // cancel.go
		{"CancelSessionRace", testCancelSessionRace},                   // cancel.go
		{"AdminEdits", testAdminEdits},                                 // admin.go
		{"AdminSessionEdits", testAdminSessionEdits},                   // admin.go
		{"AdminSites", testAdminSites},                                 // admin.go
		{"RiskReviews", testRiskReviews},                               // riskreview.go
		{"RiskDecisionsFollowReviews", testRiskDecisionsFollowReviews}, // riskreview.go
		{"HeldAccountsTakeNoPlace", testHeldAccountsTakeNoPlace},       // riskreview.go
		{"RiskAccounts", testRiskAccounts},                             // risk.go
		{"HeldEntries", testHeldEntries},                               // risk.go
		{"RiskEventStart", testRiskEventStart},                         // risk.go
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

// RunRekey runs the re-keying contract (rekey.go) with open's two stores
// on one database: one that writes the fixtures and one that re-keys (on
// PostgreSQL the owner, or the rekey role — the online role may not).
func RunRekey(t *testing.T, open func(t *testing.T) (writer, rekeyer storage.Store)) {
	t.Run("Rekey", func(t *testing.T) {
		s, rk := open(t)
		t.Cleanup(func() { s.Close(); rk.Close() })
		testRekey(t, s, rk)
	})
}

var ctx = context.Background()

// base is a fixed instant; the suite never reads the wall clock.
var base = time.Date(2026, 12, 10, 8, 0, 0, 0, time.UTC)

func update(t *testing.T, s storage.Store, fn func(storage.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func wantKind(t *testing.T, what string, err error, kind fairslot.Kind) {
	t.Helper()
	if err == nil || fairslot.ErrorKind(err) != kind {
		t.Errorf("%s: error = %v, want kind %s", what, err, kind)
	}
}

// Fixture is a department with one doctor and one session.
type fixture struct {
	dept    fairslot.Department
	doctor  fairslot.Doctor
	session fairslot.Session
	slots   []fairslot.Slot
}

// newSession creates a session on date with n slots, four to a 30-minute window.
func newSession(t *testing.T, tx storage.Tx, f *fixture, date string, n int) {
	t.Helper()
	start, _ := time.Parse(time.DateOnly, date)
	start = start.Add(8 * time.Hour)
	f.session = fairslot.Session{DoctorID: f.doctor.ID, DepartmentID: f.dept.ID, Date: date, Period: fairslot.Morning,
		Start: start, End: start.Add(4 * time.Hour), Room: "101", FeeCents: 5000}
	f.slots = make([]fairslot.Slot, n)
	for i := range f.slots {
		w := start.Add(time.Duration(i/4) * 30 * time.Minute)
		f.slots[i] = fairslot.Slot{Number: i + 1, Start: w, End: w.Add(30 * time.Minute)}
	}
	if err := tx.CreateSession(ctx, &f.session, f.slots); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T, s storage.Store, slots int) *fixture {
	t.Helper()
	f := &fixture{}
	update(t, s, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "Test Hospital"}
		if err := tx.CreateHospital(ctx, &h); err != nil {
			return err
		}
		c := fairslot.Campus{HospitalID: h.ID, Name: "Main"}
		if err := tx.CreateCampus(ctx, &c); err != nil {
			return err
		}
		f.dept = fairslot.Department{CampusID: c.ID, Code: "PED", Name: "Paediatrics"}
		if err := tx.CreateDepartment(ctx, &f.dept); err != nil {
			return err
		}
		f.doctor = fairslot.Doctor{DepartmentID: f.dept.ID, Name: "Dr Li", Title: fairslot.Expert}
		if err := tx.CreateDoctor(ctx, &f.doctor); err != nil {
			return err
		}
		newSession(t, tx, f, "2026-12-10", slots)
		return nil
	})
	return f
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newPatients creates n patients with opaque stand-ins for sealed data.
func newPatients(t *testing.T, s storage.Store, n int) []storage.PatientRecord {
	t.Helper()
	ps := make([]storage.PatientRecord, n)
	update(t, s, func(tx storage.Tx) error {
		for i := range ps {
			ps[i] = storage.PatientRecord{Ref: fmt.Sprintf("%x", random(8)), IDType: fairslot.IDResident, IDIndex: random(16),
				IDSealed: random(40), NameSealed: random(30), PhoneIndex: random(16), PhoneSealed: random(30), CreatedAt: base}
			if err := tx.CreatePatient(ctx, &ps[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return ps
}

var noLimits = storage.Limits{PerDepartmentPerDay: 100, PerDay: 100, Active: 100}

func newBooking(f *fixture, slot fairslot.Slot, patientID int64, status fairslot.Status) *fairslot.Booking {
	return &fairslot.Booking{Code: fmt.Sprintf("%X", random(5)), SlotID: slot.ID, SessionID: f.session.ID, DepartmentID: f.dept.ID,
		Date: f.session.Date, PatientID: patientID, Channel: fairslot.Online, Status: status,
		HeldUntil: base.Add(15 * time.Minute), FeeCents: 5000, CreatedAt: base, UpdatedAt: base}
}

func testSchema(t *testing.T, s storage.Store) {
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	applied, latest, err := s.SchemaVersion(ctx)
	if err != nil || applied != latest || latest < 1 {
		t.Errorf("SchemaVersion = %d, %d, %v; want applied = latest ≥ 1", applied, latest, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func testCatalogue(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 10)
	err := s.Update(ctx, func(tx storage.Tx) error {
		d := fairslot.Department{CampusID: f.dept.CampusID, Code: "PED", Name: "Again"}
		return tx.CreateDepartment(ctx, &d)
	})
	wantKind(t, "duplicate department code", err, fairslot.Conflict)

	err = s.Update(ctx, func(tx storage.Tx) error {
		sess := f.session
		sess.Date, sess.ID = "2026-12-11", 0
		long := []fairslot.Slot{{Number: 1, Start: sess.Start, End: sess.Start.Add(31 * time.Minute)}}
		return tx.CreateSession(ctx, &sess, long)
	})
	if err == nil {
		t.Error("a slot of 31 minutes was stored; the database must refuse windows over 30 minutes")
	}

	err = s.View(ctx, func(tx storage.Tx) error {
		hs, err := tx.Hospitals(ctx)
		if err != nil || len(hs) != 1 || hs[0].Name != "Test Hospital" {
			t.Errorf("Hospitals = %+v, %v; want [Test Hospital]", hs, err)
		}
		cs, err := tx.Campuses(ctx)
		if err != nil || len(cs) != 1 || cs[0] != (fairslot.Campus{ID: f.dept.CampusID, HospitalID: hs[0].ID, Name: "Main"}) {
			t.Errorf("Campuses = %+v, %v; want [Main]", cs, err)
		}
		depts, err := tx.Departments(ctx)
		if err != nil || len(depts) != 1 || depts[0] != f.dept {
			t.Errorf("Departments = %+v, %v; want [%+v]", depts, err, f.dept)
		}
		if d, err := tx.Department(ctx, f.dept.ID); err != nil || d != f.dept {
			t.Errorf("Department = %+v, %v; want %+v", d, err, f.dept)
		}
		if _, err := tx.Department(ctx, 9999); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("missing department: %v, want not found", err)
		}
		docs, err := tx.Doctors(ctx, f.dept.ID)
		if err != nil || len(docs) != 1 || docs[0] != f.doctor {
			t.Errorf("Doctors = %+v, %v", docs, err)
		}
		got, err := tx.Session(ctx, f.session.ID)
		if err != nil || !got.Start.Equal(f.session.Start) || !got.End.Equal(f.session.End) || got.Date != f.session.Date || got.Room != "101" {
			t.Errorf("Session = %+v, %v; want %+v", got, err, f.session)
		}
		list, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: f.doctor.ID, From: "2026-12-10", To: "2026-12-10"})
		if err != nil || len(list) != 1 {
			t.Errorf("Sessions = %d, %v; want 1", len(list), err)
		}
		if list, _ := tx.Sessions(ctx, storage.SessionFilter{From: "2026-12-11"}); len(list) != 0 {
			t.Errorf("Sessions from the next day = %d, want 0", len(list))
		}
		if sl, err := tx.Slot(ctx, f.slots[5].ID); err != nil || sl.Number != 6 || !sl.Start.Equal(f.slots[5].Start) {
			t.Errorf("Slot = %+v, %v; want %+v", sl, err, f.slots[5])
		}
		ws, err := tx.Windows(ctx, f.session.ID, base)
		if err != nil || len(ws) != 3 || ws[0].Capacity != 4 || ws[2].Capacity != 2 || ws[0].Remaining != 4 {
			t.Errorf("Windows = %+v, %v; want 3 windows of 4, 4, 2", ws, err)
		}
		if ws, _ := tx.Windows(ctx, f.session.ID, base.Add(30*time.Minute)); len(ws) != 3 || ws[0].Remaining != 0 || ws[1].Remaining != 4 {
			t.Errorf("Windows once the first has ended = %+v; want it to have nothing left", ws)
		}
		_, err = tx.Session(ctx, 9999)
		wantKind(t, "missing session", err, fairslot.NotFound)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testPatients(t *testing.T, s storage.Store) {
	ps := newPatients(t, s, 2)
	err := s.Update(ctx, func(tx storage.Tx) error {
		dup := ps[0]
		dup.Ref = "other"
		return tx.CreatePatient(ctx, &dup)
	})
	wantKind(t, "second patient with one identity", err, fairslot.Conflict)
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.PatientByIdentity(ctx, fairslot.IDResident, ps[1].IDIndex)
		if err != nil || got.ID != ps[1].ID || string(got.NameSealed) != string(ps[1].NameSealed) {
			t.Errorf("PatientByIdentity = %+v, %v; want patient %d", got, err, ps[1].ID)
		}
		_, err = tx.PatientByIdentity(ctx, fairslot.IDPassport, ps[1].IDIndex)
		wantKind(t, "identity of another ID type", err, fairslot.NotFound)
		return nil
	})
}

func newAccount(t *testing.T, s storage.Store) storage.AccountRecord {
	t.Helper()
	a := storage.AccountRecord{Ref: fmt.Sprintf("%x", random(8)), PhoneIndex: random(16), PhoneSealed: random(30), CreatedAt: base}
	update(t, s, func(tx storage.Tx) error { return tx.CreateAccount(ctx, &a) })
	return a
}

func testBind(t *testing.T, s storage.Store) {
	ps := newPatients(t, s, 3)
	a := newAccount(t, s)
	l := storage.BindLimits{PatientsPerAccount: 2, AccountsPerPatient: 2, RecentPerAccount: 10}
	bind := func(p storage.PatientRecord) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.Bind(ctx, fairslot.Binding{AccountID: a.ID, PatientID: p.ID, CreatedAt: base}, l, base.Add(-time.Hour))
		})
	}
	if err := bind(ps[0]); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "binding twice", bind(ps[0]), fairslot.Conflict)
	if err := bind(ps[1]); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "third patient over a limit of 2", bind(ps[2]), fairslot.Limited)
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.PatientsOf(ctx, a.ID)
		if err != nil || len(got) != 2 {
			t.Errorf("PatientsOf = %d, %v; want 2", len(got), err)
		}
		c, err := tx.BindingCounts(ctx, a.ID, ps[0].ID, base.Add(-time.Hour))
		if err != nil || c.PatientsOfAccount != 2 || c.AccountsOfPatient != 1 || c.RecentByAccount != 2 {
			t.Errorf("BindingCounts = %+v, %v", c, err)
		}
		if ok, _ := tx.Bound(ctx, a.ID, ps[2].ID); ok {
			t.Error("Bound reports a binding the limit refused")
		}
		return nil
	})
}

// testUnbindKeepsHistory: unbinding deletes the binding but not its event,
// so neither the account's nor the patient's window limit is given back —
// bind, unbind and bind again is refused once the window's bindings are
// used up (issue 13 item 1).
func testUnbindKeepsHistory(t *testing.T, s storage.Store) {
	ps := newPatients(t, s, 2)
	a, b, c := newAccount(t, s), newAccount(t, s), newAccount(t, s)
	l := storage.BindLimits{PatientsPerAccount: 5, AccountsPerPatient: 2, RecentPerAccount: 3, RecentPerPatient: 3}
	since := base.Add(-time.Hour)
	bind := func(acct storage.AccountRecord, p storage.PatientRecord) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.Bind(ctx, fairslot.Binding{AccountID: acct.ID, PatientID: p.ID, CreatedAt: base}, l, since)
		})
	}
	unbind := func(acct storage.AccountRecord, p storage.PatientRecord) error {
		return s.Update(ctx, func(tx storage.Tx) error { return tx.Unbind(ctx, acct.ID, p.ID, base) })
	}
	wantKind(t, "unbinding what is not bound", unbind(a, ps[0]), fairslot.NotFound)
	for i, step := range []struct {
		what string
		err  error
	}{{"bind a-0", bind(a, ps[0])}, {"unbind a-0", unbind(a, ps[0])}, {"bind a-0 again", bind(a, ps[0])}, {"unbind a-0 again", unbind(a, ps[0])}, {"bind b-0", bind(b, ps[0])}} {
		if step.err != nil {
			t.Fatalf("step %d, %s: %v", i, step.what, step.err)
		}
	}
	// Patient 0 was bound three times in the window: a fourth, by a fresh
	// account, is refused though it holds only one binding now.
	wantKind(t, "a fourth binding of one patient in the window", bind(c, ps[0]), fairslot.Limited)
	// Account a made two bindings; one more is its third, then none.
	if err := bind(a, ps[1]); err != nil {
		t.Fatal(err)
	}
	if err := unbind(a, ps[1]); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "a fourth binding by one account in the window", bind(a, ps[1]), fairslot.Limited)
	s.View(ctx, func(tx storage.Tx) error {
		cnt, err := tx.BindingCounts(ctx, a.ID, ps[0].ID, since)
		if err != nil || cnt.PatientsOfAccount != 0 || cnt.AccountsOfPatient != 1 || cnt.RecentByAccount != 3 || cnt.RecentOfPatient != 3 {
			t.Errorf("BindingCounts = %+v, %v; want 0 held, 1 holder, 3 recent by the account, 3 recent of the patient", cnt, err)
		}
		h, err := tx.Holders(ctx, ps[0].ID)
		if err != nil || len(h) != 1 || h[0] != b.ID {
			t.Errorf("Holders = %v, %v; want [%d]", h, err, b.ID)
		}
		if ok, _ := tx.Bound(ctx, a.ID, ps[0].ID); ok {
			t.Error("Bound after unbinding")
		}
		return nil
	})
	// Outside the window the history no longer counts.
	later := base.Add(2 * time.Hour)
	err := s.Update(ctx, func(tx storage.Tx) error {
		return tx.Bind(ctx, fairslot.Binding{AccountID: c.ID, PatientID: ps[0].ID, CreatedAt: later}, l, later.Add(-time.Hour))
	})
	if err != nil {
		t.Errorf("a binding after the window: %v", err)
	}
}

func testBindingCodes(t *testing.T, s storage.Store) {
	ps := newPatients(t, s, 1)
	a, b := newAccount(t, s), newAccount(t, s)
	mk := func(acct storage.AccountRecord, at time.Time) storage.BindingCode {
		c := storage.BindingCode{AccountID: acct.ID, PatientID: ps[0].ID, CodeHash: random(32), ExpiresAt: at.Add(5 * time.Minute), CreatedAt: at}
		update(t, s, func(tx storage.Tx) error { return tx.CreateBindingCode(ctx, &c) })
		return c
	}
	first := mk(a, base)
	second := mk(a, base.Add(time.Second))
	mk(b, base.Add(2*time.Second))
	s.View(ctx, func(tx storage.Tx) error {
		if n, err := tx.BindingCodesSince(ctx, ps[0].ID, base); err != nil || n != 3 {
			t.Errorf("BindingCodesSince = %d, %v; want 3 (from any account)", n, err)
		}
		got, err := tx.LatestBindingCode(ctx, a.ID, ps[0].ID, base.Add(time.Minute))
		if err != nil || got.ID != second.ID || !bytes.Equal(got.CodeHash, second.CodeHash) {
			t.Errorf("LatestBindingCode = %+v, %v; want the account's newest %d", got, err, second.ID)
		}
		_, err = tx.LatestBindingCode(ctx, a.ID, ps[0].ID, base.Add(10*time.Minute))
		wantKind(t, "an expired code", err, fairslot.NotFound)
		return nil
	})
	update(t, s, func(tx storage.Tx) error { return tx.UpdateBindingCode(ctx, second.ID, 1, true) })
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.LatestBindingCode(ctx, a.ID, ps[0].ID, base.Add(time.Minute))
		if err != nil || got.ID != first.ID {
			t.Errorf("after the newest was used: LatestBindingCode = %+v, %v; want %d", got, err, first.ID)
		}
		return nil
	})
	update(t, s, func(tx storage.Tx) error { return tx.UpdateBindingCode(ctx, first.ID, 3, false) })
	s.View(ctx, func(tx storage.Tx) error {
		if got, err := tx.LatestBindingCode(ctx, a.ID, ps[0].ID, base.Add(time.Minute)); err != nil || got.Attempts != 3 {
			t.Errorf("attempts = %+v, %v; want 3", got, err)
		}
		return nil
	})
}

// testSetPatientPhone: a phone on record is set once and never replaced —
// it is where a binding's proof is sent.
func testSetPatientPhone(t *testing.T, s storage.Store) {
	p := storage.PatientRecord{Ref: fmt.Sprintf("%x", random(8)), IDType: fairslot.IDPassport, IDIndex: random(16), IDSealed: random(20), NameSealed: random(20), CreatedAt: base}
	update(t, s, func(tx storage.Tx) error { return tx.CreatePatient(ctx, &p) })
	idx, sealed := random(16), random(30)
	update(t, s, func(tx storage.Tx) error { return tx.SetPatientPhone(ctx, p.ID, idx, sealed) })
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.SetPatientPhone(ctx, p.ID, random(16), random(30)) })
	wantKind(t, "replacing a phone on record", err, fairslot.Conflict)
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.Patient(ctx, p.ID)
		if err != nil || !bytes.Equal(got.PhoneIndex, idx) || !bytes.Equal(got.PhoneSealed, sealed) {
			t.Errorf("the phone on record = %x, %v; want the first one set", got.PhoneIndex, err)
		}
		return nil
	})
}

func insert(s storage.Store, b *fairslot.Booking, l storage.Limits) error {
	return s.Update(ctx, func(tx storage.Tx) error { return tx.InsertBooking(ctx, b, l) })
}

func testInsertBooking(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 10)
	ps := newPatients(t, s, 3)
	b := newBooking(f, f.slots[0], ps[0].ID, fairslot.Held)
	b.RequestKey = "k1"
	if err := insert(s, b, noLimits); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "second booking of a slot", insert(s, newBooking(f, f.slots[0], ps[1].ID, fairslot.Held), noLimits), fairslot.Conflict)
	wantKind(t, "second place in one session", insert(s, newBooking(f, f.slots[1], ps[0].ID, fairslot.Held), noLimits), fairslot.Conflict)
	one := storage.Limits{PerDepartmentPerDay: 1, PerDay: 2, Active: 5, Today: "2026-12-10"}
	// A second session of the same department on the same day.
	f2 := *f
	update(t, s, func(tx storage.Tx) error {
		d := fairslot.Doctor{DepartmentID: f.dept.ID, Name: "Dr Wang", Title: fairslot.General}
		if err := tx.CreateDoctor(ctx, &d); err != nil {
			return err
		}
		f2.doctor = d
		newSession(t, tx, &f2, "2026-12-10", 4)
		return nil
	})
	wantKind(t, "over the per-department limit", insert(s, newBooking(&f2, f2.slots[0], ps[0].ID, fairslot.Held), one), fairslot.Limited)
	if err := insert(s, newBooking(&f2, f2.slots[0], ps[1].ID, fairslot.Held), one); err != nil {
		t.Errorf("a patient with no booking: %v", err)
	}
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.BookingByRequestKey(ctx, 0, "k1")
		if err == nil {
			t.Errorf("a request key without an account matched booking %d", got.ID)
		}
		got, err = tx.BookingByCode(ctx, b.Code)
		if err != nil || got.ID != b.ID || got.Status != fairslot.Held || !got.HeldUntil.Equal(b.HeldUntil) {
			t.Errorf("BookingByCode = %+v, %v; want %+v", got, err, b)
		}
		if bs, err := tx.PatientBookings(ctx, ps[1].ID); err != nil || len(bs) != 1 || bs[0].PatientID != ps[1].ID {
			t.Errorf("PatientBookings(patient 1) = %+v, %v; want its one booking", bs, err)
		}
		h, err := tx.PatientHistory(ctx, storage.HistoryQuery{PatientID: ps[0].ID, DepartmentID: f.dept.ID, Date: f.session.Date,
			Today: "2026-12-10", Since: base.AddDate(0, 0, -90)})
		if err != nil || h.ActiveInDepartmentOnDay != 1 || h.ActiveOnDay != 1 || h.Active != 1 {
			t.Errorf("PatientHistory = %+v, %v", h, err)
		}
		ws, _ := tx.Windows(ctx, f.session.ID, base)
		if ws[0].Remaining != 3 {
			t.Errorf("first window remaining = %d, want 3", ws[0].Remaining)
		}
		slot, err := tx.FreeSlot(ctx, storage.SlotQuery{SessionID: f.session.ID, Now: base})
		if err != nil || slot.Number != 2 {
			t.Errorf("FreeSlot = %+v, %v; want number 2", slot, err)
		}
		slot, err = tx.FreeSlot(ctx, storage.SlotQuery{SessionID: f.session.ID, WindowStart: f.slots[8].Start, Now: base})
		if err != nil || slot.Number != 9 {
			t.Errorf("FreeSlot in the third window = %+v, %v; want number 9", slot, err)
		}
		slot, err = tx.FreeSlot(ctx, storage.SlotQuery{SessionID: f.session.ID, Now: base.Add(45 * time.Minute)})
		if err != nil || slot.Number != 5 {
			t.Errorf("FreeSlot once the first window has passed = %+v, %v; want number 5", slot, err)
		}
		return nil
	})
}

func testMoveBooking(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 1)
	b := newBooking(f, f.slots[0], ps[0].ID, fairslot.Held)
	if err := insert(s, b, noLimits); err != nil {
		t.Fatal(err)
	}
	move := func(from, to fairslot.Status) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.MoveBooking(ctx, b.ID, from, to, storage.Move{At: base.Add(time.Minute), MissedCalls: -1})
		})
	}
	wantKind(t, "held → completed", move(fairslot.Held, fairslot.Completed), fairslot.Conflict)
	wantKind(t, "from a status it is not in", move(fairslot.Confirmed, fairslot.CheckedIn), fairslot.Conflict)
	if err := move(fairslot.Held, fairslot.Confirmed); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "confirming twice", move(fairslot.Held, fairslot.Confirmed), fairslot.Conflict)
	s.View(ctx, func(tx storage.Tx) error {
		got, _ := tx.Booking(ctx, b.ID)
		if got.Status != fairslot.Confirmed || !got.UpdatedAt.Equal(base.Add(time.Minute)) {
			t.Errorf("after confirm: %+v", got)
		}
		return nil
	})
}

// testLifecycle tries every pair of statuses: the database must allow
// exactly the moves fairslot.CanMove allows.
func testLifecycle(t *testing.T, s storage.Store) {
	n := len(fairslot.Statuses)
	f := newFixture(t, s, n*n)
	ps := newPatients(t, s, n*n)
	i := 0
	for _, from := range fairslot.Statuses {
		for _, to := range fairslot.Statuses {
			if from == to {
				i++
				continue
			}
			b := newBooking(f, f.slots[i], ps[i].ID, from)
			i++
			if err := insert(s, b, noLimits); err != nil {
				t.Fatalf("insert a %s booking: %v", from, err)
			}
			err := s.Update(ctx, func(tx storage.Tx) error {
				return tx.MoveBooking(ctx, b.ID, from, to, storage.Move{At: base, MissedCalls: -1})
			})
			if allowed := fairslot.CanMove(from, to); allowed != (err == nil) {
				t.Errorf("%s → %s: CanMove = %v, the database says %v", from, to, allowed, err)
			}
		}
	}
}

func testExpireAndNoShows(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 4)
	lapsed := newBooking(f, f.slots[0], ps[0].ID, fairslot.Held)
	fresh := newBooking(f, f.slots[1], ps[1].ID, fairslot.Held)
	fresh.HeldUntil = base.Add(time.Hour)
	paid := newBooking(f, f.slots[2], ps[2].ID, fairslot.Confirmed)
	arrived := newBooking(f, f.slots[3], ps[3].ID, fairslot.CheckedIn) // waited, was not reached
	for _, b := range []*fairslot.Booking{lapsed, fresh, paid, arrived} {
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
	}
	now := base.Add(20 * time.Minute)
	s.View(ctx, func(tx storage.Tx) error {
		ws, _ := tx.Windows(ctx, f.session.ID, now)
		if ws[0].Remaining != 1 {
			t.Errorf("remaining with a lapsed hold = %d, want 1 (the lapsed hold counts as free)", ws[0].Remaining)
		}
		return nil
	})
	update(t, s, func(tx storage.Tx) error {
		ids, err := tx.ExpireHolds(ctx, 0, now)
		if err != nil || len(ids) != 1 || ids[0] != lapsed.ID {
			t.Errorf("ExpireHolds = %v, %v; want [%d]", ids, err, lapsed.ID)
		}
		slot, err := tx.FreeSlot(ctx, storage.SlotQuery{SessionID: f.session.ID, Now: now})
		if err != nil || slot.ID != f.slots[0].ID {
			t.Errorf("FreeSlot after expiry = %+v, %v; want the freed slot 1", slot, err)
		}
		ids, err = tx.MarkNoShows(ctx, f.session.End.Add(-time.Minute), now)
		if err != nil || len(ids) != 0 {
			t.Errorf("MarkNoShows before the session ended = %v, %v; want none", ids, err)
		}
		ids, err = tx.MarkNoShows(ctx, f.session.End, now)
		if err != nil || len(ids) != 1 || ids[0] != paid.ID {
			t.Errorf("MarkNoShows = %v, %v; want [%d] only: the checked-in patient %d arrived", ids, err, paid.ID, arrived.ID)
		}
		h, _ := tx.PatientHistory(ctx, storage.HistoryQuery{PatientID: ps[2].ID, DepartmentID: f.dept.ID, Date: f.session.Date,
			Today: "2026-12-10", Since: base.AddDate(0, 0, -90)})
		if len(h.NoShows) != 1 || h.Active != 0 {
			t.Errorf("history after no-show = %+v; want one no-show and nothing active", h)
		}
		// The next day, the arrived patient's unreached booking stays checked
		// in but no longer counts toward the total cap.
		h, _ = tx.PatientHistory(ctx, storage.HistoryQuery{PatientID: ps[3].ID, DepartmentID: f.dept.ID, Date: "2026-12-11",
			Today: "2026-12-11", Since: base.AddDate(0, 0, -90)})
		if h.Active != 0 || len(h.NoShows) != 0 {
			t.Errorf("history of the unreached patient the next day = %+v; want nothing active and no no-show", h)
		}
		return nil
	})
}

func testTickets(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 4)
	ps := newPatients(t, s, 3)
	var bs []*fairslot.Booking
	for i, p := range ps {
		b := newBooking(f, f.slots[i], p.ID, fairslot.Confirmed)
		if err := insert(s, b, noLimits); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	var tickets []fairslot.Ticket
	update(t, s, func(tx storage.Tx) error {
		for _, b := range bs {
			if err := tx.MoveBooking(ctx, b.ID, fairslot.Confirmed, fairslot.CheckedIn, storage.Move{At: base, MissedCalls: -1}); err != nil {
				return err
			}
			k := fairslot.Ticket{BookingID: b.ID, SessionID: b.SessionID, IssuedAt: base}
			if err := tx.IssueTicket(ctx, &k); err != nil {
				return err
			}
			tickets = append(tickets, k)
		}
		return nil
	})
	for i, k := range tickets {
		if k.Number != i+1 {
			t.Errorf("ticket %d number = %d, want %d", i, k.Number, i+1)
		}
	}
	err := s.Update(ctx, func(tx storage.Tx) error {
		k := fairslot.Ticket{BookingID: bs[0].ID, SessionID: bs[0].SessionID, IssuedAt: base}
		return tx.IssueTicket(ctx, &k)
	})
	wantKind(t, "second ticket for a booking", err, fairslot.Conflict)
	update(t, s, func(tx storage.Tx) error {
		// Move the first patient behind the last.
		if err := tx.SetTicketPosition(ctx, tickets[0].ID, 3.5); err != nil {
			return err
		}
		return tx.MoveBooking(ctx, bs[1].ID, fairslot.CheckedIn, fairslot.Called, storage.Move{At: base, MissedCalls: -1})
	})
	s.View(ctx, func(tx storage.Tx) error {
		q, err := tx.Queue(ctx, f.session.ID)
		if err != nil || len(q) != 3 {
			t.Fatalf("Queue = %d entries, %v; want 3", len(q), err)
		}
		if q[0].Booking.ID != bs[1].ID || q[2].Booking.ID != bs[0].ID || q[0].Room != "101" || len(q[0].NameSealed) == 0 {
			t.Errorf("queue order = %d, %d, %d; want %d, %d, %d", q[0].Booking.ID, q[1].Booking.ID, q[2].Booking.ID, bs[1].ID, bs[2].ID, bs[0].ID)
		}
		c, err := tx.DepartmentQueue(ctx, f.dept.ID, f.session.Date)
		if err != nil || len(c) != 3 || c[0].Ticket.Number != 2 || c[0].Booking.Status != fairslot.Called || c[0].Ticket.Label() != "A002" {
			t.Errorf("DepartmentQueue = %+v, %v; want ticket A002 called first", c, err)
		}
		return nil
	})
}

func testLoginAndTokens(t *testing.T, s storage.Store) {
	phone := random(16)
	c := storage.LoginCode{PhoneIndex: phone, CodeHash: random(32), ExpiresAt: base.Add(5 * time.Minute), CreatedAt: base}
	update(t, s, func(tx storage.Tx) error { return tx.CreateLoginCode(ctx, &c) })
	update(t, s, func(tx storage.Tx) error {
		got, err := tx.LatestLoginCode(ctx, phone, base.Add(time.Minute))
		if err != nil || got.ID != c.ID {
			t.Errorf("LatestLoginCode = %+v, %v", got, err)
		}
		if _, err := tx.LatestLoginCode(ctx, phone, base.Add(6*time.Minute)); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("an expired code was returned: %v", err)
		}
		if n, _ := tx.LoginCodesSince(ctx, phone, base); n != 1 {
			t.Errorf("LoginCodesSince = %d, want 1", n)
		}
		if err := tx.UpdateLoginCode(ctx, c.ID, 1, true); err != nil {
			return err
		}
		if _, err := tx.LatestLoginCode(ctx, phone, base.Add(time.Minute)); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("a used code was returned: %v", err)
		}
		k := storage.Token{Hash: random(32), Kind: storage.StaffToken, SubjectID: 7, ExpiresAt: base.Add(time.Hour), CreatedAt: base}
		if err := tx.CreateToken(ctx, k); err != nil {
			return err
		}
		tok, err := tx.Token(ctx, k.Hash, base)
		if err != nil || tok.SubjectID != 7 || tok.Kind != storage.StaffToken {
			t.Errorf("Token = %+v, %v", tok, err)
		}
		if _, err := tx.Token(ctx, k.Hash, base.Add(2*time.Hour)); err == nil {
			t.Error("an expired token was accepted")
		}
		r := storage.RevokedToken{Hash: k.Hash, ExpiresAt: k.ExpiresAt}
		if err := tx.RevokeToken(ctx, r); err != nil {
			return err
		}
		if err := tx.RevokeToken(ctx, r); err != nil { // a second logout is no error
			t.Errorf("revoking twice: %v", err)
		}
		if _, err := tx.Token(ctx, k.Hash, base); err == nil {
			t.Error("a revoked token was accepted")
		}
		old := storage.RevokedToken{Hash: random(32), ExpiresAt: base.Add(time.Minute)}
		if err := tx.RevokeToken(ctx, old); err != nil {
			return err
		}
		// Revocations are stamped with the database's clock (the wall clock
		// here, not the suite's base).
		stamped := time.Now()
		for _, q := range []struct {
			since, now time.Time
			want       int
		}{
			{time.Time{}, base, 2},                      // every unexpired one
			{stamped.Add(-time.Hour), base, 2},          // revoked since an hour ago
			{time.Time{}, base.Add(2 * time.Minute), 1}, // old has expired
			{stamped.Add(time.Hour), base, 0},           // none revoked in the future
		} {
			got, err := tx.RevokedTokens(ctx, q.since, q.now)
			if err != nil || len(got) != q.want {
				t.Errorf("RevokedTokens(%v, %v) = %d, %v; want %d", q.since, q.now, len(got), err, q.want)
			}
			for _, g := range got {
				if g.RevokedAt.Before(stamped.Add(-time.Hour)) || g.RevokedAt.After(stamped.Add(time.Hour)) {
					t.Errorf("revoked at %v: not the database's clock (now %v)", g.RevokedAt, stamped)
				}
			}
			if q.want == 1 && (!bytes.Equal(got[0].Hash, k.Hash) || !got[0].ExpiresAt.Equal(k.ExpiresAt)) {
				t.Errorf("RevokedTokens = %+v, want %+v", got[0], r)
			}
		}
		st := fairslot.Staff{Username: "desk1", Name: "Desk", Role: fairslot.Registrar}
		if err := tx.CreateStaff(ctx, &st, "hash"); err != nil {
			return err
		}
		got2, hash, err := tx.StaffByUsername(ctx, "desk1")
		if err != nil || got2 != st || hash != "hash" {
			t.Errorf("StaffByUsername = %+v, %q, %v", got2, hash, err)
		}
		return nil
	})
}

func testAudit(t *testing.T, s storage.Store) {
	e1 := audit.Event{At: base.Add(123456789), Actor: "staff:1", Action: "booking.check_in", Subject: "booking:9",
		Detail: map[string]string{"ticket": "A001"}, RequestID: "req-1"}
	e2 := audit.Event{At: base, Actor: "system", Action: "booking.expire", Subject: "booking:10"}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.AppendAudit(ctx, &e1); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &e2)
	})
	// A rolled-back transaction leaves no record behind.
	s.Update(ctx, func(tx storage.Tx) error {
		e := audit.Event{At: base, Actor: "system", Action: "rolled.back", Subject: "x:1"}
		tx.AppendAudit(ctx, &e)
		return fmt.Errorf("roll back")
	})
	if e2.Seq != e1.Seq+1 {
		t.Errorf("seqs = %d, %d; want consecutive", e1.Seq, e2.Seq)
	}
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.AuditEvents(ctx, 0, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("AuditEvents = %d, %v; want 2", len(got), err)
		}
		if string(got[0].Canonical()) != string(e1.Canonical()) || string(got[1].Canonical()) != string(e2.Canonical()) {
			t.Errorf("read back differs:\n got %s\nwant %s", got[0].Canonical(), e1.Canonical())
		}
		return nil
	})
	testFHIRAudit(t, s, e2.Seq)
}

// testFHIRAudit: the FHIR trail holds fhir.call records, a client's acts
// and changes to a client, and nothing else; each filter narrows it.
func testFHIRAudit(t *testing.T, s storage.Store, last int64) {
	trail := []audit.Event{
		{At: base, Actor: "fhir-client:c1", Action: "fhir.call", Subject: "fhir:Slot/1-1", Detail: map[string]string{"operation": "read", "status": "200"}},
		{At: base.Add(time.Hour), Actor: "staff:1", Action: "fhir.call", Subject: "fhir:Slot", Detail: map[string]string{"operation": "search-type", "status": "200"}},
		{At: base.Add(2 * time.Hour), Actor: "fhir-client:c1", Action: "booking.hold", Subject: "booking:9"},
		{At: base.Add(3 * time.Hour), Actor: "system", Action: "fhir.client.revoke", Subject: "fhir-client:c1"},
		{At: base.Add(4 * time.Hour), Actor: "fhir-client:c2", Action: "fhir.call", Subject: "fhir:Appointment", Detail: map[string]string{"operation": "$book", "status": "201"}},
	}
	update(t, s, func(tx storage.Tx) error {
		for i := range trail {
			if err := tx.AppendAudit(ctx, &trail[i]); err != nil {
				return err
			}
			// Records outside the trail, between its records.
			other := audit.Event{At: trail[i].At, Actor: "account:1", Action: "booking.hold", Subject: "booking:1", Detail: map[string]string{"operation": "read"}}
			if err := tx.AppendAudit(ctx, &other); err != nil {
				return err
			}
		}
		return nil
	})
	seqs := func(evs []audit.Event) []int64 {
		var out []int64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	want := func(is ...int) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, trail[i].Seq)
		}
		return out
	}
	for _, c := range []struct {
		name  string
		q     storage.AuditQuery
		want  []int64
		total int
	}{
		{"all", storage.AuditQuery{From: base}, want(0, 1, 2, 3, 4), 5},
		{"paged", storage.AuditQuery{From: base, Offset: 1, Limit: 2}, want(1, 2), 5},
		{"dates", storage.AuditQuery{From: base.Add(time.Hour), To: base.Add(3 * time.Hour)}, want(1, 2), 2},
		{"actor", storage.AuditQuery{Actors: []string{"fhir-client:c1"}}, want(0, 2), 2},
		{"subject", storage.AuditQuery{Subjects: []string{"fhir-client:c1", "booking:9"}}, want(2, 3), 2},
		{"operation", storage.AuditQuery{Operations: []string{"read", "$book"}}, want(0, 4), 2},
		{"seq", storage.AuditQuery{Seq: trail[3].Seq}, want(3), 1},
		{"seq outside the trail", storage.AuditQuery{Seq: last}, nil, 0},
	} {
		s.View(ctx, func(tx storage.Tx) error {
			got, total, err := tx.FHIRAudit(ctx, c.q)
			if err != nil || fmt.Sprint(seqs(got)) != fmt.Sprint(c.want) || total != c.total {
				t.Errorf("FHIRAudit %s = %v, total %d, %v; want %v, total %d", c.name, seqs(got), total, err, c.want, c.total)
			}
			if c.name == "all" && err == nil && len(got) == 5 && string(got[4].Canonical()) != string(trail[4].Canonical()) {
				t.Errorf("FHIRAudit reads back %s, want %s", got[4].Canonical(), trail[4].Canonical())
			}
			return nil
		})
	}
}

// testConcurrentBooking races 200 goroutines for the 10 slots of one session
// with 50 patients under a limit of one booking per department per day.
func testConcurrentBooking(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 10)
	ps := newPatients(t, s, 50)
	l := storage.Limits{PerDepartmentPerDay: 1, PerDay: 2, Active: 5, Today: "2026-12-10"}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ps[i%len(ps)]
			s.Update(ctx, func(tx storage.Tx) error {
				slot, err := tx.FreeSlot(ctx, storage.SlotQuery{SessionID: f.session.ID, Now: base})
				if err != nil {
					return err
				}
				return tx.InsertBooking(ctx, newBooking(f, slot, p.ID, fairslot.Held), l)
			})
		}()
	}
	wg.Wait()
	CheckSession(t, s, f.session.ID, 10)
}

// testConcurrentUpdatesIsolated runs many writers at once, every third of
// which writes and then fails: each failed writer's change must vanish and
// every other's must stay, whatever the backend batches together.
func testConcurrentUpdatesIsolated(t *testing.T, s storage.Store) {
	const n = 90
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx storage.Tx) error {
				if err := tx.PutSetting(ctx, fmt.Sprint("key-", i), "v"); err != nil {
					return err
				}
				if i%3 == 0 {
					return fairslot.Errorf(fairslot.Conflict, "refused")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	s.View(ctx, func(tx storage.Tx) error {
		for i := 0; i < n; i++ {
			v, err := tx.Setting(ctx, fmt.Sprint("key-", i))
			switch {
			case i%3 == 0 && (fairslot.ErrorKind(errs[i]) != fairslot.Conflict || err == nil):
				t.Errorf("writer %d failed (%v) but its change is there (%q, %v)", i, errs[i], v, err)
			case i%3 != 0 && (errs[i] != nil || v != "v"):
				t.Errorf("writer %d: Update = %v, its change = %q, %v", i, errs[i], v, err)
			}
		}
		return nil
	})
}

// CheckSession verifies a session's bookings: exactly want of them keep a
// slot, no slot is kept by two, and no patient keeps two places. Backends and
// the app's own concurrency tests use it.
func CheckSession(t *testing.T, s storage.Store, sessionID int64, want int) {
	t.Helper()
	if n := CheckNoDoubles(t, s, sessionID); n != want {
		t.Errorf("bookings keeping a slot = %d, want %d", n, want)
	}
}

// CheckNoDoubles reports an error for any slot kept by two bookings, or any
// patient keeping two places in one session, among the given sessions, and
// returns how many bookings keep a slot.
func CheckNoDoubles(t testing.TB, s storage.Store, sessionIDs ...int64) int {
	t.Helper()
	n := 0
	err := s.View(ctx, func(tx storage.Tx) error {
		for _, id := range sessionIDs {
			bs, err := tx.SessionBookings(ctx, id)
			if err != nil {
				return err
			}
			slots, patients := map[int64]int64{}, map[int64]int64{}
			for _, b := range bs {
				if !b.Status.HoldsSlot() {
					continue
				}
				n++
				if other, ok := slots[b.SlotID]; ok {
					t.Errorf("slot %d is kept by bookings %d and %d", b.SlotID, other, b.ID)
				}
				if other, ok := patients[b.PatientID]; ok {
					t.Errorf("patient %d keeps two places in session %d: bookings %d and %d", b.PatientID, id, other, b.ID)
				}
				slots[b.SlotID], patients[b.PatientID] = b.ID, b.ID
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
