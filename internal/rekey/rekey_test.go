package rekey_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/rekey"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

var ctx = context.Background()

func TestRotationSQLite(t *testing.T) {
	st := sqliteStore(t)
	testRotation(t, st, st)
}

// sqliteStore is a migrated embedded store, closed after the test.
func sqliteStore(t *testing.T) storage.Store { return sqliteStoreB(t) }

func sqliteStoreB(t testing.TB) storage.Store {
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// On PostgreSQL the rows are written as the online role and re-keyed as
// the rekey role, whose functions are the only way to change them.
func TestRotationPostgres(t *testing.T) {
	pgtest.Require(t)
	admin, as := pgtest.Fresh(t)
	owner, err := postgres.Open(ctx, admin, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := owner.SetupRoles(ctx); err != nil {
		t.Fatal(err)
	}
	owner.Close()
	open := func(role string) storage.Store {
		st, err := postgres.Open(ctx, as(role), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	testRotation(t, open(postgres.OnlineRole), open(postgres.RekeyRole))
}

type person struct {
	rec   storage.PatientRecord
	id    string
	phone string
	acct  storage.AccountRecord
}

func patientField(ref, col string) vault.Field {
	return vault.Field{Table: "patients", Row: ref, Column: col}
}

// testRotation seals real values, rotates both keys, and checks that the
// job brings every sealed value and index to the new keys while old and
// new values stay readable, that Check tracks what is left, and that after a
// prune everything still opens and is found.
func testRotation(t *testing.T, st, rk storage.Store) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	v, err := vault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 23 // not a multiple of the batch
	people := make([]person, n)
	create := func(i int) {
		p := &people[i]
		p.id, p.phone = fmt.Sprintf("E%08d", i), fmt.Sprintf("139%08d", i)
		ref := fmt.Sprintf("ref%03d", i)
		p.rec = storage.PatientRecord{Ref: ref, IDType: fairslot.IDPassport, IDIndex: v.Index("id:passport", p.id),
			PhoneIndex: v.Index("phone", p.phone), CreatedAt: time.Now()}
		p.rec.IDSealed, _ = v.Seal(patientField(ref, "id_number"), p.id)
		p.rec.NameSealed, _ = v.Seal(patientField(ref, "name"), fmt.Sprintf("Name %d", i))
		p.rec.PhoneSealed, _ = v.Seal(patientField(ref, "phone"), p.phone)
		p.acct = storage.AccountRecord{Ref: "a" + ref, PhoneIndex: v.Index("phone", p.phone), CreatedAt: time.Now()}
		p.acct.PhoneSealed, _ = v.Seal(vault.Field{Table: "accounts", Row: p.acct.Ref, Column: "phone"}, p.phone)
		err := st.Update(ctx, func(tx storage.Tx) error {
			if err := tx.CreatePatient(ctx, &p.rec); err != nil {
				return err
			}
			return tx.CreateAccount(ctx, &p.acct)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		create(i)
	}
	job := rekey.Job{Store: rk, Vault: v, Batch: 7}
	if s, err := job.Check(ctx); err != nil || s.StaleTotal() != 0 || !s.IndexVerified {
		t.Fatalf("before any rotation: %+v, %v", s, err)
	}
	if _, err := vault.Rotate(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	if changed, err := v.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	for i := 20; i < n; i++ {
		create(i) // under the new keys
	}
	s, err := job.Check(ctx)
	if err != nil || s.Stale["patients.id_sealed"] != 20 || s.Stale["accounts.phone_sealed"] != 20 || s.IndexVerified {
		t.Fatalf("after the rotation: %+v, %v", s, err)
	}
	// Before the job: found under the old index key, opened under the old
	// sealing key.
	find := func(p person) (storage.PatientRecord, error) {
		var rec storage.PatientRecord
		err := st.View(ctx, func(tx storage.Tx) error {
			err := fmt.Errorf("not found")
			for _, idx := range v.Indexes("id:passport", p.id) {
				if rec, err = tx.PatientByIdentity(ctx, fairslot.IDPassport, idx); err == nil {
					break
				}
			}
			return err
		})
		return rec, err
	}
	check := func(when string) {
		t.Helper()
		for _, p := range people {
			rec, err := find(p)
			if err != nil {
				t.Fatalf("%s: patient %s not found: %v", when, p.rec.Ref, err)
			}
			if got, err := v.Open(patientField(rec.Ref, "id_number"), rec.IDSealed); err != nil || got != p.id {
				t.Fatalf("%s: patient %s id opens to %q, %v", when, p.rec.Ref, got, err)
			}
		}
	}
	check("before the job")
	r, err := job.Run(ctx)
	if err != nil || r.Failed != 0 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	// 20 patients × 3 sealed columns + 20 accounts, then 20 × 2 patient
	// indexes + 20 account indexes.
	if want := 20*3 + 20 + 20*3; r.Changed != want {
		t.Errorf("first run changed %d, want %d", r.Changed, want)
	}
	s, _ = job.Check(ctx)
	if s.StaleTotal() != 0 || s.IndexVerified {
		t.Errorf("after one run: %+v (the index key is verified only by a pass that changes nothing)", s)
	}
	if r, err := job.Run(ctx); err != nil || r.Changed != 0 {
		t.Fatalf("second run = %+v, %v", r, err)
	}
	if s, _ = job.Check(ctx); s.StaleTotal() != 0 || !s.IndexVerified {
		t.Errorf("after the confirming run: %+v", s)
	}
	checked, _ := vault.ReadStatus(path)
	if _, err := vault.Prune(path, checked, vault.Sealing, vault.Index); err != nil {
		t.Fatal(err)
	}
	if changed, err := v.Reload(); !changed || err != nil {
		t.Fatalf("Reload after prune = %v, %v", changed, err)
	}
	if len(v.Indexes("id:passport", "x")) != 1 {
		t.Fatal("the pruned keyset still has two index keys")
	}
	check("after the prune")
	// Accounts are found by phone under the one key left.
	st.View(ctx, func(tx storage.Tx) error {
		for _, p := range people {
			a, err := tx.AccountByPhone(ctx, v.Index("phone", p.phone))
			if err != nil {
				t.Errorf("account %s: %v", p.acct.Ref, err)
				continue
			}
			if got, err := v.Open(vault.Field{Table: "accounts", Row: a.Ref, Column: "phone"}, a.PhoneSealed); err != nil || got != p.phone {
				t.Errorf("account %s opens to %q, %v", a.Ref, got, err)
			}
			if !bytes.HasPrefix(a.PhoneSealed, v.SealPrefix()) {
				t.Errorf("account %s is not under the primary key", a.Ref)
			}
		}
		return nil
	})
}

// A value under an older key that does not open (damaged) is counted,
// logged by row, and left as it is; the job goes on with the rest. A value
// under a key the keyset does not hold at all is not the job's: it is left
// alone and not counted as stale.
func TestUnopenableValueIsReportedNotFatal(t *testing.T) {
	st := sqliteStore(t)
	path := filepath.Join(t.TempDir(), "keyset.json")
	v, _ := vault.Open(path)
	other, _ := vault.Open(filepath.Join(t.TempDir(), "other.json"))
	good := storage.AccountRecord{Ref: "good", PhoneIndex: v.Index("phone", "1"), CreatedAt: time.Now()}
	good.PhoneSealed, _ = v.Seal(vault.Field{Table: "accounts", Row: "good", Column: "phone"}, "13900000001")
	bad := storage.AccountRecord{Ref: "bad", PhoneIndex: v.Index("phone", "2"), CreatedAt: time.Now()}
	bad.PhoneSealed, _ = v.Seal(vault.Field{Table: "accounts", Row: "bad", Column: "phone"}, "13900000002")
	bad.PhoneSealed[len(bad.PhoneSealed)-1] ^= 1
	foreign := storage.AccountRecord{Ref: "foreign", PhoneIndex: v.Index("phone", "3"), CreatedAt: time.Now()}
	foreign.PhoneSealed, _ = other.Seal(vault.Field{Table: "accounts", Row: "foreign", Column: "phone"}, "13900000003")
	st.Update(ctx, func(tx storage.Tx) error {
		tx.CreateAccount(ctx, &bad)
		tx.CreateAccount(ctx, &foreign)
		return tx.CreateAccount(ctx, &good)
	})
	vault.Rotate(path, time.Now(), vault.Sealing)
	v.Reload()
	r, err := rekey.Job{Store: st, Vault: v}.Reseal(ctx)
	if err != nil || r.Failed != 1 || r.Changed != 1 {
		t.Fatalf("Reseal = %+v, %v; want 1 failed, 1 changed", r, err)
	}
	s, _ := rekey.Job{Store: st, Vault: v}.Check(ctx)
	if s.Stale["accounts.phone_sealed"] != 1 {
		t.Errorf("stale = %+v; the unopenable value stays counted, so prune refuses", s.Stale)
	}
}

// A job leader whose keyset is only staged (not yet promoted, as while a
// copied keyset is handed round) leaves alone what promoted nodes wrote
// under the newer keys: it never re-seals or re-indexes back to its older
// primary.
func TestStagedLeaderLeavesNewerKeysAlone(t *testing.T) {
	st := sqliteStore(t)
	staged := filepath.Join(t.TempDir(), "keyset.json")
	vault.Open(staged)
	vault.Stage(staged)
	promoted := filepath.Join(t.TempDir(), "keyset.json")
	raw, _ := os.ReadFile(staged)
	os.WriteFile(promoted, raw, 0o600)
	vault.Promote(promoted, time.Now())
	vs, _ := vault.Open(staged)
	vp, _ := vault.Open(promoted)
	a := storage.AccountRecord{Ref: "new", PhoneIndex: vp.Index("phone", "13900000001"), CreatedAt: time.Now()}
	a.PhoneSealed, _ = vp.Seal(vault.Field{Table: "accounts", Row: "new", Column: "phone"}, "13900000001")
	st.Update(ctx, func(tx storage.Tx) error { return tx.CreateAccount(ctx, &a) })
	r, err := rekey.Job{Store: st, Vault: vs}.Run(ctx)
	if err != nil || r != (rekey.Result{}) {
		t.Errorf("the staged leader's run = %+v, %v; want nothing done", r, err)
	}
	st.View(ctx, func(tx storage.Tx) error {
		got, err := tx.AccountByPhone(ctx, a.PhoneIndex)
		if err != nil || !bytes.Equal(got.PhoneSealed, a.PhoneSealed) {
			t.Errorf("the promoted node's row changed: %+v, %v", got, err)
		}
		return nil
	})
}

// A rotation followed, before the job has run, by the next rotation's
// staged key: the rows under the oldest key are still the job's (a staged
// key is no reason to think the indexes rebuilt), and once it is done a
// prune drops the oldest key only — every row is found after it.
func TestStagedKeyDoesNotHideOldRows(t *testing.T) {
	st := sqliteStore(t)
	path := filepath.Join(t.TempDir(), "keyset.json")
	v, _ := vault.Open(path)
	a := storage.AccountRecord{Ref: "a", PhoneIndex: v.Index("phone", "13900000001"), CreatedAt: time.Now()}
	a.PhoneSealed, _ = v.Seal(vault.Field{Table: "accounts", Row: "a", Column: "phone"}, "13900000001")
	st.Update(ctx, func(tx storage.Tx) error { return tx.CreateAccount(ctx, &a) })
	vault.Rotate(path, time.Now())
	vault.Stage(path)
	v.Reload()
	job := rekey.Job{Store: st, Vault: v}
	if s, err := job.Check(ctx); err != nil || s.IndexVerified || s.StaleTotal() != 1 {
		t.Fatalf("with the first rotation not yet done and the next staged: %+v, %v; want 1 stale, indexes not verified", s, err)
	}
	for {
		r, err := job.Run(ctx)
		if err != nil || r.Failed > 0 {
			t.Fatal(r, err)
		}
		if r.Changed == 0 {
			break
		}
	}
	if s, _ := job.Check(ctx); !s.IndexVerified || s.StaleTotal() != 0 {
		t.Fatalf("after the job: %+v", s)
	}
	checked, _ := vault.ReadStatus(path)
	st0, err := vault.Prune(path, checked, vault.Sealing, vault.Index)
	if err != nil || len(st0.Index.Keys) != 2 || len(st0.Seal.Keys) != 2 {
		t.Fatalf("Prune = %+v, %v; want the primary and the staged key kept", st0, err)
	}
	v.Reload()
	st.View(ctx, func(tx storage.Tx) error {
		got, err := tx.AccountByPhone(ctx, v.Index("phone", "13900000001"))
		if err != nil || got.ID != a.ID {
			t.Errorf("after the prune the account is not found under the primary index: %+v, %v", got, err)
		}
		if p, err := v.Open(vault.Field{Table: "accounts", Row: "a", Column: "phone"}, got.PhoneSealed); err != nil || p != "13900000001" {
			t.Errorf("after the prune the phone opens to %q, %v", p, err)
		}
		return nil
	})
}

// The staged procedure with a copy per node: the leader promotes and
// verifies while node B, still on the staged copy, writes under the old
// index key. B's report keeps the indexes unverified (and prune refused)
// until B has the promoted keyset and a whole pass has run after that —
// which moves B's row — so no identity is lost or doubled by the prune.
func TestALaggingNodeHoldsTheIndexesUnverified(t *testing.T) {
	st := sqliteStore(t)
	staged := filepath.Join(t.TempDir(), "keyset.json")
	vault.Open(staged)
	vault.Stage(staged, vault.Index)
	promoted := filepath.Join(t.TempDir(), "keyset.json")
	raw, _ := os.ReadFile(staged)
	os.WriteFile(promoted, raw, 0o600)
	vault.Promote(promoted, time.Now(), vault.Index)
	leader, _ := vault.Open(promoted)
	b, _ := vault.Open(staged)
	t0 := time.Now()
	rekey.Report(ctx, st, "leader", leader, t0, t0)
	rekey.Report(ctx, st, "b", b, t0, t0)
	job := rekey.Job{Store: st, Vault: leader}
	run := func() {
		t.Helper()
		for {
			r, err := job.Run(ctx)
			if err != nil || r.Failed > 0 {
				t.Fatal(r, err)
			}
			if r.Changed == 0 {
				return
			}
		}
	}
	run()
	// B, behind, creates an account under the old index key.
	a := storage.AccountRecord{Ref: "b1", PhoneIndex: b.Index("phone", "13900000001"), CreatedAt: time.Now()}
	a.PhoneSealed, _ = b.Seal(vault.Field{Table: "accounts", Row: "b1", Column: "phone"}, "13900000001")
	st.Update(ctx, func(tx storage.Tx) error { return tx.CreateAccount(ctx, &a) })
	if s, _ := job.Check(ctx); s.IndexVerified || len(s.Laggards) != 1 {
		t.Fatalf("with node b on the staged keyset: %+v; want unverified, b lagging", s)
	}
	// B gets the promoted keyset and says so; the next pass moves its row.
	b2, _ := vault.Open(promoted)
	t1 := time.Now()
	rekey.Report(ctx, st, "b", b2, t1, t1)
	run()
	s, _ := job.Check(ctx)
	if !s.IndexVerified || len(s.Laggards) != 0 {
		t.Fatalf("after b caught up and a pass: %+v", s)
	}
	checked, _ := vault.ReadStatus(promoted)
	vault.Prune(promoted, checked, vault.Index)
	leader.Reload()
	st.View(ctx, func(tx storage.Tx) error {
		if got, err := tx.AccountByPhone(ctx, leader.Index("phone", "13900000001")); err != nil || got.ID != a.ID {
			t.Errorf("b's account after the prune: %+v, %v", got, err)
		}
		return nil
	})
}
