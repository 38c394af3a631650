package app_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// TestNoPlaintextAtRest stores patients, logs in, books and checks in, then
// reads every byte of the database file, its WAL and a copy of the data
// directory, looking for any stored name, ID number or phone.
func TestNoPlaintextAtRest(t *testing.T) {
	e := newEnv(t)
	type person struct{ name, id, phone string }
	people := []person{
		{"欧阳娜娜", residentID(501), "13911112222"},
		{"Nguyễn Thị Minh Khai", "", "0912345678"},
		{"Zhang Wei", "", "13733334444"},
	}
	people[1].id = "001099012345"
	people[2].id = "E98765432"
	types := []fairslot.IDType{fairslot.IDResident, fairslot.IDVNCitizen, fairslot.IDPassport}
	for i, p := range people {
		a := e.login(t, p.phone)
		pt, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: p.name, IDType: types[i], IDNumber: p.id, Phone: p.phone, BirthDate: "1990-01-02"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.session.ID, PatientID: pt.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Pay(ctx, a, b.ID, "k"); err != nil {
			t.Fatal(err)
		}
	}
	walkIn := person{"司马光", residentID(777), "13655556666"}
	if _, err := e.svc.WalkIn(ctx, e.staff(t, "desk"), app.WalkInInput{SessionID: e.session.ID,
		Patient: app.PatientInput{Name: walkIn.name, IDType: fairslot.IDResident, IDNumber: walkIn.id, Phone: walkIn.phone}}); err != nil {
		t.Fatal(err)
	}
	people = append(people, walkIn)

	dataDir := filepath.Join(e.dir, "data")
	wal := filepath.Join(dataDir, "fairslot.db-wal")
	if fi, err := os.Stat(wal); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL to inspect (%v); the test would prove nothing", err)
	}
	// A copy of the directory, as a thief or a backup would take it.
	copyDir := t.TempDir()
	filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			os.WriteFile(filepath.Join(copyDir, d.Name()), b, 0o600)
		}
		return nil
	})

	var needles []string
	for _, p := range people {
		needles = append(needles, p.name, p.id, p.phone, strings.Fields(p.name)[len(strings.Fields(p.name))-1])
	}
	needles = append(needles, "1990-01-02")
	files := 0
	for _, dir := range []string{dataDir, copyDir} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range needles {
				if bytes.Contains(b, []byte(n)) {
					t.Errorf("%s holds plaintext %q", path, n)
				}
			}
			return nil
		})
	}
	if files < 4 {
		t.Errorf("inspected %d files; want the database and its WAL, twice", files)
	}
	// The check can fail: the stored masked phone in the audit log is there.
	raw, _ := os.ReadFile(wal)
	walAndDB, _ := os.ReadFile(filepath.Join(dataDir, "fairslot.db"))
	if !bytes.Contains(append(raw, walAndDB...), []byte("139******22")) {
		t.Error("the masked phone of the audit record is not found either; is the scan reading the right files?")
	}
}
