package storage

import (
	"context"
	"time"
)

// AccessRecord is one look at a patient's personal data by a member of
// staff (issue 12 items 5 and 8): a full name shown where care needs it, a
// reveal, a look-up by ID number (found or not) or a masked export. The
// free-text note is personal data and is stored sealed (table access_log,
// column note_sealed, row Ref).
type AccessRecord struct {
	ID         int64
	Ref        string // random, unique: the row's name in associated data
	At         time.Time
	StaffID    int64
	Role       string
	PatientID  int64 // zero for a look-up that found no one, or an export
	SessionID  int64 // the clinic it was for, when there is one
	Kind       string
	Field      string // name, id, phone, list
	Reason     string
	NoteSealed []byte
	Place      string // the room or desk, as the patient will read it
	// Subject is what the limits count as one patient: "patient:12", or a
	// name of the search for a look-up that found no one.
	Subject string
	// Key, when set, makes the record once-only: a second record with the
	// same key is not stored (a refreshing room page shows the same names).
	Key string
}

// SecurityEvent is something a security officer must see: an account
// locked by the access limits, with why.
type SecurityEvent struct {
	ID      int64             `json:"id"`
	At      time.Time         `json:"at"`
	Kind    string            `json:"kind"`
	StaffID int64             `json:"staff_id"`
	Detail  map[string]string `json:"detail,omitempty"`
}

// Access is the storage of accesses to personal data, of the access lock
// on staff accounts and of security events. Records are only appended.
type Access interface {
	// AppendAccess stores r, setting its ID, and reports whether it was
	// stored: false (and no error) when a record with its Key exists.
	AppendAccess(ctx context.Context, r *AccessRecord) (bool, error)
	// AccessKeysSeen reports which of keys are already recorded.
	AccessKeysSeen(ctx context.Context, keys []string) (map[string]bool, error)
	// AccessesOfPatient lists the newest accesses to a patient's data.
	AccessesOfPatient(ctx context.Context, patientID int64, limit int) ([]AccessRecord, error)
	// CountedAccesses lists a member of staff's accesses of the given kinds
	// made at or after since, oldest first.
	CountedAccesses(ctx context.Context, staffID int64, kinds []string, since time.Time) ([]AccessRecord, error)
	// LockStaffAccess locks a staff account (if not locked) at at.
	LockStaffAccess(ctx context.Context, staffID int64, at time.Time) error
	// UnlockStaffAccess clears the access lock.
	UnlockStaffAccess(ctx context.Context, staffID int64) error
	// StaffAccessLocked returns when the account was locked; zero if not.
	StaffAccessLocked(ctx context.Context, staffID int64) (time.Time, error)
	AppendSecurityEvent(ctx context.Context, e *SecurityEvent) error
	// SecurityEvents lists events after afterID, oldest first.
	SecurityEvents(ctx context.Context, afterID int64, limit int) ([]SecurityEvent, error)
	// SetStaffScope sets a login's doctor link, campus and department (zero
	// clears each): NotFound for no such login.
	SetStaffScope(ctx context.Context, staffID, doctorID, campusID, departmentID int64) error
}
