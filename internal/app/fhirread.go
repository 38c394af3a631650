package app

import (
	"context"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// MaskedPatient returns one patient, masked as every view shows it, for a
// member of staff who may look patients up (the FHIR facade's Patient
// read). It never returns a full name, ID number, phone or birth date.
func (s *Service) MaskedPatient(ctx context.Context, a Actor, id int64) (p fairslot.Patient, err error) {
	// A FHIR system client reads masked patients when the facade has
	// checked its token's Patient scope (internal/fhir, smart.go).
	if a.Kind != fhirClientKind {
		if err := s.requireStaff(a, fairslot.ActLookup); err != nil {
			return p, err
		}
	}
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		rec, err := tx.Patient(ctx, id)
		if err != nil {
			return err
		}
		p, err = s.maskedPatient(rec)
		return err
	})
	return p, err
}
