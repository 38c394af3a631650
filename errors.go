package fairslot

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it. Each transport
// maps kinds to its own status codes in exactly one place.
type Kind string

const (
	Invalid      Kind = "invalid"       // the request is malformed or breaks a rule of input
	Unauthorized Kind = "unauthorized"  // no valid credentials
	Forbidden    Kind = "forbidden"     // credentials valid, permission missing
	NotFound     Kind = "not_found"     // no such thing, or not visible to the caller
	Conflict     Kind = "conflict"      // the state changed or would break an invariant
	Limited      Kind = "limit_reached" // a per-patient, per-account or rate limit
	Gone         Kind = "gone"          // existed but is no longer usable (expired hold, used code)
	TooLarge     Kind = "too_large"     // body or field over its size limit
	Unavailable  Kind = "unavailable"   // temporarily unable (database locked, shutting down, overloaded)
	// ChallengeRequired: the request needs a solved proof-of-work challenge.
	ChallengeRequired Kind = "challenge_required"
	Internal          Kind = "internal" // a bug or an unexpected failure; never shown in detail
)

// Error is an error a user may see: its Message is safe to show, and it never
// carries personal data or internal details.
type Error struct {
	Kind    Kind
	Message string
	// RetryAfter, when set, is how long the caller should wait before trying
	// again (a rate limit).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

// Errorf returns an *Error of the given kind.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err, or Internal when err is not an *Error.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// ErrorMessage returns the user-facing message of err; internal errors get a
// generic text so that no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// RetryAfter returns how long the caller of a refused request should wait,
// or 0 when err does not say.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
