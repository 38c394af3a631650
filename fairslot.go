// Package fairslot is the vocabulary of the fairslot outpatient appointment
// and queue-number system: the domain types, their validation and the error
// kinds. It imports only the standard library and must never reach storage,
// the network or a clock of its own.
package fairslot

import (
	"fmt"
	"time"
)

// Hospital is the tenant: one hospital per deployment today.
type Hospital struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Campus is one site of a hospital.
type Campus struct {
	ID         int64  `json:"id"`
	HospitalID int64  `json:"hospital_id"`
	Name       string `json:"name"`
}

// Department is a clinical department at one campus.
type Department struct {
	ID       int64  `json:"id"`
	CampusID int64  `json:"campus_id"`
	Code     string `json:"code"`
	Name     string `json:"name"`
}

// Title is a doctor's grade, which sets the fee and how scarce the slots are.
type Title string

const (
	Expert  Title = "expert"
	General Title = "general"
)

// Doctor sees patients in sessions.
type Doctor struct {
	ID           int64  `json:"id"`
	DepartmentID int64  `json:"department_id"`
	Name         string `json:"name"`
	Title        Title  `json:"title"`
	// Retired: the doctor gets no new sessions; their sessions stay.
	Retired bool `json:"retired,omitempty"`
}

// Period is the half of the day a session runs in.
type Period string

const (
	Morning   Period = "morning"
	Afternoon Period = "afternoon"
)

// Session is one doctor's clinic on one date, morning or afternoon.
type Session struct {
	ID           int64     `json:"id"`
	DoctorID     int64     `json:"doctor_id"`
	DepartmentID int64     `json:"department_id"`
	Date         string    `json:"date"` // YYYY-MM-DD in the hospital's time zone
	Period       Period    `json:"period"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Room         string    `json:"room"`
	FeeCents     int64     `json:"fee_cents"`
	// CancelledAt is when the hospital cancelled the session (停诊), zero
	// while it stands; the database then refuses every new claim on it.
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
}

// Cancelled reports whether the hospital cancelled the session.
func (s Session) Cancelled() bool { return !s.CancelledAt.IsZero() }

// MaxWindow is the longest time window a slot may have.
const MaxWindow = 30 * time.Minute

// Slot is a numbered place in a session, in a time window of at most 30 minutes.
type Slot struct {
	ID        int64     `json:"id"`
	SessionID int64     `json:"session_id"`
	Number    int       `json:"number"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Quota     Quota     `json:"quota"`
}

// Quota says who may take a slot. Online booking and draws take only
// general slots; the reserved quotas are kept for on-site priority patients
// and referrals, and extra slots are the ones a doctor added (加号).
type Quota string

const (
	QuotaGeneral  Quota = "general"
	QuotaPriority Quota = "priority"
	QuotaReferral Quota = "referral"
	QuotaExtra    Quota = "extra"
)

// Valid reports whether q is a known quota.
func (q Quota) Valid() bool {
	return q == QuotaGeneral || q == QuotaPriority || q == QuotaReferral || q == QuotaExtra
}

// PriorityGroups are the on-site priority categories hospitals serve first.
var PriorityGroups = []string{"elderly", "disabled", "pregnant", "child", "military"}

// Window is a time window of a session with its remaining capacity.
type Window struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Capacity  int       `json:"capacity"`
	Remaining int       `json:"remaining"`
}

// Windows cuts the time from start to end into windows of at most
// MaxWindow, each with perWindow numbered slots: a session's slots.
func Windows(start, end time.Time, perWindow int) []Slot {
	var out []Slot
	for w := start; w.Before(end); w = w.Add(MaxWindow) {
		e := w.Add(MaxWindow)
		if e.After(end) {
			e = end
		}
		for range perWindow {
			out = append(out, Slot{Number: len(out) + 1, Start: w, End: e})
		}
	}
	return out
}

// Validate checks a session and its slots against the domain rules.
func (s Session) Validate(slots []Slot) error {
	switch {
	case s.Period != Morning && s.Period != Afternoon:
		return Errorf(Invalid, "session period must be morning or afternoon")
	case !s.End.After(s.Start):
		return Errorf(Invalid, "session must end after it starts")
	case s.FeeCents < 0:
		return Errorf(Invalid, "session fee must not be negative")
	}
	if _, err := time.Parse(time.DateOnly, s.Date); err != nil {
		return Errorf(Invalid, "session date must be YYYY-MM-DD")
	}
	for _, sl := range slots {
		if !sl.End.After(sl.Start) || sl.End.Sub(sl.Start) > MaxWindow {
			return Errorf(Invalid, "slot %d: time window must be longer than zero and at most 30 minutes", sl.Number)
		}
		if sl.Start.Before(s.Start) || sl.End.After(s.End) {
			return Errorf(Invalid, "slot %d: time window lies outside the session", sl.Number)
		}
	}
	return nil
}

// Account is a login, identified by a phone number.
type Account struct {
	ID        int64     `json:"id"`
	Phone     string    `json:"phone"` // masked unless revealed
	CreatedAt time.Time `json:"created_at"`
}

// Patient is a real-name identity. Name, ID number, phone and birth date are
// personal data: stored sealed, shown masked.
type Patient struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	IDType    IDType    `json:"id_type"`
	IDNumber  string    `json:"id_number"`
	Phone     string    `json:"phone"`
	BirthDate string    `json:"birth_date,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Binding links an account to a patient it may book for.
type Binding struct {
	AccountID int64     `json:"account_id"`
	PatientID int64     `json:"patient_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Status is a booking's place in its lifecycle.
type Status string

const (
	Held      Status = "held"       // unpaid, expires
	Confirmed Status = "confirmed"  // paid
	CheckedIn Status = "checked_in" // arrived, has a ticket, waiting
	Called    Status = "called"     // called into the room
	Completed Status = "completed"
	Cancelled Status = "cancelled"
	Expired   Status = "expired"
	NoShow    Status = "no_show"
)

// HoldsSlot reports whether a booking in status s keeps its slot from others.
func (s Status) HoldsSlot() bool { return s != Cancelled && s != Expired }

// transitions lists, for each status, the statuses it may move to.
var transitions = map[Status][]Status{
	Held:      {Confirmed, Cancelled, Expired},
	Confirmed: {CheckedIn, Cancelled, NoShow},
	CheckedIn: {Called, NoShow},
	Called:    {Completed, CheckedIn, NoShow}, // back to CheckedIn when the call is missed
}

// CanMove reports whether a booking may move from one status to another.
// It is the lifecycle's reference: every storage backend refuses, in the
// database, exactly the moves it refuses (storagetest checks all pairs).
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Statuses lists every status.
var Statuses = []Status{Held, Confirmed, CheckedIn, Called, Completed, Cancelled, Expired, NoShow}

// Channel is where a booking was made.
type Channel string

const (
	Online Channel = "online"
	OnSite Channel = "on_site"
)

// Booking is one patient's claim on one slot.
type Booking struct {
	ID           int64     `json:"id"`
	Code         string    `json:"code"`
	SlotID       int64     `json:"slot_id"`
	SessionID    int64     `json:"session_id"`
	DepartmentID int64     `json:"department_id"`
	Date         string    `json:"date"`
	PatientID    int64     `json:"patient_id"`
	AccountID    int64     `json:"account_id,omitempty"` // zero for walk-ins
	Channel      Channel   `json:"channel"`
	Status       Status    `json:"status"`
	HeldUntil    time.Time `json:"held_until,omitzero"`
	FeeCents     int64     `json:"fee_cents"`
	MissedCalls  int       `json:"missed_calls"`
	Priority     string    `json:"priority,omitempty"` // a priority group, interleaved in the queue
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	RequestKey   string    `json:"-"`
	// CancelledBy says who cancelled a cancelled booking: CancelledByPatient,
	// "staff", or CancelledByHospital when the session was cancelled.
	CancelledBy string `json:"cancelled_by,omitempty"`
}

// Who cancelled a booking.
const (
	CancelledByPatient  = "patient"
	CancelledByHospital = "hospital" // the hospital cancelled the session
)

// Ticket is a queue number issued at check-in. A department's board shows
// the tickets of all its rooms, so a ticket is numbered within its
// department's day under its session's prefix (A for the first session of
// the day to issue one, B for the next, …): two rooms never share a label.
type Ticket struct {
	ID        int64     `json:"id"`
	BookingID int64     `json:"booking_id"`
	SessionID int64     `json:"session_id"`
	Prefix    string    `json:"prefix"`
	Number    int       `json:"number"`
	Position  float64   `json:"-"`
	IssuedAt  time.Time `json:"issued_at"`
}

// Label is the ticket as printed and shown on the board, e.g. "B007".
func (t Ticket) Label() string {
	if t.Prefix == "" {
		return fmt.Sprintf("A%03d", t.Number)
	}
	return fmt.Sprintf("%s%03d", t.Prefix, t.Number)
}

// TicketPrefix is the prefix of the nth session (from 0) of a department's
// day to issue tickets: A to Z, then AA, AB, … .
func TicketPrefix(n int) string {
	if n < 26 {
		return string(rune('A' + n))
	}
	return TicketPrefix(n/26-1) + string(rune('A'+n%26))
}

// Role is a staff member's role; permissions follow from it.
type Role string

const (
	Registrar  Role = "registrar"
	Nurse      Role = "nurse"
	DoctorRole Role = "doctor"
	Admin      Role = "admin"
	// Security sees alerts, unlocks accounts and searches and verifies the
	// audit log; it does no clinical work.
	Security Role = "security"
	// Kiosk is a self-service device, not a person: check-in and walk-in
	// registration only.
	Kiosk Role = "kiosk"
)

// Action is something a staff member may be permitted to do.
type Action string

const (
	ActCheckIn   Action = "check_in"
	ActWalkIn    Action = "walk_in"
	ActViewQueue Action = "view_queue"
	ActCall      Action = "call"      // call next, recall, missed, complete
	ActAddSlot   Action = "add_slot"  // add an extra slot (加号), with a reason
	ActDraw      Action = "run_draw"  // run a due draw by hand
	ActRisk      Action = "view_risk" // read risk events and decisions; review flagged accounts (approve, restrict, block)
	ActSchedule  Action = "schedule"  // add clinic sessions
	ActSecurity  Action = "security"  // alerts, unlocks, audit search and verification
	ActStaff     Action = "staff"     // create, change and disable staff accounts
	// ActCancelSession cancels a clinic session (停诊): every booking in it
	// cancelled and refunded, every patient told.
	ActCancelSession Action = "cancel_session"
	// Searching by ID number and revealing a full ID number or phone need a
	// reason and are limited (internal/access); a kiosk and security do neither.
	ActLookup Action = "lookup" // find bookings by code or ID number at the desk
	ActReveal Action = "reveal" // show a patient's full ID number or phone
	// ActBindCheck binds an identity to an account after checking the ID
	// card in person, with a reason; counted as a look-up.
	ActBindCheck Action = "bind_check"
	// ActConfirmPriority confirms a priority group that the identity's
	// birth date does not show (disabled, pregnant, military), with a reason.
	ActConfirmPriority Action = "confirm_priority"
	// ActReviewReferral reads referral requests (descriptions and images
	// of patients' conditions) and approves, declines or redirects them:
	// clinical work, a doctor's for their own doctor record and a nurse's
	// (the specialist's assistant) in their scope; not an admin's, who
	// configures which doctors need review (ActSchedule).
	ActReviewReferral Action = "review_referral"
)

var permissions = map[Role][]Action{
	Registrar:  {ActCheckIn, ActWalkIn, ActViewQueue, ActLookup, ActReveal, ActBindCheck, ActConfirmPriority},
	Nurse:      {ActCheckIn, ActViewQueue, ActCall, ActLookup, ActReveal, ActReviewReferral},
	DoctorRole: {ActViewQueue, ActCall, ActAddSlot, ActReveal, ActReviewReferral},
	Admin: {ActCheckIn, ActWalkIn, ActViewQueue, ActCall, ActAddSlot, ActDraw, ActRisk, ActSchedule, ActSecurity, ActStaff,
		ActCancelSession, ActLookup, ActReveal, ActBindCheck, ActConfirmPriority},
	Security: {ActRisk, ActSecurity},
	Kiosk:    {ActCheckIn, ActWalkIn},
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := permissions[r]; return ok }

// Can reports whether role r may perform action a.
func (r Role) Can(a Action) bool {
	for _, x := range permissions[r] {
		if x == a {
			return true
		}
	}
	return false
}

// Staff is a hospital staff member who logs in with a password.
type Staff struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	// DoctorID links a doctor's login to their doctor record: they act on
	// that record's sessions only (none while unlinked).
	DoctorID int64 `json:"doctor_id,omitempty"`
	// CampusID and DepartmentID scope a nurse's or desk's work where the
	// hospital says so; zero is everywhere.
	CampusID     int64 `json:"campus_id,omitempty"`
	DepartmentID int64 `json:"department_id,omitempty"`
}

// ReleaseMode is how a session's slots are released online.
type ReleaseMode string

const (
	// FirstCome opens the session at its release time to whoever books first.
	FirstCome ReleaseMode = "first_come"
	// Draw collects entries in a window; at its close the slots are
	// allocated in a random, verifiable order.
	Draw ReleaseMode = "draw"
)

// Release is how and when one session is released. For a draw, Commitment is
// the SHA-256 of the draw's seed, published when the entry window opens.
type Release struct {
	SessionID   int64       `json:"session_id"`
	Mode        ReleaseMode `json:"mode"`
	Opens       time.Time   `json:"opens"`
	EntryCloses time.Time   `json:"entry_closes,omitzero"` // draws only
	Commitment  []byte      `json:"commitment,omitempty"`  // draws only
	Drawn       time.Time   `json:"drawn,omitzero"`        // when the draw ran
}

// Outcome is what a draw gave an entry.
type Outcome string

const (
	Won     Outcome = "won"
	Lost    Outcome = "lost"
	Skipped Outcome = "skipped" // could not be served (a limit, a suspension); the reason is recorded
)

// Entry is a patient's entry into a session's draw. Hash is the entry's
// salted hash, the only form in which it appears in the published record.
type Entry struct {
	ID        int64     `json:"id"`
	SessionID int64     `json:"session_id"`
	PatientID int64     `json:"patient_id"`
	AccountID int64     `json:"account_id"`
	Hash      []byte    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`
	// Held: entered by an account held for review (issue 17); the draw
	// leaves it out until a reviewer releases it inside the entry window.
	Held bool `json:"held,omitempty"`
	// Set by the draw.
	Rank      int     `json:"rank,omitempty"`
	Outcome   Outcome `json:"outcome,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	BookingID int64   `json:"booking_id,omitempty"`
}

// WaitlistEntry is a standing request for a freed slot of one session, or of
// any session of a doctor on a date (SessionID zero).
type WaitlistEntry struct {
	ID        int64     `json:"id"`
	SessionID int64     `json:"session_id,omitempty"`
	DoctorID  int64     `json:"doctor_id"`
	Date      string    `json:"date"`
	PatientID int64     `json:"patient_id"`
	AccountID int64     `json:"account_id"`
	CreatedAt time.Time `json:"created_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
	Outcome   string    `json:"outcome,omitempty"` // offered, left, skipped: …, closed
	BookingID int64     `json:"booking_id,omitempty"`
}

// Open reports whether the waitlist entry still waits.
func (w WaitlistEntry) Open() bool { return w.ClosedAt.IsZero() }
