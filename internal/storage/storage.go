// Package storage defines the contract every storage backend implements, so
// that the embedded SQLite store and the PostgreSQL store are interchangeable
// and pass one conformance suite (storagetest). Backends enforce the
// invariants — one holder per slot, per-patient limits, one payment per
// booking, legal status transitions — in the database itself. Personal data
// crosses this boundary only sealed; this package must never see plaintext.
package storage

import (
	"context"
	"strconv"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/release"
)

// Store is a storage backend.
type Store interface {
	// Update runs fn in one write transaction and commits when fn returns nil.
	// Writes are serialized per patient at least (SQLite: BEGIN IMMEDIATE).
	// A locked database gives an Unavailable error after the backend's wait.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction on a consistent snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Migrate applies pending migrations, each in its own transaction.
	Migrate(ctx context.Context) error
	// SchemaVersion reports the applied and the latest known migration.
	SchemaVersion(ctx context.Context) (applied, latest int, err error)
	Ping(ctx context.Context) error
	Close() error
}

// Tx is the set of operations inside one transaction. Methods return
// fairslot errors of kind NotFound, Conflict or Unavailable where the caller
// can act on them; anything else is an internal error.
type Tx interface {
	RefreshTokens     // refresh.go
	StaffAccounts     // staffaccounts.go
	Access            // access.go
	AuditLog          // auditlog.go
	Rekey             // sealed.go
	Privacy           // privacy.go
	FHIRClients       // fhirclients.go
	FHIRSubscriptions // fhirsubscriptions.go
	RiskReviews       // riskreview.go
	RiskDecisions     // risk.go
	Referrals         // referrals.go
	// The catalogue.
	CreateHospital(ctx context.Context, h *fairslot.Hospital) error
	CreateCampus(ctx context.Context, c *fairslot.Campus) error
	CreateDepartment(ctx context.Context, d *fairslot.Department) error
	CreateDoctor(ctx context.Context, d *fairslot.Doctor) error
	// CreateSession stores a session and its slots, setting their ids.
	CreateSession(ctx context.Context, s *fairslot.Session, slots []fairslot.Slot) error
	// Hospitals and Campuses list the tenant and its sites, by id (the
	// FHIR facade's Organization and Location).
	Hospitals(ctx context.Context) ([]fairslot.Hospital, error)
	Campuses(ctx context.Context) ([]fairslot.Campus, error)
	Departments(ctx context.Context) ([]fairslot.Department, error)
	Department(ctx context.Context, id int64) (fairslot.Department, error)
	Doctors(ctx context.Context, departmentID int64) ([]fairslot.Doctor, error)
	Doctor(ctx context.Context, id int64) (fairslot.Doctor, error)
	// UpdateDoctor changes a doctor's name, title and retirement (NotFound
	// if there is no such doctor).
	UpdateDoctor(ctx context.Context, d fairslot.Doctor) error
	// UpdateSession changes a session's room and fee (NotFound if there is
	// no such session); bookings keep the fee they were made at.
	UpdateSession(ctx context.Context, id int64, room string, feeCents int64) error
	// UpdateCampus renames a campus; UpdateDepartment changes a
	// department's campus, code and name (Conflict if another department
	// has the code). Both NotFound if there is no such row.
	UpdateCampus(ctx context.Context, c fairslot.Campus) error
	UpdateDepartment(ctx context.Context, d fairslot.Department) error
	// RemoveFreeSlots takes n general places out of a session's window that
	// starts at start: its highest-numbered slots that nothing refers to
	// (never booked, held or embargoed, not an extra slot). One conditional
	// write: when fewer than n are free it removes none and returns
	// Conflict, so a window never holds fewer places than it has taken.
	RemoveFreeSlots(ctx context.Context, sessionID int64, start time.Time, n int) error
	// WindowUses lists a session's time windows as a change of them needs
	// them (fairslot.WindowUse), in order of start. It takes the session's
	// turn first where the backend has turns (PostgreSQL's session lock, as
	// a booking's choice of slot does): a window edit and a booking never
	// interleave.
	WindowUses(ctx context.Context, sessionID int64) ([]fairslot.WindowUse, error)
	// MoveWindow gives every place of a session's window from–fromEnd the
	// times start–end. The database refuses it (Conflict, ErrWindowRefused)
	// when a booking not cancelled or expired holds one of the places, or
	// the new times overlap another window or lie outside the session;
	// NotFound when no window has those times.
	MoveWindow(ctx context.Context, sessionID int64, from, fromEnd, start, end time.Time) error
	// RemoveWindow takes every place of a session's window from–fromEnd
	// away, all or none: Conflict (ErrWindowRefused) when anything refers
	// to one of them (a booking of any status, an embargo, an extra
	// place's reason).
	RemoveWindow(ctx context.Context, sessionID int64, from, fromEnd time.Time) error
	// ReleaseRules lists the release rules admins stored per department or
	// doctor, over the configuration file's (release.Policy.Override).
	// PutReleaseRule stores r as the rule of its department or doctor;
	// ClearReleaseRule returns that department or doctor to the file's
	// rule. Rows are only added: the latest for a key is its rule.
	ReleaseRules(ctx context.Context) ([]release.Rule, error)
	PutReleaseRule(ctx context.Context, r release.Rule, at time.Time) error
	ClearReleaseRule(ctx context.Context, department string, doctorID int64, at time.Time) error
	Sessions(ctx context.Context, f SessionFilter) ([]fairslot.Session, error)
	Session(ctx context.Context, id int64) (fairslot.Session, error)
	Slot(ctx context.Context, id int64) (fairslot.Slot, error)
	// Windows lists a session's time windows with capacity and what remains
	// bookable at now: holds that lapsed count as free, windows that ended
	// have nothing left.
	Windows(ctx context.Context, sessionID int64, now time.Time) ([]fairslot.Window, error)
	// CancelSession records that the hospital cancelled a session (its
	// CancelledAt is then set): ErrSessionCancelled when it already was.
	// From then on the database refuses, with ErrSessionCancelled, every new
	// booking, draw entry, waitlist place, ticket and slot in the session
	// and every move of its bookings to confirmed, checked in or called; its
	// draw is no longer due. The caller cancels what the session held.
	CancelSession(ctx context.Context, c SessionCancellation) error

	// Accounts, patients and bindings.
	AccountByPhone(ctx context.Context, phoneIndex []byte) (AccountRecord, error)
	Account(ctx context.Context, id int64) (AccountRecord, error)
	CreateAccount(ctx context.Context, a *AccountRecord) error
	// AccountLanguage is the page language an account last used ("" when
	// none is known); SetAccountLanguage records a new one (a row added
	// only when it changed). Messages written for the account later (a
	// waitlist offer, a draw result) go out in it.
	AccountLanguage(ctx context.Context, accountID int64) (string, error)
	SetAccountLanguage(ctx context.Context, accountID int64, lang string, at time.Time) error
	PatientByIdentity(ctx context.Context, t fairslot.IDType, idIndex []byte) (PatientRecord, error)
	Patient(ctx context.Context, id int64) (PatientRecord, error)
	CreatePatient(ctx context.Context, p *PatientRecord) error
	PatientsOf(ctx context.Context, accountID int64) ([]PatientRecord, error)
	Bound(ctx context.Context, accountID, patientID int64) (bool, error)
	// Binding returns an account's binding to a patient: NotFound if none.
	Binding(ctx context.Context, accountID, patientID int64) (fairslot.Binding, error)
	// Bind links an account and a patient if the limits allow it, as one
	// conditional write: a Conflict when already bound, Limited when a limit
	// would be broken (bindings made at or after since count as recent).
	Bind(ctx context.Context, b fairslot.Binding, l BindLimits, since time.Time) error
	BindingCounts(ctx context.Context, accountID, patientID int64, since time.Time) (booking.Binding, error)
	// Unbind removes an account's binding to a patient (NotFound if none).
	// The binding's history stays: the window limits count bindings made,
	// not bindings held, so unbinding gives no binding back.
	Unbind(ctx context.Context, accountID, patientID int64, at time.Time) error
	// Holders lists the accounts a patient is bound to, oldest binding first.
	Holders(ctx context.Context, patientID int64) ([]int64, error)
	// SetPatientPhone sets a patient's phone on record.
	SetPatientPhone(ctx context.Context, patientID int64, phoneIndex, phoneSealed []byte) error
	// Binding codes are the one-time codes that prove an identity to bind
	// it, sent to its phone on record.
	CreateBindingCode(ctx context.Context, c *BindingCode) error
	// BindingCodesSince counts the codes sent for a patient since a time,
	// from any account.
	BindingCodesSince(ctx context.Context, patientID int64, since time.Time) (int, error)
	// LatestBindingCode returns an account's newest unused, unexpired code
	// for a patient: NotFound if none.
	LatestBindingCode(ctx context.Context, accountID, patientID int64, now time.Time) (BindingCode, error)
	UpdateBindingCode(ctx context.Context, id int64, attempts int, used bool) error

	// Logins.
	CreateLoginCode(ctx context.Context, c *LoginCode) error
	LoginCodesSince(ctx context.Context, phoneIndex []byte, since time.Time) (int, error)
	// LatestLoginCode returns the newest unused, unexpired code for a phone.
	LatestLoginCode(ctx context.Context, phoneIndex []byte, now time.Time) (LoginCode, error)
	// LoginCodes lists a phone's unused, unexpired codes, newest first.
	LoginCodes(ctx context.Context, phoneIndex []byte, now time.Time) ([]LoginCode, error)
	UpdateLoginCode(ctx context.Context, id int64, attempts int, used bool) error
	CreateToken(ctx context.Context, t Token) error
	Token(ctx context.Context, hash []byte, now time.Time) (Token, error)
	// RevokeToken ends a token before its expiry: it is no longer valid, and
	// the revocation is listed for every node's in-memory revocation set. Its
	// RevokedAt is the database's clock, whatever r says: nodes whose clocks
	// differ read revocations by that one clock.
	RevokeToken(ctx context.Context, r RevokedToken) error
	// RevokedTokens lists the revocations made at or after since (by the
	// database's clock) of tokens that expire after now.
	RevokedTokens(ctx context.Context, since, now time.Time) ([]RevokedToken, error)
	CreateStaff(ctx context.Context, s *fairslot.Staff, passwordHash string) error
	StaffByUsername(ctx context.Context, username string) (fairslot.Staff, string, error)
	Staff(ctx context.Context, id int64) (fairslot.Staff, error)

	// Bookings.
	// PatientHistory reads what the booking rules need of a patient for a
	// booking in a department on a date.
	PatientHistory(ctx context.Context, q HistoryQuery) (booking.History, error)
	// FreeSlot returns the free slot q asks for: see SlotQuery. Holds that
	// lapsed before q.Now count as free. A Conflict when none is free.
	FreeSlot(ctx context.Context, q SlotQuery) (fairslot.Slot, error)
	// EmbargoSlot keeps a freed slot out of first-come booking until until.
	EmbargoSlot(ctx context.Context, slotID int64, until time.Time) error
	// AddSlot adds a slot (an extra one) at the end of a session's numbering,
	// setting its ID and Number.
	AddSlot(ctx context.Context, s *fairslot.Slot) error
	// InsertBooking stores b (setting its ID) as one conditional write: a
	// Conflict when the slot is taken or the patient already holds a place in
	// the session, Limited when the patient would exceed l.
	InsertBooking(ctx context.Context, b *fairslot.Booking, l Limits) error
	Booking(ctx context.Context, id int64) (fairslot.Booking, error)
	BookingByCode(ctx context.Context, code string) (fairslot.Booking, error)
	BookingByRequestKey(ctx context.Context, accountID int64, key string) (fairslot.Booking, error)
	BookingsOf(ctx context.Context, accountID int64) ([]fairslot.Booking, error)
	// PatientBookings lists a patient's newest bookings, for the desk.
	PatientBookings(ctx context.Context, patientID int64) ([]fairslot.Booking, error)
	// SessionBookings lists every booking of a session, in any status.
	SessionBookings(ctx context.Context, sessionID int64) ([]fairslot.Booking, error)
	// MoveBooking changes a booking's status from one to another, only if it
	// is still in from (a Conflict otherwise); the database refuses a
	// transition the lifecycle does not allow.
	MoveBooking(ctx context.Context, id int64, from, to fairslot.Status, m Move) error
	// ExpireHolds moves held bookings whose hold lapsed before now to expired,
	// in one session or (sessionID 0) everywhere, and returns their ids.
	ExpireHolds(ctx context.Context, sessionID int64, now time.Time) ([]int64, error)
	// MarkNoShows moves paid bookings of sessions that ended before endedBefore
	// whose patient never checked in to no_show, and returns their ids. A
	// patient who arrived but was not reached is not a no-show.
	MarkNoShows(ctx context.Context, endedBefore, now time.Time) ([]int64, error)

	// Payments. An online payment is stored as a pending intent before the
	// provider is asked, so that whatever fails afterwards the database
	// knows that money may have moved; see PaymentStatus. Keys are unique; a
	// booking has at most one live (pending or settled) payment; the
	// database refuses a transition the lifecycle does not allow, any change
	// of a payment's key, booking, amount or provider, and a payment settled
	// onto a booking that is not confirmed. Payments are never deleted.
	Payment(ctx context.Context, key string) (Payment, error)
	// PaymentOf returns a booking's live payment: NotFound when it has none.
	PaymentOf(ctx context.Context, bookingID int64) (Payment, error)
	// InsertPayment stores p, pending (an intent) or settled (paid at the
	// desk, onto a confirmed booking): a Conflict when its key is taken or
	// its booking already has a live payment.
	InsertPayment(ctx context.Context, p Payment) error
	// MovePayment changes a payment's status from one to another, only if it
	// is still in from (a Conflict otherwise), and sets its provider
	// reference when m names one; its attempts start again from 0.
	MovePayment(ctx context.Context, key string, from, to PaymentStatus, m PaymentMove) error
	// PaymentAttempt records a try at the provider that did not conclude:
	// one more attempt, and at as the payment's last change.
	PaymentAttempt(ctx context.Context, key string, at time.Time) error
	// DuePayments lists up to limit payments through provider that are
	// pending or refunding and were last changed or tried at or before
	// before, the longest-waiting first: what the sweep reconciles.
	DuePayments(ctx context.Context, provider string, before time.Time, limit int) ([]Payment, error)

	// Queue tickets.
	// IssueTicket gives the booking the next ticket of its department's
	// day under its session's prefix (the session's own if it has issued
	// one, else the next letter not used that day: fairslot.TicketPrefix)
	// and puts it at the end of the queue. A label is unique on its
	// department's board: the database refuses a second one, whichever
	// rooms check in at once.
	IssueTicket(ctx context.Context, t *fairslot.Ticket) error
	Ticket(ctx context.Context, bookingID int64) (fairslot.Ticket, error)
	// Queue lists a session's checked-in and called bookings with their
	// tickets, in queue order.
	Queue(ctx context.Context, sessionID int64) ([]QueueEntry, error)
	SetTicketPosition(ctx context.Context, ticketID int64, position float64) error
	// DepartmentQueue lists a department's checked-in and called bookings
	// of a date with their tickets: by session, each in queue order.
	DepartmentQueue(ctx context.Context, departmentID int64, date string) ([]QueueEntry, error)

	// The outbox of messages to send (one-time codes), sealed. A message
	// whose DedupeKey is already in the outbox is not added, and that is
	// no error: so a reminder goes out once however many sweeps find it.
	AppendOutbox(ctx context.Context, m OutboxMessage) error
	// DueOutbox lists up to limit pending messages whose next attempt is at
	// or before now, oldest first.
	DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxMessage, error)
	// OutboxBacklog counts the pending messages.
	OutboxBacklog(ctx context.Context) (int, error)
	// AttemptOutbox records a pending message's attempt number attempts
	// (one more than it had) and when the next may start: a Conflict when
	// the message is no longer pending or another attempt was recorded
	// first, so two senders never take the same attempt.
	AttemptOutbox(ctx context.Context, id int64, attempts int, next time.Time) error
	// FinishOutbox ends a pending message as OutboxSent (at at) or
	// OutboxDead: a Conflict when it is not pending.
	FinishOutbox(ctx context.Context, id int64, status OutboxStatus, at time.Time) error

	// Reminders (issue 13 item 3): bookings a reminder is due for and not
	// yet written (no outbox message has its key, PayReminderKey or
	// DayReminderKey), up to limit, by id.
	// PayReminders: held bookings with an account that the system made
	// for a patient to pay by a deadline — a waitlist offer or a draw
	// win, not a hold the patient made — whose deadline is after now and
	// at most lead away, and which were made more than lead before it.
	PayReminders(ctx context.Context, now time.Time, lead time.Duration, limit int) ([]fairslot.Booking, error)
	// DayReminders: confirmed bookings with an account on date (a
	// session's date) that were confirmed before confirmedBefore.
	DayReminders(ctx context.Context, date string, confirmedBefore time.Time, limit int) ([]fairslot.Booking, error)

	// Audit records, appended in the transaction of the change they record.
	AppendAudit(ctx context.Context, e *audit.Event) error
	AuditEvents(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error)
	// FHIRAudit pages the FHIR audit trail (see AuditQuery) in seq order,
	// with how many records match in all.
	FHIRAudit(ctx context.Context, q AuditQuery) (page []audit.Event, total int, err error)

	// Releases and draws.
	// InsertRelease stores a session's release with its draw seed sealed (nil
	// for first come): a Conflict when the session has one.
	InsertRelease(ctx context.Context, r fairslot.Release, seedSealed []byte) error
	// Release returns a session's release, Drawn set once its draw ran.
	Release(ctx context.Context, sessionID int64) (fairslot.Release, error)
	ReleaseSeed(ctx context.Context, sessionID int64) ([]byte, error)
	// DueDraws lists the sessions whose entry window closed at or before now
	// and whose draw has not run.
	DueDraws(ctx context.Context, now time.Time) ([]int64, error)
	// InsertEntry stores a draw entry (setting its ID) as one conditional
	// write: a Conflict when the patient already entered the session's draw,
	// Limited when the account already has max entries for draws released
	// on day.
	InsertEntry(ctx context.Context, e *fairslot.Entry, day string, max int) error
	// Entries lists a session's entries by id, with their results once drawn.
	Entries(ctx context.Context, sessionID int64) ([]fairslot.Entry, error)
	EntriesOf(ctx context.Context, accountID int64) ([]fairslot.Entry, error)
	EntryCount(ctx context.Context, sessionID int64) (int, error)
	// FinishDraw stores the results of a session's draw and its published
	// record, once: a Conflict when the draw already ran.
	FinishDraw(ctx context.Context, sessionID int64, at time.Time, record []byte, results []fairslot.Entry) error
	DrawRecord(ctx context.Context, sessionID int64) ([]byte, error)

	// Waitlists.
	// JoinWaitlist stores w (setting its ID): a Conflict when the patient
	// already waits for that doctor on that date.
	JoinWaitlist(ctx context.Context, w *fairslot.WaitlistEntry) error
	WaitlistEntry(ctx context.Context, id int64) (fairslot.WaitlistEntry, error)
	// Waitlist lists the open entries for a doctor on a date, oldest first.
	Waitlist(ctx context.Context, doctorID int64, date string) ([]fairslot.WaitlistEntry, error)
	WaitlistOf(ctx context.Context, accountID int64) ([]fairslot.WaitlistEntry, error)
	// CloseWaitlist closes an open entry: a Conflict when it is closed.
	CloseWaitlist(ctx context.Context, id int64, at time.Time, outcome string, bookingID int64) error

	// Anti-laundering and risk.
	InsertCancellation(ctx context.Context, sessionID int64, c release.Cancellation) error
	// Cancellations lists a session's cancellations made at or after since.
	Cancellations(ctx context.Context, sessionID int64, since time.Time) ([]release.Cancellation, error)
	AppendRisk(ctx context.Context, r *RiskEvent) error
	RiskEvents(ctx context.Context, afterID int64, limit int) ([]RiskEvent, error)
	// RiskCount counts an account's risk events at or after since.
	RiskCount(ctx context.Context, accountID int64, since time.Time) (int, error)

	// Calls made in a session, for the priority interleave.
	InsertCall(ctx context.Context, sessionID, bookingID int64, priority bool, at time.Time) error
	// RecentCalls returns whether each of the last n calls of a session went
	// to a priority patient, oldest first.
	RecentCalls(ctx context.Context, sessionID int64, n int) ([]bool, error)
	// InsertRecall records a called booking called again: its board shows
	// it anew; it takes no turn in the priority interleave.
	InsertRecall(ctx context.Context, sessionID, bookingID int64, at time.Time) error

	// Savepoint runs fn so that, when it fails, what it wrote is undone and
	// the transaction can go on.
	Savepoint(ctx context.Context, fn func() error) error

	// Settings: small named values the system keeps for itself.
	Setting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
}

// SessionCancellation is the hospital's cancellation of a session.
type SessionCancellation struct {
	SessionID int64
	At        time.Time
	StaffID   int64 // who cancelled it; 0 for set-up and background work
	Reason    string
}

// ErrSessionCancelled refuses a claim on a session the hospital cancelled.
var ErrSessionCancelled = &fairslot.Error{Kind: fairslot.Conflict, Key: "error.session.cancelled",
	Message: "the hospital has cancelled this session"}

// ErrWindowRefused is the database's refusal of a change of a session's
// time windows (migration 0032): a patient booked a place in the window
// meanwhile, or the windows would overlap or leave the session.
var ErrWindowRefused = (&fairslot.Error{Kind: fairslot.Conflict, Key: "error.windows.refused",
	Message: "the windows were not changed: a patient booked one meanwhile, or they would overlap; look at the session again"}).On("windows")

// SessionFilter selects sessions; zero fields select all.
type SessionFilter struct {
	DoctorID, DepartmentID, CampusID int64
	From, To                         string // dates, inclusive
	// Limit (0: no limit) and Offset page the list, in its order (date,
	// start, id).
	Limit, Offset int
}

// AuditQuery selects records of the FHIR audit trail, which the FHIR
// facade serves as AuditEvents: every fhir.call record, every record of an
// act by a FHIR client (actor "fhir-client:…") and every record of a
// change to one (subject "fhir-client:…"). The filters are ANDed; an empty
// list or zero value does not filter. There is no index on at, actor or
// subject (the audit tables are append-only and kept lean for the writers):
// a search reads the trail in seq order, so a narrow date range over a
// large log costs a scan.
type AuditQuery struct {
	Seq      int64     // the one record with this seq
	From, To time.Time // at in [From, To)
	Actors   []string  // the actor is one of these
	Subjects []string  // the subject is one of these
	// Operations: a fhir.call record whose detail's operation is one of
	// these ("read", "search-type", "$book").
	Operations    []string
	Offset, Limit int // Limit 0: none
}

// AccountRecord is an account as stored: the phone sealed and indexed.
type AccountRecord struct {
	ID          int64
	Ref         string // random, unique: the row's name in associated data
	PhoneIndex  []byte
	PhoneSealed []byte
	CreatedAt   time.Time
}

// PatientRecord is a patient as stored: personal data sealed, look-up fields
// as keyed blind indexes.
type PatientRecord struct {
	ID          int64
	Ref         string
	IDType      fairslot.IDType
	IDIndex     []byte
	IDSealed    []byte
	NameSealed  []byte
	PhoneIndex  []byte
	PhoneSealed []byte
	BirthSealed []byte
	CreatedAt   time.Time
}

// BindLimits are the binding limits the database enforces.
type BindLimits struct {
	PatientsPerAccount, AccountsPerPatient, RecentPerAccount int
	// RecentPerPatient bounds the bindings of one patient made within the
	// window, by any accounts (0: no bound).
	RecentPerPatient int
}

// BindingCode is a one-time code that proves an identity for binding it to
// an account, stored hashed.
type BindingCode struct {
	ID                   int64
	AccountID, PatientID int64
	CodeHash             []byte
	Attempts             int
	ExpiresAt, CreatedAt time.Time
}

// HistoryQuery selects the history the rules need: active bookings in the
// department and on the date of the booking to be made, active bookings
// from Today on (a past day's booking left checked in, its patient not
// reached, no longer counts), and no-shows and cancellations since Since —
// the patient's, and the cancellations made by AccountID when not zero.
type HistoryQuery struct {
	PatientID, DepartmentID, AccountID int64
	Date, Today                        string
	Since                              time.Time
}

// SlotQuery asks for the lowest-numbered free slot of a session whose window
// has not ended by Now, in the window starting at WindowStart when that is
// not zero, of Quota (general when empty), and not embargoed unless
// Embargoed is set (waitlist offers and draws go past embargoes).
type SlotQuery struct {
	SessionID   int64
	WindowStart time.Time
	Now         time.Time
	Quota       fairslot.Quota // use Wanted
	Embargoed   bool
}

// Wanted returns the quota a query asks for: general when none is named.
func (q SlotQuery) Wanted() fairslot.Quota {
	if q.Quota == "" {
		return fairslot.QuotaGeneral
	}
	return q.Quota
}

// RiskEvent is a signal that an account may be laundering or scalping,
// kept for review and explainable: Kind says what was seen, Detail how.
type RiskEvent struct {
	ID        int64             `json:"id"`
	At        time.Time         `json:"at"`
	Kind      string            `json:"kind"`
	AccountID int64             `json:"account_id"`
	SessionID int64             `json:"session_id"`
	Detail    map[string]string `json:"detail,omitempty"`
}

// Limits are the per-patient booking limits the database enforces; Active
// counts bookings dated Today or later.
type Limits struct {
	PerDepartmentPerDay, PerDay, Active int
	Today                               string
}

// Move carries what changes with a status transition.
type Move struct {
	At          time.Time
	MissedCalls int    // new count, when not negative
	CancelledBy string // fairslot.CancelledByPatient, "staff" or fairslot.CancelledByHospital, for cancellations
}

// LoginCode is a one-time code sent to a phone, stored hashed.
type LoginCode struct {
	ID         int64
	PhoneIndex []byte
	CodeHash   []byte
	ExpiresAt  time.Time
	Attempts   int
	CreatedAt  time.Time
	// Requester is a keyed hash of the device and address prefix that
	// asked for the code (nil for codes written before it was kept).
	Requester []byte
}

// TokenKind says whose bearer token it is.
type TokenKind string

const (
	AccountToken TokenKind = "account"
	StaffToken   TokenKind = "staff"
)

// Token is a bearer token, stored as its SHA-256 hash.
type Token struct {
	Hash      []byte
	Kind      TokenKind
	SubjectID int64
	ExpiresAt time.Time
	CreatedAt time.Time
}

// RevokedToken is a bearer token (its SHA-256) revoked before it expires.
type RevokedToken struct {
	Hash      []byte
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Payment is money for a booking through a provider, named by its
// idempotency key (the key the provider knows it by).
type Payment struct {
	Key         string
	BookingID   int64
	AmountCents int64
	Provider    string
	ProviderRef string // the provider's reference, once it gave one
	Status      PaymentStatus
	Attempts    int // tries at the provider in this status that did not conclude
	CreatedAt   time.Time
	UpdatedAt   time.Time // the last change or attempt
}

// PaymentStatus is where a payment is in its life:
//
//	pending → settled | declined | refunding | refunded
//	settled → refunding → refunded
//
// A booking is confirmed (or later) exactly when it has a settled payment.
// Nothing leaves refunding but a refund the provider confirmed, so a refund
// cut short by a crash or a provider error is tried again.
type PaymentStatus string

const (
	// PaymentPending: recorded before the provider is asked; money may or
	// may not have been taken.
	PaymentPending PaymentStatus = "pending"
	// PaymentSettled: taken, and the booking confirmed on it in the same
	// transaction.
	PaymentSettled PaymentStatus = "settled"
	// PaymentDeclined: the provider refused; nothing was taken.
	PaymentDeclined PaymentStatus = "declined"
	// PaymentRefunding: whatever was taken must go back, and the key be
	// closed at the provider so that nothing more is taken under it.
	PaymentRefunding PaymentStatus = "refunding"
	// PaymentRefunded: the provider confirmed that nothing is kept.
	PaymentRefunded PaymentStatus = "refunded"
)

// Live reports whether a payment holds its booking: pending or settled.
func (s PaymentStatus) Live() bool { return s == PaymentPending || s == PaymentSettled }

// PaymentMove carries what changes with a payment's transition.
type PaymentMove struct {
	At          time.Time
	ProviderRef string // set when not empty
}

// QueueEntry is a booking in a clinic queue with its ticket, session room
// and the patient's sealed name (for the masked display).
type QueueEntry struct {
	Booking    fairslot.Booking
	Ticket     fairslot.Ticket
	Room       string
	PatientRef string
	NameSealed []byte
	CalledAt   time.Time // the last call or recall; zero if never called
	Recalls    int       // recalls since the last call
}

// OutboxMessage is a message to send, sealed, with its own row reference.
type OutboxMessage struct {
	ID              int64
	Ref             string
	Channel         string
	RecipientSealed []byte
	BodySealed      []byte
	CreatedAt       time.Time
	// DedupeKey, when set, is unique in the outbox: AppendOutbox adds a
	// message with a key already there as nothing.
	DedupeKey string
	// Read back only: where the message stands.
	Status      OutboxStatus
	Attempts    int
	NextAttempt time.Time
	SentAt      time.Time
}

// PayReminderKey is the outbox dedupe key of a booking's payment deadline
// reminder; the backends' PayReminders match it in SQL.
func PayReminderKey(bookingID int64) string {
	return "reminder:pay:" + strconv.FormatInt(bookingID, 10)
}

// DayReminderKey is the outbox dedupe key of a booking's day-before
// reminder; the backends' DayReminders match it in SQL.
func DayReminderKey(bookingID int64) string {
	return "reminder:day:" + strconv.FormatInt(bookingID, 10)
}

// OutboxStatus is where an outbox message stands.
type OutboxStatus string

const (
	OutboxPending OutboxStatus = "pending" // to send, at NextAttempt
	OutboxSent    OutboxStatus = "sent"
	OutboxDead    OutboxStatus = "dead" // refused for good, or out of attempts
)
