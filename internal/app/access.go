package app

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Purpose-bound access to personal data (issue 12 items 5 and 8). Full names
// are shown only where care needs them — the doctor's own queue, the desk
// checking a booking in — and each such view is recorded once per patient,
// clinic and day. Full ID numbers and phones are shown only on a reveal
// with a reason; reveals and look-ups by ID number are recorded, found or
// not, and limited per account: over the limits the account is locked, an
// ALERT is logged and the event goes on the security page. Patients read
// the record of who looked.

// accessNote names the sealed free-text note of an access record; key
// rotation re-seals it under the same associated data.
func accessNote(ref string) vault.Field {
	return vault.Field{Table: "access_log", Row: ref, Column: "note"}
}

// counted are the kinds the limits count.
var counted = []string{string(access.Reveal), string(access.Lookup)}

// place says where a member of staff looked, as the patient will read it.
func place(a Actor, sess fairslot.Session) string {
	switch {
	case a.Role == fairslot.DoctorRole && sess.Room != "":
		return "room " + sess.Room
	case a.Role == fairslot.Kiosk:
		return "kiosk"
	case a.Role == fairslot.Nurse && sess.Room != "":
		return "clinic " + sess.Room
	}
	return "registration desk"
}

// limited applies the access limits to one more counted access by a,
// reaching subject, inside tx. Over a limit it locks the account, records
// a security event and returns the refusal to give (with alert set, for
// the caller to log after the commit); the transaction must commit.
func (s *Service) limited(ctx context.Context, tx storage.Tx, a Actor, subject string) (refuse error, alert string, err error) {
	now := s.now()
	if locked, err := tx.StaffAccessLocked(ctx, a.ID); err != nil {
		return nil, "", err
	} else if !locked.IsZero() {
		return errAccessLocked, "", nil
	}
	recs, err := tx.CountedAccesses(ctx, a.ID, counted, s.AccessLimits.Since(now))
	if err != nil {
		return nil, "", err
	}
	past := make([]access.Past, len(recs))
	for i, r := range recs {
		past[i] = access.Past{At: r.At, Subject: r.Subject}
	}
	d := s.AccessLimits.Decide(now, past, subject)
	if d.Allow {
		return nil, "", nil
	}
	if err := tx.LockStaffAccess(ctx, a.ID, now); err != nil {
		return nil, "", err
	}
	detail := map[string]string{"reason": d.Reason, "role": string(a.Role), "accesses_last_hour": fmt.Sprint(len(recs))}
	if err := tx.AppendSecurityEvent(ctx, &storage.SecurityEvent{At: now, Kind: "access.locked", StaffID: a.ID, Detail: detail}); err != nil {
		return nil, "", err
	}
	if err := s.record(ctx, tx, a, "staff.access_locked", fmt.Sprintf("staff:%d", a.ID), detail); err != nil {
		return nil, "", err
	}
	return errAccessLocked, d.Reason, nil
}

// alert logs the ALERT line of an account locked by the access limits.
func (s *Service) alert(a Actor, reason string) {
	if reason != "" {
		s.Log.Error("ALERT: staff account locked by the access limits", "staff", a.ID, "role", a.Role, "why", reason, "request", a.RequestID)
	}
}

// appendAccess stores an access record with its note sealed.
func (s *Service) appendAccess(ctx context.Context, tx storage.Tx, r storage.AccessRecord, note string) (bool, error) {
	r.Ref = newRef()
	var err error
	if r.NoteSealed, err = s.Vault.Seal(accessNote(r.Ref), note); err != nil {
		return false, err
	}
	return tx.AppendAccess(ctx, &r)
}

// RevealInput asks for one field of one patient in full, with a reason.
type RevealInput struct {
	PatientID int64         `json:"patient_id,omitempty"`
	BookingID int64         `json:"booking_id,omitempty"`
	Field     access.Field  `json:"field"`
	Reason    access.Reason `json:"reason"`
	Note      string        `json:"note,omitempty"`
}

// Revealed is a revealed field. It is the one response that carries a
// plaintext ID number or phone.
type Revealed struct {
	PatientID int64        `json:"patient_id"`
	Field     access.Field `json:"field"`
	Value     string       `json:"value"`
}

// Reveal shows one patient's full ID number or phone to a member of staff
// who gives a reason and has just passed the second factor again; it is
// recorded and counted against the account's limits.
func (s *Service) Reveal(ctx context.Context, a Actor, in RevealInput) (Revealed, error) {
	out := Revealed{Field: in.Field}
	if err := s.requireStaff(a, fairslot.ActReveal); err != nil {
		return out, err
	}
	reason, note, err := access.Check(in.Reason, in.Note)
	if err != nil {
		return out, err
	}
	column := map[access.Field]string{access.FieldID: "id_number", access.FieldPhone: "phone"}[in.Field]
	if column == "" {
		return out, fairslot.E(fairslot.Invalid, "error.access.field", "field must be %q or %q", access.FieldID, access.FieldPhone).With()
	}
	if (in.PatientID == 0) == (in.BookingID == 0) {
		return out, fairslot.E(fairslot.Invalid, "error.access.subject", "give either patient_id or booking_id")
	}
	if err := s.requireFreshMFA(a); err != nil {
		return out, err
	}
	var alert string
	err = s.committed(ctx, func(tx storage.Tx) (error, error) {
		var sess fairslot.Session
		var scope error
		patientID := in.PatientID
		if in.BookingID != 0 {
			b, err := tx.Booking(ctx, in.BookingID)
			if err != nil {
				return nil, err
			}
			sess, scope = s.sessionInScope(ctx, tx, a, b.SessionID)
			patientID = b.PatientID
		} else {
			sess, scope = s.patientInScope(ctx, tx, a, patientID)
		}
		if fairslot.ErrorKind(scope) == fairslot.Forbidden {
			// Out of the account's scope: nothing is shown, but the
			// attempt counts against the limits like a reveal, so a stolen
			// session probing patient after patient is locked just the
			// same. It is recorded without the patient (whose "who looked"
			// it is not) under its own subject.
			subject := fmt.Sprintf("refused:patient:%d", patientID)
			refuse, why, err := s.limited(ctx, tx, a, subject)
			if refuse != nil || err != nil {
				alert = why
				return refuse, err
			}
			if _, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: s.now(), StaffID: a.ID, Role: string(a.Role),
				Kind: string(access.Reveal), Field: string(in.Field), Reason: string(reason), Place: place(a, sess), Subject: subject}, note); err != nil {
				return nil, err
			}
			return scope, s.record(ctx, tx, a, "patient.reveal_refused", fmt.Sprintf("patient:%d", patientID),
				map[string]string{"field": string(in.Field), "reason": string(reason)})
		} else if scope != nil {
			return nil, scope
		}
		rec, err := tx.Patient(ctx, patientID)
		if err != nil {
			return nil, err
		}
		refuse, why, err := s.limited(ctx, tx, a, fmt.Sprintf("patient:%d", rec.ID))
		if refuse != nil || err != nil {
			alert = why
			return refuse, err
		}
		if _, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: s.now(), StaffID: a.ID, Role: string(a.Role), PatientID: rec.ID,
			SessionID: sess.ID, Kind: string(access.Reveal), Field: string(in.Field), Reason: string(reason), Place: place(a, sess),
			Subject: fmt.Sprintf("patient:%d", rec.ID)}, note); err != nil {
			return nil, err
		}
		sealed := map[string][]byte{"id_number": rec.IDSealed, "phone": rec.PhoneSealed}[column]
		if out.Value, err = s.Vault.Open(patientField(rec.Ref, column), sealed); err != nil {
			return nil, err
		}
		out.PatientID = rec.ID
		return nil, s.record(ctx, tx, a, "patient.reveal", fmt.Sprintf("patient:%d", rec.ID),
			map[string]string{"field": string(in.Field), "reason": string(reason)})
	})
	s.alert(a, alert)
	if err != nil {
		return Revealed{}, err
	}
	return out, nil
}

// recordViews records, once per member of staff, patient, session and day,
// that a's page showed these patients' full names for purpose; a refresh
// that shows no one new writes nothing. The names may be shown only when it
// returns nil.
func (s *Service) recordViews(ctx context.Context, a Actor, sess fairslot.Session, patients []int64, purpose string) error {
	if len(patients) == 0 {
		return nil
	}
	day := s.now().Format(time.DateOnly)
	keys := make([]string, len(patients))
	for i, p := range patients {
		keys[i] = access.ViewKey(a.ID, p, sess.ID, day)
	}
	var seen map[string]bool
	if err := s.Store.View(ctx, func(tx storage.Tx) (err error) { seen, err = tx.AccessKeysSeen(ctx, keys); return err }); err != nil {
		return err
	}
	if len(seen) == len(keys) {
		return nil
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		for i, p := range patients {
			if seen[keys[i]] {
				continue
			}
			stored, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: s.now(), StaffID: a.ID, Role: string(a.Role), PatientID: p,
				SessionID: sess.ID, Kind: string(access.View), Field: "name", Reason: purpose, Place: place(a, sess),
				Subject: fmt.Sprintf("patient:%d", p), Key: keys[i]}, "")
			if err != nil {
				return err
			}
			if stored {
				if err := s.record(ctx, tx, a, "patient.view_name", fmt.Sprintf("patient:%d", p),
					map[string]string{"session": fmt.Sprint(sess.ID), "purpose": purpose}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// lookupSubject names a look-up for the limits: the patient it found, or,
// for a miss, the search itself (its blind index), so that trying many
// numbers counts as reaching many people.
func lookupSubject(patientID int64, index []byte) string {
	if patientID != 0 {
		return fmt.Sprintf("patient:%d", patientID)
	}
	return "lookup:" + hex.EncodeToString(index[:8])
}

// ExportRow is one line of a clinic's masked list.
type ExportRow struct {
	Ticket      string          `json:"ticket"`
	Slot        int64           `json:"slot_id"`
	WindowStart time.Time       `json:"window_start"`
	Status      fairslot.Status `json:"status"`
	Name        string          `json:"name"` // masked
	Priority    string          `json:"priority,omitempty"`
}

// ExportSession returns a clinic's list of bookings, masked, for a member of
// staff who may work on it; the export is recorded. No export carries a
// full name, ID number or phone.
func (s *Service) ExportSession(ctx context.Context, a Actor, sessionID int64) ([]ExportRow, error) {
	if err := s.requireStaff(a, fairslot.ActViewQueue); err != nil {
		return nil, err
	}
	var out []ExportRow
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionInScope(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		bs, err := tx.SessionBookings(ctx, sess.ID)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, b := range bs {
			rec, err := tx.Patient(ctx, b.PatientID)
			if err != nil {
				return err
			}
			name, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
			if err != nil {
				return err
			}
			row := ExportRow{Slot: b.SlotID, Status: b.Status, Name: vault.MaskName(name), Priority: b.Priority}
			if slot, err := tx.Slot(ctx, b.SlotID); err == nil {
				row.WindowStart = slot.Start
			}
			if k, err := tx.Ticket(ctx, b.ID); err == nil {
				row.Ticket = k.Label()
			}
			out = append(out, row)
		}
		if _, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: s.now(), StaffID: a.ID, Role: string(a.Role), SessionID: sess.ID,
			Kind: string(access.Export), Field: "list", Reason: "clinic_list", Place: place(a, sess), Subject: fmt.Sprintf("session:%d", sess.ID)}, ""); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "session.export", fmt.Sprintf("session:%d", sess.ID), map[string]string{"rows": fmt.Sprint(len(out)), "masked": "true"})
	})
	return out, err
}

// AccessView is one look at a patient's data, as the patient reads it.
type AccessView struct {
	At      time.Time `json:"at"`
	Role    string    `json:"role"`
	Place   string    `json:"place"`
	Kind    string    `json:"kind"`
	Field   string    `json:"field,omitempty"`
	Purpose string    `json:"purpose"`
}

// PatientAccesses lists who looked at a patient's data, for an account the
// patient is bound to.
func (s *Service) PatientAccesses(ctx context.Context, a Actor, patientID int64) ([]AccessView, error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	out := []AccessView{}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		ok, err := tx.Bound(ctx, a.ID, patientID)
		if err != nil {
			return err
		}
		if !ok {
			return fairslot.E(fairslot.NotFound, "error.patient.not_on_account", "no such patient on this account")
		}
		rs, err := tx.AccessesOfPatient(ctx, patientID, 200)
		for _, r := range rs {
			out = append(out, AccessView{At: r.At, Role: r.Role, Place: r.Place, Kind: r.Kind, Field: r.Field, Purpose: r.Reason})
		}
		return err
	})
	return out, err
}

// SecurityEvents lists the security events after afterID, for security
// officers and admins.
func (s *Service) SecurityEvents(ctx context.Context, a Actor, afterID int64) ([]storage.SecurityEvent, error) {
	if err := s.requireStaff(a, fairslot.ActSecurity); err != nil {
		return nil, err
	}
	out := []storage.SecurityEvent{}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		es, err := tx.SecurityEvents(ctx, afterID, 500)
		out = append(out, es...)
		return err
	})
	return out, err
}

// UnlockAccess clears the access lock of a staff account; security
// officers and admins only, recorded.
func (s *Service) UnlockAccess(ctx context.Context, a Actor, staffID int64) error {
	if err := s.requireStaff(a, fairslot.ActSecurity); err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Staff(ctx, staffID); err != nil {
			return err
		}
		if err := tx.UnlockStaffAccess(ctx, staffID); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "staff.access_unlocked", fmt.Sprintf("staff:%d", staffID), nil)
	})
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// CSV returns the row as the cells of the export file.
func (r ExportRow) CSV() []string {
	start := ""
	if !r.WindowStart.IsZero() {
		start = r.WindowStart.Format("15:04")
	}
	return []string{csvSafe(r.Ticket), start, string(r.Status), csvSafe(r.Name), csvSafe(r.Priority)}
}
