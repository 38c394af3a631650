package app

import (
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Priority that is checked (issue 13 item 2). Before, a walk-in's priority
// group was whatever the form or the API said — a kiosk's screen, or a
// script on the kiosk's token, could put anyone in the priority lane. Now:
//   - the elderly and child groups are read from the birth date the ID
//     carries (a Chinese resident ID encodes it): a walk-in in one of them
//     is given it without asking, and one who is not cannot claim it;
//   - every other group — and the age groups for an ID that carries no
//     birth date — is set only by staff permitted to confirm it
//     (ActConfirmPriority: the desk, admins; never a kiosk), with a reason,
//     recorded in the audit log with the walk-in;
//   - a patient never declares one: the patient booking, draw and
//     waitlist bodies have no priority field and refuse unknown fields.

// idCarriesBirth reports whether an ID type's number encodes the birth
// date, so that the date on record is the card's, not a typed one.
func idCarriesBirth(t fairslot.IDType) bool { return t == fairslot.IDResident }

const maxPriorityReason = 200

// priority decides a walk-in's priority group: the one its ID's birth date
// gives, or one the actor confirms with a reason. confirmed is the reason
// to record, "" when none was confirmed.
func (s *Service) priority(a Actor, in WalkInInput, rec storage.PatientRecord, now time.Time) (group, confirmed string, err error) {
	derived := ""
	if idCarriesBirth(rec.IDType) && len(rec.BirthSealed) > 0 {
		b, err := s.Vault.Open(patientField(rec.Ref, "birth_date"), rec.BirthSealed)
		if err != nil {
			return "", "", err
		}
		if birth, err := time.ParseInLocation(time.DateOnly, b, now.Location()); err == nil {
			derived = s.Policy.AgePriority(birth, now)
		}
	}
	want := in.Priority
	if want == "" || want == derived {
		return derived, "", nil
	}
	ageGroup := want == "elderly" || want == "child"
	if ageGroup && idCarriesBirth(rec.IDType) && ((want == "elderly" && s.Policy.ElderlyAge > 0) || (want == "child" && s.Policy.ChildAge > 0)) {
		return "", "", fairslot.E(fairslot.Invalid, "error.priority.birth", "the birth date on this ID does not put the patient in the %s priority group", want).With()
	}
	if !a.Role.Can(fairslot.ActConfirmPriority) {
		return "", "", fairslot.E(fairslot.Forbidden, "error.priority.desk", "a %s priority is confirmed by registration desk staff, not here", want).With()
	}
	reason := strings.TrimSpace(in.PriorityReason)
	if reason == "" || len(reason) > maxPriorityReason {
		return "", "", fairslot.E(fairslot.Invalid, "error.priority.reason", "confirming a %s priority needs a reason (up to %d characters)", want, maxPriorityReason).With(maxPriorityReason)
	}
	return want, reason, nil
}

// validPriority refuses an unknown group before any work.
func validPriority(p string) error {
	if p != "" && !slices.Contains(fairslot.PriorityGroups, p) {
		return fairslot.E(fairslot.Invalid, "error.priority.unknown", "priority must be one of %s", strings.Join(fairslot.PriorityGroups, ", ")).With()
	}
	return nil
}
