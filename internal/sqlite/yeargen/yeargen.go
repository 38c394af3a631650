// Package yeargen writes a synthetic hospital year into a fresh SQLite data
// directory in bulk, for the backup and restore benchmark (issue 15): days
// of outpatients booked, paid, checked in, called and seen, with the audit
// records the application writes for each step, the audit log's Merkle tree
// (leaves and stored hashes) and a checkpoint per day signed with the real
// audit key, and patients' personal fields sealed with the real vault. It
// writes through the storage layer's own schema (sqlite.Open and Migrate),
// then inserts directly in large transactions, hundreds of rows a statement.
//
// It must never be pointed at a database that serves: it refuses a data
// directory that already holds a database, turns off the durability and
// foreign-key pragmas on its own connection, and drops the payment triggers
// while it loads (recreating them, as they were, before it returns).
package yeargen

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/vault"
)

// Options say what to generate.
type Options struct {
	DataDir string // must hold no database
	Keyset  string // opened (created when missing) with the vault
	Days    int    // default 365
	// PerDay is the bookings a day (default 8000), in 200 sessions a day
	// (100 doctors, morning and afternoon) of PerDay/200 slots each.
	PerDay int
	// Start is the first day (default 2026-01-01 in Location).
	Start    time.Time
	Location *time.Location
	Seed     uint64
	// Progress, when set, is called after each day.
	Progress func(day int, s Stats)
}

// Stats count what was written.
type Stats struct {
	Patients, Accounts, Bookings, Payments, Tickets, AuditEvents int64
	Checkpoints                                                  int
}

const (
	departments       = 20
	doctorsPerDept    = 5
	sessionsPerDay    = departments * doctorsPerDept * 2
	patientsPerPerDay = 60 // distinct patients: PerDay × this (a year's patients come back)
	staffCount        = 400
)

// Generate writes the year. It takes minutes for a full year (8,000 a
// day); the database ends in WAL mode, checkpointed, as a served one.
func Generate(ctx context.Context, o Options) (Stats, error) {
	var st Stats
	if o.Days <= 0 {
		o.Days = 365
	}
	if o.PerDay <= 0 {
		o.PerDay = 8000
	}
	if o.PerDay < 8*sessionsPerDay {
		return st, fmt.Errorf("yeargen: PerDay %d is below 8 slots of at most 30 minutes in each of the day's %d sessions of 4 hours", o.PerDay, sessionsPerDay)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, o.Location)
	}
	path := filepath.Join(o.DataDir, sqlite.FileName)
	if _, err := os.Stat(path); err == nil {
		return st, fmt.Errorf("yeargen: %s already holds a database: generate into an empty directory", o.DataDir)
	}
	store, err := sqlite.Open(o.DataDir, sqlite.Options{Location: o.Location})
	if err != nil {
		return st, err
	}
	err = store.Migrate(ctx)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, err
	}
	v, err := vault.Open(o.Keyset)
	if err != nil {
		return st, err
	}
	skey, err := vault.AuditSigningKey(o.Keyset)
	if err != nil {
		return st, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return st, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)&_pragma=cache_size(-262144)")
	if err != nil {
		return st, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	g := &gen{o: o, db: db, v: v, signer: signer, rng: rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))}
	if err := g.run(ctx); err != nil {
		return g.st, fmt.Errorf("yeargen: %w", err)
	}
	return g.st, nil
}

type gen struct {
	o      Options
	db     *sql.DB
	tx     *sql.Tx
	v      *vault.Vault
	signer note.Signer
	rng    *rand.Rand
	st     Stats

	patients, accounts int64
	seq                int64       // last audit seq
	edge               []tlog.Hash // the tree's right edge: complete subtrees' roots
	levels             []int
	hashes             []byte // stored hashes not yet written, from hashIndex on
	hashIndex          int64
	leafBuf            []byte
	batches            map[string]*batch
}

func (g *gen) run(ctx context.Context) error {
	// Triggers that check a payment against its booking's current status
	// would refuse rows written in their final state: drop them while
	// loading, then recreate them from their own stored text.
	var triggers, names []string
	rows, err := g.db.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name IN ('payments_insert', 'payments_transition')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			rows.Close()
			return err
		}
		triggers = append(triggers, text)
		names = append(names, name)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := g.db.ExecContext(ctx, `DROP TRIGGER `+name); err != nil {
			return err
		}
	}
	if len(triggers) != 2 {
		return fmt.Errorf("found %d of the 2 payment triggers: the schema changed, update yeargen", len(triggers))
	}
	g.batches = map[string]*batch{}
	if err := g.begin(ctx); err != nil {
		return err
	}
	if err := g.catalogue(ctx); err != nil {
		return err
	}
	if err := g.people(ctx); err != nil {
		return err
	}
	for day := range g.o.Days {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := g.day(ctx, day); err != nil {
			return fmt.Errorf("day %d: %w", day, err)
		}
		if g.o.Progress != nil {
			g.o.Progress(day, g.st)
		}
	}
	if err := g.commit(ctx); err != nil {
		return err
	}
	for _, t := range triggers {
		if _, err := g.db.ExecContext(ctx, t); err != nil {
			return fmt.Errorf("recreate trigger: %w", err)
		}
	}
	_, err = g.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func (g *gen) begin(ctx context.Context) error {
	var err error
	g.tx, err = g.db.BeginTx(ctx, nil)
	return err
}

// commit flushes every batch, then commits.
func (g *gen) commit(ctx context.Context) error {
	for _, name := range batchOrder {
		if b := g.batches[name]; b != nil {
			if err := b.flush(ctx, g.tx); err != nil {
				return err
			}
			b.close()
			delete(g.batches, name)
		}
	}
	return g.tx.Commit()
}

// batchOrder flushes parents before children.
var batchOrder = []string{"hospitals", "campuses", "departments", "doctors", "staff", "accounts", "patients", "bindings", "sessions",
	"slots", "bookings", "payments", "tickets", "calls", "audit_events", "audit_leaves", "audit_hashes", "audit_checkpoints"}

func (g *gen) insert(ctx context.Context, table, cols string, args ...any) error {
	b := g.batches[table]
	if b == nil {
		b = &batch{table: table, cols: cols, width: strings.Count(cols, ",") + 1}
		b.per = max(1, 4000/b.width)
		g.batches[table] = b
	}
	b.args = append(b.args, args...)
	if len(b.args) == b.per*b.width {
		// Parents first: a child batch may be full before its parents'.
		for _, name := range batchOrder {
			if name == table {
				break
			}
			if p := g.batches[name]; p != nil {
				if err := p.flush(ctx, g.tx); err != nil {
					return err
				}
			}
		}
		return b.flush(ctx, g.tx)
	}
	return nil
}

// batch is one table's rows waiting to go in as one multi-row INSERT.
type batch struct {
	table, cols string
	width, per  int
	args        []any
	full        *sql.Stmt
	fullTx      *sql.Tx
}

func (b *batch) stmt(rows int) string {
	row := "(" + strings.Repeat("?, ", b.width-1) + "?)"
	return "INSERT INTO " + b.table + " (" + b.cols + ") VALUES " + strings.Repeat(row+", ", rows-1) + row
}

func (b *batch) flush(ctx context.Context, tx *sql.Tx) error {
	rows := len(b.args) / b.width
	if rows == 0 {
		return nil
	}
	var err error
	if rows == b.per {
		if b.full == nil || b.fullTx != tx {
			b.close()
			if b.full, err = tx.PrepareContext(ctx, b.stmt(rows)); err != nil {
				return fmt.Errorf("%s: %w", b.table, err)
			}
			b.fullTx = tx
		}
		_, err = b.full.ExecContext(ctx, b.args...)
	} else {
		_, err = tx.ExecContext(ctx, b.stmt(rows), b.args...)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b.table, err)
	}
	b.args = b.args[:0]
	return nil
}

func (b *batch) close() {
	if b.full != nil {
		b.full.Close()
		b.full = nil
	}
}

func (g *gen) catalogue(ctx context.Context) error {
	if err := g.insert(ctx, "hospitals", "id, name", 1, "Synthetic Hospital (yeargen)"); err != nil {
		return err
	}
	if err := g.insert(ctx, "campuses", "id, hospital_id, name", 1, 1, "Main campus"); err != nil {
		return err
	}
	for d := 1; d <= departments; d++ {
		if err := g.insert(ctx, "departments", "id, campus_id, code, name", d, 1, fmt.Sprintf("D%02d", d), fmt.Sprintf("Department %d", d)); err != nil {
			return err
		}
		for k := range doctorsPerDept {
			id := (d-1)*doctorsPerDept + k + 1
			title := "general"
			if k == 0 {
				title = "expert"
			}
			if err := g.insert(ctx, "doctors", "id, department_id, name, title", id, d, fmt.Sprintf("Doctor %d", id), title); err != nil {
				return err
			}
		}
	}
	for i := 1; i <= staffCount; i++ {
		role := []string{"registrar", "nurse", "doctor", "kiosk"}[i%4]
		if err := g.insert(ctx, "staff", "id, username, name, role, password_hash", i, fmt.Sprintf("staff%d", i), fmt.Sprintf("Staff %d", i), role, "!"); err != nil {
			return err
		}
	}
	return nil
}

var surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
var given = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕建国志强文辉力")

// people creates the year's patients, two to an account, personal fields
// sealed and indexed by the real vault.
func (g *gen) people(ctx context.Context) error {
	n := int64(g.o.PerDay) * patientsPerPerDay
	if d := int64(g.o.Days) * int64(g.o.PerDay); d < n {
		n = d
	}
	at := g.o.Start.Add(-24 * time.Hour).UnixMilli()
	for p := int64(1); p <= n; p++ {
		acct := (p + 1) / 2
		if p%2 == 1 {
			phone := fmt.Sprintf("13%09d", acct)
			ref := fmt.Sprintf("%024x", uint64(acct)*0x9e3779b97f4a7c15)
			sealed, err := g.v.Seal(vault.Field{Table: "accounts", Row: ref, Column: "phone"}, phone)
			if err != nil {
				return err
			}
			if err := g.insert(ctx, "accounts", "id, ref, phone_index, phone_sealed, created_ms", acct, ref, g.v.Index("phone", phone), sealed, at); err != nil {
				return err
			}
			g.st.Accounts++
		}
		birth := time.Date(1940+int(p%80), time.Month(1+p%12), 1+int(p%28), 0, 0, 0, 0, time.UTC)
		// Region and sequence vary with p so that every ID is distinct.
		first := fmt.Sprintf("%06d%s%03d", 110000+p/1000%890000, birth.Format("20060102"), p%1000)
		idNumber := first + string(fairslot.ResidentCheckDigit(first))
		name := string(surnames[g.rng.IntN(len(surnames))]) + string(given[g.rng.IntN(len(given))])
		if g.rng.IntN(2) == 0 {
			name += string(given[g.rng.IntN(len(given))])
		}
		phone := fmt.Sprintf("15%09d", p)
		ref := fmt.Sprintf("%024x", uint64(p)*0xbf58476d1ce4e5b9)
		field := func(c string) vault.Field { return vault.Field{Table: "patients", Row: ref, Column: c} }
		var sealed [4][]byte
		for i, f := range [][2]string{{"name", name}, {"id_number", idNumber}, {"phone", phone}, {"birth_date", birth.Format(time.DateOnly)}} {
			var err error
			if sealed[i], err = g.v.Seal(field(f[0]), f[1]); err != nil {
				return err
			}
		}
		if err := g.insert(ctx, "patients", "id, ref, id_type, id_index, id_sealed, name_sealed, phone_index, phone_sealed, birth_sealed, created_ms",
			p, ref, string(fairslot.IDResident), g.v.Index("id:"+string(fairslot.IDResident), idNumber), sealed[1], sealed[0],
			g.v.Index("phone", phone), sealed[2], sealed[3], at); err != nil {
			return err
		}
		if err := g.insert(ctx, "bindings", "account_id, patient_id, created_ms", acct, p, at); err != nil {
			return err
		}
		if err := g.event(ctx, at, audit.Ref("account", acct), "patient.create", audit.Ref("patient", p), `{"id_type":"cn_resident"}`); err != nil {
			return err
		}
		g.st.Patients++
	}
	g.patients, g.accounts = n, (n+1)/2
	return g.endDay(ctx, at)
}

// codeAlphabet is the application's booking-code alphabet.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// code maps a booking id to a distinct 8-character code: multiplying by an
// odd number is a bijection modulo 2^40 = 32^8.
func code(id int64) string {
	x := uint64(id) * 0x5bd1e9955bd1e995 & (1<<40 - 1)
	var b [8]byte
	for i := range b {
		b[i] = codeAlphabet[x&31]
		x >>= 5
	}
	return string(b[:])
}

// day books PerDay outpatients into the day's 200 sessions: most book
// online and are seen (six audit records), some walk in at the desk
// (three), some do not come (four) and some cancel and are refunded (six).
func (g *gen) day(ctx context.Context, day int) error {
	date := g.o.Start.AddDate(0, 0, day)
	ds := date.Format(time.DateOnly)
	perSession := g.o.PerDay / sessionsPerDay
	slotLen := 4 * time.Hour / time.Duration(perSession)
	bookingID := int64(day)*int64(sessionsPerDay*perSession) + 1
	for s := range sessionsPerDay {
		sessID := int64(day)*sessionsPerDay + int64(s) + 1
		doctor := int64(s/2) + 1
		dept := (doctor-1)/doctorsPerDept + 1
		period, start := "morning", date.Add(8*time.Hour)
		if s%2 == 1 {
			period, start = "afternoon", date.Add(13*time.Hour+30*time.Minute)
		}
		fee := int64(1000 + 4000*btoi(doctor%doctorsPerDept == 1))
		if err := g.insert(ctx, "sessions", "id, doctor_id, department_id, date, period, start_ms, end_ms, room, fee_cents",
			sessID, doctor, dept, ds, period, start.UnixMilli(), start.Add(4*time.Hour).UnixMilli(), fmt.Sprintf("R%03d", doctor), fee); err != nil {
			return err
		}
		ticket := int64(0)
		for k := range perSession {
			slotID := sessID*int64(perSession) - int64(perSession) + int64(k) + 1
			slotStart := start.Add(time.Duration(k) * slotLen)
			if err := g.insert(ctx, "slots", "id, session_id, number, start_ms, end_ms, quota", slotID, sessID, k+1,
				slotStart.UnixMilli(), slotStart.Add(slotLen).UnixMilli(), "general"); err != nil {
				return err
			}
			id := bookingID
			bookingID++
			patient := 1 + g.rng.Int64N(g.patients)
			acct := (patient + 1) / 2
			booked := slotStart.Add(-time.Duration(1+g.rng.IntN(7*24)) * time.Hour)
			if err := g.booking(ctx, id, slotID, sessID, dept, ds, patient, acct, fee, booked, slotStart, &ticket); err != nil {
				return err
			}
		}
	}
	return g.endDay(ctx, date.Add(20*time.Hour).UnixMilli())
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (g *gen) booking(ctx context.Context, id, slot, sess, dept int64, date string, patient, acct, fee int64, booked, slotStart time.Time, ticket *int64) error {
	kind := g.rng.IntN(100)
	subject := audit.Ref("booking", id)
	account := audit.Ref("account", acct)
	desk := audit.Ref("staff", 1+int64(g.rng.IntN(staffCount)))
	doctor := audit.Ref("staff", 1+int64(g.rng.IntN(staffCount)))
	slotNo := strconv.FormatInt((slot-1)%int64(g.o.PerDay/sessionsPerDay)+1, 10)
	payKey := fmt.Sprintf("pay-%d", id)
	ref := fmt.Sprintf("sandbox-%d", id)
	feeS := strconv.FormatInt(fee, 10)
	channel, status := "online", "completed"
	var accountID any = acct
	var requestKey any = fmt.Sprintf("rk-%d", id)
	var cancelledBy any
	at := booked.UnixMilli()
	checkin := slotStart.Add(-time.Duration(g.rng.IntN(30)) * time.Minute).UnixMilli()
	called := slotStart.Add(time.Duration(g.rng.IntN(20)) * time.Minute).UnixMilli()
	done := called + int64(3+g.rng.IntN(12))*60_000
	updated := done
	type ev struct {
		at             int64
		actor, action  string
		detail         string
		seen, paid, tk bool
	}
	hold := `{"patient":"` + strconv.FormatInt(patient, 10) + `","session":"` + strconv.FormatInt(sess, 10) + `","slot":"` + slotNo + `"}`
	start := `{"amount_cents":"` + feeS + `","payment":"` + payKey + `","provider":"sandbox"}`
	pay := `{"amount_cents":"` + feeS + `","payment":"` + payKey + `","provider":"sandbox","provider_ref":"` + ref + `"}`
	var evs []ev
	online := []ev{{at, account, "booking.hold", hold, false, false, false}, {at + 20_000, account, "payment.start", start, false, false, false},
		{at + 45_000, account, "booking.pay", pay, false, true, false}}
	switch {
	case kind < 75: // booked online, seen
		evs = append(online, ev{checkin, desk, "booking.check_in", "", false, false, true}, ev{called, doctor, "queue.call", "", true, false, false},
			ev{done, doctor, "queue.complete", "", false, false, false})
	case kind < 90: // walked in at the desk, seen
		channel, accountID, requestKey = "on_site", nil, nil
		at = checkin
		evs = []ev{{checkin, desk, "booking.walk_in", hold, false, true, true}, {called, doctor, "queue.call", "", true, false, false},
			{done, doctor, "queue.complete", "", false, false, false}}
	case kind < 95: // booked online, did not come
		status, updated = "no_show", slotStart.Add(4*time.Hour).UnixMilli()
		evs = append(online, ev{updated, "system", "booking.no_show", "", false, false, false})
	default: // booked online, cancelled, refunded
		c := at + int64(1+g.rng.IntN(24))*3_600_000
		status, cancelledBy, updated = "cancelled", "patient", c+5_000
		evs = append(online, ev{c, account, "booking.cancel", `{"was":"confirmed"}`, false, false, false},
			ev{c + 1, account, "payment.refunding", `{"payment":"` + payKey + `","reason":"cancelled","was":"settled"}`, false, false, false},
			ev{c + 5_000, "system", "payment.refunded", `{"payment":"` + payKey + `"}`, false, false, false})
	}
	if err := g.insert(ctx, "bookings", "id, code, slot_id, session_id, department_id, date, patient_id, account_id, channel, status, held_until_ms, fee_cents, missed_calls, request_key, cancelled_by, created_ms, updated_ms, priority",
		id, code(id), slot, sess, dept, date, patient, accountID, channel, status, nil, fee, 0, requestKey, cancelledBy, at, updated, nil); err != nil {
		return err
	}
	g.st.Bookings++
	// Each session of a department's day its own ticket prefix, as IssueTicket gives.
	prefix := fairslot.TicketPrefix(int((sess - 1) % (doctorsPerDept * 2)))
	for _, e := range evs {
		detail := e.detail
		switch {
		case e.tk:
			*ticket++
			label := fairslot.Ticket{Prefix: prefix, Number: int(*ticket)}.Label()
			if detail == "" {
				detail = `{"ticket":"` + label + `"}`
			}
			if err := g.insert(ctx, "tickets", "booking_id, session_id, department_id, date, prefix, number, position, issued_ms",
				id, sess, dept, date, prefix, *ticket, float64(*ticket), e.at); err != nil {
				return err
			}
			g.st.Tickets++
		case e.seen:
			detail = `{"ticket":"` + fairslot.Ticket{Prefix: prefix, Number: int(*ticket)}.Label() + `"}`
			if err := g.insert(ctx, "calls", "session_id, booking_id, priority, at_ms", sess, id, 0, e.at); err != nil {
				return err
			}
		case e.action == "queue.complete" && detail == "":
			detail = `{"ticket":"` + fairslot.Ticket{Prefix: prefix, Number: int(*ticket)}.Label() + `"}`
		}
		if e.paid {
			pstatus := "settled"
			if status == "cancelled" {
				pstatus = "refunded"
			}
			if err := g.insert(ctx, "payments", "key, booking_id, amount_cents, provider, provider_ref, status, attempts, created_ms, updated_ms",
				payKey, id, fee, "sandbox", ref, pstatus, 1, e.at, updated); err != nil {
				return err
			}
			g.st.Payments++
		}
		if detail == "" {
			detail = "{}"
		}
		if err := g.event(ctx, e.at, e.actor, e.action, subject, detail); err != nil {
			return err
		}
	}
	return nil
}

// event inserts one audit record and adds it to the tree as the leader
// would number it (leaf = seq - 1 on the single writer).
func (g *gen) event(ctx context.Context, at int64, actor, action, subject, detail string) error {
	g.seq++
	rid := ""
	if g.seq%5 != 0 {
		rid = fmt.Sprintf("%016x", uint64(g.seq)*0x94d049bb133111eb)
	}
	if err := g.insert(ctx, "audit_events", "seq, at_ms, actor, action, subject, detail, request_id", g.seq, at, actor, action, subject, detail, rid); err != nil {
		return err
	}
	if err := g.insert(ctx, "audit_leaves", "leaf, seq", g.seq-1, g.seq); err != nil {
		return err
	}
	g.leafBuf = audit.AppendCanonical(g.leafBuf[:0], g.seq, at, actor, action, subject, detail, rid)
	g.push(tlog.RecordHash(g.leafBuf))
	g.st.AuditEvents++
	return nil
}

// push adds a leaf hash to the tree and appends the stored hashes tlog
// keeps for it: the leaf, then each interior node it completes, at
// consecutive stored-hash indexes.
func (g *gen) push(h tlog.Hash) {
	g.hashes = append(g.hashes, h[:]...)
	g.edge, g.levels = append(g.edge, h), append(g.levels, 0)
	for n := len(g.edge); n >= 2 && g.levels[n-1] == g.levels[n-2]; n = len(g.edge) {
		p := tlog.NodeHash(g.edge[n-2], g.edge[n-1])
		g.hashes = append(g.hashes, p[:]...)
		g.edge[n-2], g.levels[n-2] = p, g.levels[n-2]+1
		g.edge, g.levels = g.edge[:n-1], g.levels[:n-1]
	}
}

func (g *gen) root() tlog.Hash {
	if len(g.edge) == 0 {
		return tlog.Hash(sha256.Sum256(nil))
	}
	h := g.edge[len(g.edge)-1]
	for i := len(g.edge) - 2; i >= 0; i-- {
		h = tlog.NodeHash(g.edge[i], h)
	}
	return h
}

// endDay stores the day's tree hashes as one run (as the leader stores a
// batch's), signs and stores a checkpoint of the tree, and commits.
func (g *gen) endDay(ctx context.Context, at int64) error {
	if len(g.hashes) > 0 {
		if err := g.insert(ctx, "audit_hashes", "idx, hashes", g.hashIndex, g.hashes); err != nil {
			return err
		}
		g.hashIndex += int64(len(g.hashes) / 32)
		g.hashes = nil
		if want := tlog.StoredHashCount(g.seq); g.hashIndex != want {
			return fmt.Errorf("stored %d hashes for %d leaves, tlog keeps %d", g.hashIndex, g.seq, want)
		}
	}
	if g.seq > 0 {
		msg, err := merkle.Sign(merkle.Checkpoint{Origin: g.signer.Name(), Size: g.seq, Hash: g.root()}, g.signer)
		if err != nil {
			return err
		}
		if err := g.insert(ctx, "audit_checkpoints", "size, note, created_ms", g.seq, string(msg), at); err != nil {
			return err
		}
		g.st.Checkpoints++
	}
	if err := g.commit(ctx); err != nil {
		return err
	}
	g.batches = map[string]*batch{}
	return g.begin(ctx)
}
