package storage

import (
	"errors"
	"time"

	"github.com/fairslot/fairslot"
)

// Two kinds of Unavailable come out of a backend, and an operator treats
// them differently: lock contention passes by itself (or by the lock
// watchdog), while a fault of the storage itself — a full or read-only disk,
// an I/O error, a database that cannot be reached — lasts until someone acts.
// Both backends return the same values, so the edges can tell them apart
// without knowing which backend runs.

// ErrBusy is what a user sees when a write waited too long for a lock that
// another session holds.
var ErrBusy = &fairslot.Error{Kind: fairslot.Unavailable, Message: "registration is temporarily unavailable: the database is busy; retry in a few seconds"}

// ErrUnwritable is what a user sees when the storage itself fails (a Fault).
// The minute is a guess at how long an operator needs; a client retrying
// every few seconds would only add load to a server that cannot write.
var ErrUnwritable = &fairslot.Error{Kind: fairslot.Unavailable, RetryAfter: time.Minute,
	Message: "registration is temporarily unavailable: the server cannot write to its storage (disk full, read-only or unreachable); retry in a minute"}

// Reason names a storage fault; it is a metric label, so the set is small
// and fixed.
type Reason string

const (
	DiskFull     Reason = "disk_full"     // no space left (SQLITE_FULL, PostgreSQL 53100)
	ReadOnly     Reason = "read_only"     // a read-only file system or database, or a standby (25006)
	IOError      Reason = "io_error"      // the disk failed a read or write (SQLITE_IOERR, 58030)
	OutOfMemory  Reason = "out_of_memory" // SQLITE_NOMEM, 53200
	CannotOpen   Reason = "cannot_open"   // the database file cannot be opened or is not one (SQLITE_CANTOPEN, SQLITE_NOTADB, SQLITE_PERM)
	Corrupt      Reason = "corrupt"       // SQLITE_CORRUPT, XX001, XX002
	Unreachable  Reason = "unreachable"   // the database server cannot be reached or is shutting down (class 08, 57P01–57P03)
	TooManyConns Reason = "too_many_connections"
)

// Fault is a condition of the storage an operator must act on. It reads as
// ErrUnwritable to fairslot.ErrorKind, ErrorMessage and RetryAfter, and keeps
// the driver's error for the log.
type Fault struct {
	Reason Reason
	Err    error // the driver's error; never shown to a user
}

func (f *Fault) Error() string { return "storage fault (" + string(f.Reason) + "): " + f.Err.Error() }

// Unwrap gives ErrUnwritable first, so that the user-facing error found in
// the chain is it and not anything the driver's error may wrap.
func (f *Fault) Unwrap() []error { return []error{ErrUnwritable, f.Err} }

// FaultOf returns the storage fault in err's chain, or nil.
func FaultOf(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	return nil
}
