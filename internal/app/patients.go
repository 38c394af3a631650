package app

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// PatientInput is a real-name identity as a person types it.
type PatientInput struct {
	Name      string          `json:"name"`
	IDType    fairslot.IDType `json:"id_type"`
	IDNumber  string          `json:"id_number"`
	Phone     string          `json:"phone"`
	BirthDate string          `json:"birth_date,omitempty"` // YYYY-MM-DD; derived from a resident ID
}

// identity is a validated, normalized PatientInput.
type identity struct {
	name, idNumber, phone, birth string
	typ                          fairslot.IDType
}

func (in PatientInput) normalize(country string) (identity, error) {
	var id identity
	var err error
	if id.name, err = fairslot.NormalizeName(in.Name); err != nil {
		return id, err
	}
	id.typ = in.IDType
	if id.idNumber, err = fairslot.NormalizeID(in.IDType, in.IDNumber); err != nil {
		return id, err
	}
	if in.Phone != "" {
		if id.phone, err = fairslot.NormalizePhoneIn(in.Phone, country); err != nil {
			return id, err
		}
	}
	id.birth = in.BirthDate
	if in.IDType == fairslot.IDResident {
		id.birth = id.idNumber[6:10] + "-" + id.idNumber[10:12] + "-" + id.idNumber[12:14]
	}
	if id.birth != "" {
		if _, err := time.Parse(time.DateOnly, id.birth); err != nil {
			return id, fairslot.E(fairslot.Invalid, "error.patient.birth_date", "birth date must be YYYY-MM-DD").On("birth_date")
		}
	}
	return id, nil
}

func patientField(ref, column string) vault.Field {
	return vault.Field{Table: "patients", Row: ref, Column: column}
}

// findOrCreatePatient returns the patient with this identity, creating it
// when new. An existing identity must come with the same name: the real-name
// rule, so no one can claim a stranger's ID number under another name.
func (s *Service) findOrCreatePatient(ctx context.Context, tx storage.Tx, a Actor, id identity) (storage.PatientRecord, bool, error) {
	rec, err := byIndex(s.Vault, "id:"+string(id.typ), id.idNumber, func(i []byte) (storage.PatientRecord, error) {
		return tx.PatientByIdentity(ctx, id.typ, i)
	})
	if err == nil && purged(rec) {
		return s.restorePatient(ctx, tx, a, rec, id) // rights.go
	}
	if err == nil {
		name, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
		if err != nil {
			return rec, false, err
		}
		if subtle.ConstantTimeCompare([]byte(name), []byte(id.name)) != 1 {
			return rec, false, fairslot.E(fairslot.Invalid, "error.patient.name_mismatch", "the name does not match the identity on record")
		}
		return rec, false, nil
	}
	if fairslot.ErrorKind(err) != fairslot.NotFound {
		return rec, false, err
	}
	rec = storage.PatientRecord{Ref: newRef(), IDType: id.typ, IDIndex: s.Vault.Index("id:"+string(id.typ), id.idNumber), CreatedAt: s.now()}
	if id.phone != "" {
		rec.PhoneIndex = s.Vault.Index("phone", id.phone)
	}
	for _, f := range []struct {
		dst    *[]byte
		column string
		value  string
	}{{&rec.NameSealed, "name", id.name}, {&rec.IDSealed, "id_number", id.idNumber}, {&rec.PhoneSealed, "phone", id.phone}, {&rec.BirthSealed, "birth_date", id.birth}} {
		if *f.dst, err = s.Vault.Seal(patientField(rec.Ref, f.column), f.value); err != nil {
			return rec, false, err
		}
	}
	if err := tx.CreatePatient(ctx, &rec); err != nil {
		return rec, false, err
	}
	return rec, true, s.record(ctx, tx, a, "patient.create", fmt.Sprintf("patient:%d", rec.ID), map[string]string{"id_type": string(id.typ)})
}

// patientOnRecord returns the patient on record with this identity and
// name, for an unattended kiosk: it registers no new identity (the desk,
// which sees the card, does), and a new identity and a known one under
// another name get one answer, so a kiosk never tells whether an ID number
// is on record.
func (s *Service) patientOnRecord(ctx context.Context, tx storage.Tx, id identity) (storage.PatientRecord, error) {
	desk := fairslot.E(fairslot.Invalid, "error.walkin.desk", "the kiosk registers only patients already on record, under the name on their ID; please register at the desk")
	rec, err := byIndex(s.Vault, "id:"+string(id.typ), id.idNumber, func(i []byte) (storage.PatientRecord, error) {
		return tx.PatientByIdentity(ctx, id.typ, i)
	})
	switch {
	case fairslot.ErrorKind(err) == fairslot.NotFound:
		return rec, desk
	case err != nil:
		return rec, err
	case purged(rec):
		return rec, desk
	}
	name, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
	if err != nil {
		return rec, err
	}
	if subtle.ConstantTimeCompare([]byte(name), []byte(id.name)) != 1 {
		return rec, desk
	}
	return rec, nil
}

// openPatient decrypts a stored patient into the domain type, unmasked. It
// stays inside this package; views mask it.
func (s *Service) openPatient(rec storage.PatientRecord) (fairslot.Patient, error) {
	p := fairslot.Patient{ID: rec.ID, IDType: rec.IDType, CreatedAt: rec.CreatedAt}
	if purged(rec) {
		return p, nil // erased by the retention purge: nothing to open
	}
	var err error
	for _, f := range []struct {
		dst    *string
		column string
		sealed []byte
	}{{&p.Name, "name", rec.NameSealed}, {&p.IDNumber, "id_number", rec.IDSealed}, {&p.Phone, "phone", rec.PhoneSealed}, {&p.BirthDate, "birth_date", rec.BirthSealed}} {
		if *f.dst, err = s.Vault.Open(patientField(rec.Ref, f.column), f.sealed); err != nil {
			return p, fmt.Errorf("patient %d: %w", rec.ID, err)
		}
	}
	return p, nil
}

// Masked returns p with its personal data masked, as every response and log
// line shows it by default.
func Masked(p fairslot.Patient) fairslot.Patient {
	p.Name, p.IDNumber, p.Phone = vault.MaskName(p.Name), vault.MaskID(p.IDNumber), vault.MaskPhone(p.Phone)
	// Not even the birth year: beside a resident ID's region and last four
	// it left 33 candidate numbers (issue 12 item 6); a family tells its
	// members apart by the masked name and the ID type.
	p.BirthDate = ""
	return p
}

func (s *Service) maskedPatient(rec storage.PatientRecord) (fairslot.Patient, error) {
	p, err := s.openPatient(rec)
	return Masked(p), err
}

// Patients lists the patients bound to the caller's account, masked.
func (s *Service) Patients(ctx context.Context, a Actor) ([]fairslot.Patient, error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	var recs []storage.PatientRecord
	if err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		recs, err = tx.PatientsOf(ctx, a.ID)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]fairslot.Patient, 0, len(recs))
	for _, r := range recs {
		p, err := s.maskedPatient(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// byIndex runs a look-up by the blind index of a normalized value under
// each index key, the primary's first, until one finds the row: after the
// index key rotates, rows not yet rebuilt carry an index under the old key.
// On a miss it reads the keyset file again: another node may already write
// under a key this one has not loaded, and a miss here creates a row.
func byIndex[T any](v *vault.Vault, kind, value string, find func(index []byte) (T, error)) (T, error) {
	try := func() (rec T, err error) {
		err = fairslot.Errorf(fairslot.NotFound, "not found")
		for _, i := range v.Indexes(kind, value) {
			if rec, err = find(i); fairslot.ErrorKind(err) != fairslot.NotFound {
				break
			}
		}
		return rec, err
	}
	rec, err := try()
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		if changed, _ := v.Reload(); changed {
			rec, err = try()
		}
	}
	return rec, err
}
