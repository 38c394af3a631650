package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/queue"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
	"github.com/fairslot/fairslot/internal/vault"
)

var ctx = context.Background()

// clock is a settable fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// inbox is a notifier that keeps the last text per phone.
type inbox struct {
	mu   sync.Mutex
	last map[string]string
}

func (n *inbox) Notify(_ context.Context, phone, text string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last[phone] = text
	return nil
}

var codeRE = regexp.MustCompile(`\d{6}`)

func (n *inbox) code(phone string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return codeRE.FindString(n.last[phone])
}

type env struct {
	svc     *app.Service
	clock   *clock
	inbox   *inbox
	pay     *payment.Sandbox
	dir     string
	session fairslot.Session   // today 08:00–12:00, 12 slots
	later   fairslot.Session   // tomorrow, same department
	other   fairslot.Session   // today, another department
	factors map[string]*factor // staff second factors enrolled by signIn (staffauth_test.go)
	// recorded are the ID numbers onRecord put on record (walkin_test.go).
	recordMu sync.Mutex
	recorded map[string]bool
}

var loc = time.FixedZone("CST", 8*3600)

// openService opens the store and keyset under dir (creating them if new)
// with a fake clock at 07:30 on 2026-12-10.
func openService(t *testing.T, dir string) (*app.Service, *clock, *inbox, *payment.Sandbox) {
	return openServiceTB(t, dir, "FULL")
}

func openServiceTB(t testing.TB, dir, synchronous string) (*app.Service, *clock, *inbox, *payment.Sandbox) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "data"), sqlite.Options{Location: loc, BusyTimeout: 30 * time.Second, Synchronous: synchronous})
	if err != nil {
		t.Fatal(err)
	}
	return serviceOn(t, st, dir)
}

// serviceOn migrates st and builds the service around it with a keyset under
// dir and a fake clock at 07:30 on 2026-12-10; st is closed after the test.
func serviceOn(t testing.TB, st storage.Store, dir string) (*app.Service, *clock, *inbox, *payment.Sandbox) {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(filepath.Join(dir, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, n, p := &clock{now: time.Date(2026, 12, 10, 7, 30, 0, 0, loc)}, &inbox{last: map[string]string{}}, payment.NewSandbox()
	svc := &app.Service{Store: st, Vault: v, Policy: booking.Default(), Calling: queue.Default(), Payments: p, Notifier: n,
		Now: c.Now, Location: loc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Display: app.NewBroker()}
	return svc, c, n, p
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = openService(t, e.dir)
	e.seed(t)
	return e
}

// testEnrolCode is the fixture staff's enrolment code, as their admin
// would hand it over.
const testEnrolCode = "TESTS-0F1XT"

// staffPasswordHash is the fixture staff's password hash, computed once:
// argon2id is slow by design, and every env seeds two staff.
var staffPasswordHash = sync.OnceValue(func() string { return app.HashPassword("correct horse battery") })

// seed creates the env's hospital, sessions and staff.
func (e *env) seed(t *testing.T) {
	t.Helper()
	st := e.svc.Store
	err := st.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		tx.CreateHospital(ctx, &h)
		c := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		tx.CreateCampus(ctx, &c)
		mk := func(code string, date string) (fairslot.Session, error) {
			d := fairslot.Department{CampusID: c.ID, Code: code + date, Name: "Dept " + code}
			if err := tx.CreateDepartment(ctx, &d); err != nil {
				return fairslot.Session{}, err
			}
			doc := fairslot.Doctor{DepartmentID: d.ID, Name: "Dr " + code, Title: fairslot.Expert}
			if err := tx.CreateDoctor(ctx, &doc); err != nil {
				return fairslot.Session{}, err
			}
			return addSession(ctx, tx, d.ID, doc.ID, date, 12)
		}
		var err error
		if e.session, err = mk("A", "2026-12-10"); err != nil {
			return err
		}
		if e.other, err = mk("B", "2026-12-10"); err != nil {
			return err
		}
		docs, _ := tx.Doctors(ctx, e.session.DepartmentID)
		e.later, err = addSession(ctx, tx, e.session.DepartmentID, docs[0].ID, "2026-12-11", 12)
		if err != nil {
			return err
		}
		for _, st := range []fairslot.Staff{{Username: "desk", Name: "Desk", Role: fairslot.Registrar}, {Username: "doc", Name: "Doc", Role: fairslot.DoctorRole, DoctorID: e.session.DoctorID}} {
			if err := tx.CreateStaff(ctx, &st, staffPasswordHash()); err != nil {
				return err
			}
			if err := app.SetEnrolCode(e.svc, tx, st.ID, testEnrolCode); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func addSession(ctx context.Context, tx storage.Tx, dept, doctor int64, date string, n int) (fairslot.Session, error) {
	day, _ := time.ParseInLocation(time.DateOnly, date, loc)
	s := fairslot.Session{DoctorID: doctor, DepartmentID: dept, Date: date, Period: fairslot.Morning,
		Start: day.Add(8 * time.Hour), End: day.Add(20 * time.Hour), Room: "Room 3", FeeCents: 5000}
	slots := make([]fairslot.Slot, n)
	for i := range slots {
		w := s.Start.Add(time.Duration(i/2) * 30 * time.Minute)
		slots[i] = fairslot.Slot{Number: i + 1, Start: w, End: w.Add(30 * time.Minute)}
	}
	return s, tx.CreateSession(ctx, &s, slots)
}

// newSession adds a session with n slots for a new doctor of a department.
func (e *env) newSession(t *testing.T, dept int64, date string, n int) fairslot.Session {
	t.Helper()
	var s fairslot.Session
	err := e.svc.Store.Update(ctx, func(tx storage.Tx) (err error) {
		doc := fairslot.Doctor{DepartmentID: dept, Name: "Dr Extra", Title: fairslot.General}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		s, err = addSession(ctx, tx, dept, doc.ID, date, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) login(t *testing.T, phone string) app.Actor {
	t.Helper()
	a := e.loginOnly(t, phone)
	if _, err := e.svc.Consent(ctx, a, e.svc.Privacy.Version(), "zh-CN"); err != nil {
		t.Fatal(err)
	}
	return a
}

// loginOnly logs in without accepting the privacy notice.
func (e *env) loginOnly(t *testing.T, phone string) app.Actor {
	t.Helper()
	if err := e.svc.RequestLoginCode(ctx, app.Actor{}, phone); err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.svc.Login(ctx, app.Actor{}, phone, e.inbox.code(phone))
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) staff(t *testing.T, user string) app.Actor {
	t.Helper()
	a, _ := e.signIn(t, app.Actor{}, user, "correct horse battery")
	return a
}

// residentID makes a valid resident ID number from a serial.
func residentID(serial int) string {
	first := fmt.Sprintf("11010519800101%03d", serial%1000)
	return first + string(fairslot.ResidentCheckDigit(first))
}

func (e *env) bind(t *testing.T, a app.Actor, name string, serial int) fairslot.Patient {
	t.Helper()
	p, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: name, IDType: fairslot.IDResident, IDNumber: residentID(serial), Phone: "13800000000"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantKind(t *testing.T, what string, err error, kind fairslot.Kind) {
	t.Helper()
	if fairslot.ErrorKind(err) != kind || err == nil {
		t.Errorf("%s: error = %v, want kind %s", what, err, kind)
	}
}

func TestBookingLifecycle(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三", 1)
	if p.Name != "张*" || p.IDNumber != "11****************" {
		t.Errorf("bound patient not masked: %+v", p)
	}

	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID, RequestKey: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if held.Status != fairslot.Held || held.Code == "" || !held.HeldUntil.Equal(e.clock.Now().Add(15*time.Minute)) {
		t.Errorf("hold = %+v", held.Booking)
	}
	replay, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID, RequestKey: "r1"})
	if err != nil || replay.ID != held.ID {
		t.Errorf("replayed hold = %d, %v; want the same booking %d", replay.ID, err, held.ID)
	}
	_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID, RequestKey: "r1"})
	wantKind(t, "a key reused for another request", err, fairslot.Conflict)
	_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	wantKind(t, "second booking in one department and day", err, fairslot.Limited)

	paid, err := e.svc.Pay(ctx, a, held.ID, "pay-1")
	if err != nil || paid.Status != fairslot.Confirmed {
		t.Fatalf("Pay = %+v, %v", paid.Booking, err)
	}
	again, err := e.svc.Pay(ctx, a, held.ID, "pay-1")
	if err != nil || again.Status != fairslot.Confirmed {
		t.Errorf("replayed payment = %v, %v; want the paid booking", again.Status, err)
	}
	_, err = e.svc.Pay(ctx, a, held.ID, "pay-2")
	wantKind(t, "paying twice with another key", err, fairslot.Conflict)

	desk, doc := e.staff(t, "desk"), e.staff(t, "doc")
	_, err = e.svc.CheckIn(ctx, desk, held.Code, "0000")
	wantKind(t, "check-in with the wrong ID digits", err, fairslot.Forbidden)
	_, err = e.svc.CheckIn(ctx, doc, held.Code, residentID(1)[14:])
	wantKind(t, "a doctor checking in", err, fairslot.Forbidden)
	in, err := e.svc.CheckIn(ctx, desk, held.Code, residentID(1)[14:])
	if err != nil || in.Label != "A001" || in.Booking.Status != fairslot.CheckedIn {
		t.Fatalf("CheckIn = %+v, %v", in, err)
	}
	_, err = e.svc.CheckIn(ctx, desk, held.Code, residentID(1)[14:])
	wantKind(t, "checking in twice", err, fairslot.Conflict)
	if mine, err := e.svc.Booking(ctx, a, held.ID); err != nil || mine.Turn != 1 {
		t.Errorf("checked-in booking's turn = %d, %v; want 1", mine.Turn, err)
	}

	// The desk finds it by code or by ID number, masked; only staff may.
	for _, in := range []app.LookupInput{{Code: strings.ToLower(held.Code)}, {IDType: fairslot.IDResident, IDNumber: residentID(1), Reason: "identity_check"}} {
		found, err := e.svc.Lookup(ctx, desk, in)
		if err != nil || len(found) != 1 || found[0].ID != held.ID || found[0].Patient.Name != "张*" {
			t.Errorf("Lookup(%+v) = %+v, %v; want the masked booking", in, found, err)
		}
	}
	_, err = e.svc.Lookup(ctx, a, app.LookupInput{Code: held.Code})
	wantKind(t, "a patient using the desk look-up", err, fairslot.Unauthorized)
	_, err = e.svc.Lookup(ctx, desk, app.LookupInput{IDType: fairslot.IDResident, IDNumber: residentID(2), Reason: "identity_check"})
	wantKind(t, "an ID number no patient has", err, fairslot.NotFound)

	board, updates := e.svc.Display.Subscribe(e.session.DepartmentID)
	defer updates()
	called, err := e.svc.CallNext(ctx, doc, e.session.ID)
	if err != nil || called.BookingID != held.ID || called.Name != "张*" {
		t.Fatalf("CallNext = %+v, %v", called, err)
	}
	select {
	case <-board:
	default:
		t.Error("the display was not signalled after a call")
	}
	view, err := e.svc.Board(ctx, e.session.DepartmentID)
	calls := view.Calls
	if err != nil || len(calls) != 1 || calls[0].Ticket != "A001" || calls[0].Name != "张*" || calls[0].Room != "Room 3" {
		t.Errorf("Board = %+v, %v", calls, err)
	}
	if err := e.svc.Complete(ctx, doc, held.ID); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "completing twice", e.svc.Complete(ctx, doc, held.ID), fairslot.Conflict)
	got, _ := e.svc.Booking(ctx, a, held.ID)
	if got.Status != fairslot.Completed || got.Ticket != "A001" {
		t.Errorf("final booking = %+v", got.Booking)
	}

	// Another account cannot see or pay the booking.
	b := e.login(t, "13900000000")
	_, err = e.svc.Booking(ctx, b, held.ID)
	wantKind(t, "another account reading the booking", err, fairslot.NotFound)
}

func TestExpiredHoldCannotBePaidAndFreesTheSlot(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "李四", 2)
	held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(16 * time.Minute)
	_, err = e.svc.Pay(ctx, a, held.ID, "k")
	wantKind(t, "paying an expired hold", err, fairslot.Gone)
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.Booking(ctx, a, held.ID)
	if got.Status != fairslot.Expired {
		t.Errorf("after the sweep: %s, want expired", got.Status)
	}
	again, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil || again.SlotID != held.SlotID {
		t.Errorf("hold after expiry = slot %d, %v; want the freed slot %d", again.SlotID, err, held.SlotID)
	}
}

func TestCancelRefundsAndCountsTowardTheLimit(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "王五", 3)
	for i := 0; i < 3; i++ {
		b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
		if err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
		if i == 0 {
			if _, err := e.svc.Pay(ctx, a, b.ID, "k0"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Cancel(ctx, a, b.ID); err != nil {
			t.Fatalf("cancel %d: %v", i, err)
		}
	}
	if !e.pay.Refunded(fmt.Sprintf("%d:k0", a.ID)) {
		t.Error("the paid, cancelled booking was not refunded")
	}
	_, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
	wantKind(t, "booking after 3 cancellations in 30 days", err, fairslot.Limited)
}

func TestNoShowsSuspendOnlineBooking(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "赵六", 4)
	// Three paid bookings in three sessions that pass unseen.
	for i := 0; i < 3; i++ {
		s := e.newSession(t, e.session.DepartmentID, e.clock.Now().AddDate(0, 0, 1).Format(time.DateOnly), 4)
		b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: s.ID, PatientID: p.ID})
		if err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
		if _, err := e.svc.Pay(ctx, a, b.ID, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(2 * 24 * time.Hour)
		if err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := e.svc.Booking(ctx, a, b.ID)
		if got.Status != fairslot.NoShow {
			t.Fatalf("booking %d after its session: %s, want no_show", i, got.Status)
		}
	}
	s := e.newSession(t, e.session.DepartmentID, e.clock.Now().AddDate(0, 0, 1).Format(time.DateOnly), 4)
	_, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: s.ID, PatientID: p.ID})
	wantKind(t, "booking after 3 no-shows", err, fairslot.Limited)
}

func TestMissedCalls(t *testing.T) {
	e := newEnv(t)
	desk, doc := e.staff(t, "desk"), e.staff(t, "doc")
	e.clock.Add(time.Hour) // 08:30, the session runs
	var ids []int64
	for i := 0; i < 8; i++ {
		r, err := e.svc.WalkIn(ctx, desk, app.WalkInInput{SessionID: e.session.ID,
			Patient: app.PatientInput{Name: fmt.Sprintf("患者%d", i), IDType: fairslot.IDResident, IDNumber: residentID(100 + i)}})
		if err != nil {
			t.Fatalf("walk-in %d: %v", i, err)
		}
		ids = append(ids, r.Booking.ID)
	}
	q, _ := e.svc.Queue(ctx, doc, e.session.ID)
	for i, item := range q {
		if item.Turn != i+1 {
			t.Errorf("queue item %d has turn %d, want %d (no priority: queue order)", i, item.Turn, i+1)
		}
	}
	first, err := e.svc.CallNext(ctx, doc, e.session.ID)
	if err != nil || first.BookingID != ids[0] {
		t.Fatalf("CallNext = %+v, %v", first, err)
	}
	_, err = e.svc.CallNext(ctx, doc, e.session.ID)
	wantKind(t, "calling next while one is called", err, fairslot.Conflict)
	if err := e.svc.Missed(ctx, doc, ids[0]); err != nil {
		t.Fatal(err)
	}
	q, _ = e.svc.Queue(ctx, doc, e.session.ID)
	if q[5].BookingID != ids[0] || q[5].MissedCalls != 1 {
		t.Errorf("after one missed call the patient is at %v, want sixth", q)
	}
	// Miss three more times: the fourth voids the booking.
	for i := 0; i < 3; i++ {
		for {
			c, err := e.svc.CallNext(ctx, doc, e.session.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c.BookingID == ids[0] {
				break
			}
			if err := e.svc.Complete(ctx, doc, c.BookingID); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.svc.Missed(ctx, doc, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	q, _ = e.svc.Queue(ctx, doc, e.session.ID)
	for _, item := range q {
		if item.BookingID == ids[0] {
			t.Errorf("after 4 missed calls the patient is still queued: %+v", item)
		}
	}
}

func TestLoginCodeRules(t *testing.T) {
	e := newEnv(t)
	phone := "13812345678"
	if err := e.svc.RequestLoginCode(ctx, app.Actor{}, phone); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "a second code within a minute", e.svc.RequestLoginCode(ctx, app.Actor{}, phone), fairslot.Limited)
	for i := 0; i < 5; i++ {
		_, _, err := e.svc.Login(ctx, app.Actor{}, phone, "000000")
		if i < 5 && fairslot.ErrorKind(err) != fairslot.Unauthorized && e.inbox.code(phone) != "000000" {
			t.Errorf("wrong code %d: %v, want unauthorized", i, err)
		}
	}
	_, _, err := e.svc.Login(ctx, app.Actor{}, phone, e.inbox.code(phone))
	wantKind(t, "the right code after 5 wrong ones", err, fairslot.Limited)
	_, err = e.svc.StaffLogin(ctx, app.Actor{}, "desk", "wrong password!", "")
	wantKind(t, "a wrong staff password", err, fairslot.Unauthorized)
	_, err = e.svc.Authenticate(ctx, "not-a-token", "")
	wantKind(t, "a malformed token", err, fairslot.Unauthorized)
}

func TestBindingRules(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	_, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: "110105194912310021"})
	wantKind(t, "a bad check digit", err, fairslot.Invalid)
	e.bind(t, a, "张三", 1)
	_, err = e.svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)})
	wantKind(t, "binding twice", err, fairslot.Conflict)
	b := e.login(t, "13900000001")
	_, err = e.svc.BindPatient(ctx, b, app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: residentID(1)})
	if !errors.Is(err, app.ErrProofSent) {
		t.Errorf("a known ID number under another name: %v; want the answer every known identity gets", err)
	}
	for i := 2; i <= 5; i++ {
		e.bind(t, a, fmt.Sprint("P", i), i)
	}
	_, err = e.svc.BindPatient(ctx, a, app.PatientInput{Name: "P6", IDType: fairslot.IDResident, IDNumber: residentID(6)})
	wantKind(t, "a sixth patient", err, fairslot.Limited)
	e.prove(t, b, "张三", 1, "13812345678")
	c := e.login(t, "13900000002")
	_, err = e.svc.BindPatient(ctx, c, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)})
	if !errors.Is(err, app.ErrProofSent) {
		t.Fatalf("a third account asks: %v", err)
	}
	_, err = e.svc.ConfirmBinding(ctx, c, app.BindingProof{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1), Code: e.inbox.code("13812345678")})
	wantKind(t, "a third account for one patient, with the code", err, fairslot.Limited)
}

// TestConcurrentHolds races 200 goroutines for the 10 slots of one session
// with 50 patients through the whole use case.
func TestConcurrentHolds(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, e.other.DepartmentID, "2026-12-12", 10)
	type pa struct {
		a app.Actor
		p fairslot.Patient
	}
	var people []pa
	for i := 0; i < 10; i++ {
		a := e.login(t, fmt.Sprintf("1380000%04d", i))
		for j := 0; j < 5; j++ {
			people = append(people, pa{a, e.bind(t, a, fmt.Sprint("P", i, j), i*5+j)})
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := people[i%len(people)]
			if _, err := e.svc.Hold(ctx, x.a, app.HoldInput{SessionID: s.ID, PatientID: x.p.ID}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if k := fairslot.ErrorKind(err); k != fairslot.Conflict && k != fairslot.Limited {
				t.Errorf("hold: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 {
		t.Errorf("successful holds = %d, want 10", ok)
	}
	storagetest.CheckSession(t, e.svc.Store, s.ID, 10)
}

func TestSchedule(t *testing.T) {
	e := newEnv(t)
	admin := app.Actor{Kind: storage.StaffToken, ID: 99, Role: fairslot.Admin}
	in := app.ScheduleInput{DoctorID: e.session.DoctorID, Date: "2026-12-12", Period: fairslot.Afternoon,
		Start: "13:30", End: "15:10", Room: " Room 9 ", FeeCents: 1500, PerWindow: 2}
	_, err := e.svc.Schedule(ctx, e.staff(t, "desk"), in)
	wantKind(t, "the desk scheduling a session", err, fairslot.Forbidden)
	for name, change := range map[string]func(*app.ScheduleInput){
		"a past date":            func(in *app.ScheduleInput) { in.Date = "2026-12-01" },
		"no room":                func(in *app.ScheduleInput) { in.Room = "  " },
		"no slots":               func(in *app.ScheduleInput) { in.PerWindow = 0 },
		"end before start":       func(in *app.ScheduleInput) { in.End = "13:00" },
		"a malformed time":       func(in *app.ScheduleInput) { in.Start = "1pm" },
		"an unknown doctor":      func(in *app.ScheduleInput) { in.DoctorID = 9999 },
		"neither morning nor pm": func(in *app.ScheduleInput) { in.Period = "evening" },
	} {
		bad := in
		change(&bad)
		if _, err := e.svc.Schedule(ctx, admin, bad); err == nil {
			t.Errorf("%s: scheduled", name)
		}
	}
	sess, err := e.svc.Schedule(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Session(ctx, sess.ID)
	if err != nil || v.Room != "Room 9" || v.DepartmentID != e.session.DepartmentID || len(v.Windows) != 4 || v.Remaining != 8 {
		t.Fatalf("scheduled session = %+v, %v; want 4 windows of 2 (the last one 10 minutes), Room 9", v, err)
	}
	doc, err := e.svc.AddDoctor(ctx, admin, fairslot.Doctor{DepartmentID: e.session.DepartmentID, Name: " 新医生 ", Title: fairslot.General})
	if err != nil || doc.ID == 0 || doc.Name != "新医生" {
		t.Errorf("AddDoctor = %+v, %v", doc, err)
	}
	for name, d := range map[string]fairslot.Doctor{
		"no name":              {DepartmentID: e.session.DepartmentID, Title: fairslot.General},
		"an unknown title":     {DepartmentID: e.session.DepartmentID, Name: "X", Title: "chief"},
		"a missing department": {DepartmentID: 999, Name: "X", Title: fairslot.General},
	} {
		if _, err := e.svc.AddDoctor(ctx, admin, d); err == nil {
			t.Errorf("AddDoctor with %s succeeded", name)
		}
	}
	_, err = e.svc.AddDoctor(ctx, e.staff(t, "doc"), fairslot.Doctor{DepartmentID: e.session.DepartmentID, Name: "X", Title: fairslot.General})
	wantKind(t, "a doctor adding a doctor", err, fairslot.Forbidden)
	if last := v.Windows[3]; last.End.Sub(last.Start) != 10*time.Minute {
		t.Errorf("the last window is %v long, want 10m (the session ends at 15:10)", last.End.Sub(last.Start))
	}
}
