package notify

import (
	"context"
	"time"
)

// Retry is how a sender of durable messages retries them: the outbox's
// Dispatcher and the FHIR Subscriptions' deliverer share it. MaxAttempts
// sends before a message is dead (0: 8); the wait after the n-th failed
// attempt is Backoff·2ⁿ⁻¹, at most MaxBackoff (0: 5s and 10m). SendTimeout
// bounds one send (0: the sender's own default). Batch is how many
// messages one pass takes (0: 50).
type Retry struct {
	MaxAttempts         int
	Backoff, MaxBackoff time.Duration
	SendTimeout         time.Duration
	Batch               int
}

// Defaults fills r's zero fields, SendTimeout with send.
func (r *Retry) Defaults(send time.Duration) {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 8
	}
	if r.Backoff <= 0 {
		r.Backoff = 5 * time.Second
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 10 * time.Minute
	}
	if r.SendTimeout <= 0 {
		r.SendTimeout = send
	}
	if r.Batch <= 0 {
		r.Batch = 50
	}
}

// Wait is the wait after the n-th failed attempt.
func (r Retry) Wait(n int) time.Duration {
	w := r.Backoff
	for i := 1; i < n && w < r.MaxBackoff; i++ {
		w *= 2
	}
	return min(w, r.MaxBackoff)
}

// Passes runs pass every poll, and when wake (nil: never) asks, until ctx
// ends, while leading reports true (the job lock; nil: always). A pass
// that took a whole batch is followed by another at once: more may be due.
// fail hears a pass's error unless ctx ended.
func (r Retry) Passes(ctx context.Context, poll time.Duration, leading func() bool, wake <-chan struct{},
	pass func(context.Context) (int, error), fail func(error)) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if leading == nil || leading() {
			for {
				n, err := pass(ctx)
				if err != nil && ctx.Err() == nil {
					fail(err)
				}
				if err != nil || n < r.Batch {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}
