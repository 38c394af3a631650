// Package notify sends patients their messages: the outbox's dispatcher
// (dispatch.go), which the job leader runs, and the providers it sends
// through — an HTTP SMS gateway (smshttp.go), SMTP email (smtp.go) and the
// demo's log (log.go). Requests only write messages to the outbox, in
// their own transaction; nothing here ever runs on a request's path, so a
// slow or dead provider makes a message late, never a booking slow. It
// must never log a message's text or recipient outside the demo's log
// provider, nor send one message twice for one outbox row.
package notify

import (
	"context"
	"errors"
	"fmt"
)

// Message is one message to deliver. Ref is its outbox row's reference:
// the same on every attempt, so providers pass it on as an idempotency key
// and a gateway that saw it already does not deliver it again.
type Message struct {
	Channel   string // "sms" (Recipient a phone) or "email" (an address)
	Recipient string
	Text      string
	Ref       string
}

// Provider delivers messages. An error wrapped by Permanent means the
// provider refused the message for good (it is dead, not retried); any
// other error, a timeout included, means try again later.
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(ctx context.Context, m Message) error

// Send calls f.
func (f ProviderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

type permanent struct{ err error }

func (p permanent) Error() string { return "refused for good: " + p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as a refusal that trying again cannot change.
func Permanent(err error) error { return permanent{err} }

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err is (or wraps) a Permanent refusal.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
