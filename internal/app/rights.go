package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strconv"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/storage"
)

// The patient's rights (issue 13 item 8): consent to the privacy notice,
// removing a family member, closing the account, and the retention purge.
// The rules are internal/privacy's; this file applies them in one
// transaction each, with their audit records.

// requireConsent refuses a binding or booking by an account that has not
// accepted the notice in force (Service.Privacy). Every use case that takes
// an ID number or a place calls it inside its transaction, so the API, the
// pages and any other client get the same answer.
func (s *Service) requireConsent(ctx context.Context, tx storage.Tx, a Actor) error {
	c, err := tx.LatestConsent(ctx, a.ID)
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return s.Privacy.CheckConsent(nil)
	}
	if err != nil {
		return err
	}
	return s.Privacy.CheckConsent(&c)
}

// ConsentStatus says which notice is in force and whether the account
// accepted it.
type ConsentStatus struct {
	Version  string           `json:"version"`
	Accepted bool             `json:"accepted"`
	Latest   *privacy.Consent `json:"latest,omitempty"` // the newest acceptance, of any version
}

// ConsentStatus reports the caller's consent.
func (s *Service) ConsentStatus(ctx context.Context, a Actor) (ConsentStatus, error) {
	st := ConsentStatus{Version: s.Privacy.Version()}
	if err := s.requireAccount(a); err != nil {
		return st, err
	}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		c, err := tx.LatestConsent(ctx, a.ID)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return nil
		}
		if err == nil {
			st.Latest, st.Accepted = &c, s.Privacy.Current(&c)
		}
		return err
	})
	return st, err
}

// Consent records the caller's acceptance of the notice version it was
// shown, in the language it was shown in: appended, never changed, and
// audited. A version other than the one in force is refused (the page
// showed an old text).
func (s *Service) Consent(ctx context.Context, a Actor, version, lang string) (privacy.Consent, error) {
	if err := s.requireAccount(a); err != nil {
		return privacy.Consent{}, err
	}
	c, err := s.Privacy.NewConsent(a.ID, version, lang, s.now())
	if err != nil {
		return c, err
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.AppendConsent(ctx, c); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "privacy.consent", a.ref(), map[string]string{"version": c.Version, "lang": c.Lang})
	})
	return c, err
}

// RemoveMember removes a family member (a bound patient) from the caller's
// account and returns them masked, for the confirmation. The identity, its
// bookings, its no-show and cancellation counts and its booking limits stay
// with the patient, not the binding: binding it again (from any account)
// finds the same patient and the same history. The removed binding still
// counts against the account's binding rate: the rate counts bindings made,
// not bindings held. It is Unbind (binding.go), answering with the patient
// removed.
func (s *Service) RemoveMember(ctx context.Context, a Actor, patientID int64) (fairslot.Patient, error) {
	if err := s.Unbind(ctx, a, patientID); err != nil {
		return fairslot.Patient{}, err
	}
	var rec storage.PatientRecord
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		rec, err = tx.Patient(ctx, patientID)
		return err
	})
	if err != nil {
		return fairslot.Patient{}, err
	}
	return s.maskedPatient(rec)
}

// CloseAccount closes the caller's account: refused, listing them, while it
// has active bookings or entries in draws not yet run (privacy.CheckClose:
// the patient cancels those under the usual rules and refunds first). Else
// its family members are removed, its waitlist places left, its phone
// erased and freed for a new account, every login of it ended (refresh
// families and their access tokens, and access, the token of this request),
// and it is audited. The patients stay until the retention purge.
func (s *Service) CloseAccount(ctx context.Context, a Actor, access string) error {
	if err := s.requireAccount(a); err != nil {
		return err
	}
	now := s.now()
	var revoked []storage.RevokedToken
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		held, err := tx.Holdings(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := privacy.CheckClose(held); err != nil {
			return err
		}
		tombstone := make([]byte, 16)
		rand.Read(tombstone)
		if err := tx.CloseAccount(ctx, a.ID, now, tombstone); err != nil {
			return err
		}
		families, err := tx.LiveRefreshFamilies(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, f := range families {
			r, err := s.revokeFamily(ctx, tx, f, now)
			if err != nil {
				return err
			}
			revoked = append(revoked, r...)
		}
		if claims, ok := s.tokenClaims(access); ok && claims.kind == storage.AccountToken && claims.subject == a.ID {
			sum := sha256.Sum256([]byte(access))
			r := storage.RevokedToken{Hash: sum[:], ExpiresAt: claims.expires}
			if err := tx.RevokeToken(ctx, r); err != nil && fairslot.ErrorKind(err) != fairslot.Conflict {
				return err
			}
			revoked = append(revoked, r)
		}
		return s.record(ctx, tx, a, "account.close", a.ref(), map[string]string{"logins_ended": strconv.Itoa(len(families))})
	})
	if err != nil {
		return err
	}
	s.revoked.add(false, revoked...)
	return nil
}

// PurgeReport is what a retention pass did, or with DryRun would do.
type PurgeReport struct {
	DryRun    bool      `json:"dry_run"`
	Cutoff    time.Time `json:"cutoff"`
	Checked   int       `json:"checked"`  // patients created before the cutoff
	Patients  []int64   `json:"patients"` // purged, or to purge
	Raced     int       `json:"raced"`    // eligible when read, not when purged
	Messages  int       `json:"messages"` // outbox messages erased (not counted in a dry run)
	Appeals   int       `json:"appeals"`  // answered risk appeals whose text was erased (riskreview.go)
	Retention string    `json:"retention"`
}

// purgeBatch is how many patients a retention pass reads at a time.
const purgeBatch = 200

// Purge applies the retention rule through st: every patient the rule
// finds past retention (privacy.Policy.Purgeable) has their personal fields
// erased — name, ID number, phone, birth date — and their bindings removed,
// one transaction and one audit record (patient.purge) each, the database
// checking the rule again; what the booking limits need stays (the ID blind
// index, bookings with their dates and statuses). Sent and dead outbox
// messages older than the cutoff are erased too. With dryRun nothing is
// changed: the report lists who would be purged.
//
// st is the store to write with: on PostgreSQL the owner's or
// fairslot_rekey's (the online role may not purge); on SQLite s.Store.
func (s *Service) Purge(ctx context.Context, st storage.Store, dryRun bool) (PurgeReport, error) {
	now := s.now()
	rep := PurgeReport{DryRun: dryRun, Cutoff: s.Privacy.Cutoff(now), Patients: []int64{}, Retention: s.Privacy.RetentionPeriod().String()}
	var after int64
	for {
		var batch []privacy.Activity
		if err := st.View(ctx, func(tx storage.Tx) (err error) {
			batch, err = tx.RetentionCandidates(ctx, rep.Cutoff, after, purgeBatch)
			return err
		}); err != nil {
			return rep, err
		}
		for _, act := range batch {
			after = act.PatientID
			rep.Checked++
			if !s.Privacy.Purgeable(act, now) {
				continue
			}
			if dryRun {
				rep.Patients = append(rep.Patients, act.PatientID)
				continue
			}
			err := st.Update(ctx, func(tx storage.Tx) error {
				if err := tx.PurgePatient(ctx, act.PatientID, rep.Cutoff, now); err != nil {
					return err
				}
				return s.record(ctx, tx, System, "patient.purge", fmt.Sprintf("patient:%d", act.PatientID),
					map[string]string{"last_activity": act.Last.UTC().Format(time.RFC3339), "retention": rep.Retention})
			})
			switch {
			case fairslot.ErrorKind(err) == fairslot.Conflict:
				rep.Raced++
			case err != nil:
				return rep, err
			default:
				rep.Patients = append(rep.Patients, act.PatientID)
			}
		}
		if len(batch) < purgeBatch {
			break
		}
	}
	if dryRun {
		return rep, nil
	}
	err := st.Update(ctx, func(tx storage.Tx) (err error) {
		if rep.Messages, err = tx.PurgeOutbox(ctx, rep.Cutoff); err != nil || rep.Messages == 0 {
			return err
		}
		return s.record(ctx, tx, System, "outbox.purge", "outbox", map[string]string{"messages": strconv.Itoa(rep.Messages), "retention": rep.Retention})
	})
	if err != nil {
		return rep, err
	}
	// Requests for a risk review (riskreview.go): their text once answered.
	err = st.Update(ctx, func(tx storage.Tx) (err error) {
		if rep.Appeals, err = tx.PurgeRiskAppeals(ctx, rep.Cutoff); err != nil || rep.Appeals == 0 {
			return err
		}
		return s.record(ctx, tx, System, "risk.appeal.purge", "risk_appeals", map[string]string{"appeals": strconv.Itoa(rep.Appeals), "retention": rep.Retention})
	})
	return rep, err
}

// purged reports whether the retention purge erased rec's personal fields
// (every live patient has a sealed name: empty is never a sealed value).
func purged(rec storage.PatientRecord) bool { return len(rec.NameSealed) == 0 }

// restorePatient gives a purged identity bound again its sealed fields
// back, in the same row: the limits and counts that follow the identity
// stay with it.
func (s *Service) restorePatient(ctx context.Context, tx storage.Tx, a Actor, rec storage.PatientRecord, id identity) (storage.PatientRecord, bool, error) {
	rec.PhoneIndex = nil
	if id.phone != "" {
		rec.PhoneIndex = s.Vault.Index("phone", id.phone)
	}
	for _, f := range []struct {
		dst    *[]byte
		column string
		value  string
	}{{&rec.NameSealed, "name", id.name}, {&rec.IDSealed, "id_number", id.idNumber}, {&rec.PhoneSealed, "phone", id.phone}, {&rec.BirthSealed, "birth_date", id.birth}} {
		var err error
		if *f.dst, err = s.Vault.Seal(patientField(rec.Ref, f.column), f.value); err != nil {
			return rec, false, err
		}
	}
	if err := tx.RestorePatient(ctx, rec); err != nil {
		return rec, false, err
	}
	return rec, false, s.record(ctx, tx, a, "patient.restore", fmt.Sprintf("patient:%d", rec.ID), map[string]string{"id_type": string(id.typ)})
}

// Holdings lists what keeps the caller's account from being closed.
func (s *Service) Holdings(ctx context.Context, a Actor) (out []privacy.Holding, err error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		out, err = tx.Holdings(ctx, a.ID)
		return err
	})
	return out, err
}
