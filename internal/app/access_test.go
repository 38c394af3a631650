package app_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// addStaff creates logins beyond the fixture's desk and doc.
func (e *env) addStaff(t *testing.T, staff ...fairslot.Staff) {
	t.Helper()
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) error {
		for _, st := range staff {
			if err := tx.CreateStaff(ctx, &st, staffPasswordHash()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// booked books, pays and (when checkIn) checks in a new patient of account
// a for session sess, returning the booking.
func (e *env) booked(t *testing.T, a app.Actor, serial int, sess fairslot.Session, checkIn bool) app.BookingView {
	t.Helper()
	p := e.bind(t, a, fmt.Sprintf("病人%d号", serial), serial)
	b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: sess.ID, PatientID: p.ID, RequestKey: fmt.Sprint("k", serial)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pay(ctx, a, b.ID, fmt.Sprint("pay", serial)); err != nil {
		t.Fatal(err)
	}
	if checkIn {
		in, err := e.svc.CheckIn(ctx, e.staff(t, "desk"), b.Code, residentID(serial)[14:])
		if err != nil {
			t.Fatal(err)
		}
		return in.Booking
	}
	return b
}

// A doctor acts only on the sessions of their own doctor record: another
// doctor's queue, calls, recalls, completions, missed calls, extra slots
// and exports are refused, and an unlinked doctor acts on none.
func TestDoctorActsOnlyOnOwnSessions(t *testing.T) {
	e := newEnv(t)
	e.addStaff(t, fairslot.Staff{Username: "drb", Name: "Dr B", Role: fairslot.DoctorRole, DoctorID: e.other.DoctorID},
		fairslot.Staff{Username: "unlinked", Name: "New doctor", Role: fairslot.DoctorRole})
	acct := e.login(t, "13800000001")
	mine := e.booked(t, acct, 1, e.session, true)
	theirs := e.booked(t, acct, 2, e.other, true)
	doc, drb, unlinked := e.staff(t, "doc"), e.staff(t, "drb"), e.staff(t, "unlinked")

	// Dr B calls their own patient, so there is a called booking to attack.
	if _, err := e.svc.CallNext(ctx, drb, e.other.ID); err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func() error{
		"queue":     func() error { _, err := e.svc.Queue(ctx, doc, e.other.ID); return err },
		"call next": func() error { _, err := e.svc.CallNext(ctx, doc, e.other.ID); return err },
		"recall":    func() error { return e.svc.Recall(ctx, doc, theirs.ID) },
		"missed":    func() error { return e.svc.Missed(ctx, doc, theirs.ID) },
		"complete":  func() error { return e.svc.Complete(ctx, doc, theirs.ID) },
		"extra slot": func() error {
			_, err := e.svc.AddExtraSlot(ctx, doc, e.other.ID, app.ExtraSlotInput{Reason: "urgent"})
			return err
		},
		"export": func() error { _, err := e.svc.ExportSession(ctx, doc, e.other.ID); return err },
		"reveal": func() error {
			_, err := e.svc.Reveal(ctx, doc, app.RevealInput{BookingID: theirs.ID, Field: "phone", Reason: "clinical_care"})
			return err
		},
		"reveal by patient": func() error {
			_, err := e.svc.Reveal(ctx, doc, app.RevealInput{PatientID: theirs.PatientID, Field: "id", Reason: "clinical_care"})
			return err
		},
		"unlinked queue":     func() error { _, err := e.svc.Queue(ctx, unlinked, e.session.ID); return err },
		"unlinked call next": func() error { _, err := e.svc.CallNext(ctx, unlinked, e.session.ID); return err },
	} {
		wantKind(t, name, fn(), fairslot.Forbidden)
	}
	// Nothing moved: Dr B's patient is still called.
	if q, err := e.svc.Queue(ctx, drb, e.other.ID); err != nil || len(q) != 1 || q[0].Status != fairslot.Called {
		t.Errorf("Dr B's queue after the attempts = %+v, %v; want their patient still called", q, err)
	}
	// Their own session works, with full names for the doctor.
	q, err := e.svc.Queue(ctx, doc, e.session.ID)
	if err != nil || len(q) != 1 || q[0].BookingID != mine.ID || q[0].Name != "病人1号" {
		t.Fatalf("own queue = %+v, %v; want the full name of their patient", q, err)
	}
	if _, err := e.svc.CallNext(ctx, doc, e.session.ID); err != nil {
		t.Errorf("own call next: %v", err)
	}
	if err := e.svc.Complete(ctx, doc, mine.ID); err != nil {
		t.Errorf("own complete: %v", err)
	}
}

// Nurses and desks scoped to a department work only there.
func TestDeskScopedToDepartment(t *testing.T) {
	e := newEnv(t)
	e.addStaff(t, fairslot.Staff{Username: "deskb", Name: "Desk B", Role: fairslot.Registrar, DepartmentID: e.other.DepartmentID},
		fairslot.Staff{Username: "nurseb", Name: "Nurse B", Role: fairslot.Nurse, DepartmentID: e.other.DepartmentID})
	acct := e.login(t, "13800000001")
	b := e.booked(t, acct, 1, e.session, false)
	deskb, nurseb := e.staff(t, "deskb"), e.staff(t, "nurseb")
	_, err := e.svc.CheckIn(ctx, deskb, b.Code, residentID(1)[14:])
	wantKind(t, "check-in in another department", err, fairslot.Forbidden)
	_, err = e.svc.Queue(ctx, nurseb, e.session.ID)
	wantKind(t, "a nurse's queue in another department", err, fairslot.Forbidden)
	_, err = e.svc.Lookup(ctx, deskb, app.LookupInput{Code: b.Code})
	wantKind(t, "look-up by code of another department's booking", err, fairslot.NotFound)
	_, err = e.svc.Lookup(ctx, deskb, app.LookupInput{IDType: fairslot.IDResident, IDNumber: residentID(1), Reason: "identity_check"})
	wantKind(t, "look-up by ID of a patient with bookings elsewhere only", err, fairslot.NotFound)
	_, err = e.svc.Reveal(ctx, deskb, app.RevealInput{PatientID: b.PatientID, Field: "id", Reason: "identity_check"})
	wantKind(t, "reveal of a patient booked elsewhere", err, fairslot.Forbidden)
	if _, err := e.svc.Queue(ctx, nurseb, e.other.ID); err != nil {
		t.Errorf("own department's queue: %v", err)
	}
}

// Security officers and kiosks reach no patient data and no look-up.
func TestSecurityAndKioskSeeNoPatientData(t *testing.T) {
	e := newEnv(t)
	e.addStaff(t, fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security}, fairslot.Staff{Username: "kiosk", Name: "Kiosk 1", Role: fairslot.Kiosk})
	acct := e.login(t, "13800000001")
	b := e.booked(t, acct, 1, e.session, true)
	for _, user := range []string{"sec", "kiosk"} {
		a := e.staff(t, user)
		for name, fn := range map[string]func() error{
			"queue": func() error { _, err := e.svc.Queue(ctx, a, e.session.ID); return err },
			"look-up by ID": func() error {
				_, err := e.svc.Lookup(ctx, a, app.LookupInput{IDType: fairslot.IDResident, IDNumber: residentID(1), Reason: "identity_check"})
				return err
			},
			"look-up by code": func() error { _, err := e.svc.Lookup(ctx, a, app.LookupInput{Code: b.Code}); return err },
			"reveal": func() error {
				_, err := e.svc.Reveal(ctx, a, app.RevealInput{BookingID: b.ID, Field: "id", Reason: "identity_check"})
				return err
			},
			"export":    func() error { _, err := e.svc.ExportSession(ctx, a, e.session.ID); return err },
			"call next": func() error { _, err := e.svc.CallNext(ctx, a, e.session.ID); return err },
		} {
			wantKind(t, user+" "+name, fn(), fairslot.Forbidden)
		}
	}
	_, err := e.svc.CheckIn(ctx, e.staff(t, "sec"), b.Code, residentID(1)[14:])
	wantKind(t, "security checking in", err, fairslot.Forbidden)
	if _, err := e.svc.SecurityEvents(ctx, e.staff(t, "sec"), 0); err != nil {
		t.Errorf("security reading security events: %v", err)
	}
	_, err = e.svc.SecurityEvents(ctx, e.staff(t, "kiosk"), 0)
	wantKind(t, "a kiosk reading security events", err, fairslot.Forbidden)
}

// A stolen desk session scripting reveals across patients is locked after
// ten patients: the eleventh is refused, the account is refused at
// authentication from then on, an ALERT is logged and the event is on the
// security page; security unlocks it.
func TestRevealLimitsLockTheAccount(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.svc.Log = slog.New(slog.NewTextHandler(&logs, nil))
	e.addStaff(t, fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security})
	acct := e.login(t, "13800000001")
	var patients []int64
	accounts := []app.Actor{acct, e.login(t, "13800000101"), e.login(t, "13800000102")} // an account binds at most a few
	for i := range 12 {
		patients = append(patients, e.bind(t, accounts[i/4], fmt.Sprint("病人", i), 100+i).ID)
	}
	desk, tok := e.signIn(t, app.Actor{}, "desk", "correct horse battery") // merge of staff: sign-in is two steps
	exposed := 0
	for i, p := range patients {
		e.clock.Add(10 * time.Second)
		got, err := e.svc.Reveal(ctx, desk, app.RevealInput{PatientID: p, Field: "id", Reason: "other", Note: "scripted 张三 " + fmt.Sprint(i)})
		if err != nil {
			wantKind(t, fmt.Sprintf("reveal %d", i+1), err, fairslot.Forbidden)
			break
		}
		if got.Value != residentID(100+i) {
			t.Fatalf("reveal %d = %q, want %q", i+1, got.Value, residentID(100+i))
		}
		exposed++
	}
	if exposed != access.DefaultDistinctPatients {
		t.Errorf("records exposed before the lock = %d, want %d", exposed, access.DefaultDistinctPatients)
	}
	if _, err := e.svc.Authenticate(ctx, tok, ""); fairslot.ErrorKind(err) != fairslot.Forbidden {
		t.Errorf("the locked account's token: %v, want refused", err)
	}
	if !strings.Contains(logs.String(), "ALERT") {
		t.Errorf("no ALERT logged: %s", logs.String())
	}
	sec := e.staff(t, "sec")
	evs, err := e.svc.SecurityEvents(ctx, sec, 0)
	if err != nil || len(evs) != 1 || evs[0].StaffID != desk.ID || evs[0].Kind != "access.locked" {
		t.Fatalf("security events = %+v, %v; want the lock", evs, err)
	}
	// Every reveal is on record with its reason; the note is sealed.
	var recs []storage.AccessRecord
	e.svc.Store.View(ctx, func(tx storage.Tx) (err error) {
		recs, err = tx.CountedAccesses(ctx, desk.ID, []string{"reveal"}, time.Time{})
		return err
	})
	if len(recs) != exposed {
		t.Errorf("%d reveals recorded, want %d", len(recs), exposed)
	}
	for _, r := range recs {
		if bytes.Contains(r.NoteSealed, []byte("scripted")) || r.Reason != "other" {
			t.Errorf("record %+v: note not sealed or reason lost", r)
		}
		note, err := e.svc.Vault.Open(vault.Field{Table: "access_log", Row: r.Ref, Column: "note"}, r.NoteSealed)
		if err != nil || !strings.HasPrefix(note, "scripted 张三") {
			t.Errorf("note opens to %q, %v", note, err)
		}
	}
	// Only security unlocks; then the account works again.
	wantKind(t, "a patient unlocking", e.svc.UnlockAccess(ctx, acct, desk.ID), fairslot.Unauthorized)
	if err := e.svc.UnlockAccess(ctx, sec, desk.ID); err != nil {
		t.Fatal(err)
	}
	if desk, err = e.svc.Authenticate(ctx, tok, ""); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if _, err := e.svc.Reveal(ctx, desk, app.RevealInput{PatientID: patients[0], Field: "phone", Reason: "contact_patient"}); err != nil {
		t.Errorf("a reveal after unlock: %v", err)
	}
}

// Over the hourly limit, even for one patient, the account locks.
func TestRevealPerHourLimit(t *testing.T) {
	e := newEnv(t)
	e.svc.AccessLimits = access.Limits{PerHour: 3}
	acct := e.login(t, "13800000001")
	p := e.bind(t, acct, "张三", 1)
	desk := e.staff(t, "desk")
	for i := range 3 {
		if _, err := e.svc.Reveal(ctx, desk, app.RevealInput{PatientID: p.ID, Field: "phone", Reason: "contact_patient"}); err != nil {
			t.Fatalf("reveal %d: %v", i+1, err)
		}
	}
	_, err := e.svc.Reveal(ctx, desk, app.RevealInput{PatientID: p.ID, Field: "phone", Reason: "contact_patient"})
	wantKind(t, "the 4th reveal in an hour", err, fairslot.Forbidden)
	_, err = e.svc.Reveal(ctx, desk, app.RevealInput{PatientID: p.ID, Field: "id", Reason: "identity_check"})
	wantKind(t, "a reveal while locked", err, fairslot.Forbidden)
}

// Reveals and look-ups by ID number need a known reason; bad input stores
// nothing.
func TestRevealNeedsReason(t *testing.T) {
	e := newEnv(t)
	acct := e.login(t, "13800000001")
	p := e.bind(t, acct, "张三", 1)
	desk := e.staff(t, "desk")
	for _, in := range []app.RevealInput{
		{PatientID: p.ID, Field: "id"},
		{PatientID: p.ID, Field: "id", Reason: "curious"},
		{PatientID: p.ID, Field: "id", Reason: "other"},
		{PatientID: p.ID, Field: "name", Reason: "billing"},
		{Field: "id", Reason: "billing"},
		{PatientID: p.ID, BookingID: 1, Field: "id", Reason: "billing"},
	} {
		_, err := e.svc.Reveal(ctx, desk, in)
		wantKind(t, fmt.Sprintf("reveal %+v", in), err, fairslot.Invalid)
	}
	_, err := e.svc.Lookup(ctx, desk, app.LookupInput{IDType: fairslot.IDResident, IDNumber: residentID(1)})
	wantKind(t, "look-up by ID without a reason", err, fairslot.Invalid)
	if n := e.auditCount(t, "patient.lookup") + e.auditCount(t, "patient.reveal"); n != 0 {
		t.Errorf("%d records of refused requests", n)
	}
}

// Every look-up by ID number is recorded, found or not, and misses count:
// trying many numbers locks the account.
func TestLookupMissesAuditedAndLimited(t *testing.T) {
	e := newEnv(t)
	desk := e.staff(t, "desk")
	for i := range access.DefaultDistinctPatients {
		_, err := e.svc.Lookup(ctx, desk, app.LookupInput{IDType: fairslot.IDResident, IDNumber: residentID(500 + i), Reason: "identity_check"})
		wantKind(t, fmt.Sprint("miss ", i+1), err, fairslot.NotFound)
	}
	if n := e.auditCount(t, "patient.lookup"); n != access.DefaultDistinctPatients {
		t.Errorf("%d look-ups audited, want %d", n, access.DefaultDistinctPatients)
	}
	var recs []storage.AccessRecord
	e.svc.Store.View(ctx, func(tx storage.Tx) (err error) {
		recs, err = tx.CountedAccesses(ctx, desk.ID, []string{"lookup"}, time.Time{})
		return err
	})
	if len(recs) != access.DefaultDistinctPatients || recs[0].PatientID != 0 || recs[0].Reason != "identity_check" {
		t.Errorf("look-up records = %+v", recs)
	}
	_, err := e.svc.Lookup(ctx, desk, app.LookupInput{IDType: fairslot.IDResident, IDNumber: residentID(900), Reason: "identity_check"})
	wantKind(t, "the 11th distinct miss", err, fairslot.Forbidden)
	if n := e.auditCount(t, "staff.access_locked"); n != 1 {
		t.Errorf("%d lock records, want 1", n)
	}
}

// Patients see who looked at their own records, and only their own; a
// refreshing room page records one view per patient per clinic per day.
func TestPatientsSeeWhoLooked(t *testing.T) {
	e := newEnv(t)
	acct := e.login(t, "13800000001")
	b := e.booked(t, acct, 1, e.session, true) // the desk's check-in shows the name: one view
	doc := e.staff(t, "doc")
	for range 5 { // the room page refreshes
		if _, err := e.svc.Queue(ctx, doc, e.session.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(20 * time.Second)
	}
	if n := e.auditCount(t, "patient.view_name"); n != 2 {
		t.Errorf("%d name views recorded, want 2 (the desk's check-in and the doctor's room, once each)", n)
	}
	if _, err := e.svc.Reveal(ctx, doc, app.RevealInput{BookingID: b.ID, Field: "phone", Reason: "contact_patient", Note: "results"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.PatientAccesses(ctx, acct, b.PatientID)
	if err != nil {
		t.Fatal(err)
	}
	want := []app.AccessView{
		{Role: "doctor", Place: "room Room 3", Kind: "reveal", Field: "phone", Purpose: "contact_patient"},
		{Role: "doctor", Place: "room Room 3", Kind: "view", Field: "name", Purpose: "clinical_care"},
		{Role: "registrar", Place: "registration desk", Kind: "view", Field: "name", Purpose: "check_in"},
	}
	if len(got) != len(want) {
		t.Fatalf("accesses = %+v, want %d", got, len(want))
	}
	for i := range want {
		g := got[i]
		g.At = time.Time{}
		if g != want[i] {
			t.Errorf("access %d = %+v, want %+v", i, g, want[i])
		}
		if strings.Contains(fmt.Sprint(got[i]), "results") {
			t.Errorf("the staff note reached the patient: %+v", got[i])
		}
	}
	other := e.login(t, "13900000009")
	_, err = e.svc.PatientAccesses(ctx, other, b.PatientID)
	wantKind(t, "another account reading the accesses", err, fairslot.NotFound)
	_, err = e.svc.PatientAccesses(ctx, doc, b.PatientID)
	wantKind(t, "staff reading through the patient route", err, fairslot.Unauthorized)
}

// The clinic export is masked, scoped and recorded.
func TestExportMasked(t *testing.T) {
	e := newEnv(t)
	acct := e.login(t, "13800000001")
	e.booked(t, acct, 1, e.session, true)
	rows, err := e.svc.ExportSession(ctx, e.staff(t, "doc"), e.session.ID)
	if err != nil || len(rows) != 1 || rows[0].Name != "病*" || rows[0].Ticket != "A001" {
		t.Fatalf("export = %+v, %v", rows, err)
	}
	if n := e.auditCount(t, "session.export"); n != 1 {
		t.Errorf("%d exports recorded, want 1", n)
	}
}

// A stolen doctor's session probing other doctors' patients with reveals
// sees nothing — and the refusals count against the limits as reveals do,
// so the probe locks the account with an ALERT after the same number of
// patients, and none of it shows on those patients' "who looked".
func TestRefusedRevealsCountAndLock(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.svc.Log = slog.New(slog.NewTextHandler(&logs, nil))
	var patients []int64
	accounts := []app.Actor{e.login(t, "13800000001"), e.login(t, "13800000101"), e.login(t, "13800000102")}
	for i := range 12 {
		patients = append(patients, e.booked(t, accounts[i/4], 100+i, e.other, false).PatientID) // another doctor's session
	}
	doc, _ := e.signIn(t, app.Actor{}, "doc", "correct horse battery")
	refused := 0
	for i, p := range patients {
		e.clock.Add(10 * time.Second)
		_, err := e.svc.Reveal(ctx, doc, app.RevealInput{PatientID: p, Field: "id", Reason: "clinical_care"})
		wantKind(t, fmt.Sprintf("reveal %d of another doctor's patient", i+1), err, fairslot.Forbidden)
		if err != nil && strings.Contains(err.Error(), "account is locked") {
			break
		}
		refused++
	}
	if refused != access.DefaultDistinctPatients {
		t.Errorf("refused probes before the lock = %d, want %d", refused, access.DefaultDistinctPatients)
	}
	if !strings.Contains(logs.String(), "ALERT") {
		t.Error("no ALERT for a session probing out of its scope")
	}
	if n := e.auditCount(t, "patient.reveal_refused"); n != refused {
		t.Errorf("%d refusals audited, want %d", n, refused)
	}
	views, err := e.svc.PatientAccesses(ctx, accounts[0], patients[0])
	if err != nil || len(views) != 0 {
		t.Errorf("the patient's who-looked shows a refused probe: %+v, %v", views, err)
	}
}
