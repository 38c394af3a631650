// Package referral holds the rules of referral review for scarce
// specialists (DESIGN §4.6, issue 17 item 4): which doctors need a
// clinician's approval before a patient may enter their draw or book them,
// when a request must be decided so that a review never makes a patient miss
// the release they applied for, how long an approval lasts, and which
// moves a request may make. It is pure: values, a clock passed in, no
// storage, no HTTP. It must never decide a request itself — a screener's
// suggestion only orders the queue.
package referral

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/fairslot/fairslot"
)

// Status is where a referral request stands.
type Status string

const (
	Pending    Status = "pending"    // waiting for a clinician
	Approved   Status = "approved"   // the patient may enter or book the doctor until ValidUntil
	Declined   Status = "declined"   // not needed; Reason says why
	Redirected Status = "redirected" // not this expert: a general clinic (RedirectDepartment)
	// Expired: nobody decided by DecideBy. By default an unreviewed
	// patient stays out and is asked to apply again; a hospital that sets
	// Policy.AdmitUndecided lets them enter or book the release they
	// applied for instead (until ValidUntil, the release's close).
	Expired Status = "expired"
)

// Statuses lists every status, in the order the database's CHECK names them.
var Statuses = []Status{Pending, Approved, Declined, Redirected, Expired}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// CanMove reports whether a request may go from one status to another:
// only a pending request moves, and only once. The database holds the same
// rule (its decide function changes only a pending row).
func CanMove(from, to Status) bool {
	return from == Pending && to != Pending && to.Valid()
}

// Admits reports whether a request in status s, valid until validUntil,
// lets its patient enter or book its doctor at now.
func Admits(s Status, validUntil, now time.Time) bool {
	return (s == Approved || s == Expired) && now.Before(validUntil)
}

// Rule says whether one doctor, or every doctor of one department, needs
// review. A doctor's rule wins over their department's, so one expert of a
// reviewed department can be exempted (Required false) and one expert of a
// free department reviewed. Validity 0 is the policy's default.
type Rule struct {
	DepartmentID int64         `json:"department_id,omitempty"`
	DoctorID     int64         `json:"doctor_id,omitempty"`
	Required     bool          `json:"required"`
	Validity     time.Duration `json:"validity,omitempty"`
}

// Check reports whether r is well formed: exactly one of department and
// doctor, and a validity that is not negative and at most MaxValidity.
func (r Rule) Check() error {
	if (r.DepartmentID == 0) == (r.DoctorID == 0) {
		return fairslot.E(fairslot.Invalid, "error.referral.rule_target", "a referral rule names either a department or a doctor")
	}
	if r.Validity < 0 || r.Validity > MaxValidity {
		return fairslot.E(fairslot.Invalid, "error.referral.rule_validity", "an approval's validity must be between 1 and %d days", int(MaxValidity/(24*time.Hour))).On("validity_days")
	}
	return nil
}

// MaxValidity bounds an approval's validity: a need assessed once does not
// last for ever.
const MaxValidity = 180 * 24 * time.Hour

// Policy is the hospital's referral configuration.
type Policy struct {
	Rules []Rule
	// Validity is how long an approval lets its patient enter or book
	// (default 30 days), unless a rule says otherwise; never less than to
	// the close of the release the request was for.
	Validity time.Duration
	// MinReview is the least time the clinicians get: a request is for the
	// first release whose deadline is at least this far away (default 2h).
	MinReview time.Duration
	// Margin is how long before a release's entries close (a draw) or it
	// opens (first come) a decision must be made, so that an approved
	// patient still has time to enter (default 30m).
	Margin time.Duration
	// NoRelease is the time to decide a request for a doctor with no
	// release planned yet (default 72h).
	NoRelease time.Duration
	// AdmitUndecided lets a patient whose request nobody decided in time
	// into the release they applied for, so that the hospital's delay
	// never costs them it. Off by default: then an unreviewed patient
	// never enters, and a scalper who floods the clinicians' queue past
	// its deadlines gains nothing by it; the deadlines, the queue's order
	// by them and the patient's early notice are what keep a patient's
	// release.
	AdmitUndecided bool
}

// Defaults.
const (
	DefaultValidity  = 30 * 24 * time.Hour
	DefaultMinReview = 2 * time.Hour
	DefaultMargin    = 30 * time.Minute
	DefaultNoRelease = 72 * time.Hour
)

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Requires returns the rule that applies to a doctor of a department, and
// whether that doctor needs review.
func (p Policy) Requires(doctorID, departmentID int64) (Rule, bool) {
	var dept *Rule
	for i, r := range p.Rules {
		if r.DoctorID != 0 && r.DoctorID == doctorID {
			return r, r.Required
		}
		if r.DoctorID == 0 && r.DepartmentID == departmentID {
			dept = &p.Rules[i]
		}
	}
	if dept != nil {
		return *dept, dept.Required
	}
	return Rule{}, false
}

// Release is what the deadline rules need of one upcoming release of a
// doctor's session: when it shuts for a patient not yet approved — a draw's
// entry close, or a first-come release's opening (its places go within
// minutes of it).
type Release struct {
	SessionID int64
	Shuts     time.Time
}

// Deadline is when a request must be decided, and the release it is for.
type Deadline struct {
	For      Release // zero when the doctor has no release planned far enough ahead
	DecideBy time.Time
}

// DeadlineFor says which release a request submitted at now is for, and by
// when it must be decided: the first release (of releases, in any order)
// that shuts at least Margin+MinReview after now — a request made later
// than that cut-off is for the next release, and the patient is told so
// when they submit. With none, NoRelease after now.
func (p Policy) DeadlineFor(now time.Time, releases []Release) Deadline {
	rs := slices.Clone(releases)
	slices.SortFunc(rs, func(a, b Release) int { return a.Shuts.Compare(b.Shuts) })
	margin, review := or(p.Margin, DefaultMargin), or(p.MinReview, DefaultMinReview)
	for _, r := range rs {
		if by := r.Shuts.Add(-margin); !by.Before(now.Add(review)) {
			return Deadline{For: r, DecideBy: by}
		}
	}
	return Deadline{DecideBy: now.Add(or(p.NoRelease, DefaultNoRelease))}
}

// ValidUntil is how long an approval decided at now lasts: the rule's
// validity (or the policy's), and never less than to the close of the
// release the request was for.
func (p Policy) ValidUntil(r Rule, now time.Time, d Deadline) time.Time {
	v := now.Add(or(r.Validity, or(p.Validity, DefaultValidity)))
	if !d.For.Shuts.IsZero() && d.For.Shuts.After(v) {
		return d.For.Shuts
	}
	return v
}

// ExpiredValidUntil is how long an expired (never decided) request admits
// its patient: under AdmitUndecided, to the close of the release it was
// for, so the hospital's delay costs them nothing; otherwise, and when it
// was for no release, not at all.
func (p Policy) ExpiredValidUntil(d Deadline) time.Time {
	if !p.AdmitUndecided {
		return time.Time{}
	}
	return d.For.Shuts
}

// Decision is a clinician's answer to a pending request.
type Decision struct {
	To                 Status
	Reason             string // required to decline or redirect; shown to the patient
	RedirectDepartment int64  // the general clinic, to redirect
}

// Description and reason bounds, in characters.
const (
	MinDescription = 10
	MaxDescription = 2000
	MaxReason      = 500
	MaxImages      = 3
)

// CheckDescription checks a patient's description of their condition.
func CheckDescription(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return fairslot.E(fairslot.Invalid, "error.referral.description_invalid", "the description is not valid text").On("description")
	case n < MinDescription:
		return fairslot.E(fairslot.Invalid, "error.referral.description_short", "describe the condition in at least %d characters", MinDescription).On("description")
	case n > MaxDescription:
		return fairslot.E(fairslot.Invalid, "error.referral.description_long", "the description may have at most %d characters", MaxDescription).On("description")
	}
	return nil
}

// CheckDecision checks a clinician's decision: a known outcome, a reason
// to decline or redirect (the patient is owed one), a department to
// redirect to.
func CheckDecision(d Decision) error {
	switch d.To {
	case Approved:
	case Declined, Redirected:
		if d.Reason == "" {
			return fairslot.E(fairslot.Invalid, "error.referral.reason_required", "give the patient a reason").On("reason")
		}
		if d.To == Redirected && d.RedirectDepartment == 0 {
			return fairslot.E(fairslot.Invalid, "error.referral.redirect_department", "choose the clinic to redirect the patient to").On("department_id")
		}
	default:
		return fairslot.E(fairslot.Invalid, "error.referral.decision", "approve, decline or redirect").On("decision")
	}
	if utf8.RuneCountInString(d.Reason) > MaxReason {
		return fairslot.E(fairslot.Invalid, "error.referral.reason_long", "the reason may have at most %d characters", MaxReason).On("reason")
	}
	return nil
}

// Suggestion is a screener's opinion of a request: never a decision, only
// an order in the queue and a hint shown beside it.
type Suggestion struct {
	Score float64 `json:"score"`           // 0..1: how likely the expert is needed
	Note  string  `json:"note,omitempty"`  // short, shown to the clinician
	Label string  `json:"label,omitempty"` // e.g. "expert", "general", "urgent"
}

// QueueItem is what ordering the queue needs of a pending request.
type QueueItem struct {
	ID       int64
	DecideBy time.Time
	Score    float64 // the screener's, 0 when none
	Screened bool
}

// Order sorts a clinician's queue: the nearest deadline first (so nobody
// misses a release), then what the screener thinks most needs the expert,
// then the oldest request. The screener never moves a request behind one
// whose deadline is later.
func Order(items []QueueItem) {
	slices.SortStableFunc(items, func(a, b QueueItem) int {
		if c := a.DecideBy.Compare(b.DecideBy); c != 0 {
			return c
		}
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
}
