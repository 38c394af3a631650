package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/kit"
	"github.com/fairslot/fairslot/internal/storage"
)

// kitWorld is an env with a paid booking today (张三), a paid booking
// tomorrow in a one-place session (张三 too) and 李四 waiting for it.
type kitWorld struct {
	*env
	today, tomorrow app.BookingView
	full            fairslot.Session
}

func newKitWorld(t *testing.T, e *env) kitWorld {
	t.Helper()
	w := kitWorld{env: e}
	// The day before (booking closes at 15:00 for the next day; the
	// waitlist for tomorrow at midnight), then back to 07:30 today.
	now := e.clock.Now()
	e.clock.Add(-21 * time.Hour)
	defer func() { e.clock.mu.Lock(); e.clock.now = now; e.clock.mu.Unlock() }()
	a := e.login(t, "13812345678")
	p := e.bind(t, a, "张三", 1)
	b := e.login(t, "13912345678")
	q := e.bind(t, b, "李四", 2)
	w.full = e.newSession(t, e.session.DepartmentID, "2026-12-11", 1)
	hold := func(sess int64) app.BookingView {
		h, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: sess, PatientID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		paid, err := e.svc.Pay(ctx, a, h.ID, fmt.Sprint("pay-", sess))
		if err != nil {
			t.Fatal(err)
		}
		return paid
	}
	w.today, w.tomorrow = hold(e.session.ID), hold(w.full.ID)
	if _, err := e.svc.JoinWaitlist(ctx, b, app.WaitInput{SessionID: w.full.ID, PatientID: q.ID}); err != nil {
		t.Fatal(err)
	}
	return w
}

// secrets are what no kit may carry: full names, ID numbers (and their
// birth dates), phones.
var kitSecrets = []string{"张三", "李四", residentID(1), residentID(2), "19800101", "13812345678", "13912345678", "13800000000"}

func TestKitContent(t *testing.T) { testKitContent(t, newEnv(t)) }

func TestKitContentPostgres(t *testing.T) {
	_, online := freshPostgres(t)
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, online(), e.dir)
	e.seed(t)
	testKitContent(t, e)
}

func testKitContent(t *testing.T, e *env) {
	w := newKitWorld(t, e)
	src := kit.StoreSource{Store: e.svc.Store, Vault: e.svc.Vault}
	page, err := src.Page(ctx, e.session.DepartmentID, kit.Dates(e.clock.Now(), loc))
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Days) != 2 || page.Days[0].Date != "2026-12-10" || page.Days[1].Date != "2026-12-11" {
		t.Fatalf("days = %+v, want today and tomorrow", page.Days)
	}
	var rows []kit.Row
	var waits []kit.Wait
	for _, d := range page.Days {
		for _, s := range d.Sessions {
			for _, win := range s.Windows {
				rows = append(rows, win.Rows...)
			}
			waits = append(waits, s.Waitlist...)
		}
	}
	if len(rows) != 2 || rows[0].Code != w.today.Code || rows[1].Code != w.tomorrow.Code || rows[0].Name != "张*" ||
		rows[0].Proof != fairslot.IDResident || rows[0].Status != fairslot.Confirmed {
		t.Errorf("rows = %+v, want the two paid bookings, masked", rows)
	}
	if len(waits) != 1 || waits[0].Name != "李*" || waits[0].Position != 1 {
		t.Errorf("waitlist = %+v, want 李* first", waits)
	}
	page.Lang, page.Generated = "zh-CN", e.clock.Now()
	html, csvData, err := kit.Render(page)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"html": string(html), "csv": string(csvData)} {
		for _, want := range []string{w.today.Code, w.tomorrow.Code, "张*", "李*"} {
			if !strings.Contains(out, want) {
				t.Errorf("the kit's %s lacks %q", name, want)
			}
		}
		for _, secret := range kitSecrets {
			if strings.Contains(out, secret) {
				t.Errorf("the kit's %s carries %q", name, secret)
			}
		}
	}
	for _, want := range []string{`<html lang="zh-CN">`, "居民身份证（后四位）", "候补名单", "已预约（已付款）"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(string(html), "<script") || strings.Contains(string(html), "src=") || strings.Contains(string(html), "<link") {
		t.Errorf("the page loads something or runs script")
	}
}

func TestKitPrintAccess(t *testing.T) { testKitPrintAccess(t, newEnv(t)) }

func TestKitPrintAccessPostgres(t *testing.T) {
	_, online := freshPostgres(t)
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, online(), e.dir)
	e.seed(t)
	testKitPrintAccess(t, e)
}

func testKitPrintAccess(t *testing.T, e *env) {
	desk, doc := e.staff(t, "desk"), e.staff(t, "doc")
	dept := e.session.DepartmentID
	if ds, err := e.svc.KitDepartments(ctx, desk); err != nil || len(ds) != 2 {
		t.Errorf("the desk may print %v, %v; want both departments", ds, err)
	}
	for _, a := range []app.Actor{doc, {Kind: storage.StaffToken, ID: desk.ID, Role: fairslot.Kiosk}, {Kind: storage.StaffToken, ID: desk.ID, Role: fairslot.Security}, {}} {
		if ds, _ := e.svc.KitDepartments(ctx, a); len(ds) != 0 {
			t.Errorf("%s sees print links %v", a.Role, ds)
		}
		if _, err := e.svc.KitPrint(ctx, a, dept); err == nil {
			t.Errorf("%q printed a department's list", a.Role)
		}
	}
	// A desk scoped to the other department prints only that one.
	if _, err := e.svc.SetStaffScope(ctx, app.System, "desk", func(s *app.Scope) { s.DepartmentID = e.other.DepartmentID }); err != nil {
		t.Fatal(err)
	}
	if ds, _ := e.svc.KitDepartments(ctx, e.staff(t, "desk")); len(ds) != 1 || ds[0].ID != e.other.DepartmentID {
		t.Errorf("a scoped desk may print %v; want its own department only", ds)
	}
	desk = e.staff(t, "desk")
	_, err := e.svc.KitPrint(ctx, desk, dept)
	wantKind(t, "printing another department's list", err, fairslot.Forbidden)
	for i := range app.KitPrintsPerHour {
		if _, err := e.svc.KitPrint(ctx, desk, e.other.DepartmentID); err != nil {
			t.Fatalf("print %d: %v", i+1, err)
		}
	}
	_, err = e.svc.KitPrint(ctx, desk, e.other.DepartmentID)
	wantKind(t, "one print over the hourly limit", err, fairslot.Limited)
	e.clock.Add(time.Hour + time.Minute)
	if _, err := e.svc.KitPrint(ctx, desk, e.other.DepartmentID); err != nil {
		t.Errorf("printing an hour later: %v", err)
	}
	var prints, refused int
	for _, ev := range auditLog(t, e) {
		switch ev.Action {
		case "kit.print":
			prints++
		case "kit.print_refused":
			refused++
		}
	}
	if prints != app.KitPrintsPerHour+1 || refused != 2 {
		t.Errorf("audit: %d prints, %d refusals; want %d and 2", prints, refused, app.KitPrintsPerHour+1)
	}
}

func TestEnterAfterOutage(t *testing.T) { testEnterAfterOutage(t, newEnv(t)) }

func TestEnterAfterOutagePostgres(t *testing.T) {
	_, online := freshPostgres(t)
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, online(), e.dir)
	e.seed(t)
	testEnterAfterOutage(t, e)
}

func testEnterAfterOutage(t *testing.T, e *env) {
	w := newKitWorld(t, e)
	desk := e.staff(t, "desk")
	e.clock.Add(3 * time.Hour) // 10:30, after the outage
	file := "kind,date,code,checked_in_at,id_last4,session,patient_name,id_type,id_number,phone\n" +
		"waitlist,2026-12-11,,,,,,,,\n" +
		fmt.Sprintf("booking,2026-12-10,%s,08:15,%s,,,,,\n", strings.ToLower(w.today.Code), residentID(1)[14:]) +
		fmt.Sprintf("booking,2026-12-11,%s,,,,,,,\n", w.tomorrow.Code) +
		fmt.Sprintf("walk_in,2026-12-10,,2026-12-10 08:40,,%d,王五,cn_resident,%s,\n", e.session.ID, residentID(3))
	enter := func() ([]app.OutageLine, error) {
		entries, err := kit.ParseImport(strings.NewReader(file), loc)
		if err != nil {
			t.Fatal(err)
		}
		return e.svc.EnterAfterOutage(ctx, desk, "desk.csv", outageEntries(entries))
	}
	lines, err := enter()
	if err != nil || len(lines) != 2 || lines[0].Line != 3 || lines[1].Line != 5 || lines[0].Already || lines[1].Ticket == "" {
		t.Fatalf("EnterAfterOutage = %+v, %v; want lines 3 and 5 entered", lines, err)
	}
	before := auditLog(t, e)
	var entered []string
	for _, ev := range before {
		if ev.Action == "outage.entered" {
			entered = append(entered, ev.Detail["kind"]+"@"+ev.Detail["original_at"]+"@"+ev.Detail["line"])
		}
	}
	want := []string{"check_in@2026-12-10T08:15:00+08:00@3", "walk_in@2026-12-10T08:40:00+08:00@5"}
	if fmt.Sprint(entered) != fmt.Sprint(want) {
		t.Errorf("audited outage entries %v, want %v", entered, want)
	}
	var checkedIn fairslot.Booking
	e.svc.Store.View(ctx, func(tx storage.Tx) (err error) { checkedIn, err = tx.Booking(ctx, w.today.ID); return err })
	if checkedIn.Status != fairslot.CheckedIn || !checkedIn.UpdatedAt.Equal(time.Date(2026, 12, 10, 8, 15, 0, 0, loc)) {
		t.Errorf("the booking checked in on paper: %s at %v, want checked_in at 08:15", checkedIn.Status, checkedIn.UpdatedAt)
	}

	// The same file again changes nothing.
	again, err := enter()
	if err != nil || len(again) != 2 || !again[0].Already || !again[1].Already || again[1].BookingID != lines[1].BookingID {
		t.Fatalf("entering the file again = %+v, %v; want both already entered", again, err)
	}
	if after := auditLog(t, e); len(after) != len(before) {
		t.Errorf("entering the file again wrote %d audit records", len(after)-len(before))
	}
	var walkIns int
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		bs, err := tx.SessionBookings(ctx, e.session.ID)
		for _, b := range bs {
			if b.Channel == fairslot.OnSite {
				walkIns++
			}
		}
		return err
	})
	if walkIns != 1 {
		t.Errorf("%d walk-ins after entering the file twice, want 1", walkIns)
	}

	// The kiosk and a doctor enter nothing.
	entries, _ := kit.ParseImport(strings.NewReader(file), loc)
	for _, a := range []app.Actor{e.staff(t, "doc"), {Kind: storage.StaffToken, ID: desk.ID, Role: fairslot.Kiosk}} {
		if _, err := e.svc.EnterAfterOutage(ctx, a, "x.csv", outageEntries(entries)); fairslot.ErrorKind(err) != fairslot.Forbidden {
			t.Errorf("%s entering paper records: %v, want forbidden", a.Role, err)
		}
	}
}

// A file the rules refuse in one row is refused whole: the rows before it
// are not kept.
func TestEnterAfterOutageAllOrNothing(t *testing.T) {
	e := newEnv(t)
	w := newKitWorld(t, e)
	desk := e.staff(t, "desk")
	e.clock.Add(3 * time.Hour)
	cases := []struct {
		name, row string
		line      int
		kind      fairslot.Kind
	}{
		{"wrong last four", fmt.Sprintf("check_in,2026-12-10,%s,09:00,0000,,,,", w.today.Code), 3, fairslot.Forbidden},
		{"no such code", "check_in,2026-12-10,ZZZZZZZZ,09:00,0000,,,,", 3, fairslot.NotFound},
		{"tomorrow's booking checked in today", fmt.Sprintf("check_in,2026-12-10,%s,09:00,%s,,,,", w.tomorrow.Code, residentID(1)[14:]), 3, fairslot.Conflict},
		{"in the future", fmt.Sprintf("check_in,2026-12-10,%s,11:00,%s,,,,", w.today.Code, residentID(1)[14:]), 3, fairslot.Invalid},
		{"a walk-in into a full session", fmt.Sprintf("walk_in,2026-12-10,,09:00,,%d,王五,cn_resident,%s", w.full.ID, residentID(3)), 3, fairslot.Conflict},
		{"a walk-in with a bad ID", fmt.Sprintf("walk_in,2026-12-10,,09:00,,%d,王五,cn_resident,110105198001010010", e.session.ID), 3, fairslot.Invalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := "kind,date,code,checked_in_at,id_last4,session,patient_name,id_type,id_number\n" +
				fmt.Sprintf("walk_in,2026-12-10,,08:40,,%d,赵六,cn_resident,%s\n", e.session.ID, residentID(4)) + c.row + "\n"
			entries, err := kit.ParseImport(strings.NewReader(file), loc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.EnterAfterOutage(ctx, desk, "desk.csv", outageEntries(entries))
			var oe *app.OutageError
			if !errors.As(err, &oe) || oe.Line != c.line || fairslot.ErrorKind(oe.Err) != c.kind {
				t.Fatalf("error = %v, want line %d, %s", err, c.line, c.kind)
			}
			if strings.Contains(err.Error(), residentID(3)) || strings.Contains(err.Error(), residentID(4)) || strings.Contains(err.Error(), "110105198001010010") {
				t.Errorf("the error repeats an ID number: %v", err)
			}
			e.svc.Store.View(ctx, func(tx storage.Tx) error {
				bs, err := tx.SessionBookings(ctx, e.session.ID)
				for _, b := range bs {
					if b.Channel == fairslot.OnSite {
						t.Errorf("the walk-in on line 2 was kept: booking %d", b.ID)
					}
				}
				return err
			})
		})
	}
}

// outageEntries turns the desk file's parsed rows into the use case's
// entries.
func outageEntries(es []kit.Entry) []app.OutageEntry {
	out := make([]app.OutageEntry, len(es))
	for i, e := range es {
		out[i] = app.OutageEntry{Line: e.Line, Kind: e.Kind, At: e.At, Code: e.Code, IDLast4: e.IDLast4,
			WalkIn: app.WalkInInput{SessionID: e.SessionID, Priority: e.Priority,
				Patient: app.PatientInput{Name: e.Name, IDType: fairslot.IDType(e.IDType), IDNumber: e.IDNumber, Phone: e.Phone}}}
	}
	return out
}

// A desk scoped to another department cannot use an import to test guesses
// of the last four of an ID for a booking it may not work on: the right
// and a wrong guess are refused alike, as out of its scope, and an entry
// already entered is not confirmed to it either.
func TestEnterAfterOutageScopeBeforeIdentity(t *testing.T) {
	e := newEnv(t)
	w := newKitWorld(t, e)
	e.clock.Add(3 * time.Hour)
	right := residentID(1)[14:]
	row := func(last4 string) []app.OutageEntry {
		file := "kind,date,code,checked_in_at,id_last4\n" + fmt.Sprintf("check_in,2026-12-10,%s,08:15,%s\n", w.today.Code, last4)
		entries, err := kit.ParseImport(strings.NewReader(file), loc)
		if err != nil {
			t.Fatal(err)
		}
		return outageEntries(entries)
	}
	walkIn := func() []app.OutageEntry {
		file := "kind,date,checked_in_at,session,patient_name,id_type,id_number\n" +
			fmt.Sprintf("walk_in,2026-12-10,08:40,%d,王五,cn_resident,%s\n", e.session.ID, residentID(3))
		entries, err := kit.ParseImport(strings.NewReader(file), loc)
		if err != nil {
			t.Fatal(err)
		}
		return outageEntries(entries)
	}
	// Entered once by an unscoped desk.
	if _, err := e.svc.EnterAfterOutage(ctx, e.staff(t, "desk"), "desk.csv", append(row(right), walkIn()...)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetStaffScope(ctx, app.System, "desk", func(s *app.Scope) { s.DepartmentID = e.other.DepartmentID }); err != nil {
		t.Fatal(err)
	}
	desk := e.staff(t, "desk")
	var msgs []string
	for _, last4 := range []string{"0000", right} {
		lines, err := e.svc.EnterAfterOutage(ctx, desk, "x.csv", row(last4))
		if fairslot.ErrorKind(err) != fairslot.Forbidden {
			t.Errorf("another department's booking with last four %s: %+v, %v; want forbidden", last4, lines, err)
		}
		msgs = append(msgs, fmt.Sprint(err))
	}
	if lines, err := e.svc.EnterAfterOutage(ctx, desk, "x.csv", walkIn()); fairslot.ErrorKind(err) != fairslot.Forbidden {
		t.Errorf("replaying another department's walk-in: %+v, %v; want forbidden", lines, err)
	}
	if msgs[0] != msgs[1] {
		t.Errorf("a wrong and the right last four tell apart: %q vs %q", msgs[0], msgs[1])
	}
	// A guess at a booking not yet entered, in another department.
	e.clock.Add(-3 * time.Hour)
	var other []string
	for _, last4 := range []string{"0000", right} {
		file := "kind,date,code,checked_in_at,id_last4\n" + fmt.Sprintf("check_in,2026-12-10,%s,07:20,%s\n", w.today.Code, last4)
		entries, _ := kit.ParseImport(strings.NewReader(file), loc)
		_, err := e.svc.EnterAfterOutage(ctx, desk, "x.csv", outageEntries(entries))
		other = append(other, fmt.Sprint(err))
	}
	if other[0] != other[1] {
		t.Errorf("a wrong and the right last four tell apart: %q vs %q", other[0], other[1])
	}
}

// A wrong last four in an import is recorded as at the desk, although the
// file is refused and rolled back: otherwise an import is an unrecorded,
// unlimited way to try guesses of the check-in proof.
func TestEnterAfterOutageMismatchAudited(t *testing.T) {
	e := newEnv(t)
	w := newKitWorld(t, e)
	e.clock.Add(3 * time.Hour)
	file := "kind,date,code,checked_in_at,id_last4\n" + fmt.Sprintf("check_in,2026-12-10,%s,08:15,0000\n", w.today.Code)
	entries, err := kit.ParseImport(strings.NewReader(file), loc)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = e.svc.EnterAfterOutage(ctx, e.staff(t, "desk"), "desk.csv", outageEntries(entries))
		wantKind(t, "a wrong last four", err, fairslot.Forbidden)
	}
	n := 0
	for _, ev := range auditLog(t, e) {
		if ev.Action == "booking.identity_mismatch" && ev.Subject == fmt.Sprintf("booking:%d", w.today.ID) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d identity mismatches audited, want 2", n)
	}
}

// A check-in written down before its booking was made is refused: it did
// not happen on paper, whatever the row says.
func TestEnterAfterOutageBeforeTheBooking(t *testing.T) {
	e := newEnv(t)
	newKitWorld(t, e)
	e.clock.Add(15 * time.Minute) // 07:45, before booking closes
	a := e.login(t, "13712345678")
	p := e.bind(t, a, "赵六", 4)
	h, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	paid, err := e.svc.Pay(ctx, a, h.ID, "pay-late")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(165 * time.Minute) // 10:30
	file := "kind,date,code,checked_in_at,id_last4\n" + fmt.Sprintf("check_in,2026-12-10,%s,07:35,%s\n", paid.Code, residentID(4)[14:])
	entries, err := kit.ParseImport(strings.NewReader(file), loc)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := e.svc.EnterAfterOutage(ctx, e.staff(t, "desk"), "desk.csv", outageEntries(entries))
	if fairslot.ErrorKind(err) != fairslot.Invalid {
		t.Errorf("a check-in at 07:35 of a booking made at 07:45: %+v, %v; want invalid", lines, err)
	}
}
