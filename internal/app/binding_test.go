package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/storage"
)

// Binding proves identity (issue 13 item 1). The attacker: someone who
// knows a stranger's name and ID number — from a leak (I4) — and wants the
// stranger's identity on their own account, to spend its quota or lock the
// owner out; or wants to learn whether an ID number is registered at all.

// recorder keeps every message sent, in order, and passes each on to the
// env's inbox (which keeps the last per phone).
type recorder struct {
	mu   sync.Mutex
	next app.Notifier
	msgs []sentMsg
}

type sentMsg struct{ phone, text string }

func (r *recorder) Notify(ctx context.Context, phone, text string) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, sentMsg{phone, text})
	r.mu.Unlock()
	return r.next.Notify(ctx, phone, text)
}

func (r *recorder) to(phone string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.phone == phone {
			out = append(out, m.text)
		}
	}
	return out
}

func record(e *env) *recorder {
	r := &recorder{next: e.svc.Notifier}
	e.svc.Notifier = r
	return r
}

// prove binds a known identity to a with the code sent to holder, the
// identity's phone on record.
func (e *env) prove(t *testing.T, a app.Actor, name string, serial int, holder string) fairslot.Patient {
	t.Helper()
	_, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: name, IDType: fairslot.IDResident, IDNumber: residentID(serial)})
	if !errors.Is(err, app.ErrProofSent) {
		t.Fatalf("binding a known identity: %v; want ErrProofSent", err)
	}
	p, err := e.svc.ConfirmBinding(ctx, a, app.BindingProof{Name: name, IDType: fairslot.IDResident, IDNumber: residentID(serial), Code: e.inbox.code(holder)})
	if err != nil {
		t.Fatalf("binding with the code from %s: %v", holder, err)
	}
	return p
}

// device gives an actor its own device and address prefix.
func device(a app.Actor, dev, addr string) app.Actor {
	a.Device, a.Addr = dev, addr
	return a
}

func proof(name string, serial int, code string) app.BindingProof {
	return app.BindingProof{Name: name, IDType: fairslot.IDResident, IDNumber: residentID(serial), Code: code}
}

func TestStrangerCannotBindWithoutTheCode(t *testing.T) {
	e := newEnv(t)
	rec := record(e)
	const ownerPhone, strangerPhone = "13812345678", "13900000666"
	owner := e.login(t, ownerPhone)
	p := e.bind(t, owner, "张三", 1)
	stranger := device(e.login(t, strangerPhone), "dev-stranger", "10.9.9.0/24")

	// The stranger knows the name and the number: told only that a code
	// went to the phone on record if the details are right.
	_, err := e.svc.BindPatient(ctx, stranger, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1), Phone: strangerPhone})
	if !errors.Is(err, app.ErrProofSent) {
		t.Fatalf("a stranger binding a held identity: %v; want ErrProofSent", err)
	}
	if strings.Contains(err.Error(), "138") || strings.Contains(err.Error(), "5678") {
		t.Errorf("the answer shows the phone on record: %v", err)
	}
	code := e.inbox.code(ownerPhone)
	if code == "" {
		t.Fatal("no code to the phone on record")
	}
	// The code went to the phone on record and only there: nothing to the
	// stranger, and the phone typed with the identity is not used.
	for _, m := range rec.to(strangerPhone) {
		if strings.Contains(m, code) {
			t.Errorf("the stranger's phone got the code: %q", m)
		}
	}
	codes := 0
	for _, m := range rec.msgs {
		if strings.Contains(m.text, code) {
			codes++
			if m.phone != ownerPhone {
				t.Errorf("the code went to %s", m.phone)
			}
		}
	}
	if codes != 1 {
		t.Errorf("the code was sent %d times, want once", codes)
	}
	// Guesses fail; the patient is not bound.
	for _, guess := range []string{"000000", "123456", ""} {
		if guess == code {
			continue
		}
		_, err := e.svc.ConfirmBinding(ctx, stranger, proof("张三", 1, guess))
		var f *app.BindingFailed
		if !errors.As(err, &f) || fairslot.ErrorKind(err) != fairslot.Forbidden {
			t.Errorf("a wrong code %q: %v; want BindingFailed", guess, err)
		}
	}
	if ps, _ := e.svc.Patients(ctx, stranger); len(ps) != 0 {
		t.Fatalf("the stranger holds %v", ps)
	}
	// The next door: the same identity through the desk's API needs staff.
	_, err = e.svc.DeskBind(ctx, stranger, app.DeskBindInput{Phone: strangerPhone, Patient: app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}, Reason: access.ReasonIdentityCheck})
	wantKind(t, "a patient calling the desk's binding", err, fairslot.Unauthorized)

	// With the code (the holder gave it to a family member) it binds, and
	// the holder is told.
	got, err := e.svc.ConfirmBinding(ctx, stranger, proof("张三", 1, code))
	if err != nil || got.ID != p.ID {
		t.Fatalf("binding with the code: %+v, %v", got, err)
	}
	last := rec.to(ownerPhone)
	if len(last) == 0 || !strings.Contains(last[len(last)-1], "was added as a patient to another fairslot account") || !strings.Contains(last[len(last)-1], "张*") {
		t.Errorf("the holder was not told: %q", last)
	}
	for _, m := range rec.to(ownerPhone) {
		if strings.Contains(m, "张三") || strings.Contains(m, residentID(1)) {
			t.Errorf("a message carries personal data beyond the masked name: %q", m)
		}
	}
	// A code is used once.
	_, err = e.svc.ConfirmBinding(ctx, e.login(t, "13900000777"), proof("张三", 1, code))
	if !errors.As(err, new(*app.BindingFailed)) {
		t.Errorf("a used code again, from another account: %v", err)
	}
}

// TestFailedBindingsLookAlike: every failure answers the same words and
// kind, whatever failed, so a guesser learns nothing about whether an ID
// number is registered, under which name, or whether a code went out.
func TestFailedBindingsLookAlike(t *testing.T) {
	e := newEnv(t)
	owner := e.login(t, "13812345678")
	e.bind(t, owner, "张三", 1)
	nophone := e.login(t, "13812340000")
	e.bind(t, nophone, "赵六", 3)

	// The request step: right name, wrong name, and limits spent all get
	// ErrProofSent, whatever was sent.
	var answers []string
	for i, in := range []app.PatientInput{
		{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}, // held, right name: a code goes out
		{Name: "李四", IDType: fairslot.IDResident, IDNumber: residentID(1)}, // held, wrong name: nothing goes out
		{Name: "赵六", IDType: fairslot.IDResident, IDNumber: residentID(3)}, // held by another
	} {
		a := device(e.login(t, fmt.Sprintf("139000010%02d", i)), "dev", "10.1.1.0/24")
		_, err := e.svc.BindPatient(ctx, a, in)
		if !errors.Is(err, app.ErrProofSent) {
			t.Fatalf("request %d: %v", i, err)
		}
		answers = append(answers, string(fairslot.ErrorKind(err))+"|"+err.Error())
	}
	for i := range answers {
		if answers[i] != answers[0] {
			t.Errorf("request answers differ:\n%s\n%s", answers[0], answers[i])
		}
	}

	// The proof step: each failure kind from a fresh account and device,
	// so that each is the first failure: byte-identical answers.
	kinds := []struct {
		what string
		in   app.BindingProof
	}{
		{"wrong code", proof("张三", 1, "000000")},
		{"wrong name", proof("李四", 1, "000000")},
		{"an identity nobody holds", proof("王五", 77, "000000")},
		{"a held identity with no code asked", proof("赵六", 3, "000000")},
		{"a malformed ID number", app.BindingProof{Name: "张三", IDType: fairslot.IDResident, IDNumber: "110105194912310021", Code: "000000"}},
		{"no code at all", proof("张三", 1, "")},
	}
	first := map[string]string{}
	for i, k := range kinds {
		a := device(e.login(t, fmt.Sprintf("139111100%02d", i)), "dev-"+k.what, fmt.Sprintf("10.2.%d.0/24", i))
		// The same history for each: one request for a code (which the
		// wrong-code case needs), then the failure.
		if _, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}); !errors.Is(err, app.ErrProofSent) {
			t.Fatal(err)
		}
		if e.inbox.code("13812345678") == "000000" {
			t.Skip("the random code was 000000")
		}
		_, err := e.svc.ConfirmBinding(ctx, a, k.in)
		first[k.what] = string(fairslot.ErrorKind(err)) + "|" + fairslot.ErrorMessage(err)
	}
	for what, got := range first {
		if got != first["wrong code"] {
			t.Errorf("%s answers %q; a wrong code answers %q", what, got, first["wrong code"])
		}
	}
	// Limit hit: one account spends its tries on an unknown identity,
	// another on a held one; both are then refused alike, even with the
	// right code.
	spend := func(a app.Actor, in app.BindingProof) string {
		var last error
		for range 10 {
			_, last = e.svc.ConfirmBinding(ctx, a, in)
		}
		return string(fairslot.ErrorKind(last)) + "|" + fairslot.ErrorMessage(last)
	}
	x := device(e.login(t, "13922220001"), "dev-x", "10.3.1.0/24")
	y := device(e.login(t, "13922220002"), "dev-y", "10.3.2.0/24")
	if _, err := e.svc.BindPatient(ctx, y, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}); !errors.Is(err, app.ErrProofSent) {
		t.Fatal(err)
	}
	right := e.inbox.code("13812345678")
	gx, gy := spend(x, proof("王五", 77, "000000")), spend(y, proof("张三", 1, "000001"))
	if gx != gy || !strings.Contains(gx, "0 tries left") {
		t.Errorf("limit hit: %q and %q; want the same, 0 tries left", gx, gy)
	}
	_, err := e.svc.ConfirmBinding(ctx, y, proof("张三", 1, right))
	if got := string(fairslot.ErrorKind(err)) + "|" + fairslot.ErrorMessage(err); got != gx {
		t.Errorf("the right code past the limit: %q; want %q", got, gx)
	}
}

// TestBindingLimitsPerAccountDevicePrefix: a guesser is stopped per
// account (a new device does not help), per device (a new account does
// not help) and per address prefix (new accounts and devices do not help).
func TestBindingLimitsPerAccountDevicePrefix(t *testing.T) {
	e := newEnv(t)
	e.svc.Binding = app.BindingLimits{PerAccount: gate.Limit{Rate: 3, Per: time.Hour, Burst: 3},
		PerRequester: gate.Limit{Rate: 3, Per: time.Hour, Burst: 3}, PerAddr: gate.Limit{Rate: 6, Per: time.Hour, Burst: 6}}
	owner := e.login(t, "13812345678")
	e.bind(t, owner, "张三", 1)
	fail := func(a app.Actor) int {
		t.Helper()
		_, err := e.svc.ConfirmBinding(ctx, a, proof("张三", 1, "999999"))
		var f *app.BindingFailed
		if !errors.As(err, &f) {
			t.Fatalf("a wrong code: %v", err)
		}
		return f.Left
	}
	// works reports whether a right code binds for a.
	works := func(a app.Actor) bool {
		t.Helper()
		if _, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}); !errors.Is(err, app.ErrProofSent) {
			t.Fatal(err)
		}
		_, err := e.svc.ConfirmBinding(ctx, a, proof("张三", 1, e.inbox.code("13812345678")))
		return err == nil
	}
	acct := e.login(t, "13900000001")
	a1 := device(acct, "d1", "10.0.1.0/24")
	if l := fail(a1); l != 2 {
		t.Errorf("tries left after one failure: %d, want 2", l)
	}
	fail(a1)
	if l := fail(device(acct, "d2", "10.0.2.0/24")); l != 0 {
		t.Errorf("the same account on a new device and network: %d left, want 0", l)
	}
	if works(device(acct, "d3", "10.0.3.0/24")) {
		t.Error("per account: a new device bound with the right code past the account's limit")
	}
	// Per device: a fresh account on a spent device.
	b := device(e.login(t, "13900000002"), "d4", "10.0.4.0/24")
	fail(b)
	fail(b)
	fail(b)
	if works(device(e.login(t, "13900000003"), "d4", "10.0.4.0/24")) {
		t.Error("per device: a new account on a spent device bound")
	}
	// Per prefix: fresh accounts and devices on one network share it.
	for i := range 6 {
		fail(device(e.login(t, fmt.Sprintf("139000001%02d", i)), fmt.Sprint("p", i), "10.0.9.0/24"))
	}
	if works(device(e.login(t, "13900000200"), "fresh", "10.0.9.0/24")) {
		t.Error("per prefix: a new account and device on a spent network bound")
	}
	// The owner's network is not the guesser's: elsewhere, binding works.
	if !works(device(e.login(t, "13900000300"), "home", "10.7.7.0/24")) {
		t.Error("an account elsewhere could not bind with the right code")
	}
}

// TestProofRequestsDoNotFloodTheHolder: codes to one identity's phone are
// capped across accounts and devices.
func TestProofRequestsDoNotFloodTheHolder(t *testing.T) {
	e := newEnv(t)
	rec := record(e)
	owner := e.login(t, "13812345678")
	e.bind(t, owner, "张三", 1)
	for i := range 12 {
		a := device(e.login(t, fmt.Sprintf("139000020%02d", i)), fmt.Sprint("d", i), fmt.Sprintf("10.4.%d.0/24", i))
		if _, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}); !errors.Is(err, app.ErrProofSent) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	n := 0
	for _, m := range rec.to("13812345678") {
		if strings.Contains(m, "Someone asks to add") {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d codes to the holder's phone from 12 requests; want the cap, 5", n)
	}
}

// TestUnbindResetsNothing: bind, unbind, bind again neither gives the
// account or the patient a binding back in the window, nor clears the
// patient's cancellations; binding again needs proof, since the phone on
// record stays; the phone on record is told.
func TestUnbindResetsNothing(t *testing.T) {
	e := newEnv(t)
	rec := record(e)
	const ownerPhone = "13812345678"
	a := e.login(t, ownerPhone)
	p := e.bind(t, a, "张三", 1)
	// Three cancellations in the window: the patient's cancel limit.
	for range 3 {
		h, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Cancel(ctx, a, h.ID); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
	wantKind(t, "a hold past the cancel limit", err, fairslot.Limited)
	before := err.Error()

	b := e.login(t, "13900000001")
	if err := e.svc.Unbind(ctx, b, p.ID); fairslot.ErrorKind(err) != fairslot.NotFound {
		t.Errorf("unbinding another account's patient: %v; want NotFound", err)
	}
	if err := e.svc.Unbind(ctx, a, p.ID); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.svc.Patients(ctx, a); len(ps) != 0 {
		t.Errorf("after unbinding: %v", ps)
	}
	_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
	wantKind(t, "booking an unbound patient", err, fairslot.NotFound)
	// Binding again: the phone on record stays, so it needs the code.
	again := e.prove(t, a, "张三", 1, ownerPhone)
	if again.ID != p.ID {
		t.Fatalf("bound again as %d, want %d", again.ID, p.ID)
	}
	_, err = e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
	if fairslot.ErrorKind(err) != fairslot.Limited || err.Error() != before {
		t.Errorf("after unbind and bind again: %v; want the cancel limit as before (%s)", err, before)
	}

	// The per-patient window: a and b hold the patient (2 accounts, the
	// cap); b unbinds and c binds — the third binding in the window; c
	// unbinds and d is refused, though the patient has one account now.
	e.prove(t, b, "张三", 1, ownerPhone)
	if err := e.svc.Unbind(ctx, b, p.ID); err != nil {
		t.Fatal(err)
	}
	// a bound it twice already (first and again): the window holds 3.
	c := e.login(t, "13900000002")
	_, err = e.svc.BindPatient(ctx, c, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)})
	if !errors.Is(err, app.ErrProofSent) {
		t.Fatal(err)
	}
	_, err = e.svc.ConfirmBinding(ctx, c, proof("张三", 1, e.inbox.code(ownerPhone)))
	wantKind(t, "a fourth binding of one patient in the window (a, a again, b, then c)", err, fairslot.Limited)

	// The phone on record was told of the unbinding by b (not its own).
	told := false
	for _, m := range rec.to(ownerPhone) {
		told = told || strings.Contains(m, "was removed from a fairslot account")
	}
	if !told {
		t.Errorf("the phone on record was not told of the unbinding: %q", rec.to(ownerPhone))
	}
	// And the account's own window: unbinding gave none back.
	e.clock.Add(25 * time.Hour)
	if _, err := e.svc.ConfirmBinding(ctx, c, proof("张三", 1, "x")); err == nil {
		t.Error("a stale proof bound")
	}
}

// TestAccountWindowCountsUnbound: an account that binds and unbinds
// reaches its window limit as one that only binds.
func TestAccountWindowCountsUnbound(t *testing.T) {
	e := newEnv(t)
	a := e.login(t, "13812345678")
	for i := 1; i <= 5; i++ {
		p := e.bind(t, a, fmt.Sprint("P", i), i)
		if err := e.svc.Unbind(ctx, a, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "P6", IDType: fairslot.IDResident, IDNumber: residentID(6)})
	wantKind(t, "a sixth binding in the window after five unbound", err, fairslot.Limited)
}

// TestDeskBindAudited: the desk binds after checking the ID card, with a
// reason, recorded in the audit log and counted as a look-up; the holders
// are told; a kiosk, a doctor and a missing reason are refused.
func TestDeskBindAudited(t *testing.T) {
	e := newEnv(t)
	rec := record(e)
	owner := e.login(t, "13812345678")
	p := e.bind(t, owner, "张三", 1)
	newcomer := e.login(t, "13900000001")
	desk := e.staff(t, "desk")
	in := app.DeskBindInput{Phone: "13900000001", Patient: app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: residentID(1)}}
	_, err := e.svc.DeskBind(ctx, desk, in)
	wantKind(t, "no reason", err, fairslot.Invalid)
	in.Reason = access.ReasonIdentityCheck
	_, err = e.svc.DeskBind(ctx, e.staff(t, "doc"), in)
	wantKind(t, "a doctor", err, fairslot.Forbidden)
	kiosk := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Kiosk}
	_, err = e.svc.DeskBind(ctx, kiosk, in)
	wantKind(t, "a kiosk", err, fairslot.Forbidden)
	wrong := in
	wrong.Patient.Name = "李四"
	_, err = e.svc.DeskBind(ctx, desk, wrong)
	wantKind(t, "a name that does not match the card on record", err, fairslot.Invalid)
	nobody := in
	nobody.Phone = "13700000000"
	_, err = e.svc.DeskBind(ctx, desk, nobody)
	wantKind(t, "a phone with no account", err, fairslot.NotFound)

	got, err := e.svc.DeskBind(ctx, desk, in)
	if err != nil || got.ID != p.ID {
		t.Fatalf("the desk's binding: %+v, %v", got, err)
	}
	if ps, _ := e.svc.Patients(ctx, newcomer); len(ps) != 1 || ps[0].ID != p.ID {
		t.Errorf("the account's patients: %v", ps)
	}
	var found bool
	for _, ev := range auditLog(t, e) {
		if ev.Action == "binding.create" && ev.Detail["via"] == "desk" && ev.Detail["reason"] == "identity_check" && strings.HasPrefix(ev.Actor, "staff") {
			found = true
		}
	}
	if !found {
		t.Error("no audit record of the desk's binding with its reason")
	}
	vs, err := e.svc.PatientAccesses(ctx, owner, p.ID)
	if err != nil || len(vs) == 0 {
		t.Errorf("the patient's \"who looked\" does not show the desk: %v, %v", vs, err)
	}
	last := rec.to("13812345678")
	if len(last) == 0 || !strings.Contains(last[len(last)-1], "was added as a patient to another fairslot account") {
		t.Errorf("the holder was not told: %q", last)
	}
}
