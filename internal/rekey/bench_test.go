package rekey_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/rekey"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

const benchPatients = 5000

// writePatients writes n patients with an account each, sealed and indexed
// under v, in transactions of 200: the baseline a rotation is compared to.
func writePatients(b *testing.B, st storage.Store, v *vault.Vault, from, n int) {
	for lo := from; lo < from+n; lo += 200 {
		err := st.Update(ctx, func(tx storage.Tx) error {
			for i := lo; i < min(lo+200, from+n); i++ {
				id, phone, ref := fmt.Sprintf("E%08d", i), fmt.Sprintf("139%08d", i), fmt.Sprintf("r%d", i)
				p := storage.PatientRecord{Ref: ref, IDType: fairslot.IDPassport, IDIndex: v.Index("id:passport", id),
					PhoneIndex: v.Index("phone", phone), CreatedAt: time.Now()}
				p.IDSealed, _ = v.Seal(patientField(ref, "id_number"), id)
				p.NameSealed, _ = v.Seal(patientField(ref, "name"), "Name "+ref)
				p.PhoneSealed, _ = v.Seal(patientField(ref, "phone"), phone)
				if err := tx.CreatePatient(ctx, &p); err != nil {
					return err
				}
				a := storage.AccountRecord{Ref: "a" + ref, PhoneIndex: v.Index("phone", phone), CreatedAt: time.Now()}
				a.PhoneSealed, _ = v.Seal(vault.Field{Table: "accounts", Row: a.Ref, Column: "phone"}, phone)
				if err := tx.CreateAccount(ctx, &a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRekey: one rotation's whole background work (re-seal of four
// sealed values and rebuild of three blind indexes per patient and account,
// then the confirming pass) against writing the same rows afresh, on the
// embedded store. The ratio is in BENCHMARKS.md.
func BenchmarkRekey(b *testing.B) {
	b.Run("write", func(b *testing.B) {
		v, _ := vault.Open(filepath.Join(b.TempDir(), "keyset.json"))
		st := sqliteStoreB(b)
		n := 0
		for b.Loop() {
			writePatients(b, st, v, n, benchPatients)
			n += benchPatients
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/5000-patients")
	})
	b.Run("rotate", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "keyset.json")
		v, _ := vault.Open(path)
		st := sqliteStoreB(b)
		writePatients(b, st, v, 0, benchPatients)
		job := rekey.Job{Store: st, Vault: v}
		for b.Loop() {
			vault.Rotate(path, time.Now())
			v.Reload()
			for {
				r, err := job.Run(ctx)
				if err != nil || r.Failed > 0 {
					b.Fatal(r, err)
				}
				if r.Changed == 0 {
					break
				}
			}
			b.StopTimer()
			checked, _ := vault.ReadStatus(path)
			vault.Prune(path, checked, vault.Sealing, vault.Index) // the next loop starts from one key
			v.Reload()
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/5000-patients")
	})
}
