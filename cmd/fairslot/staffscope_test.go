package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestStaffScope links a doctor's login to a doctor record, scopes a desk,
// clears it, and refuses what cannot work — changing nothing then.
func TestStaffScope(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json")}
	scope := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"staff", "scope"}, append(args, flags...)...), &out, &errOut) // through the staff command table
		return out.String(), err
	}
	var out bytes.Buffer
	if err := run(ctx, append([]string{"migrate"}, flags...), &out, &out); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.DataDir, c.Keyset = filepath.Join(dir, "data"), filepath.Join(dir, "keys.json")
	_, st, err := open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var doc fairslot.Doctor
	var dept fairslot.Department
	err = st.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		tx.CreateHospital(ctx, &h)
		cp := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		tx.CreateCampus(ctx, &cp)
		dept = fairslot.Department{CampusID: cp.ID, Code: "CARD", Name: "Cardiology"}
		tx.CreateDepartment(ctx, &dept)
		doc = fairslot.Doctor{DepartmentID: dept.ID, Name: "Dr", Title: fairslot.Expert}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		for _, s := range []fairslot.Staff{{Username: "drwang", Name: "Dr Wang", Role: fairslot.DoctorRole}, {Username: "desk1", Name: "Desk", Role: fairslot.Registrar}} {
			if err := tx.CreateStaff(ctx, &s, "x"); err != nil {
				return err
			}
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	read := func(user string) fairslot.Staff {
		_, st, err := open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var s fairslot.Staff
		st.View(ctx, func(tx storage.Tx) (err error) { s, _, err = tx.StaffByUsername(ctx, user); return err })
		return s
	}
	if got, err := scope("drwang", "--doctor", "1"); err != nil || !strings.Contains(got, "doctor 1") {
		t.Fatalf("scope --doctor = %q, %v", got, err)
	}
	if _, err := scope("desk1", "--department", "1"); err != nil {
		t.Fatal(err)
	}
	if got := read("desk1"); got.DepartmentID != dept.ID || got.DoctorID != 0 {
		t.Errorf("desk1 = %+v", got)
	}
	if _, err := scope("desk1", "--campus", "1"); err != nil { // keeps the department
		t.Fatal(err)
	}
	if got := read("desk1"); got.DepartmentID != dept.ID || got.CampusID != dept.CampusID {
		t.Errorf("desk1 after --campus = %+v", got)
	}
	for _, bad := range [][]string{
		{"desk1", "--doctor", "1"},             // not a doctor's login
		{"drwang", "--doctor", "99"},           // no such doctor record
		{"nobody", "--department", "1"},        // no such login
		{"drwang"},                             // nothing to do
		{"drwang", "--clear", "--doctor", "1"}, // both
		{"--doctor", "1"},                      // no login
	} {
		if _, err := scope(bad...); err == nil {
			t.Errorf("scope %v: want an error", bad)
		}
	}
	if got := read("drwang"); got.DoctorID != doc.ID {
		t.Errorf("a refused change changed drwang: %+v", got)
	}
	if _, err := scope("desk1", "--clear"); err != nil {
		t.Fatal(err)
	}
	if got := read("desk1"); got.DepartmentID != 0 || got.CampusID != 0 {
		t.Errorf("desk1 after --clear = %+v", got)
	}
}
