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
//
// Message is English, for logs and for API clients that read none of the
// catalogue's languages. Key names the message in the translation catalogue
// (internal/web/i18n, keys under "error."), Args are its parameters in order
// — the same values the English Message was formatted with — and Field names
// the input the error is about ("id_number"), so a form can show it next to
// that field. An Error without a Key is shown by its kind's generic text
// (KindKey), never by its English Message.
type Error struct {
	Kind    Kind
	Message string
	Key     string
	Args    []any
	Field   string
	// RetryAfter, when set, is how long the caller should wait before trying
	// again (a rate limit).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

// Errorf returns an *Error of the given kind.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// E returns an *Error of the given kind with a catalogue key: format and
// args make the English Message, and args are the translation's parameters
// too, so both say the same.
func E(kind Kind, key, format string, args ...any) *Error {
	return &Error{Kind: kind, Key: key, Args: args, Message: fmt.Sprintf(format, args...)}
}

// On returns a copy of e about the input field named field.
func (e *Error) On(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// With returns a copy of e whose translation takes args rather than the
// values its English Message was formatted with: a time.Time, say, that
// each language writes its own way, where the Message holds it as text.
func (e *Error) With(args ...any) *Error {
	c := *e
	c.Args = args
	return &c
}

// KindKey is the catalogue key of a kind's generic text, for an error that
// has no key of its own.
func KindKey(k Kind) string { return "error.kind." + string(k) }

// ErrorKey returns the catalogue key of err and its parameters: its own, or
// its kind's generic text (with no parameters) when it has none or is not
// an *Error at all.
func ErrorKey(err error) (key string, args []any) {
	var e *Error
	if !errors.As(err, &e) {
		return KindKey(Internal), nil
	}
	if e.Key == "" {
		return KindKey(e.Kind), nil
	}
	return e.Key, e.Args
}

// ErrorField returns the input field err is about, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Kinds lists every kind, for tests that check each has its text.
var Kinds = []Kind{Invalid, Unauthorized, Forbidden, NotFound, Conflict, Limited, Gone, TooLarge, Unavailable, ChallengeRequired, Internal}

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
