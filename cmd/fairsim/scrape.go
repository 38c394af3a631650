package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
)

// ScrapeReport is what the scrape scenario (incident I4) measured: for
// each way in, how many personal records of other patients came out.
type ScrapeReport struct {
	Scenario    string  `json:"scenario"`
	Admission   bool    `json:"admission"`
	Patients    int     `json:"patients"`
	Accounts    int     `json:"accounts"`
	Bookings    int     `json:"bookings"`
	SeedSeconds float64 `json:"seed_seconds"`
	// Clerk says how the clerk's account was made.
	Clerk    string `json:"clerk"`
	Password Attack `json:"a_stolen_password"`
	// NewAccount is (a) against an account that has never signed in, so
	// has no second factor yet: the one a first sign-in enrols.
	NewAccount *Attack     `json:"a2_stolen_password_never_signed_in,omitempty"`
	Session    Attack      `json:"b_stolen_session"`
	Files      FilesAttack `json:"c_database_copy"`
	Token      Attack      `json:"d_patient_token"`
	Alive      bool        `json:"server_alive_after"`
	Seconds    float64     `json:"seconds"`
}

// Attack is one attacker's haul.
type Attack struct {
	Requests int `json:"requests"`
	// Answers counts the answers by route pattern and status.
	Answers map[string]map[int]int `json:"answers"`
	// Records is the distinct other patients of whom a full name, full ID
	// number or full phone appeared in any answer; Fields counts the fields.
	Records int            `json:"records_exposed"`
	Fields  map[string]int `json:"fields_exposed"`
	// SessionObtained: a staff request was answered 2xx with what the
	// attacker got (a: from the password alone).
	SessionObtained bool `json:"session_obtained,omitempty"`
	// Until lock-out (b): requests answered before the account stopped
	// answering, the ALERT seen in the server's log, the account locked
	// (the stolen session and a fresh full login both refused).
	AnsweredBeforeLock int  `json:"answered_before_lock,omitempty"`
	Alert              bool `json:"alert"`
	Locked             bool `json:"locked"`
	// SecurityEvent: the lock is on the security officers' page.
	SecurityEvent bool `json:"on_security_page,omitempty"`
	IDsTried      int  `json:"ids_tried,omitempty"`
	// WeakMasks is the other patients whose ID number an answer showed as
	// main masks it today: the first 6 and the last 4 characters, which
	// with the birth year leave about 33 candidates (issue 12 item 6).
	WeakMasks int      `json:"ids_shown_with_weak_mask"`
	Notes     []string `json:"notes,omitempty"`
}

type attackLog struct {
	mu      sync.Mutex
	a       Attack
	weak    map[int]bool
	exposed *exposed
	people  *people
}

func newAttackLog(p *people, own int) *attackLog {
	return &attackLog{weak: map[int]bool{}, a: Attack{Answers: map[string]map[int]int{}, Fields: map[string]int{}}, exposed: newExposed(own), people: p}
}

// record counts an answer under route and searches it for personal data.
func (l *attackLog) record(route string, resp *apiclient.Response, err error) {
	code := 0
	if err == nil {
		code = resp.Status
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.a.Requests++
	if l.a.Answers[route] == nil {
		l.a.Answers[route] = map[int]int{}
	}
	l.a.Answers[route][code]++
	if err == nil {
		l.exposed.add(l.people, resp.Body)
		l.exposed.add(l.people, []byte(fmt.Sprint(resp.Header)))
	}
}

// weakMask notes whether body shows patient n's ID number as main masks
// it (110105********123X).
func (l *attackLog) weakMask(n int, id string, body []byte) {
	if len(id) != 18 || !bytes.Contains(body, []byte(id[:6]+"********"+id[14:])) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.weak[n] = true
}

func (l *attackLog) note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.a.Notes = append(l.a.Notes, fmt.Sprintf(format, args...))
}

func (l *attackLog) done() Attack {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.a.Records = l.exposed.records()
	l.a.WeakMasks = len(l.weak)
	for x := range l.exposed.fields {
		l.a.Fields[x.Field]++
	}
	return l.a
}

type scrapeKnobs struct {
	patients, bookings, enumerate, tries int
	admission                            bool
}

// runScrape replays incident I4 against a server it starts with a fresh
// data directory: it seeds N patients through the public API (each with
// its own name, resident ID number and phone), then lets four attackers at
// them — a stolen staff password (of an enrolled account, and of one that
// has never signed in), a stolen fully signed-in staff session, a copy of
// the database files and a backup without the keyset, and a patient's
// token walking ids — and counts the personal records of others each one
// gets.
func runScrape(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("scrape", flag.ContinueOnError)
	var c common
	c.flags(fs)
	var k scrapeKnobs
	fs.IntVar(&k.patients, "patients", 20_000, "patients to seed (incident I4: about 20,000)")
	fs.IntVar(&k.bookings, "bookings", 200, "of them, how many hold a paid booking today (for the patient token to find)")
	fs.IntVar(&k.enumerate, "enumerate", 2000, "ids 1..N the patient token walks on every route that takes one")
	fs.IntVar(&k.tries, "tries", 1000, "most patients the stolen staff session tries (reveals and look-ups), lock-out or not")
	fs.BoolVar(&k.admission, "admission", false, "keep the front door's rate limits on; off by default so that the figures measure authorisation and the access limits themselves, not the door's throttling")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if k.patients < 10 || k.patients > maxPeople || k.bookings < 1 || k.bookings > k.patients ||
		k.enumerate < 1 || k.enumerate > 200_000 || k.tries < 1 || k.tries > k.patients {
		return fmt.Errorf("need 10 ≤ patients ≤ %d, 1 ≤ bookings ≤ patients, 1 ≤ enumerate ≤ 200000, 1 ≤ tries ≤ patients", maxPeople)
	}
	if c.bin == "" {
		return fmt.Errorf("scrape needs --fairslot BIN: it seeds a fresh data directory and copies its files")
	}
	c.baseline = !k.admission
	c.logLevel = "info" // (c) searches the server's log too: all of it
	began := time.Now()
	t, err := c.start(ctx, "--sim-opens-in", "1h")
	if err != nil {
		return err
	}
	defer t.stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute) // a bound on a hang
	defer cancel()
	r := ScrapeReport{Scenario: "scrape", Admission: t.Admission, Patients: k.patients}
	fmt.Fprintf(stdout, "scrape: seeding %d patients (%d with a booking today), admission %v\n", k.patients, k.bookings, t.Admission)
	ppl := newPeople(k.patients + 1) // the last is the attacker's own patient in (d)
	sd, err := seed(ctx, t, ppl, k)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	r.Accounts, r.Bookings, r.SeedSeconds = sd.accounts, len(sd.bookings), time.Since(began).Seconds()
	fmt.Fprintf(stdout, "seeded in %.1fs\n", r.SeedSeconds)

	clerks, how, err := makeClerks(ctx, &c, t)
	if err != nil {
		return fmt.Errorf("clerk accounts: %w", err)
	}
	r.Clerk = how
	r.Password = stolenPassword(ctx, t, ppl, clerks[0], sd)
	if clerks[2] != clerks[0] {
		a := stolenPassword(ctx, t, ppl, clerks[2], sd)
		r.NewAccount = &a
	}
	r.Session = stolenSession(ctx, t, ppl, clerks[1], sd, k)
	r.Token = patientToken(ctx, t, ppl, sd, k)
	if r.Files, err = copiedFiles(ctx, t, ppl); err != nil {
		return fmt.Errorf("database copy: %w", err)
	}
	r.Alive = t.alive()
	r.Seconds = time.Since(began).Seconds()
	printScrape(stdout, r)
	return writeReport(c.out, "scrape", r, stdout)
}

// seeded is what the set-up made.
type seeded struct {
	accounts int
	sessions []int64 // the floor's sessions, booked into
	// patientIDs are the seeded patients' ids, by person.
	patientIDs []int64
	bookings   []int64
	draw       int64
	// attacker is the patient token's own account and patient (the last
	// seeded person).
	attacker     *apiclient.Client
	attackerSelf int
}

// seed creates the patients through the public API as people would: an
// account per five patients (the policy's most), signed in by a code, each
// patient bound with their own name, ID number and phone; the first
// k.bookings hold and pay a place in today's floor sessions.
func seed(ctx context.Context, t *target, ppl *people, k scrapeKnobs) (*seeded, error) {
	storm, err := simSessions(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(storm.FloorSessions) == 0 {
		return nil, fmt.Errorf("the server has no floor sessions: is it a current 'fairslot serve --demo --sim'?")
	}
	sd := &seeded{sessions: storm.FloorSessions, draw: storm.DrawSession, accounts: (k.patients + 4) / 5, patientIDs: make([]int64, k.patients)}
	var mu sync.Mutex
	var made atomic.Int64
	err = parallel(sd.accounts, 8, func(a int) error {
		c := client(t.Public, addr(41+a/256, a%256, 1))
		if err := login(ctx, c, t.Staff, ppl.list[a*5].Phone); err != nil {
			return err
		}
		for n := a * 5; n < min(a*5+5, k.patients); n++ {
			p := ppl.list[n]
			resp, err := patiently(ctx, c, "POST", "/api/v1/patients", map[string]string{
				"name": p.Name, "id_type": "cn_resident", "id_number": p.ID, "phone": p.Phone}, 201)
			if err != nil {
				return err
			}
			made.Add(1)
			var pt struct{ ID int64 }
			if err := resp.Decode(&pt); err != nil || pt.ID == 0 {
				return fmt.Errorf("bind: no patient id in %s", resp.Body)
			}
			sd.patientIDs[n] = pt.ID // each worker writes its own
			if n >= k.bookings {
				continue
			}
			held, err := patiently(ctx, c, "POST", "/api/v1/bookings", map[string]int64{"session_id": sd.sessions[n%len(sd.sessions)], "patient_id": pt.ID}, 201)
			if err != nil {
				return err
			}
			var b struct{ ID int64 }
			held.Decode(&b)
			if _, err := patiently(ctx, c, "POST", fmt.Sprintf("/api/v1/bookings/%d/pay", b.ID), nil, 200, map[string]string{"Idempotency-Key": fmt.Sprint("pay-", b.ID)}); err != nil {
				return err
			}
			mu.Lock()
			sd.bookings = append(sd.bookings, b.ID)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The attacker of (d): a patient of their own, with a booking of their own.
	sd.attackerSelf = k.patients
	me := ppl.list[sd.attackerSelf]
	sd.attacker = client(t.Public, addr(40, 0, 1))
	if err := login(ctx, sd.attacker, t.Staff, me.Phone); err != nil {
		return nil, err
	}
	if _, err := patiently(ctx, sd.attacker, "POST", "/api/v1/patients", map[string]string{
		"name": me.Name, "id_type": "cn_resident", "id_number": me.ID, "phone": me.Phone}, 201); err != nil {
		return nil, err
	}
	if int(made.Load()) != k.patients {
		return nil, fmt.Errorf("seeded %d patients of %d", made.Load(), k.patients)
	}
	return sd, nil
}

// alerted reports whether the server's log holds an ALERT line naming
// any of the words (a username, say), after offset.
func alerted(t *target, from int64, words ...string) bool {
	if t.logs == nil {
		return false
	}
	b, err := os.ReadFile(t.logs.Name())
	if err != nil || int64(len(b)) < from {
		return false
	}
	for _, line := range bytes.Split(b[from:], []byte("\n")) {
		if !bytes.Contains(line, []byte("ALERT")) {
			continue
		}
		if len(words) == 0 {
			return true
		}
		for _, w := range words {
			if bytes.Contains(line, []byte(w)) {
				return true
			}
		}
	}
	return false
}

// logSize is the server log's length now, to look for ALERTs after it.
func logSize(t *target) int64 {
	if t.logs == nil {
		return 0
	}
	fi, err := os.Stat(t.logs.Name())
	if err != nil {
		return 0
	}
	return fi.Size()
}

func printScrape(w io.Writer, r ScrapeReport) {
	fmt.Fprintf(w, "\nfairsim scrape: %d patients seeded (%d accounts, %d bookings) in %.1fs; admission %v; clerk: %s\n",
		r.Patients, r.Accounts, r.Bookings, r.SeedSeconds, r.Admission, r.Clerk)
	line := func(name string, a Attack, extra string) {
		fmt.Fprintf(w, "  %-44s %6d records of others exposed (%s) in %d requests%s\n", name, a.Records, fieldsText(a.Fields), a.Requests, extra)
		for _, n := range a.Notes {
			fmt.Fprintf(w, "      %s\n", n)
		}
	}
	line("(a) stolen staff password, no second factor:", r.Password, fmt.Sprintf("; staff session obtained: %v", r.Password.SessionObtained))
	if r.NewAccount != nil {
		line("(a') the same, an account never signed in:", *r.NewAccount, fmt.Sprintf("; staff session obtained: %v", r.NewAccount.SessionObtained))
	}
	line("(b) stolen signed-in staff session:", r.Session, fmt.Sprintf("; %d patients tried, %d requests answered before lock-out, %d IDs shown with the weak mask; ALERT %v; account locked %v; on the security page %v",
		r.Session.IDsTried, r.Session.AnsweredBeforeLock, r.Session.WeakMasks, r.Session.Alert, r.Session.Locked, r.Session.SecurityEvent))
	f := r.Files
	fmt.Fprintf(w, "  %-44s %6d readable personal fields (%d patients) in %d files (%d MB), %d tables, %d columns, %d cells; control text found %v; server log: %d personal fields\n",
		"(c) database + WAL + backup, no keyset:", f.Readable, f.Records, f.Files, f.Bytes>>20, f.Tables, f.Columns, f.Cells, f.ControlFound, f.LogFields)
	for _, n := range f.Notes {
		fmt.Fprintf(w, "      %s\n", n)
	}
	line("(d) patient token walking ids:", r.Token, fmt.Sprintf("; ids tried %d", r.Token.IDsTried))
	fmt.Fprintf(w, "  server alive after: %v; %.1fs in all\n", r.Alive, r.Seconds)
}

func fieldsText(m map[string]int) string {
	var parts []string
	for _, f := range []string{fieldName, fieldID, fieldPhone} {
		parts = append(parts, fmt.Sprintf("%s %d", f, m[f]))
	}
	return strings.Join(parts, ", ")
}
