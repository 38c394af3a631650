package app_test

import (
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// onRecord puts the identity p on record, as a binding does: bound to an
// account of its own (an identity already on record stays as it is).
func (e *env) onRecord(t *testing.T, p app.PatientInput) {
	t.Helper()
	// Once per env: keyed by the env itself, not its address, which a later
	// test's env may reuse (it did: the identity was then never bound).
	e.recordMu.Lock()
	defer e.recordMu.Unlock()
	if e.recorded[p.IDNumber] {
		return
	}
	if e.recorded == nil {
		e.recorded = map[string]bool{}
	}
	e.recorded[p.IDNumber] = true
	a := e.login(t, fmt.Sprintf("139%08d", crc32.ChecksumIEEE([]byte(p.IDNumber))%100_000_000))
	e.svc.BindPatient(ctx, a, p) // an identity bound before answers with a proof to give: it is on record
}

// TestKioskWalkInTellsNothingOfAnIdentity: an unattended kiosk registers a
// walk-in only for a patient on record under the name on their ID; a new
// identity and a known one under another name get the same answer, so
// typing a stranger's ID number at a kiosk does not tell whether it is on
// record (the class of issue 13 item 1's "a wrong name confirms that the ID
// exists"). The desk, which sees the card, still registers a new identity.
func TestKioskWalkInTellsNothingOfAnIdentity(t *testing.T) {
	e := newEnv(t)
	kiosk := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Kiosk}
	known := app.PatientInput{Name: "王五", IDType: fairslot.IDResident, IDNumber: residentID(77)}
	e.onRecord(t, known)
	walkIn := func(a app.Actor, p app.PatientInput) error {
		t.Helper()
		_, err := e.svc.WalkIn(ctx, a, app.WalkInInput{SessionID: e.session.ID, Patient: p})
		return err
	}
	stranger := app.PatientInput{Name: "王五", IDType: fairslot.IDResident, IDNumber: residentID(78)}
	unknown := walkIn(kiosk, stranger)
	wrongName := walkIn(kiosk, app.PatientInput{Name: "王六", IDType: fairslot.IDResident, IDNumber: residentID(77)})
	if unknown == nil || wrongName == nil {
		t.Fatalf("kiosk walk-ins of a new identity and of a known one under another name: %v, %v; want both refused", unknown, wrongName)
	}
	ku, _ := fairslot.ErrorKey(unknown)
	kw, _ := fairslot.ErrorKey(wrongName)
	if unknown.Error() != wrongName.Error() || ku != kw || fairslot.ErrorKind(unknown) != fairslot.ErrorKind(wrongName) {
		t.Errorf("a new identity and a wrong name answer differently:\n  %v (%s)\n  %v (%s)", unknown, ku, wrongName, kw)
	}
	if err := walkIn(kiosk, known); err != nil {
		t.Errorf("the patient on record, under their name, at the kiosk: %v", err)
	}
	if err := walkIn(e.staff(t, "desk"), stranger); err != nil {
		t.Errorf("the desk registering a new identity: %v", err)
	}
}
