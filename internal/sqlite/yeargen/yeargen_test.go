package yeargen_test

import (
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/sqlite/yeargen"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// TestGenerate: two small days come out as the storage layer reads them —
// the counts add up, the stored hashes give the signed checkpoint's root,
// the verifier passes every record against every checkpoint, and a sealed
// field opens with the keyset.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data, keyset := filepath.Join(dir, "data"), filepath.Join(dir, "keyset.json")
	got, err := yeargen.Generate(ctx, yeargen.Options{DataDir: data, Keyset: keyset, Days: 2, PerDay: 1600})
	if err != nil {
		t.Fatal(err)
	}
	if got.Bookings != 3200 || got.AuditEvents < got.Bookings*3 || got.Checkpoints != 3 {
		t.Fatalf("stats %+v", got)
	}
	st, err := sqlite.Open(data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int64{"bookings": got.Bookings, "audit_events": got.AuditEvents, "audit_leaves": got.AuditEvents,
		"patients": got.Patients, "accounts": got.Accounts, "payments": got.Payments, "tickets": got.Tickets, "audit_checkpoints": 3} {
		if counts[table] != want {
			t.Errorf("%s: %d rows, want %d", table, counts[table], want)
		}
	}
	skey, err := vault.AuditSigningKey(keyset)
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := merkle.VerifierKey(skey)
	verifier, _ := note.NewVerifier(vkey)
	latest, err := merkle.Latest(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	c, err := merkle.Open(latest, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != got.AuditEvents {
		t.Errorf("checkpoint of %d records, want %d", c.Size, got.AuditEvents)
	}
	st.View(ctx, func(tx storage.Tx) error {
		root, err := tlog.TreeHash(c.Size, merkle.StoredHashes(ctx, tx))
		if err != nil || root != c.Hash {
			t.Errorf("root from the stored hashes %v (%v), the checkpoint's %v", root, err, c.Hash)
		}
		// A consistency proof between two days' checkpoints reads stored
		// hashes of inner nodes too.
		p, err := tlog.ProveTree(c.Size, 1000, merkle.StoredHashes(ctx, tx))
		if err != nil {
			t.Errorf("prove: %v", err)
		}
		old, _ := tlog.TreeHash(1000, merkle.StoredHashes(ctx, tx))
		if err := tlog.CheckTree(p, c.Size, c.Hash, 1000, old); err != nil {
			t.Errorf("check tree: %v", err)
		}
		return nil
	})
	rep, err := (&merkle.Verifier{Store: st, Key: verifier}).Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Size != got.AuditEvents || len(rep.Trusted) != 3 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	v, err := vault.Open(keyset)
	if err != nil {
		t.Fatal(err)
	}
	st.View(ctx, func(tx storage.Tx) error {
		p, err := tx.Patient(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		name, err := v.Open(vault.Field{Table: "patients", Row: p.Ref, Column: "name"}, p.NameSealed)
		if err != nil || name == "" {
			t.Errorf("patient 7's name: %q %v", name, err)
		}
		return nil
	})
	if _, err := yeargen.Generate(ctx, yeargen.Options{DataDir: data, Keyset: keyset, Days: 1, PerDay: 1600}); err == nil {
		t.Error("generated into a directory that holds a database")
	}
}
