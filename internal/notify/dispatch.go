package notify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Dispatcher sends the outbox: the job leader runs it (cmd/fairslot's
// backgroundJobs), never a request. Each pass takes the due pending
// messages oldest first and, in one transaction, records an attempt for
// each — a lease: the next attempt may start only after the backoff plus
// the send timeout, so a leader that died mid-send, or a leader that
// lost the job lock while sending, leaves the message alone until then —
// then opens, renders and sends each one, and in a second transaction
// marks the sent ones sent and the refused or exhausted ones dead (each
// with an ALERT in the log). A message is sent again only when its attempt
// failed or its outcome was never recorded (the server stopped between
// the send and the mark), and always with the same ref as idempotency
// key, so a gateway that honours it delivers it once.
type Dispatcher struct {
	Store    storage.Store
	Vault    *vault.Vault
	Provider Provider // nil: send nothing, only measure the backlog
	Log      *slog.Logger
	Now      func() time.Time
	// Retry says how often and how long apart a message is tried
	// (SendTimeout 0: 30s).
	Retry
	once                sync.Once
	wake                chan struct{}
	sent, retried, dead atomic.Int64
	backlog             atomic.Int64
}

// Stats are the dispatcher's counts since it started, and the backlog it
// last saw.
type Stats struct {
	Sent, Retried, Dead int64
	Backlog             int64
}

// Stats reports the counts.
func (d *Dispatcher) Stats() Stats {
	return Stats{Sent: d.sent.Load(), Retried: d.retried.Load(), Dead: d.dead.Load(), Backlog: d.backlog.Load()}
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.wake = make(chan struct{}, 1)
		d.Defaults(30 * time.Second)
		if d.Now == nil {
			d.Now = time.Now
		}
	})
}

// Wake asks for a pass now, without waiting: a request calls it after it
// wrote a message, so that a code goes out at once rather than at the next
// poll. It never blocks.
func (d *Dispatcher) Wake() {
	if d == nil {
		return
	}
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run passes over the outbox until ctx ends: when woken and every poll,
// while leading reports true (the job lock; always true on SQLite).
func (d *Dispatcher) Run(ctx context.Context, poll time.Duration, leading func() bool) {
	d.init()
	d.Passes(ctx, poll, leading, d.wake, d.Pass, func(err error) { d.Log.Error("notify: outbox pass failed", "err", err) })
}

// Pass sends the messages due now, reporting how many it took.
func (d *Dispatcher) Pass(ctx context.Context) (int, error) {
	d.init()
	if d.Provider == nil { // the "none" provider: the outbox keeps everything
		return 0, d.measure(ctx)
	}
	now := d.Now()
	var due []storage.OutboxMessage
	err := d.Store.Update(ctx, func(tx storage.Tx) error {
		var err error
		if due, err = tx.DueOutbox(ctx, now, d.Batch); err != nil {
			return err
		}
		for i := range due {
			due[i].Attempts++
			lease := now.Add(d.Wait(due[i].Attempts) + d.SendTimeout)
			if err := tx.AttemptOutbox(ctx, due[i].ID, due[i].Attempts, lease); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	ends := map[int64]storage.OutboxStatus{}
	for _, m := range due {
		if ctx.Err() != nil {
			break // not sent: the lease lapses and the next leader sends it
		}
		if st, ok := d.send(ctx, m); ok {
			ends[m.ID] = st
		}
	}
	if len(ends) > 0 {
		// Recorded even as the server stops, so that a sent message is not
		// sent again after the restart.
		finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		at := d.Now()
		err = d.Store.Update(finishCtx, func(tx storage.Tx) error {
			for id, st := range ends {
				if err := tx.FinishOutbox(finishCtx, id, st, at); err != nil && fairslot.ErrorKind(err) != fairslot.Conflict {
					return err
				}
			}
			return nil
		})
	}
	if err == nil && ctx.Err() == nil { // stopping: the next leader measures
		err = d.measure(ctx)
	}
	return len(due), err
}

// measure reads the backlog for Stats (the metrics' gauge), so that a
// scrape never reads the database.
func (d *Dispatcher) measure(ctx context.Context) error {
	return d.Store.View(ctx, func(tx storage.Tx) error {
		n, err := tx.OutboxBacklog(ctx)
		d.backlog.Store(int64(n))
		return err
	})
}

// send opens, renders and sends one message, returning how it ended (ok
// false: still pending, to be tried again at its next attempt).
func (d *Dispatcher) send(ctx context.Context, m storage.OutboxMessage) (storage.OutboxStatus, bool) {
	to, err := d.Vault.Open(vault.Field{Table: "outbox", Row: m.Ref, Column: "recipient"}, m.RecipientSealed)
	var body string
	if err == nil {
		body, err = d.Vault.Open(vault.Field{Table: "outbox", Row: m.Ref, Column: "body"}, m.BodySealed)
	}
	var text string
	if err == nil {
		text, err = Text(body)
	}
	if err != nil {
		d.dead.Add(1)
		d.Log.Error("ALERT: notify: an outbox message cannot be opened or rendered; it is dead", "ref", m.Ref, "err", err)
		return storage.OutboxDead, true
	}
	sendCtx, cancel := context.WithTimeout(ctx, d.SendTimeout)
	err = d.Provider.Send(sendCtx, Message{Channel: m.Channel, Recipient: to, Text: text, Ref: m.Ref})
	cancel()
	switch {
	case err == nil:
		d.sent.Add(1)
		return storage.OutboxSent, true
	case IsPermanent(err):
		d.dead.Add(1)
		d.Log.Error("ALERT: notify: the provider refused a message for good; it is dead", "ref", m.Ref, "channel", m.Channel, "err", err)
		return storage.OutboxDead, true
	case m.Attempts >= d.MaxAttempts:
		d.dead.Add(1)
		d.Log.Error("ALERT: notify: a message failed every attempt; it is dead", "ref", m.Ref, "channel", m.Channel, "attempts", m.Attempts, "err", err)
		return storage.OutboxDead, true
	}
	d.retried.Add(1)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.New("the provider did not answer in time")
	}
	d.Log.Warn("notify: send failed; it will be tried again", "ref", m.Ref, "channel", m.Channel, "attempt", m.Attempts, "err", err)
	return "", false
}
