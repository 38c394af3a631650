// Package access holds the rules of purpose-bound access to personal data:
// the purposes a member of staff may give for looking at a patient's full
// ID number or phone, or for searching by ID number, and the limits that
// turn a stolen session scripting reveals into a locked account after a
// handful of records. It is pure: it takes values and a time and returns
// decisions, and must never read storage, the network or a clock.
package access

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairslot/fairslot"
)

// Reason is the purpose a member of staff gives for a reveal or a look-up.
type Reason string

// The purposes a hospital accepts. Each names a task at the desk or in the
// room that needs the full value; "other" needs a note saying what.
const (
	ReasonIdentityCheck  Reason = "identity_check"  // the patient's papers do not match the booking
	ReasonContactPatient Reason = "contact_patient" // call the patient about their visit
	ReasonClinicalCare   Reason = "clinical_care"   // a result or referral needs the full identity
	ReasonBilling        Reason = "billing"         // insurance or payment needs the ID number
	ReasonPatientRequest Reason = "patient_request" // the patient at the desk asked
	ReasonOther          Reason = "other"           // with a note
)

// Reasons lists every accepted reason, in the order forms show them.
var Reasons = []Reason{ReasonIdentityCheck, ReasonContactPatient, ReasonClinicalCare, ReasonBilling, ReasonPatientRequest, ReasonOther}

// MaxNote is the longest free-text note, in characters.
const MaxNote = 200

// Field is what a reveal shows in full.
type Field string

const (
	FieldID    Field = "id"
	FieldPhone Field = "phone"
)

// Kind is what an access to personal data was.
type Kind string

const (
	View   Kind = "view"   // a full name shown where care needs it
	Reveal Kind = "reveal" // a full ID number or phone, on request with a reason
	Lookup Kind = "lookup" // a search by ID number, found or not
	Export Kind = "export" // a clinic's list, masked
)

// Counted reports whether accesses of kind k count against the limits: the
// ones a member of staff asks for, not the names care shows them.
func (k Kind) Counted() bool { return k == Reveal || k == Lookup }

// Check validates a reason and its note, returning them normalized. Its
// refusals are fairslot errors about the form's reason or note field, with
// catalogue keys (the desk's pages show them beside the field).
func Check(r Reason, note string) (Reason, string, error) {
	r = Reason(strings.TrimSpace(string(r)))
	note = strings.Join(strings.Fields(note), " ")
	known := false
	for _, x := range Reasons {
		known = known || x == r
	}
	switch {
	case r == "":
		return r, note, fairslot.E(fairslot.Invalid, "error.access.no_reason", "give a reason: one of %s", list()).With().On("reason")
	case !known:
		return r, note, fairslot.E(fairslot.Invalid, "error.access.unknown_reason", "unknown reason %q: give one of %s", r, list()).With().On("reason")
	case !utf8.ValidString(note) || utf8.RuneCountInString(note) > MaxNote:
		return r, note, fairslot.E(fairslot.Invalid, "error.access.note_long", "the note must be text of at most %d characters", MaxNote).On("note")
	case r == ReasonOther && note == "":
		return r, note, fairslot.E(fairslot.Invalid, "error.access.note_needed", "the reason %q needs a note saying what for", ReasonOther).With().On("note")
	}
	return r, note, nil
}

func list() string {
	s := make([]string, len(Reasons))
	for i, r := range Reasons {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Limits bound one staff account's reveals and look-ups. Zero fields take
// the defaults.
type Limits struct {
	// PerHour is how many reveals and look-ups an account may make in any
	// hour; the next one locks it.
	PerHour int
	// DistinctPatients is how many different patients (or missed look-ups,
	// each its own) an account may reach within Window; one more locks it.
	DistinctPatients int
	Window           time.Duration
}

// Defaults: a registrar checking papers all morning makes a few reveals an
// hour; thirty is generous for work and small for a thief.
const (
	DefaultPerHour          = 30
	DefaultDistinctPatients = 10
	DefaultWindow           = 10 * time.Minute
)

// WithDefaults returns l with zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.PerHour <= 0 {
		l.PerHour = DefaultPerHour
	}
	if l.DistinctPatients <= 0 {
		l.DistinctPatients = DefaultDistinctPatients
	}
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	return l
}

// Validate reports limits that cannot work.
func (l Limits) Validate() error {
	switch {
	case l.PerHour < 0 || l.DistinctPatients < 0 || l.Window < 0:
		return fmt.Errorf("access limits must not be negative")
	case l.Window > time.Hour:
		return fmt.Errorf("access window must be at most an hour (it is read from the last hour of accesses)")
	}
	return nil
}

// Since is how far back Decide needs an account's counted accesses.
func (l Limits) Since(now time.Time) time.Time {
	l = l.WithDefaults()
	return now.Add(-max(time.Hour, l.Window))
}

// Past is one counted access an account made: when, and whom it reached
// ("patient:12", or for a look-up that found no one a name of the search).
type Past struct {
	At      time.Time
	Subject string
}

// Decision is what Decide says about one more access.
type Decision struct {
	Allow bool
	// Lock is set when the access is refused because the account went over
	// a limit: the account must be locked and security alerted.
	Lock   bool
	Reason string // why it was refused, for the alert
}

// Decide says whether an account that made the counted accesses past may
// make one more, reaching subject at now.
func (l Limits) Decide(now time.Time, past []Past, subject string) Decision {
	l = l.WithDefaults()
	hour, window := now.Add(-time.Hour), now.Add(-l.Window)
	inHour := 0
	distinct := map[string]bool{subject: true}
	for _, p := range past {
		if p.At.After(hour) && !p.At.After(now) {
			inHour++
		}
		if p.At.After(window) && !p.At.After(now) {
			distinct[p.Subject] = true
		}
	}
	switch {
	case inHour+1 > l.PerHour:
		return Decision{Lock: true, Reason: fmt.Sprintf("more than %d reveals and look-ups in an hour", l.PerHour)}
	case len(distinct) > l.DistinctPatients:
		return Decision{Lock: true, Reason: fmt.Sprintf("reveals and look-ups for more than %d patients in %s", l.DistinctPatients, l.Window)}
	}
	return Decision{Allow: true}
}

// ViewKey names the one record kept of a full name shown: per member of
// staff, patient, session and day, so that a room page refreshing every
// 20 seconds writes one record per patient per clinic, not one a refresh.
func ViewKey(staffID, patientID, sessionID int64, day string) string {
	return fmt.Sprintf("view:%d:%d:%d:%s", staffID, patientID, sessionID, day)
}
