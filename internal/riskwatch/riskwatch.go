// Package riskwatch makes the risk rules (internal/risk) act in the running
// system. A Monitor replays the last weeks' risk events into a risk.Tracker
// at start, then tails new ones by id (a short poll, and a Nudge after a
// use case commits), feeds in the front door's request cadence, and on each
// account whose score may have changed decides under the hospital's
// policy — with the account's latest review — and records a changed
// decision (storage.RiskAccount) with an audit record of its reasons.
//
// Every node runs its own Monitor: they read the same events and reach the
// same scores (but the request cadence, which each node sees only for its
// own requests). It must never hold a storage transaction open while it
// scores, never block a request (Request drops what it cannot queue), and
// never keep more than the tracker's windows of state.
package riskwatch

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/storage"
)

// ReviewFunc returns the account's latest review (nil when none), read in
// tx. The review queue (issue 17, part 3) stores them; until it is wired,
// a nil ReviewFunc means no account was ever reviewed.
type ReviewFunc func(ctx context.Context, tx storage.Tx, accountID int64) (*risk.Review, error)

// ParseAction is the action a stored name ("hold") stands for.
func ParseAction(name string) (risk.Action, bool) {
	for a := risk.Allow; a <= risk.Block; a++ {
		if a.String() == name {
			return a, true
		}
	}
	return risk.Allow, false
}

// Config is a Monitor's set-up. Zero fields take the defaults noted.
type Config struct {
	Rules   risk.Rules  // zero Memory: risk.DefaultRules in Location
	Policy  risk.Policy // must Validate
	Reviews ReviewFunc  // nil: no reviews
	// Poll is how often new events are looked for without a Nudge (2s);
	// Sweep how often every flagged account is decided again, as its
	// signals age out of their windows (5m).
	Poll, Sweep time.Duration
	Batch       int // events read per query (1000)
	// Requests bounds the front door's requests queued between two passes
	// (8192); more are dropped, counted in Dropped.
	Requests int
	Now      func() time.Time
	Log      *slog.Logger
	// Hash turns the front door's device id and address prefix into the
	// keyed hashes the stored events carry (kind "device" or "addr"), so
	// that both name a device alike; nil: Request's are used as given.
	Hash func(kind, v string) string
}

// Monitor keeps the scores and the decisions. Its methods are safe for
// concurrent use; Run is its one loop.
type Monitor struct {
	store storage.Store
	cfg   Config

	mu      sync.Mutex // guards tracker, last, dirty and flagged
	tracker *risk.Tracker
	last    int64            // the last event id applied
	dirty   map[int64]bool   // accounts to decide at the next pass
	flagged map[int64]*known // accounts with a stored decision: what this node knows of it
	// gaps are the ids skipped below last, each with when it was first
	// missed: on PostgreSQL an event's id is taken when it is inserted,
	// not when its transaction commits, so a slower transaction's event
	// can appear below one already read. Each is looked for again until
	// gapWait has passed (its transaction rolled back, or never was).
	gaps map[int64]time.Time

	dmu       sync.RWMutex // guards decisions
	decisions map[int64]risk.Decision

	requests chan risk.Event
	nudge    chan struct{}
	dropped  sync.Mutex
	drops    int
}

// New returns a monitor of store's risk events under cfg.
func New(store storage.Store, cfg Config) (*Monitor, error) {
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rules.Memory == 0 {
		cfg.Rules = risk.DefaultRules(cfg.Rules.Location)
	}
	if cfg.Rules.Location == nil {
		cfg.Rules.Location = time.UTC
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = 5 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.Requests <= 0 {
		cfg.Requests = 8192
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{store: store, cfg: cfg, tracker: risk.NewTracker(cfg.Rules), dirty: map[int64]bool{},
		flagged: map[int64]*known{}, gaps: map[int64]time.Time{}, decisions: map[int64]risk.Decision{},
		requests: make(chan risk.Event, cfg.Requests), nudge: make(chan struct{}, 1)}, nil
}

var allow = risk.Decision{Action: risk.Allow, RateFactor: 1}

// Decision is the account's current decision, from memory: allow when the
// account was never flagged. A nil Monitor allows everyone.
func (m *Monitor) Decision(accountID int64) risk.Decision {
	if m == nil {
		return allow
	}
	m.dmu.RLock()
	defer m.dmu.RUnlock()
	if d, ok := m.decisions[accountID]; ok {
		return d
	}
	return allow
}

// Linked lists the accounts that share a device, an address prefix or a
// payer with the account, the shared ids masked.
func (m *Monitor) Linked(accountID int64) []risk.Link {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tracker.Links(accountID, m.cfg.Now())
}

// UsedFrom reports whether the account was seen used from device (a keyed
// hash, as the risk events carry it) within the rules' device window: the
// review refuses a reviewer a decision on an account used from their own
// device.
func (m *Monitor) UsedFrom(accountID int64, device string) bool {
	if m == nil || device == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tracker.UsedFrom(accountID, device, m.cfg.Now())
}

// Request records a signed-in account's request, for the cadence signal:
// it never blocks, and drops the request when the queue is full.
func (m *Monitor) Request(accountID int64, device, prefix string, at time.Time) {
	if m == nil || accountID == 0 {
		return
	}
	if m.cfg.Hash != nil {
		device, prefix = m.cfg.Hash("device", device), m.cfg.Hash("addr", prefix)
	}
	select {
	case m.requests <- risk.Event{At: at, Kind: risk.Request, Account: accountID, Device: device, Prefix: prefix}:
	default:
		m.dropped.Lock()
		m.drops++
		m.dropped.Unlock()
	}
}

// Dropped is how many requests Request dropped, the queue being full.
func (m *Monitor) Dropped() int {
	m.dropped.Lock()
	defer m.dropped.Unlock()
	return m.drops
}

// Nudge tells the monitor that risk events were committed; it never waits.
func (m *Monitor) Nudge() {
	if m == nil {
		return
	}
	select {
	case m.nudge <- struct{}{}:
	default:
	}
}

// Refresh decides the account again now — after a review — reading its
// latest review, records the decision and returns once it is stored.
func (m *Monitor) Refresh(ctx context.Context, accountID int64) error {
	m.mu.Lock()
	score := m.tracker.Score(accountID, m.cfg.Now())
	m.mu.Unlock()
	return m.settle(ctx, accountID, score)
}

// Run replays the last Rules.Memory of events, then tails new ones until
// ctx ends. It returns ctx's error, or the replay's.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.Start(ctx); err != nil {
		return err
	}
	poll := time.NewTicker(m.cfg.Poll)
	defer poll.Stop()
	sweep := time.NewTicker(m.cfg.Sweep)
	defer sweep.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
			err = m.Step(ctx)
		case <-m.nudge:
			err = m.Step(ctx)
		case <-sweep.C:
			err = m.SweepNow(ctx)
		}
		if err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("risk monitor: a pass failed; the next one retries", "err", err)
		}
	}
}

// Start loads the stored decisions and replays the events of the last
// Rules.Memory, deciding every account they touch. Run calls it; tests
// call it, then Step, to drive the monitor without a clock.
func (m *Monitor) Start(ctx context.Context) error {
	now := m.cfg.Now()
	var stored []storage.RiskAccount
	err := m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if stored, err = tx.RiskAccounts(ctx, "allow", 1<<20); err != nil {
			return err
		}
		after, err := tx.RiskEventStart(ctx, now.Add(-m.cfg.Rules.Memory))
		m.mu.Lock()
		m.last = after
		m.mu.Unlock()
		return err
	})
	if err != nil {
		return fmt.Errorf("risk monitor start: %w", err)
	}
	m.mu.Lock()
	for _, r := range stored {
		m.flagged[r.AccountID] = &known{action: r.Action, score: r.Score, reviewed: r.Reviewed}
		m.dirty[r.AccountID] = true
	}
	m.mu.Unlock()
	if err := m.Step(ctx); err != nil {
		return fmt.Errorf("risk monitor replay: %w", err)
	}
	m.cfg.Log.Info("risk monitor started", "flagged", len(stored), "last_event", m.lastID())
	return nil
}

func (m *Monitor) lastID() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Step applies the queued requests and every event committed since the
// last one, then decides the accounts they touched.
func (m *Monitor) Step(ctx context.Context) error {
	m.mu.Lock()
	for drained := false; !drained; {
		select {
		case e := <-m.requests:
			m.apply(e)
		default:
			drained = true
		}
	}
	m.mu.Unlock()
	for {
		after := m.lastID()
		var events []storage.RiskEvent
		if err := m.store.View(ctx, func(tx storage.Tx) (err error) {
			events, err = tx.RiskEvents(ctx, after, m.cfg.Batch)
			return err
		}); err != nil {
			return err
		}
		now := m.cfg.Now()
		m.mu.Lock()
		for _, se := range events {
			// Only a recent event's gap can be a transaction still open:
			// the replay's old gaps are rollbacks long done.
			for id := m.last + 1; id < se.ID && len(m.gaps) < maxGaps && now.Sub(se.At) < gapWait; id++ {
				m.gaps[id] = now
			}
			m.last = max(m.last, se.ID)
			m.applyStored(se)
		}
		m.mu.Unlock()
		if len(events) < m.cfg.Batch {
			break
		}
	}
	if err := m.fillGaps(ctx); err != nil {
		return err
	}
	return m.decideDirty(ctx)
}

// gapWait is how long a skipped id is looked for: longer than any
// transaction of the online role may stay open (its statement and
// idle-in-transaction timeouts). maxGaps bounds how many are kept.
const (
	gapWait = 2 * time.Minute
	maxGaps = 100_000
)

// fillGaps applies the events that appeared in the gaps since the last
// pass, and forgets the gaps older than gapWait.
func (m *Monitor) fillGaps(ctx context.Context) error {
	now := m.cfg.Now()
	m.mu.Lock()
	var ids []int64
	for id, seen := range m.gaps {
		if now.Sub(seen) > gapWait {
			delete(m.gaps, id)
			continue
		}
		ids = append(ids, id)
	}
	m.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	var found []storage.RiskEvent
	if err := m.store.View(ctx, func(tx storage.Tx) error {
		for _, id := range ids {
			es, err := tx.RiskEvents(ctx, id-1, 1)
			if err != nil {
				return err
			}
			if len(es) == 1 && es[0].ID == id {
				found = append(found, es[0])
			}
		}
		return nil
	}); err != nil {
		return err
	}
	m.mu.Lock()
	for _, se := range found {
		delete(m.gaps, se.ID)
		m.applyStored(se)
	}
	m.mu.Unlock()
	return nil
}

// applyStored applies a stored event the tracker has a use for. m.mu is
// held.
func (m *Monitor) applyStored(se storage.RiskEvent) {
	if e, ok := Event(se); ok {
		m.apply(e)
	}
}

// SweepNow decides every flagged account again (their signals age out of
// their windows with no event to say so) and lets the tracker forget the
// accounts idle for longer than its windows.
func (m *Monitor) SweepNow(ctx context.Context) error {
	m.mu.Lock()
	for id := range m.flagged {
		m.dirty[id] = true
	}
	m.dmu.RLock()
	for id := range m.decisions { // so that those scoring zero now leave memory
		m.dirty[id] = true
	}
	m.dmu.RUnlock()
	m.tracker.Forget(m.cfg.Now())
	m.mu.Unlock()
	return m.Step(ctx)
}

// apply feeds one event to the tracker and marks the accounts it touches.
// m.mu is held.
func (m *Monitor) apply(e risk.Event) {
	for _, id := range m.tracker.Apply(e) {
		m.dirty[id] = true
	}
}

// known is what this node last read or wrote of a flagged account's
// stored decision, and its latest review as read at reviewAt: a pass
// opens a write transaction only for a decision that differs from it.
type known struct {
	action   string
	score    int
	reviewed bool
	review   *risk.Review
	reviewAt time.Time // zero: not read yet
}

// reviewTTL is how long a review read for the comparison is trusted; the
// write itself always reads the latest (another node's reviewer may have
// acted since).
const reviewTTL = time.Minute

// decideDirty decides each marked account; an account whose decision
// changed is stored.
func (m *Monitor) decideDirty(ctx context.Context) error {
	now := m.cfg.Now()
	type pending struct {
		id    int64
		score risk.Score
	}
	var todo []pending
	m.mu.Lock()
	for id := range m.dirty {
		todo = append(todo, pending{id, m.tracker.Score(id, now)})
		delete(m.dirty, id)
	}
	m.mu.Unlock()
	var firstErr error
	for _, p := range todo {
		err := m.decide(ctx, p.id, p.score, now)
		if err != nil {
			m.mu.Lock()
			m.dirty[p.id] = true // try again at the next pass
			m.mu.Unlock()
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// decide decides one account from memory and stores the decision only
// when it differs from what the node knows is stored: an account never
// flagged that scores allow (most of them), or one whose decision did not
// change, costs no write.
func (m *Monitor) decide(ctx context.Context, id int64, score risk.Score, now time.Time) error {
	m.mu.Lock()
	k, flagged := m.flagged[id]
	var review *risk.Review
	fresh := false
	if flagged {
		review, fresh = k.review, !k.reviewAt.IsZero() && now.Sub(k.reviewAt) < reviewTTL
	}
	m.mu.Unlock()
	if flagged && !fresh && m.cfg.Reviews != nil {
		if err := m.store.View(ctx, func(tx storage.Tx) (err error) {
			review, err = m.cfg.Reviews(ctx, tx, id)
			return err
		}); err != nil {
			return fmt.Errorf("risk review of account %d: %w", id, err)
		}
		m.mu.Lock()
		k.review, k.reviewAt = review, now
		m.mu.Unlock()
	}
	d := m.cfg.Policy.Decide(score, review)
	if !flagged && d.Action == risk.Allow {
		// Never flagged: the score is kept in memory for the pages while
		// it is above zero, never stored.
		m.dmu.Lock()
		if score.Total > 0 {
			m.decisions[id] = d
		} else {
			delete(m.decisions, id)
		}
		m.dmu.Unlock()
		return nil
	}
	m.mu.Lock()
	same := flagged && k.action == d.Action.String() && k.score == d.Score.Total && k.reviewed == d.Reviewed
	m.mu.Unlock()
	if same {
		m.dmu.Lock()
		m.decisions[id] = d
		m.dmu.Unlock()
		return nil
	}
	return m.settle(ctx, id, score)
}

// settle decides the account under its latest review, read in the write
// transaction, and, when the action, score or review differ from the
// stored decision, stores the new one — with an audit record when the
// action changed. Another node deciding the same account at the same
// moment finds the row already written and writes nothing.
func (m *Monitor) settle(ctx context.Context, id int64, score risk.Score) error {
	now := m.cfg.Now()
	var d risk.Decision
	var review *risk.Review
	var stored bool
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		review = nil
		if m.cfg.Reviews != nil {
			var err error
			if review, err = m.cfg.Reviews(ctx, tx, id); err != nil {
				return err
			}
		}
		d = m.cfg.Policy.Decide(score, review)
		old, err := tx.RiskAccount(ctx, id)
		found := err == nil
		if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
			return err
		}
		stored = found || d.Action != risk.Allow
		if !found && d.Action == risk.Allow {
			return nil // never flagged: no row
		}
		if found && old.Action == d.Action.String() && old.Score == d.Score.Total && old.Reviewed == d.Reviewed {
			return nil
		}
		r := Row(id, d, now)
		if err := tx.PutRiskAccount(ctx, r); err != nil {
			return err
		}
		was := "allow"
		if found {
			was = old.Action
		}
		if was == r.Action {
			return nil
		}
		return tx.AppendAudit(ctx, &audit.Event{At: now, Actor: "system", Action: "risk.decide", Subject: "account:" + strconv.FormatInt(id, 10),
			Detail: map[string]string{"action": r.Action, "was": was, "score": strconv.Itoa(r.Score), "reviewed": strconv.FormatBool(r.Reviewed),
				"reasons": strings.Join(r.Reasons, "; ")}})
	})
	if err != nil {
		return fmt.Errorf("risk decision of account %d: %w", id, err)
	}
	if stored {
		m.mu.Lock()
		m.flagged[id] = &known{action: d.Action.String(), score: d.Score.Total, reviewed: d.Reviewed, review: review, reviewAt: now}
		m.mu.Unlock()
	}
	m.dmu.Lock()
	if d.Action == risk.Allow && !stored {
		delete(m.decisions, id)
	} else {
		m.decisions[id] = d
	}
	m.dmu.Unlock()
	return nil
}

// Row is the stored form of account id's decision d, made at now: each
// action up to d's counts as reached now (the store keeps the earliest).
func Row(id int64, d risk.Decision, now time.Time) storage.RiskAccount {
	r := storage.RiskAccount{AccountID: id, Action: d.Action.String(), Score: max(d.Score.Total, 0), Reviewed: d.Reviewed,
		Since: map[string]time.Time{}, UpdatedAt: now, Reasons: []string{}, Keys: []string{}}
	for a := risk.Challenge; a <= d.Action; a++ {
		r.Since[a.String()] = now
	}
	for _, reason := range d.Score.Reasons {
		r.Reasons = append(r.Reasons, reason.String())
		r.Keys = append(r.Keys, reason.Key())
	}
	return r
}

// kinds maps the stored events' kinds to the tracker's.
var kinds = map[string]risk.Kind{storage.RiskBind: risk.Bind, storage.RiskUnbind: risk.Unbind, storage.RiskBook: risk.Book,
	storage.RiskEnter: risk.Enter, storage.RiskCancel: risk.Cancel, storage.RiskPay: risk.Pay}

// Event is the tracker's event for a stored one; false for a kind the
// tracker has no use for (a re-booking after a cancellation). A malformed
// doctor or release is left zero: an event is never lost for it.
func Event(se storage.RiskEvent) (risk.Event, bool) {
	k, ok := kinds[se.Kind]
	if !ok {
		return risk.Event{}, false
	}
	e := risk.Event{At: se.At, Kind: k, Account: se.AccountID, Patient: se.Detail["patient"], Device: se.Detail["device"],
		Prefix: se.Detail["prefix"], Payer: se.Detail["payer"]}
	if v, err := strconv.ParseInt(se.Detail["doctor"], 10, 64); err == nil {
		e.Doctor = v
	}
	if v, err := time.Parse(time.RFC3339, se.Detail["release"]); err == nil {
		e.Release = v
	}
	return e, true
}
