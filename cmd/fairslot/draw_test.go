package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestDrawCommands makes a real draw in a data directory, then shows,
// re-runs and verifies it with the command, from the database and from a
// file; every tampered copy of the record is rejected.
func TestDrawCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json")}
	fairslotRun := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		return out.String(), err
	}
	if _, err := fairslotRun(append([]string{"migrate"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.DataDir, c.Keyset = filepath.Join(dir, "data"), filepath.Join(dir, "keys.json")
	svc, st, err := open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	loc := svc.Location
	now := time.Now().In(loc).Add(-48 * time.Hour)
	svc.Now = func() time.Time { return now }
	svc.Release.Rules = []release.Rule{{Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute)}}
	var sess fairslot.Session
	err = st.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "H"}
		tx.CreateHospital(ctx, &h)
		cp := fairslot.Campus{HospitalID: h.ID, Name: "C"}
		tx.CreateCampus(ctx, &cp)
		d := fairslot.Department{CampusID: cp.ID, Code: "CARD", Name: "Cardiology"}
		tx.CreateDepartment(ctx, &d)
		doc := fairslot.Doctor{DepartmentID: d.ID, Name: "Dr", Title: fairslot.Expert}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		start := now.AddDate(0, 0, 3).Truncate(24 * time.Hour)
		sess = fairslot.Session{DoctorID: doc.ID, DepartmentID: d.ID, Date: start.Format(time.DateOnly), Period: fairslot.Morning,
			Start: start, End: start.Add(2 * time.Hour), FeeCents: 100}
		slots := []fairslot.Slot{{Number: 1, Start: start, End: start.Add(30 * time.Minute)}, {Number: 2, Start: start, End: start.Add(30 * time.Minute)}}
		return svc.NewSession(ctx, tx, d.Code, &sess, slots)
	})
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := svc.SessionRelease(ctx, sess.ID)
	now = rel.EntryOpens.Add(time.Minute)
	for i := range 5 {
		a, err := svc.OpenAccount(ctx, app.System, fmt.Sprintf("1380000%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Consent(ctx, a, svc.Privacy.Version(), "zh-CN"); err != nil {
			t.Fatal(err)
		}
		first := fmt.Sprintf("110105198001%02d001", i+1)
		p, err := svc.BindPatient(ctx, a, app.PatientInput{Name: "病人", IDType: fairslot.IDResident, IDNumber: first + string(fairslot.ResidentCheckDigit(first))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.EnterDraw(ctx, a, app.EntryInput{SessionID: sess.ID, PatientID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	now = rel.EntryCloses
	if _, err := svc.RunDraw(ctx, app.System, sess.ID); err != nil {
		t.Fatal(err)
	}
	st.Close()

	id := fmt.Sprint(sess.ID)
	out, err := fairslotRun(append([]string{"draw", "show"}, append(flags, id)...)...)
	if err != nil || !strings.Contains(out, `"allocation"`) {
		t.Fatalf("draw show = %v, %s", err, out)
	}
	if _, err := fairslotRun(append([]string{"draw", "run"}, append(flags, id)...)...); err == nil || !strings.Contains(err.Error(), "already run") {
		t.Errorf("a second draw run = %v, want refused", err)
	}
	out, err = fairslotRun(append([]string{"draw", "verify", "--session", id}, flags...)...)
	if err != nil || !strings.Contains(out, "verifies") {
		t.Fatalf("draw verify --session = %v, %s", err, out)
	}

	var shown struct{ Record release.Record }
	if err := json.Unmarshal([]byte(mustRun(t, fairslotRun, append([]string{"draw", "show"}, append(flags, id)...)...)), &shown); err != nil {
		t.Fatal(err)
	}
	write := func(r release.Record) string {
		b, _ := json.Marshal(r)
		f := filepath.Join(t.TempDir(), "record.json")
		os.WriteFile(f, b, 0o600)
		return f
	}
	if out, err := fairslotRun("draw", "verify", write(shown.Record)); err != nil {
		t.Fatalf("draw verify FILE = %v, %s", err, out)
	}
	tampers := map[string]func(r *release.Record){
		"seed":     func(r *release.Record) { r.Seed[0] ^= 1 },
		"an entry": func(r *release.Record) { r.Entries[0][1] ^= 1 },
		"ranks swapped": func(r *release.Record) {
			r.Allocation[0].Entry, r.Allocation[1].Entry = r.Allocation[1].Entry, r.Allocation[0].Entry
		},
		"an outcome": func(r *release.Record) { r.Allocation[4].Outcome = fairslot.Won },
		"a slot":     func(r *release.Record) { r.Allocation[0].Slot = 2 },
	}
	for name, tamper := range tampers {
		var r release.Record
		b, _ := json.Marshal(shown.Record)
		json.Unmarshal(b, &r)
		tamper(&r)
		if out, err := fairslotRun("draw", "verify", write(r)); err == nil || !strings.Contains(err.Error(), "NOT verify") {
			t.Errorf("tampered %s: draw verify = %v, %s", name, err, out)
		}
	}
}

func mustRun(t *testing.T, run func(...string) (string, error), args ...string) string {
	t.Helper()
	out, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
