package app

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Booking for a patient through the FHIR facade (issue 16, item 2: IHE
// Scheduling). A hospital system books for a patient it names by identity
// document and name; the booking is the patient's own — made in the account
// that first bound the identity, where the patient sees it, is told of it
// and may cancel it — and it goes through the very use cases the patient's
// app uses (Hold, Pay, EnterDraw, JoinWaitlist, Cancel), so every rule a
// patient meets holds for the system too. What the system does is recorded
// as its own act (Actor.ref: "fhir-client:<id>"), and its request keys are
// its own ("fhir:<client id>:<key>"), which also mark the bookings it made:
// a system may later book or cancel only those.

// SystemKeyPrefix is the request-key prefix of the bookings a FHIR client
// made.
func SystemKeyPrefix(client string) string { return "fhir:" + client + ":" }

// errNotOnRecord refuses a patient the system names who is not on record
// under that identity and name, or has no account to book in.
var errNotOnRecord = fairslot.E(fairslot.NotFound, "error.fhir.patient_unknown",
	"no patient is on record under this identifier and name with a fairslot account; the patient registers in the app or at the registration desk first")

// ForPatient resolves the patient a FHIR system client (a, whose token the
// facade has checked) acts for: on record under this identity, with the
// name on the document — the proof a kiosk asks for — and bound to an
// account. It returns the actor to run the patient's use cases as (that
// account, naming the client) and the patient's id.
func (s *Service) ForPatient(ctx context.Context, a Actor, in PatientInput) (Actor, int64, error) {
	if a.Kind != fhirClientKind || a.Client == "" {
		return Actor{}, 0, fairslot.Errorf(fairslot.Forbidden, "only a FHIR system client books for a patient by identity")
	}
	id, err := in.normalize(s.phoneCountry())
	if err != nil {
		return Actor{}, 0, err
	}
	var acting Actor
	var patientID int64
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		rec, err := byIndex(s.Vault, "id:"+string(id.typ), id.idNumber, func(i []byte) (storage.PatientRecord, error) {
			return tx.PatientByIdentity(ctx, id.typ, i)
		})
		switch {
		case fairslot.ErrorKind(err) == fairslot.NotFound:
			return errNotOnRecord
		case err != nil:
			return err
		case purged(rec):
			return errNotOnRecord
		}
		name, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(name), []byte(id.name)) != 1 {
			return errNotOnRecord
		}
		holders, err := tx.Holders(ctx, rec.ID)
		if err != nil {
			return err
		}
		if len(holders) == 0 {
			return errNotOnRecord
		}
		acting, patientID = systemActor(a, holders[0]), rec.ID
		return nil
	})
	return acting, patientID, err
}

// ForBooking returns the actor to run a booking's use cases as (Pay,
// Cancel) for the FHIR client a: the booking's account, naming the client.
// A client reaches only the bookings it made; any other is not found, so
// that ids cannot be probed.
func (s *Service) ForBooking(ctx context.Context, a Actor, bookingID int64) (Actor, error) {
	if a.Kind != fhirClientKind || a.Client == "" {
		return Actor{}, fairslot.Errorf(fairslot.Forbidden, "only a FHIR system client acts on a booking it made")
	}
	var acting Actor
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		b, err := tx.Booking(ctx, bookingID)
		if err != nil {
			return err
		}
		if b.AccountID == 0 || !strings.HasPrefix(b.RequestKey, SystemKeyPrefix(a.Client)) {
			return fairslot.E(fairslot.NotFound, "error.booking.not_found", "booking not found")
		}
		acting = systemActor(a, b.AccountID)
		return nil
	})
	return acting, err
}

// systemActor is the patient's account acting through client a. Its
// device names the client, so that the anti-laundering checks (a
// cancellation and a re-booking from the same client) see it.
func systemActor(a Actor, account int64) Actor {
	return Actor{Kind: storage.AccountToken, ID: account, Client: a.Client, RequestID: a.RequestID, Device: "fhir-client:" + a.Client}
}
