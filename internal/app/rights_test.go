package app_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/referral/referraltest"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// rightsEnv is a seeded env on one backend, with what the rights tests
// need beside it: the store the purge writes with (on PostgreSQL the
// rekey role's; the online role may not purge) and a raw SQL reader of the
// database as its owner sees it.
type rightsEnv struct {
	*env
	purger storage.Store
	// raw runs a query returning one integer, straight on the database.
	raw func(t *testing.T, query string, args ...any) int64
	// exec runs a statement straight on the database, as its owner.
	exec func(stmt string) error
	// online tries a statement as the online role, straight on the
	// database (PostgreSQL only).
	online func(query string, args ...any) error
}

func newRightsEnv(t *testing.T, backend string) *rightsEnv {
	t.Helper()
	if backend == "sqlite" {
		e := newLightEnv(t)
		db, err := sql.Open("sqlite", filepath.Join(e.dir, "data", sqlite.FileName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return &rightsEnv{env: e, purger: e.svc.Store, raw: func(t *testing.T, q string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := db.QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}, exec: func(stmt string) error { _, err := db.Exec(stmt); return err }}
	}
	admin, as := pgtest.Fresh(t)
	pg, err := postgres.Open(ctx, admin, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pg.SetupRoles(ctx); err != nil {
		t.Fatal(err)
	}
	open := func(role string) storage.Store {
		st, err := postgres.Open(ctx, as(role), postgres.Options{Location: loc, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, open(postgres.OnlineRole), e.dir)
	e.seed(t)
	conn := func(dsn string) *pgx.Conn {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	owner, online := conn(admin), conn(as(postgres.OnlineRole))
	if _, err := owner.Exec(ctx, "SET search_path = fairslot"); err != nil {
		t.Fatal(err)
	}
	return &rightsEnv{env: e, purger: open(postgres.RekeyRole),
		raw: func(t *testing.T, q string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := owner.QueryRow(ctx, strings.ReplaceAll(q, "?", "$1"), args...).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		},
		exec: func(stmt string) error { _, err := owner.Exec(ctx, stmt); return err },
		online: func(q string, args ...any) error {
			_, err := online.Exec(ctx, q, args...)
			return err
		}}
}

func forBackends(t *testing.T, fn func(t *testing.T, e *rightsEnv)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { fn(t, newRightsEnv(t, backend)) })
	}
}

// TestConsentGate: no binding, booking, draw entry or waitlist place
// without a consent to the notice in force, whatever the client; a new
// version asks again; consents are recorded, append-only and audited.
func TestConsentGate(t *testing.T) {
	forBackends(t, func(t *testing.T, e *rightsEnv) {
		// Another account binds a patient, so that refusals below cannot be
		// "no such patient" in disguise.
		other := e.login(t, "13900000099")
		p := e.bind(t, other, "张三", 1)

		a := e.loginOnly(t, "13900000001")
		in := app.PatientInput{Name: "李四", IDType: fairslot.IDResident, IDNumber: residentID(2)}
		refused := func(what string, err error) {
			t.Helper()
			if err != privacy.ErrConsentRequired {
				t.Errorf("%s without consent: %v, want the consent refusal", what, err)
			}
		}
		_, err := e.svc.BindPatient(ctx, a, in)
		refused("bind", err)
		_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
		refused("hold", err)
		_, err = e.svc.EnterDraw(ctx, a, app.EntryInput{SessionID: e.session.ID, PatientID: p.ID})
		refused("draw entry", err)
		_, err = e.svc.JoinWaitlist(ctx, a, app.WaitInput{SessionID: e.session.ID, PatientID: p.ID})
		refused("waitlist", err)
		if n := e.raw(t, `SELECT count(*) FROM patients WHERE created_ms > 0`); n != 1 {
			t.Errorf("%d patients after the refused binding, want 1", n)
		}

		st, err := e.svc.ConsentStatus(ctx, a)
		if err != nil || st.Accepted || st.Latest != nil || st.Version != privacy.NoticeVersion {
			t.Fatalf("status before consenting: %+v %v", st, err)
		}
		if _, err := e.svc.Consent(ctx, a, "1999-01-01", "vi"); fairslot.ErrorKind(err) != fairslot.Conflict {
			t.Errorf("consent to an old version: %v", err)
		}
		if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "fr"); fairslot.ErrorKind(err) != fairslot.Invalid {
			t.Errorf("consent in an unknown language: %v", err)
		}
		if _, err := e.svc.Consent(ctx, app.Actor{}, privacy.NoticeVersion, "vi"); fairslot.ErrorKind(err) != fairslot.Unauthorized {
			t.Errorf("anonymous consent: %v", err)
		}
		if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "vi"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.BindPatient(ctx, a, in); err != nil {
			t.Fatalf("bind after consenting: %v", err)
		}

		// A new notice: everyone is asked again, the binding and the
		// booking refused until then.
		e.svc.Privacy.NoticeVersion = "2027-01-01"
		if _, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "王五", IDType: fairslot.IDResident, IDNumber: residentID(3)}); err != privacy.ErrConsentRequired {
			t.Errorf("bind under a new notice: %v", err)
		}
		pa, err := e.svc.Patients(ctx, a)
		if err != nil || len(pa) != 1 {
			t.Fatal(pa, err)
		}
		_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: pa[0].ID})
		refused("hold under a new notice", err)
		st, _ = e.svc.ConsentStatus(ctx, a)
		if st.Accepted || st.Latest == nil || st.Latest.Version != privacy.NoticeVersion || st.Version != "2027-01-01" {
			t.Errorf("status under a new notice: %+v", st)
		}
		if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "vi"); fairslot.ErrorKind(err) != fairslot.Conflict {
			t.Errorf("consent to the superseded version: %v", err)
		}
		if _, err := e.svc.Consent(ctx, a, "2027-01-01", "en"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: pa[0].ID}); err != nil {
			t.Fatalf("hold after the new consent: %v", err)
		}

		// Recorded: account, version, language, time; and audited.
		if n := e.raw(t, `SELECT count(*) FROM consents WHERE account_id = ?`, a.ID); n != 2 {
			t.Errorf("%d consents of the account, want 2", n)
		}
		if n := e.raw(t, `SELECT count(*) FROM consents WHERE account_id = ? AND version = '2027-01-01' AND lang = 'en' AND at_ms > 0`, a.ID); n != 1 {
			t.Errorf("the new consent is not recorded as given")
		}
		consents := 0
		for _, ev := range auditLog(t, e.env) {
			if ev.Action == "privacy.consent" && ev.Actor == fmt.Sprintf("account:%d", a.ID) {
				consents++
			}
		}
		if consents != 2 {
			t.Errorf("%d privacy.consent audit records of the account, want 2", consents)
		}
		// Append-only, whoever writes.
		if e.online != nil {
			if err := e.online(`UPDATE fairslot.consents SET version = 'x'`); err == nil {
				t.Error("the online role changed a consent")
			}
		}
		e.rawFails(t, `UPDATE consents SET version = 'x'`)
		e.rawFails(t, `DELETE FROM consents`)
	})
}

// rawFails runs a statement straight on the database, as its owner, and
// fails the test if it succeeds.
func (e *rightsEnv) rawFails(t *testing.T, stmt string) {
	t.Helper()
	if err := e.exec(stmt); err == nil {
		t.Errorf("%s succeeded", stmt)
	}
}

// TestRemoveMemberKeepsCounts: removing a family member and binding them
// again — from the same account or another — finds the same patient with
// the same bookings, limits and counts; a removal is audited, only the
// account's own members can be removed, and bind-remove cycles do not buy
// bindings past the binding rate.
func TestRemoveMemberKeepsCounts(t *testing.T) {
	forBackends(t, func(t *testing.T, e *rightsEnv) {
		a := e.login(t, "13900000002")
		p := e.bind(t, a, "张三", 10)
		held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Cancel(ctx, a, held.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID}); err != nil {
			t.Fatal(err)
		}
		history := func() int64 {
			return e.raw(t, `SELECT count(*) FROM bookings WHERE patient_id = ?`, p.ID)
		}
		before := history()

		stranger := e.login(t, "13900000003")
		if _, err := e.svc.RemoveMember(ctx, stranger, p.ID); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("a stranger removed someone else's family member: %v", err)
		}
		removed, err := e.svc.RemoveMember(ctx, a, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if removed.Name != "张*" || removed.IDNumber == residentID(10) {
			t.Errorf("the removal shows %+v, want it masked", removed)
		}
		if ps, _ := e.svc.Patients(ctx, a); len(ps) != 0 {
			t.Errorf("still listed after removal: %v", ps)
		}
		if _, err := e.svc.RemoveMember(ctx, a, p.ID); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("removed twice: %v", err)
		}
		if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.other.ID, PatientID: p.ID}); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("booked for a removed member: %v", err)
		}

		// Bind again, from another account: the same identity, the same
		// history, the same limits.
		b := e.login(t, "13900000004")
		again := e.prove(t, b, "张三", 10, "13900000002") // known: the code goes to the phone on record

		if again.ID != p.ID {
			t.Fatalf("binding again made patient %d, want the same %d", again.ID, p.ID)
		}
		if got := history(); got != before {
			t.Errorf("%d bookings after removing and binding again, want %d", got, before)
		}
		// The active booking of tomorrow still counts: a second one in the
		// same department that day is refused.
		if _, err := e.svc.Hold(ctx, b, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID}); err == nil {
			t.Error("binding again reset the booking limits")
		}
		// The cancellation still counts against the patient.
		var cancels int64
		if err := e.svc.Store.View(ctx, func(tx storage.Tx) error {
			h, err := tx.PatientHistory(ctx, storage.HistoryQuery{PatientID: p.ID, DepartmentID: e.session.DepartmentID, Date: "2026-12-10", Today: "2026-12-10", Since: e.clock.Now().Add(-30 * 24 * time.Hour)})
			cancels = int64(len(h.Cancels))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if cancels != 1 {
			t.Errorf("%d cancellations after binding again, want 1", cancels)
		}
		if n := e.raw(t, `SELECT count(*) FROM binding_events WHERE patient_id = ? AND kind = 'unbind'`, p.ID); n != 1 {
			t.Errorf("%d removals recorded, want 1", n)
		}
		e.rawFails(t, `DELETE FROM binding_events`)
		e.rawFails(t, `UPDATE binding_events SET kind = 'bind'`)
		audited := false
		for _, ev := range auditLog(t, e.env) {
			audited = audited || (ev.Action == "binding.remove" && ev.Subject == fmt.Sprintf("patient:%d", p.ID))
		}
		if !audited {
			t.Error("the removal is not audited")
		}

		// Bind and remove, again and again: the removed bindings still
		// count against the binding rate.
		c := e.login(t, "13900000005")
		max := e.svc.Policy.MaxBindingsPerWindow
		for i := range max {
			q := e.bind(t, c, "赵六", 200+i)
			if _, err := e.svc.RemoveMember(ctx, c, q.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.BindPatient(ctx, c, app.PatientInput{Name: "赵六", IDType: fairslot.IDResident, IDNumber: residentID(300)}); fairslot.ErrorKind(err) != fairslot.Limited {
			t.Errorf("binding number %d after %d bind-remove cycles: %v, want limit_reached", max+1, max, err)
		}
	})
}

// TestCloseAccount: closing is refused, listing them, while bookings are
// active; then it removes the members, ends every login, frees and erases
// the phone; the phone can open a new account, which must consent again.
func TestCloseAccount(t *testing.T) {
	forBackends(t, func(t *testing.T, e *rightsEnv) {
		const phone = "13900000006"
		toks := e.patientLogin(t, phone)
		a, err := e.svc.Authenticate(ctx, toks.Access, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "zh-CN"); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute + time.Second) // one code a minute
		second := e.patientLogin(t, phone)     // another device's login
		p := e.bind(t, a, "张三", 20)
		held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		err = e.svc.CloseAccount(ctx, a, toks.Access)
		if fairslot.ErrorKind(err) != fairslot.Conflict || !strings.Contains(fairslot.ErrorMessage(err), fmt.Sprintf("booking %d (2026-12-10)", held.ID)) {
			t.Fatalf("closing with an active booking: %v, want a conflict listing it", err)
		}
		if _, err := e.svc.Patients(ctx, a); err != nil {
			t.Fatalf("the refused closing changed the account: %v", err)
		}
		if _, err := e.svc.Cancel(ctx, a, held.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.CloseAccount(ctx, a, toks.Access); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"this login": toks.Access, "the other device": second.Access} {
			if db, door := e.valid(t, tok); db || door {
				t.Errorf("%s still logs in after closing (database %v, door %v)", name, db, door)
			}
		}
		if _, err := e.svc.Refresh(ctx, app.Actor{}, second.Refresh); err == nil {
			t.Error("a refresh token of the closed account still works")
		}
		if n := e.raw(t, `SELECT length(phone_sealed) FROM accounts WHERE id = ?`, a.ID); n != 0 {
			t.Errorf("the closed account's sealed phone holds %d bytes", n)
		}
		if n := e.raw(t, `SELECT count(*) FROM bindings WHERE account_id = ?`, a.ID); n != 0 {
			t.Errorf("%d bindings left on the closed account", n)
		}
		// The same actor (a token minted before, on a node that has not yet
		// seen the revocation) can bind nothing: a closed account has no
		// consent.
		if _, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(20)}); err != privacy.ErrConsentRequired {
			t.Errorf("a closed account bound a patient: %v", err)
		}
		// The phone is free: a new account, empty, asked to consent.
		e.clock.Add(time.Minute + time.Second)
		b := e.loginOnly(t, phone)
		if b.ID == a.ID {
			t.Fatal("the phone logged into the closed account")
		}
		if ps, _ := e.svc.Patients(ctx, b); len(ps) != 0 {
			t.Errorf("the new account inherits %v", ps)
		}
		if st, _ := e.svc.ConsentStatus(ctx, b); st.Accepted {
			t.Error("the new account inherits the consent")
		}
		closed := false
		for _, ev := range auditLog(t, e.env) {
			closed = closed || (ev.Action == "account.close" && ev.Actor == fmt.Sprintf("account:%d", a.ID))
		}
		if !closed {
			t.Error("the closing is not audited")
		}
	})
}

// TestRetentionPurge: past the retention period a patient's personal
// fields are erased in the database itself — while the blind index and
// bookings the limits need stay — a dry run changes nothing, a patient
// with something running or recent activity is kept, binding the identity
// again finds the same history, and on PostgreSQL the online role cannot
// purge.
func TestRetentionPurge(t *testing.T) {
	forBackends(t, func(t *testing.T, e *rightsEnv) {
		e.svc.Privacy.Retention = privacy.MinRetention
		a := e.login(t, "13900000007")
		idle := e.bind(t, a, "欧阳娜娜", 30)
		held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: idle.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Cancel(ctx, a, held.ID); err != nil {
			t.Fatal(err)
		}
		busy := e.bind(t, a, "李四", 31)
		if _, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: busy.ID}); err != nil {
			t.Fatal(err)
		}
		// A referral request with a picture (0036): erased with the patient.
		needsReview(t, e.svc, e.other.DoctorID)
		if _, err := e.svc.SubmitReferral(ctx, a, app.ReferralInput{PatientID: idle.ID, DoctorID: e.other.DoctorID, Description: rash,
			Images: [][]byte{referraltest.PNG(t, 8, 8)}}); err != nil {
			t.Fatal(err)
		}
		referralSealed := func(id int64) int64 {
			return e.raw(t, `SELECT coalesce(sum(length(r.description_sealed) + coalesce(length(r.reason_sealed), 0) + coalesce(length(i.data_sealed), 0)), 0)
				FROM referrals r LEFT JOIN referral_images i ON i.referral_id = r.id WHERE r.patient_id = ?`, id)
		}
		if referralSealed(idle.ID) == 0 {
			t.Fatal("the referral request holds nothing sealed to erase")
		}
		e.clock.Add(privacy.MinRetention + 24*time.Hour)
		recentAcct := e.login(t, "13900000008")
		recent := e.bind(t, recentAcct, "王五", 32)

		sealed := func(id int64) int64 {
			return e.raw(t, `SELECT length(id_sealed) + length(name_sealed) + coalesce(length(phone_sealed), 0) + coalesce(length(birth_sealed), 0) FROM patients WHERE id = ?`, id)
		}
		dry, err := e.svc.Purge(ctx, e.purger, true)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(dry.Patients) != fmt.Sprint([]int64{idle.ID}) {
			t.Fatalf("the dry run would purge %v, want [%d]", dry.Patients, idle.ID)
		}
		if sealed(idle.ID) == 0 {
			t.Fatal("the dry run erased the patient")
		}
		if e.online != nil {
			if err := e.online(`SELECT fairslot.purge_patient($1, $2, $3)`, idle.ID, e.clock.Now().UnixMilli(), e.clock.Now().UnixMilli()); err == nil {
				t.Error("the online role may purge a patient")
			}
			if _, err := e.svc.Purge(ctx, e.svc.Store, false); err == nil {
				t.Error("the purge ran through the online role's store")
			}
		}
		rep, err := e.svc.Purge(ctx, e.purger, false)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rep.Patients) != fmt.Sprint([]int64{idle.ID}) {
			t.Fatalf("purged %v, want [%d]", rep.Patients, idle.ID)
		}
		// The raw database holds no sealed value of the purged patient…
		if n := sealed(idle.ID); n != 0 {
			t.Errorf("%d bytes of sealed personal data left on the purged patient", n)
		}
		if n := referralSealed(idle.ID); n != 0 {
			t.Errorf("%d bytes of the purged patient's referral request left", n)
		}
		if n := e.raw(t, `SELECT count(*) FROM patients WHERE id = ? AND phone_index IS NULL AND purged_ms IS NOT NULL AND length(id_index) = 16`, idle.ID); n != 1 {
			t.Error("the purged patient keeps a phone index, or lost its ID index")
		}
		// …but the history the limits and the audit need.
		if n := e.raw(t, `SELECT count(*) FROM bookings WHERE patient_id = ? AND status = 'cancelled'`, idle.ID); n != 1 {
			t.Errorf("%d cancelled bookings kept, want 1", n)
		}
		if n := e.raw(t, `SELECT count(*) FROM bindings WHERE patient_id = ?`, idle.ID); n != 0 {
			t.Errorf("the purged patient is still bound (%d)", n)
		}
		for _, kept := range []int64{busy.ID, recent.ID} {
			if sealed(kept) == 0 {
				t.Errorf("patient %d was purged with a booking running or recent activity", kept)
			}
		}
		// Masked views of the purged patient say nothing and fail nothing.
		if _, err := e.svc.Bookings(ctx, a); err != nil {
			t.Errorf("the account's bookings after a purge: %v", err)
		}
		purged := false
		for _, ev := range auditLog(t, e.env) {
			purged = purged || (ev.Action == "patient.purge" && ev.Subject == fmt.Sprintf("patient:%d", idle.ID) && ev.Actor == "system")
		}
		if !purged {
			t.Error("the purge is not audited")
		}
		if again, err := e.svc.Purge(ctx, e.purger, false); err != nil || len(again.Patients) != 0 {
			t.Errorf("a second pass: %v %v, want nothing", again.Patients, err)
		}
		// The identity bound again is the same patient, its history intact,
		// its fields readable again.
		// Its phone on record went with the purge: only the desk, with the
		// ID card in hand, binds it again.
		back, err := e.svc.DeskBind(ctx, e.staff(t, "desk"), app.DeskBindInput{Phone: "13900000008",
			Patient: app.PatientInput{Name: "欧阳娜娜", IDType: fairslot.IDResident, IDNumber: residentID(30)}, Reason: access.ReasonIdentityCheck})
		if err != nil {
			t.Fatalf("the desk binds a purged identity again: %v", err)
		}
		if back.ID != idle.ID || back.Name != "欧*" {
			t.Errorf("bound again: %+v, want patient %d, masked", back, idle.ID)
		}
		if n := e.raw(t, `SELECT count(*) FROM bookings WHERE patient_id = ?`, idle.ID); n != 1 {
			t.Errorf("%d bookings after binding again, want 1", n)
		}
	})
}
