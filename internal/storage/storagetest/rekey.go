package storagetest

import (
	"bytes"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// sealedUnder returns a stand-in for a value sealed under key id k: Tink's
// prefix (1, then the id) and opaque bytes.
func sealedUnder(k byte) []byte { return append([]byte{1, 0, 0, 0, k}, random(20)...) }

// testRekey: the re-seal job finds the values not under a key, re-seals them
// only if they are still what it read, counts what is left; the index
// rebuild reads each index with its sealed value and kind and swaps it the
// same way; names outside the schema's lists are refused; an extra slot's
// sealed reason round-trips. s writes the fixtures; rk re-keys (on
// PostgreSQL the rekey role, which may only read and call its functions).
func testRekey(t *testing.T, s, rk storage.Store) {
	f := newFixture(t, s, 2)
	ps := newPatients(t, s, 3)
	names := storage.SealedColumns[2] // patients.name_sealed
	if names.Column != "name_sealed" {
		t.Fatalf("SealedColumns[2] = %+v", names)
	}
	// Put two names under key 7, one under key 9.
	old := []byte(nil)
	update(t, rk, func(tx storage.Tx) error {
		for i, p := range ps {
			k := byte(7)
			if i == 2 {
				k = 9
			}
			v := sealedUnder(k)
			if err := tx.Reseal(ctx, names, p.ID, p.NameSealed, v); err != nil {
				return err
			}
			ps[i].NameSealed = v
		}
		old = ps[0].NameSealed
		return nil
	})
	under7, under9 := [][]byte{{1, 0, 0, 0, 7}}, [][]byte{{1, 0, 0, 0, 9}}
	var got []storage.SealedValue
	update(t, rk, func(tx storage.Tx) error {
		var err error
		got, err = tx.SealedValues(ctx, names, under7, 0, 10)
		return err
	})
	if len(got) != 2 || got[0].ID != ps[0].ID || got[1].ID != ps[1].ID || got[0].Row != ps[0].Ref || !bytes.Equal(got[0].Value, old) {
		t.Fatalf("SealedValues(under 7) = %+v", got)
	}
	update(t, rk, func(tx storage.Tx) error {
		if page, err := tx.SealedValues(ctx, names, under7, ps[0].ID, 1); err != nil || len(page) != 1 || page[0].ID != ps[1].ID {
			t.Errorf("SealedValues after the first, limit 1 = %+v, %v", page, err)
		}
		if n, err := tx.CountSealed(ctx, names, under7); err != nil || n != 2 {
			t.Errorf("CountSealed = %d, %v; want 2", n, err)
		}
		if n, err := tx.CountSealed(ctx, names, append(under7, under9...)); err != nil || n != 3 {
			t.Errorf("CountSealed under 7 or 9 = %d, %v; want 3", n, err)
		}
		if n, err := tx.CountSealed(ctx, names, nil); err != nil || n != 0 {
			t.Errorf("CountSealed under no key = %d, %v; want 0", n, err)
		}
		return nil
	})
	// A re-seal swaps only the value read, and only for one under another key.
	fresh := sealedUnder(9)
	update(t, rk, func(tx storage.Tx) error {
		if err := tx.Savepoint(ctx, func() error { return tx.Reseal(ctx, names, ps[0].ID, sealedUnder(7), fresh) }); fairslot.ErrorKind(err) != fairslot.Conflict {
			t.Errorf("Reseal of a value that changed since read = %v, want Conflict", err)
		}
		if err := tx.Savepoint(ctx, func() error { return tx.Reseal(ctx, names, ps[0].ID, old, append([]byte{1, 0, 0, 0, 7}, 1, 2, 3)) }); err == nil {
			t.Error("a re-seal under the same key was accepted: it would be a general overwrite")
		}
		return tx.Reseal(ctx, names, ps[0].ID, old, fresh)
	})
	update(t, rk, func(tx storage.Tx) error {
		if n, err := tx.CountSealed(ctx, names, under7); err != nil || n != 1 {
			t.Errorf("CountSealed after a re-seal = %d, %v; want 1", n, err)
		}
		p, err := tx.Patient(ctx, ps[0].ID)
		if err != nil || !bytes.Equal(p.NameSealed, fresh) || !bytes.Equal(p.IDSealed, ps[0].IDSealed) {
			t.Errorf("after a re-seal the row reads %+v, %v", p, err)
		}
		return nil
	})

	// The index rebuild.
	ids := storage.IndexedColumns[1] // patients.id_index
	var iv []storage.IndexedValue
	update(t, rk, func(tx storage.Tx) error {
		var err error
		iv, err = tx.IndexedValues(ctx, ids, 0, 10)
		return err
	})
	if len(iv) != 3 || iv[0].ID != ps[0].ID || iv[0].Row != ps[0].Ref || iv[0].Kind != "id:"+string(fairslot.IDResident) ||
		!bytes.Equal(iv[0].Sealed, ps[0].IDSealed) || !bytes.Equal(iv[0].Index, ps[0].IDIndex) {
		t.Fatalf("IndexedValues = %+v", iv)
	}
	newIndex := random(16)
	update(t, rk, func(tx storage.Tx) error {
		if err := tx.Savepoint(ctx, func() error { return tx.Reindex(ctx, ids, ps[0].ID, random(16), newIndex) }); fairslot.ErrorKind(err) != fairslot.Conflict {
			t.Errorf("Reindex of an index that changed = %v, want Conflict", err)
		}
		return tx.Reindex(ctx, ids, ps[0].ID, ps[0].IDIndex, newIndex)
	})
	update(t, rk, func(tx storage.Tx) error {
		if p, err := tx.PatientByIdentity(ctx, fairslot.IDResident, newIndex); err != nil || p.ID != ps[0].ID {
			t.Errorf("look-up under the rebuilt index = %+v, %v", p, err)
		}
		phones, err := tx.IndexedValues(ctx, storage.IndexedColumns[2], 0, 10)
		if err != nil || len(phones) != 3 || phones[0].Kind != "phone" {
			t.Errorf("patients' phone indexes = %+v, %v", phones, err)
		}
		return nil
	})

	// Names outside the lists never reach SQL.
	update(t, rk, func(tx storage.Tx) error {
		rogue := storage.SealedColumn{Table: "patients", Column: "ref", ID: "id", RowColumn: "ref", Field: "patients", Part: "ref"}
		if _, err := tx.SealedValues(ctx, rogue, under9, 0, 1); err == nil {
			t.Error("SealedValues ran for a column not in SealedColumns")
		}
		if err := tx.Reindex(ctx, storage.IndexedColumn{Column: "ref", Sealed: names}, ps[0].ID, nil, random(16)); err == nil {
			t.Error("Reindex ran for a column not in IndexedColumns")
		}
		return nil
	})

	// Every listed column exists, so the lists and the schema agree one way;
	// each backend's own test checks the other (no *_sealed column unlisted).
	update(t, rk, func(tx storage.Tx) error {
		for _, c := range storage.SealedColumns {
			if _, err := tx.CountSealed(ctx, c, under9); err != nil {
				t.Errorf("%s.%s: %v", c.Table, c.Column, err)
			}
		}
		return nil
	})

	// An extra slot's reason.
	slot := fairslot.Slot{SessionID: f.session.ID, Start: f.session.End.Add(-fairslot.MaxWindow), End: f.session.End, Quota: fairslot.QuotaExtra}
	reason := sealedUnder(9)
	update(t, s, func(tx storage.Tx) error {
		if err := tx.AddSlot(ctx, &slot); err != nil {
			return err
		}
		return tx.InsertExtraSlotReason(ctx, slot.ID, reason)
	})
	update(t, rk, func(tx storage.Tx) error {
		if got, err := tx.ExtraSlotReason(ctx, slot.ID); err != nil || !bytes.Equal(got, reason) {
			t.Errorf("ExtraSlotReason = %x, %v", got, err)
		}
		if _, err := tx.ExtraSlotReason(ctx, slot.ID+1000); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("ExtraSlotReason of no slot = %v, want NotFound", err)
		}
		return nil
	})

	// What the re-keying has done is recorded by the one doing it.
	update(t, rk, func(tx storage.Tx) error { return tx.PutRekeyState(ctx, "keys.index_verified", "42") })
	update(t, s, func(tx storage.Tx) error {
		if v, err := tx.Setting(ctx, "keys.index_verified"); err != nil || v != "42" {
			t.Errorf("rekey state = %q, %v", v, err)
		}
		return nil
	})
}
