// Package booking holds the hospital's booking rules as pure functions of
// values and a time: when a session opens and closes, the per-patient limits,
// suspensions, hold expiry, binding limits and cancellation. It must never
// touch storage, the network or the wall clock; callers pass "now".
package booking

import (
	"slices"
	"time"

	"github.com/fairslot/fairslot"
)

// Policy is the hospital-configurable set of booking rules. The zero value
// is not useful; start from Default.
type Policy struct {
	AdvanceDays int                `json:"advance_days"` // booking opens this many days ahead
	ReleaseAt   fairslot.TimeOfDay `json:"release_at"`   // ... at this time of day
	CutoffAt    fairslot.TimeOfDay `json:"cutoff_at"`    // and closes at this time the day before
	SameDay     bool               `json:"same_day"`     // sessions stay open until they start (not the day-before cut-off)
	// SameDayUntilEnd keeps a session open until it ends, for clinics that
	// take bookings all day (the demo's 24-hour fever clinic).
	SameDayUntilEnd bool `json:"same_day_until_end"`

	HoldFor fairslot.Duration `json:"hold_for"` // unpaid holds expire after this

	MaxPerDepartmentPerDay int `json:"max_per_department_per_day"`
	MaxPerDay              int `json:"max_per_day"`
	MaxActive              int `json:"max_active"`

	MaxPatientsPerAccount int               `json:"max_patients_per_account"`
	MaxAccountsPerPatient int               `json:"max_accounts_per_patient"`
	MaxBindingsPerWindow  int               `json:"max_bindings_per_window"`
	BindingWindow         fairslot.Duration `json:"binding_window"`
	// MaxBindingsPerPatient bounds the bindings of one patient, by any
	// accounts, within BindingWindow — unbound ones included, so that
	// bind, unbind, bind again cannot pass one identity round many
	// accounts under the accounts-per-patient cap (0: that cap plus one).
	MaxBindingsPerPatient int `json:"max_bindings_per_patient"`

	NoShowLimit      int               `json:"no_show_limit"`
	NoShowWindow     fairslot.Duration `json:"no_show_window"`
	NoShowSuspension fairslot.Duration `json:"no_show_suspension"`
	NoShowGrace      fairslot.Duration `json:"no_show_grace"` // after a session ends, before its unseen bookings become no-shows

	CancelLimit  int               `json:"cancel_limit"`
	CancelWindow fairslot.Duration `json:"cancel_window"`
	// AccountCancelLimit pauses an account's online booking after this many
	// cancellations by it (for any of its patients) within CancelWindow.
	AccountCancelLimit int `json:"account_cancel_limit"`

	// MinBindingAge: a patient may be booked online from an account only
	// once bound to it this long (0: at once), so that an identity bought
	// minutes before a release is of no use.
	MinBindingAge fairslot.Duration `json:"min_binding_age"`

	// ElderlyAge and ChildAge: a patient at least ElderlyAge years old, or
	// at most ChildAge, is in the elderly or child priority group — read
	// from the birth date the ID carries (AgePriority), never declared.
	// 0 turns the group's derivation off: then, like the other groups, it
	// is confirmed by desk staff with a reason.
	ElderlyAge int `json:"elderly_age"`
	ChildAge   int `json:"child_age"`
}

const day = 24 * time.Hour

// PatientBindingsPerWindow is MaxBindingsPerPatient, or its default.
func (p Policy) PatientBindingsPerWindow() int {
	if p.MaxBindingsPerPatient > 0 {
		return p.MaxBindingsPerPatient
	}
	return p.MaxAccountsPerPatient + 1
}

// Default returns the defaults of the design brief (§3).
func Default() Policy {
	return Policy{
		AdvanceDays: 7, ReleaseAt: 7 * 60, CutoffAt: 15 * 60, SameDay: true,
		HoldFor:                fairslot.Duration(15 * time.Minute),
		MaxPerDepartmentPerDay: 1, MaxPerDay: 2, MaxActive: 5,
		MaxPatientsPerAccount: 5, MaxAccountsPerPatient: 2,
		MaxBindingsPerWindow: 5, BindingWindow: fairslot.Duration(day),
		NoShowLimit: 3, NoShowWindow: fairslot.Duration(90 * day), NoShowSuspension: fairslot.Duration(90 * day),
		NoShowGrace: fairslot.Duration(30 * time.Minute),
		CancelLimit: 3, CancelWindow: fairslot.Duration(30 * day), AccountCancelLimit: 6,
		ElderlyAge: 60, ChildAge: 6,
	}
}

// Validate reports the first setting that makes no sense.
func (p Policy) Validate() error {
	bad := func(name string) error {
		return fairslot.Errorf(fairslot.Invalid, "booking policy: %s is out of range", name)
	}
	switch {
	case p.AdvanceDays < 0 || p.AdvanceDays > 90:
		return bad("advance_days (0 to 90)")
	case p.ReleaseAt < 0 || p.ReleaseAt >= 24*60, p.CutoffAt < 0 || p.CutoffAt >= 24*60:
		return bad("release_at/cutoff_at")
	case p.HoldFor < fairslot.Duration(time.Minute) || p.HoldFor > fairslot.Duration(day):
		return bad("hold_for (1m to 24h)")
	case p.MaxPerDepartmentPerDay < 1, p.MaxPerDay < p.MaxPerDepartmentPerDay, p.MaxActive < p.MaxPerDay:
		return bad("max_per_department_per_day ≤ max_per_day ≤ max_active, all ≥ 1")
	case p.MaxPatientsPerAccount < 1, p.MaxAccountsPerPatient < 1, p.MaxBindingsPerWindow < 1, p.BindingWindow <= 0:
		return bad("binding limits (≥ 1)")
	case p.NoShowLimit < 1, p.NoShowWindow <= 0, p.NoShowSuspension < 0, p.NoShowGrace < 0:
		return bad("no-show settings")
	case p.CancelLimit < 1, p.CancelWindow <= 0, p.AccountCancelLimit < p.CancelLimit:
		return bad("cancellation settings")
	case p.MinBindingAge < 0:
		return bad("min_binding_age")
	case p.ElderlyAge < 0 || p.ElderlyAge > 130, p.ChildAge < 0 || p.ChildAge > 18, p.ElderlyAge > 0 && p.ChildAge >= p.ElderlyAge:
		return bad("elderly_age (0 to 130) and child_age (0 to 18, below elderly_age)")
	case p.MaxBindingsPerPatient < 0:
		return bad("max_bindings_per_patient (0: the default, or ≥ 1)")
	}
	return nil
}

// Opens and Closes give the online booking window of a session. Times of day
// are read in the session's own time zone (its Start's location).
func (p Policy) Opens(s fairslot.Session) time.Time {
	loc := s.Start.Location()
	return p.ReleaseAt.On(s.Start.AddDate(0, 0, -p.AdvanceDays), loc)
}

func (p Policy) Closes(s fairslot.Session) time.Time {
	if p.SameDay && p.SameDayUntilEnd {
		return s.End
	}
	if p.SameDay {
		return s.Start
	}
	return p.CutoffAt.On(s.Start.AddDate(0, 0, -1), s.Start.Location())
}

// CheckOpen reports whether a session may be booked online at now.
func (p Policy) CheckOpen(now time.Time, s fairslot.Session) error {
	if opens := p.Opens(s); now.Before(opens) {
		return fairslot.E(fairslot.Conflict, "error.booking.opens", "booking for this session opens at %s", opens.Format("2006-01-02 15:04 MST")).With(opens)
	}
	if closes := p.Closes(s); !now.Before(closes) {
		return fairslot.E(fairslot.Conflict, "error.booking.closed", "booking for this session closed at %s", closes.Format("2006-01-02 15:04 MST")).With(closes)
	}
	return nil
}

// History is what the rules need to know of a patient's bookings, read in the
// same transaction that will insert the new booking.
type History struct {
	ActiveInDepartmentOnDay int         // active bookings in the session's department on its date
	ActiveOnDay             int         // active bookings on the session's date
	Active                  int         // active bookings in all
	NoShows                 []time.Time // when each no-show was recorded, any order
	Cancels                 []time.Time // when each cancellation by the patient was made
	AccountCancels          []time.Time // when each cancellation by the booking account was made
	BoundAt                 time.Time   // when the patient was bound to the booking account (zero: not checked)
}

// SuspendedUntil returns the end of the latest no-show suspension: one
// starts whenever NoShowLimit no-shows fall within NoShowWindow of each other
// and runs NoShowSuspension from the last of them. ok is false when no
// suspension was ever earned.
func (p Policy) SuspendedUntil(noShows []time.Time) (until time.Time, ok bool) {
	ts := sorted(noShows)
	for i := p.NoShowLimit - 1; i < len(ts); i++ {
		if ts[i].Sub(ts[i-p.NoShowLimit+1]) < time.Duration(p.NoShowWindow) {
			until, ok = ts[i].Add(time.Duration(p.NoShowSuspension)), true
		}
	}
	return until, ok
}

// CheckBooking reports whether a patient with history h may take one more
// booking at now. A suspension or limit gives a Limited error that says which.
func (p Policy) CheckBooking(now time.Time, h History) error {
	if until, ok := p.SuspendedUntil(h.NoShows); ok && now.Before(until) {
		return fairslot.E(fairslot.Limited, "error.booking.suspended", "online booking is suspended until %s after %d missed appointments", until.Format(time.DateOnly), p.NoShowLimit).With(until, p.NoShowLimit)
	}
	if c := within(h.Cancels, now, time.Duration(p.CancelWindow)); len(c) >= p.CancelLimit {
		until := c[len(c)-p.CancelLimit].Add(time.Duration(p.CancelWindow))
		return fairslot.E(fairslot.Limited, "error.booking.cancels", "online booking is paused until %s after %d cancellations in %d days", until.Format(time.DateOnly), p.CancelLimit, int(time.Duration(p.CancelWindow)/day)).With(until, p.CancelLimit, int(time.Duration(p.CancelWindow)/day))
	}
	if c := within(h.AccountCancels, now, time.Duration(p.CancelWindow)); len(c) >= p.AccountCancelLimit {
		until := c[len(c)-p.AccountCancelLimit].Add(time.Duration(p.CancelWindow))
		return fairslot.E(fairslot.Limited, "error.booking.account_cancels", "online booking from this account is paused until %s after %d cancellations in %d days", until.Format(time.DateOnly), p.AccountCancelLimit, int(time.Duration(p.CancelWindow)/day)).With(until, p.AccountCancelLimit, int(time.Duration(p.CancelWindow)/day))
	}
	if !h.BoundAt.IsZero() && now.Sub(h.BoundAt) < time.Duration(p.MinBindingAge) {
		return fairslot.E(fairslot.Limited, "error.booking.bound_recently", "this patient was bound to the account at %s; online booking for them opens %s later",
			h.BoundAt.Format("2006-01-02 15:04"), time.Duration(p.MinBindingAge)).With(h.BoundAt, time.Duration(p.MinBindingAge))
	}
	switch {
	case h.ActiveInDepartmentOnDay >= p.MaxPerDepartmentPerDay:
		return fairslot.E(fairslot.Limited, "error.booking.department_day", "this patient already has %d booking(s) in this department on this day (limit %d)", h.ActiveInDepartmentOnDay, p.MaxPerDepartmentPerDay)
	case h.ActiveOnDay >= p.MaxPerDay:
		return fairslot.E(fairslot.Limited, "error.booking.day", "this patient already has %d booking(s) on this day (limit %d)", h.ActiveOnDay, p.MaxPerDay)
	case h.Active >= p.MaxActive:
		return fairslot.E(fairslot.Limited, "error.booking.active", "this patient already has %d active bookings (limit %d)", h.Active, p.MaxActive)
	}
	return nil
}

// within returns the times in ts that fall in (now-window, now], oldest first.
func within(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	var out []time.Time
	for _, t := range ts {
		if t.After(now.Add(-window)) && !t.After(now) {
			out = append(out, t)
		}
	}
	return sorted(out)
}

func sorted(ts []time.Time) []time.Time {
	out := slices.Clone(ts)
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// HoldExpiry is when an unpaid hold made at now lapses: the hold time, but
// never past the session's end.
func (p Policy) HoldExpiry(now time.Time, s fairslot.Session) time.Time {
	t := now.Add(time.Duration(p.HoldFor))
	if t.After(s.End) {
		return s.End
	}
	return t
}

// Binding is what the rules need to know to decide on a new account–patient
// binding.
type Binding struct {
	PatientsOfAccount int // patients already bound to the account
	AccountsOfPatient int // accounts the patient is already bound to
	RecentByAccount   int // bindings the account made within BindingWindow
	RecentOfPatient   int // bindings of the patient, by any account, within BindingWindow
}

// CheckBinding reports whether one more binding may be made.
func (p Policy) CheckBinding(b Binding) error {
	switch {
	case b.PatientsOfAccount >= p.MaxPatientsPerAccount:
		return fairslot.E(fairslot.Limited, "error.binding.account_full", "an account may have at most %d patients", p.MaxPatientsPerAccount)
	case b.AccountsOfPatient >= p.MaxAccountsPerPatient:
		return fairslot.E(fairslot.Limited, "error.binding.patient_full", "this patient is already bound to %d accounts (limit %d)", b.AccountsOfPatient, p.MaxAccountsPerPatient)
	case b.RecentByAccount >= p.MaxBindingsPerWindow:
		return fairslot.E(fairslot.Limited, "error.binding.too_many", "too many binding changes; at most %d per %s", p.MaxBindingsPerWindow, time.Duration(p.BindingWindow))
	case b.RecentOfPatient >= p.PatientBindingsPerWindow():
		return fairslot.E(fairslot.Limited, "error.binding.patient_too_often", "this patient was bound too often lately; at most %d per %s", p.PatientBindingsPerWindow(), time.Duration(p.BindingWindow))
	}
	return nil
}

// Age is the age in whole years on today of someone born on birth (both
// dates, read as calendar dates).
func Age(birth, today time.Time) int {
	age := today.Year() - birth.Year()
	if today.Month() < birth.Month() || today.Month() == birth.Month() && today.Day() < birth.Day() {
		age--
	}
	return age
}

// AgePriority is the priority group a birth date puts a patient in on
// today: "elderly", "child" or "".
func (p Policy) AgePriority(birth, today time.Time) string {
	age := Age(birth, today)
	switch {
	case p.ElderlyAge > 0 && age >= p.ElderlyAge:
		return "elderly"
	case p.ChildAge > 0 && age >= 0 && age <= p.ChildAge:
		return "child"
	}
	return ""
}

// CheckCancel reports whether a patient may cancel booking b of session s at now.
func (p Policy) CheckCancel(now time.Time, b fairslot.Booking, s fairslot.Session) error {
	if b.Status != fairslot.Held && b.Status != fairslot.Confirmed {
		return fairslot.E(fairslot.Conflict, "error.booking.cancel_status", "a booking that is %s cannot be cancelled", b.Status)
	}
	if !now.Before(s.Start) {
		return fairslot.E(fairslot.Conflict, "error.booking.cancel_started", "the session has started; the booking can no longer be cancelled")
	}
	return nil
}

// CheckCheckIn reports whether a booking of session s may be checked in at
// now: on the session's date, before it ends.
func (p Policy) CheckCheckIn(now time.Time, b fairslot.Booking, s fairslot.Session) error {
	if b.Status != fairslot.Confirmed {
		return fairslot.E(fairslot.Conflict, "error.checkin.unpaid", "only a paid booking can be checked in; this one is %s", b.Status)
	}
	if now.In(s.Start.Location()).Format(time.DateOnly) != s.Date {
		return fairslot.E(fairslot.Conflict, "error.checkin.day", "check-in is open on the day of the session (%s) only", s.Date)
	}
	if !now.Before(s.End) {
		return fairslot.E(fairslot.Conflict, "error.session.ended", "the session has ended")
	}
	return nil
}

// NoShowDue reports whether unseen bookings of s become no-shows at now.
func (p Policy) NoShowDue(now time.Time, s fairslot.Session) bool {
	return !now.Before(s.End.Add(time.Duration(p.NoShowGrace)))
}
