package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPeopleFind checks the scanner the scrape's figures rest on: every
// full field is found wherever it sits (in JSON, \u-escaped, inside other
// digits or Han text, in binary), and no mask or other patient's field is
// taken for one.
func TestPeopleFind(t *testing.T) {
	ppl := newPeople(3000)
	a, b := ppl.list[7], ppl.list[2999]
	esc, _ := json.Marshal(map[string]string{"n": a.Name})
	esc = bytes.ReplaceAll(esc, []byte(a.Name), []byte(jsonEscape(a.Name)))
	for _, c := range []struct {
		text string
		want []exposure
	}{
		{`{"name":"` + a.Name + `"}`, []exposure{{7, fieldName}}},
		{string(esc), []exposure{{7, fieldName}}},
		{"患者" + a.Name + "挂号", []exposure{{7, fieldName}}},
		{"\x00\x01" + b.ID + "\xff", []exposure{{2999, fieldID}}},
		{strings.ToLower(b.ID), []exposure{{2999, fieldID}}},
		{"tel:86" + a.Phone + "99", []exposure{{7, fieldPhone}}},
		{a.Name + "," + a.ID + "," + a.Phone, []exposure{{7, fieldName}, {7, fieldID}, {7, fieldPhone}}},
		// Masks and fragments are not the fields.
		{string([]rune(a.Name)[:1]) + "*", nil},
		{a.ID[:6] + "********" + a.ID[14:], nil},
		{a.Phone[:3] + "****" + a.Phone[7:], nil},
		{a.ID[:17], nil},
		{string([]rune(a.Name)[:2]), nil},
	} {
		got := ppl.find([]byte(c.text))
		if len(got) != len(c.want) {
			t.Errorf("find(%q) = %v, want %v", c.text, got, c.want)
			continue
		}
		for _, w := range c.want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("find(%q) = %v, want %v", c.text, got, c.want)
			}
		}
	}
	seen := map[string]bool{}
	for i := range maxPeople {
		p := seededPerson(i)
		for _, v := range []string{p.Name, p.ID, p.Phone} {
			if seen[v] {
				t.Fatalf("person %d repeats %q", i, v)
			}
			seen[v] = true
		}
	}
	e := newExposed(7)
	e.add(ppl, []byte(a.Name+" "+b.Phone+" "+b.Name))
	if e.records() != 1 || len(e.fields) != 2 {
		t.Errorf("exposed excluding the attacker's own: %d records, %v; want 1 record (2999), 2 fields", e.records(), e.fields)
	}
}

// jsonEscape writes s as JSON \u escapes, as some encoders do.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// TestScrapeScenario replays incident I4 small against a real server and
// asserts issue 12's targets: (a) a stolen password alone yields no staff
// session and no record; (b) a stolen signed-in session gets at most 30
// records before the account is locked with an ALERT; (c) the database
// files, WAL and a backup without the keyset hold no readable personal
// field (and the scans demonstrably read the data); (d) a patient token
// walking ids gets no record of another patient.
func TestScrapeScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fairslot")
	if out, err := exec.Command("go", "build", "-o", bin, "../fairslot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "scrape.json")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"scrape", "--fairslot", bin, "--out", out,
		"--patients", "300", "--bookings", "40", "--enumerate", "400", "--tries", "200"}, &stdout)
	t.Log(stdout.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r ScrapeReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Patients != 300 || r.Bookings != 40 || !r.Alive {
		t.Fatalf("seeded %d patients, %d bookings, server alive %v; want 300, 40, alive", r.Patients, r.Bookings, r.Alive)
	}
	if a := r.Password; a.SessionObtained || a.Records != 0 {
		t.Errorf("(a) stolen password alone: staff session obtained %v, %d records; want no session, 0 records", a.SessionObtained, a.Records)
	}
	if a := r.NewAccount; a == nil || a.SessionObtained || a.Records != 0 {
		t.Errorf("(a') stolen password of an account never signed in: %+v; want no session, 0 records", a)
	}
	if a := r.Session; a.Records > 30 || !a.Alert || !a.Locked || !a.SecurityEvent {
		t.Errorf("(b) stolen signed-in session: %d records (want ≤ 30), ALERT %v, locked %v, on the security page %v (want all); %v",
			a.Records, a.Alert, a.Locked, a.SecurityEvent, a.Notes)
	}
	if a := r.Session; a.WeakMasks != 0 {
		t.Errorf("(b) %d patients' ID numbers shown with first 6 and last 4 (about 33 candidates); want none", a.WeakMasks)
	}
	if f := r.Files; f.Readable != 0 || f.Files < 4 || f.Tables == 0 || f.Cells == 0 || !f.ControlFound {
		t.Errorf("(c) database copy: %d readable personal fields in %d files, %d tables, %d cells, control found %v; "+
			"want 0 in ≥ 4 files with tables and cells read and the control text found", f.Readable, f.Files, f.Tables, f.Cells, f.ControlFound)
	}
	if r.Files.LogFields != 0 {
		t.Errorf("(c) the server's log (at info) holds %d personal fields of patients; want none", r.Files.LogFields)
	}
	if a := r.Token; a.Records != 0 || a.IDsTried != 400 || a.Answers["GET /api/v1/patients"][200] != 1 {
		t.Errorf("(d) patient token: %d records of others over %d ids (own patients answered %v); want 0 over 400, own answered 200",
			a.Records, a.IDsTried, a.Answers["GET /api/v1/patients"])
	}
}

// TestScanTablesFindsPlaintext checks that (c)'s SQL scan can fail: a
// database holding a name in a text column, an ID number in a blob and a
// phone inside a longer string is reported, cell by cell.
func TestScanTablesFindsPlaintext(t *testing.T) {
	ppl := newPeople(50)
	p := ppl.list[42]
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE a (x TEXT, y BLOB, z INTEGER)",
		"CREATE TABLE b (note TEXT)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("INSERT INTO a VALUES (?, ?, 7)", p.Name, []byte("\x00"+p.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO b VALUES (?)", "call "+p.Phone+" at "+controlText); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var f FilesAttack
	found := newExposed(-1)
	control, err := scanTables(context.Background(), path, ppl, found, &f)
	if err != nil {
		t.Fatal(err)
	}
	if len(found.fields) != 3 || found.records() != 1 || !control || f.Tables != 2 || f.Columns != 4 || f.Cells != 4 {
		t.Errorf("scan: %v fields, %d records, control %v, %+v; want 3 fields of 1 record, control found, 2 tables, 4 columns, 4 cells",
			found.fields, found.records(), control, f)
	}
}

// TestTOTPCode checks the clerk's authenticator against RFC 6238's SHA-1
// test vectors (the secret "12345678901234567890", last six digits).
func TestTOTPCode(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		got, err := totpCode(secret, time.Unix(unix, 0))
		if err != nil || got != want {
			t.Errorf("totpCode(%d) = %s, %v; want %s", unix, got, err, want)
		}
	}
	if _, err := totpCode("not base32!", time.Now()); err == nil {
		t.Error("a bad secret gave a code")
	}
}
