package riskwatch_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/riskwatch"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

var (
	ctx      = context.Background()
	shanghai = time.FixedZone("CST", 8*3600)
	// day0 is a noon; at(d, h) is hour h of day d, hospital time.
	day0 = time.Date(2026, 12, 1, 12, 0, 0, 0, shanghai)
)

func at(d, h int) time.Time {
	return time.Date(2026, 12, 1+d, h, 0, 0, 0, shanghai)
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func openStore(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func newAccounts(t *testing.T, s storage.Store, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	if err := s.Update(ctx, func(tx storage.Tx) error {
		for i := range ids {
			a := storage.AccountRecord{Ref: fmt.Sprintf("acct-%d-%d", time.Now().UnixNano(), i), PhoneIndex: []byte(fmt.Sprintf("phone-%d-%d", time.Now().UnixNano(), i)),
				PhoneSealed: []byte("sealed"), CreatedAt: day0}
			if err := tx.CreateAccount(ctx, &a); err != nil {
				return err
			}
			ids[i] = a.ID
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func appendEvents(t *testing.T, s storage.Store, es ...storage.RiskEvent) {
	t.Helper()
	if err := s.Update(ctx, func(tx storage.Tx) error {
		for i := range es {
			if err := tx.AppendRisk(ctx, &es[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func bind(account int64, patient string, when time.Time) storage.RiskEvent {
	return storage.RiskEvent{At: when, Kind: storage.RiskBind, AccountID: account, Detail: map[string]string{"patient": patient}}
}

// farm is 8 identities bound to account over two nights at 1 a.m.: many
// patients (capped at 45) and night bindings (2 × 12) — held.
func farm(account int64) []storage.RiskEvent {
	var es []storage.RiskEvent
	for i := range 8 {
		es = append(es, bind(account, fmt.Sprintf("%x-%d", account, i), at(i/4, 1).Add(time.Duration(i)*time.Minute)))
	}
	return es
}

func stored(t *testing.T, s storage.Store, id int64) (storage.RiskAccount, bool) {
	t.Helper()
	var r storage.RiskAccount
	var found bool
	if err := s.View(ctx, func(tx storage.Tx) error {
		var err error
		r, err = tx.RiskAccount(ctx, id)
		found = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return r, found
}

func decisions(t *testing.T, s storage.Store) []string {
	t.Helper()
	var out []string
	if err := s.View(ctx, func(tx storage.Tx) error {
		es, err := tx.AuditEvents(ctx, 0, 1000)
		for _, e := range es {
			if e.Action == "risk.decide" {
				out = append(out, e.Subject+" "+e.Detail["was"]+"→"+e.Detail["action"])
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func newMonitor(t *testing.T, s storage.Store, c *clock, reviews riskwatch.ReviewFunc) *riskwatch.Monitor {
	t.Helper()
	m, err := riskwatch.New(s, riskwatch.Config{Rules: risk.DefaultRules(shanghai), Policy: risk.DefaultPolicy(), Reviews: reviews, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMonitorReplaysAndTails: at start the monitor replays the stored
// events and holds the farm, with its reasons stored and one audit record;
// a family is left alone with no row; events committed later are applied
// incrementally (a pass with nothing new writes nothing); a restarted
// monitor reaches the same decisions without recording them again.
func TestMonitorReplaysAndTails(t *testing.T) {
	s := openStore(t)
	ids := newAccounts(t, s, 3)
	bot, family, later := ids[0], ids[1], ids[2]
	appendEvents(t, s, farm(bot)...)
	for i := range 3 {
		appendEvents(t, s, bind(family, fmt.Sprintf("fam-%d", i), day0))
	}
	c := &clock{now: at(2, 9)}
	m := newMonitor(t, s, c, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d := m.Decision(bot)
	if d.Action != risk.Hold || d.Score.Total != 69 || d.RateFactor != 0.25 || d.PowLevel != 3 {
		t.Errorf("the farm's decision = %v score %d rate %v pow %d, want hold 69 0.25 3", d.Action, d.Score.Total, d.RateFactor, d.PowLevel)
	}
	r, ok := stored(t, s, bot)
	if !ok || r.Action != "hold" || r.Score != 69 || r.Reviewed || !r.Since["hold"].Equal(at(2, 9)) ||
		!slices.Equal(r.Keys, []string{"risk.signal.many_patients", "risk.signal.night_bindings"}) ||
		!strings.HasPrefix(r.Reasons[0], "8 patients bound to the account") {
		t.Errorf("the farm's stored decision = %+v (found %v)", r, ok)
	}
	if d := m.Decision(family); d.Action != risk.Allow || d.RateFactor != 1 {
		t.Errorf("the family's decision = %+v, want allow", d)
	}
	if _, ok := stored(t, s, family); ok {
		t.Error("a family never flagged has a stored decision")
	}
	want := []string{fmt.Sprintf("account:%d allow→hold", bot)}
	if got := decisions(t, s); !slices.Equal(got, want) {
		t.Errorf("audit after start = %v, want %v", got, want)
	}

	// Incremental: the later account binds 5, then 6 identities.
	for i := range 5 {
		appendEvents(t, s, bind(later, fmt.Sprintf("later-%d", i), at(2, 8)))
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(later); d.Action != risk.Allow || d.Score.Total != 15 {
		t.Errorf("5 patients: %v %d, want allow 15", d.Action, d.Score.Total)
	}
	appendEvents(t, s, bind(later, "later-5", at(2, 8)))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(later); d.Action != risk.Challenge || d.Score.Total != 30 {
		t.Errorf("6 patients: %v %d, want challenge 30", d.Action, d.Score.Total)
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, fmt.Sprintf("account:%d allow→challenge", later))
	if got := decisions(t, s); !slices.Equal(got, want) {
		t.Errorf("audit after tailing = %v, want %v", got, want)
	}

	// A restart: the same decisions, nothing recorded again.
	m2 := newMonitor(t, s, c, nil)
	if err := m2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if m2.Decision(bot).Action != risk.Hold || m2.Decision(later).Action != risk.Challenge {
		t.Errorf("after a restart: bot %v, later %v", m2.Decision(bot).Action, m2.Decision(later).Action)
	}
	if got := decisions(t, s); !slices.Equal(got, want) {
		t.Errorf("audit after a restart = %v, want %v", got, want)
	}

	// Idle past the tracker's windows, the sweep forgets the farm, and the
	// stored decision follows, keeping when it was first held.
	c.Set(at(40, 9))
	if err := m2.SweepNow(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := stored(t, s, bot); r.Action != "allow" || !r.Since["hold"].Equal(at(2, 9)) {
		t.Errorf("40 days on, the farm's stored decision = %s since %v, want allow, hold since %v kept", r.Action, r.Since, at(2, 9))
	}
	if d := m2.Decision(bot); d.Action != risk.Allow {
		t.Errorf("40 days on, the farm's decision = %v, want allow", d.Action)
	}
}

// TestMonitorReplayWindow: events older than the rules' memory are not
// replayed.
func TestMonitorReplayWindow(t *testing.T) {
	s := openStore(t)
	bot := newAccounts(t, s, 1)[0]
	appendEvents(t, s, farm(bot)...)
	c := &clock{now: at(45, 9)}
	m := newMonitor(t, s, c, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Action != risk.Allow || d.Score.Total != 0 {
		t.Errorf("45 days after the farm's bindings: %v %d, want allow 0 (not replayed)", d.Action, d.Score.Total)
	}
}

// TestMonitorReviews: a reviewer's approval stands over the score (Refresh
// stores it as reviewed) until the score grows Regrow beyond what the
// reviewer saw; a review source that fails leaves the decision for the
// next pass.
func TestMonitorReviews(t *testing.T) {
	s := openStore(t)
	bot := newAccounts(t, s, 1)[0]
	appendEvents(t, s, farm(bot)...)
	c := &clock{now: at(2, 9)}
	var mu sync.Mutex
	var review *risk.Review
	var fail error
	m := newMonitor(t, s, c, func(_ context.Context, _ storage.Tx, id int64) (*risk.Review, error) {
		mu.Lock()
		defer mu.Unlock()
		if id != bot {
			return nil, nil
		}
		return review, fail
	})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	review = &risk.Review{Action: risk.Allow, Saw: 69}
	mu.Unlock()
	// The reviewer's decision on the record too: the database stores a
	// reviewed decision only after one (migration 0037).
	if err := s.Update(ctx, func(tx storage.Tx) error {
		st := fairslot.Staff{Username: "sec", Name: "Sec", Role: fairslot.Security}
		if err := tx.CreateStaff(ctx, &st, "h"); err != nil {
			return err
		}
		return tx.AppendRiskReview(ctx, &storage.RiskReview{AccountID: bot, Action: "allow", Saw: 69, Reason: "family", StaffID: st.ID, At: at(2, 9)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(ctx, bot); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Action != risk.Allow || !d.Reviewed {
		t.Errorf("after an approval: %v reviewed %v, want allow by review", d.Action, d.Reviewed)
	}
	if r, _ := stored(t, s, bot); r.Action != "allow" || !r.Reviewed {
		t.Errorf("stored after an approval: %+v", r)
	}
	// Two more identities: 69 + 0 (many patients is capped) — and a third
	// night: +12 = 81 < 69 + 30, the approval stands.
	appendEvents(t, s, bind(bot, "n3", at(3, 1)))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Action != risk.Allow || d.Score.Total != 81 {
		t.Errorf("score 81 after an approval at 69: %v %d, want allow 81", d.Action, d.Score.Total)
	}
	// More nights (capped at 45) and two identities unbound within hours:
	// 45 + 45 + 30 = 120 ≥ 69 + 30, the score decides again.
	unbind := func(p string, when time.Time) storage.RiskEvent {
		return storage.RiskEvent{At: when, Kind: storage.RiskUnbind, AccountID: bot, Detail: map[string]string{"patient": p}}
	}
	appendEvents(t, s, bind(bot, "n4", at(4, 1)), bind(bot, "n5", at(5, 1)), bind(bot, "n6", at(6, 1)), bind(bot, "q1", at(6, 1)),
		unbind("n6", at(6, 2)), unbind("q1", at(6, 2)))
	c.Set(at(6, 9))
	mu.Lock()
	fail = fmt.Errorf("reviews unreachable")
	mu.Unlock()
	if err := m.Step(ctx); err == nil {
		t.Error("a pass whose review source failed reported no error")
	}
	if d := m.Decision(bot); d.Action != risk.Allow {
		t.Errorf("a failed pass changed the decision to %v", d.Action)
	}
	mu.Lock()
	fail = nil
	mu.Unlock()
	if err := m.Step(ctx); err != nil { // the failed account is decided again
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Action != risk.Hold || d.Reviewed {
		t.Errorf("score %d, 48 past the review: %v reviewed %v, want hold by score", d.Score.Total, d.Action, d.Reviewed)
	}
}

// TestMonitorRequests: requests at a machine's even pace raise the cadence
// signal; a queue that is full drops requests rather than block; accounts
// on one device are linked, masked.
func TestMonitorRequests(t *testing.T) {
	s := openStore(t)
	ids := newAccounts(t, s, 5)
	c := &clock{now: day0}
	m, err := riskwatch.New(s, riskwatch.Config{Rules: risk.DefaultRules(shanghai), Policy: risk.DefaultPolicy(), Now: c.Now, Requests: 64,
		Hash: func(kind, v string) string { return kind + ":" + v }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		m.Request(ids[0], "phone-1", "10.0.0.0/24", day0.Add(time.Duration(i)*2*time.Second))
	}
	for _, id := range ids[1:] {
		m.Request(id, "phone-1", "10.0.0.0/24", day0)
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	d := m.Decision(ids[0])
	var sigs []risk.Signal
	for _, r := range d.Score.Reasons {
		sigs = append(sigs, r.Signal)
	}
	if !slices.Contains(sigs, risk.RegularCadence) || !slices.Contains(sigs, risk.SharedDevice) {
		t.Errorf("an even pace on a shared phone: signals %v, want regular_cadence and shared_device", sigs)
	}
	links := m.Linked(ids[0])
	if len(links) != 8 || links[0].Account != ids[1] || links[0].Via != "device" || links[1].Via != "prefix" {
		t.Errorf("Linked = %+v, want the 4 other accounts, each by device and by prefix", links)
	}
	for _, l := range links {
		if strings.Contains(l.Masked, "phone-1") || len([]rune(l.Masked)) > 5 {
			t.Errorf("a link shows %q, want the id masked", l.Masked)
		}
	}
	for range 100 {
		m.Request(ids[1], "d", "p", day0)
	}
	if got := m.Dropped(); got != 100-64 {
		t.Errorf("Dropped = %d, want %d (the queue holds 64)", got, 100-64)
	}
	var nilMonitor *riskwatch.Monitor
	if d := nilMonitor.Decision(1); d.Action != risk.Allow || d.RateFactor != 1 {
		t.Errorf("a nil monitor decides %+v, want allow", d)
	}
	nilMonitor.Request(1, "d", "p", day0)
	nilMonitor.Nudge()
}

// TestMonitorRunNudge: Run tails on a Nudge, long before its poll.
func TestMonitorRunNudge(t *testing.T) {
	s := openStore(t)
	bot := newAccounts(t, s, 1)[0]
	c := &clock{now: at(2, 9)}
	m, err := riskwatch.New(s, riskwatch.Config{Rules: risk.DefaultRules(shanghai), Policy: risk.DefaultPolicy(), Now: c.Now, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	appendEvents(t, s, farm(bot)...)
	for m.Decision(bot).Action != risk.Hold {
		m.Nudge()
		select {
		case err := <-done:
			t.Fatalf("Run returned %v", err)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestEvent: each stored kind becomes the tracker's, with its opaque ids;
// a kind the tracker has no use for is skipped; a malformed doctor or
// release is left zero, the event kept.
func TestEvent(t *testing.T) {
	rel := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	detail := map[string]string{"patient": "ab12", "device": "dd", "prefix": "pp", "doctor": "7", "release": rel.Format(time.RFC3339), "payer": "py"}
	tests := []struct {
		kind   string
		detail map[string]string
		ok     bool
		want   risk.Event
	}{
		{storage.RiskBind, detail, true, risk.Event{Kind: risk.Bind, Account: 3, Patient: "ab12", Device: "dd", Prefix: "pp", Doctor: 7, Release: rel, Payer: "py"}},
		{storage.RiskUnbind, map[string]string{"patient": "ab12"}, true, risk.Event{Kind: risk.Unbind, Account: 3, Patient: "ab12"}},
		{storage.RiskBook, detail, true, risk.Event{Kind: risk.Book, Account: 3, Patient: "ab12", Device: "dd", Prefix: "pp", Doctor: 7, Release: rel, Payer: "py"}},
		{storage.RiskEnter, map[string]string{"doctor": "x", "release": "tomorrow"}, true, risk.Event{Kind: risk.Enter, Account: 3}},
		{storage.RiskCancel, map[string]string{"doctor": "7"}, true, risk.Event{Kind: risk.Cancel, Account: 3, Doctor: 7}},
		{storage.RiskPay, map[string]string{"patient": "ab12"}, true, risk.Event{Kind: risk.Pay, Account: 3, Patient: "ab12"}},
		{"rebook_after_cancel", detail, false, risk.Event{}},
	}
	for _, tt := range tests {
		got, ok := riskwatch.Event(storage.RiskEvent{At: day0, Kind: tt.kind, AccountID: 3, Detail: tt.detail})
		if ok {
			tt.want.At = day0
		}
		if ok != tt.ok || got != tt.want {
			t.Errorf("Event(%s) = %+v, %v; want %+v, %v", tt.kind, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRow: the stored form of a decision: each action up to its own
// reached now, the reasons in English and as keys, heaviest first.
func TestRow(t *testing.T) {
	now := day0
	tests := []struct {
		d     risk.Decision
		since []string
	}{
		{risk.Decision{Action: risk.Allow}, nil},
		{risk.Decision{Action: risk.Challenge}, []string{"challenge"}},
		{risk.Decision{Action: risk.Hold, Score: risk.Score{Total: 70, Reasons: []risk.Reason{
			{Signal: risk.ManyPatients, Weight: 45, Params: []any{8, 30}}, {Signal: risk.NightBindings, Weight: 25, Params: []any{0, 5, 2, 30}}}}},
			[]string{"challenge", "hold", "limit"}},
		{risk.Decision{Action: risk.Block, Reviewed: true}, []string{"block", "challenge", "hold", "limit"}},
	}
	for _, tt := range tests {
		r := riskwatch.Row(9, tt.d, now)
		var since []string
		for a, at := range r.Since {
			if !at.Equal(now) {
				t.Errorf("%v: since %s = %v, want now", tt.d.Action, a, at)
			}
			since = append(since, a)
		}
		slices.Sort(since)
		if r.Action != tt.d.Action.String() || r.Reviewed != tt.d.Reviewed || !slices.Equal(since, tt.since) || len(r.Reasons) != len(tt.d.Score.Reasons) {
			t.Errorf("Row(%v) = %+v", tt.d.Action, r)
		}
	}
	r := riskwatch.Row(9, tests[2].d, now)
	if r.Reasons[0] != "8 patients bound to the account within 30 days (+45)" || r.Keys[1] != "risk.signal.night_bindings" {
		t.Errorf("reasons %q keys %q", r.Reasons, r.Keys)
	}
}

// TestNewRefusesABadPolicy: a policy whose thresholds are out of order is
// refused at start.
func TestNewRefusesABadPolicy(t *testing.T) {
	p := risk.DefaultPolicy()
	p.HoldAt = 10
	if _, err := riskwatch.New(nil, riskwatch.Config{Policy: p}); err == nil {
		t.Error("a policy holding below its limit threshold was accepted")
	}
}

// countingStore counts write transactions.
type countingStore struct {
	storage.Store
	mu      sync.Mutex
	updates int
}

func (s *countingStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	s.mu.Lock()
	s.updates++
	s.mu.Unlock()
	return s.Store.Update(ctx, fn)
}

func (s *countingStore) writes() int { s.mu.Lock(); defer s.mu.Unlock(); return s.updates }

// TestMonitorWritesOnlyChanges: a pass opens a write transaction only for
// a decision that changed — not for a pass with nothing new, not for a
// flagged account's event that leaves its decision as it was, not for the
// people who score allow — so that the monitor does not queue behind the
// bookings of a release storm, nor they behind it.
func TestMonitorWritesOnlyChanges(t *testing.T) {
	base := openStore(t)
	ids := newAccounts(t, base, 2)
	bot, person := ids[0], ids[1]
	appendEvents(t, base, farm(bot)...)
	s := &countingStore{Store: base}
	c := &clock{now: at(2, 9)}
	m := newMonitor(t, s, c, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.writes(); got != 1 {
		t.Errorf("writes at start = %d, want 1 (the farm held)", got)
	}
	for _, step := range []struct {
		name   string
		events []storage.RiskEvent
		writes int
	}{
		{"nothing new", nil, 0},
		{"a person binds two", []storage.RiskEvent{bind(person, "p1", at(2, 10)), bind(person, "p2", at(2, 10))}, 0},
		{"the farm binds a ninth (capped: no change)", []storage.RiskEvent{bind(bot, "ninth", at(2, 11))}, 0},
		{"the farm binds on a third night", []storage.RiskEvent{bind(bot, "tenth", at(3, 1))}, 1},
	} {
		before := s.writes()
		if len(step.events) > 0 {
			appendEvents(t, base, step.events...)
		}
		if err := m.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if got := s.writes() - before; got != step.writes {
			t.Errorf("%s: %d writes, want %d", step.name, got, step.writes)
		}
	}
	if d := m.Decision(bot); d.Action != risk.Hold || d.Score.Total != 81 {
		t.Errorf("the farm after a third night: %v %d, want hold 81", d.Action, d.Score.Total)
	}
}

// lateStore hides the events whose ids are in hidden, as a PostgreSQL
// transaction that took its id before another's and commits after it.
type lateStore struct {
	storage.Store
	mu     sync.Mutex
	hidden map[int64]bool
}

type lateTx struct {
	storage.Tx
	s *lateStore
}

func (s *lateStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(lateTx{tx, s}) })
}

func (tx lateTx) RiskEvents(ctx context.Context, after int64, limit int) ([]storage.RiskEvent, error) {
	es, err := tx.Tx.RiskEvents(ctx, after, limit)
	tx.s.mu.Lock()
	defer tx.s.mu.Unlock()
	var out []storage.RiskEvent
	for _, e := range es {
		if !tx.s.hidden[e.ID] {
			out = append(out, e)
		}
	}
	return out, err
}

func (s *lateStore) commit(id int64) { s.mu.Lock(); delete(s.hidden, id); s.mu.Unlock() }

// TestMonitorLateCommits: an event whose id is below one already read —
// its transaction committed later — is still applied at a later pass; a
// gap that never fills is given up after a while.
func TestMonitorLateCommits(t *testing.T) {
	base := openStore(t)
	bot := newAccounts(t, base, 1)[0]
	c := &clock{now: at(1, 1).Add(6 * time.Minute)} // the second night's bindings are a minute old
	s := &lateStore{Store: base, hidden: map[int64]bool{}}
	m := newMonitor(t, s, c, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	es := farm(bot)
	appendEvents(t, base, es...)
	// Two of the second night's bindings are late (by seconds, in truth:
	// the tracker takes an event late within its night alike).
	late := []int64{es[5].ID, es[6].ID}
	for _, id := range late {
		s.hidden[id] = true
	}
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Score.Total != 30+24 {
		t.Errorf("with two bindings not yet committed: score %d, want 54 (6 patients, two nights)", d.Score.Total)
	}
	s.commit(late[0])
	s.commit(late[1])
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Action != risk.Hold || d.Score.Total != 69 {
		t.Errorf("once the late bindings committed: %v %d, want hold 69", d.Action, d.Score.Total)
	}
	// A gap that never fills (a transaction rolled back) is given up.
	appendEvents(t, base, bind(bot, "rolled-back", c.Now()), bind(bot, "after", c.Now()))
	es2, _ := func() ([]storage.RiskEvent, error) {
		var out []storage.RiskEvent
		err := base.View(ctx, func(tx storage.Tx) (err error) { out, err = tx.RiskEvents(ctx, es[7].ID, 10); return err })
		return out, err
	}()
	s.mu.Lock()
	s.hidden[es2[0].ID] = true
	s.mu.Unlock()
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(3 * time.Minute))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	s.commit(es2[0].ID) // too late: no longer looked for
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Score.Reasons[0].Params[0] != 9 {
		t.Errorf("patients counted = %v, want 9 (the given-up binding not among them)", d.Score.Reasons[0].Params[0])
	}
}

// TestMonitorHoldFollowsPassedIdentities: the scalper's way around a hold —
// unbind a customer's identity from the held account and bind it to a clean
// one — leaves the clean one held too, stored with its reason; and an
// account that took an identity from one still clean is decided again when
// that one grows into a hold, with no event of its own.
func TestMonitorHoldFollowsPassedIdentities(t *testing.T) {
	s := openStore(t)
	ids := newAccounts(t, s, 4)
	bot, fresh, bot2, fresh2 := ids[0], ids[1], ids[2], ids[3]
	appendEvents(t, s, farm(bot)...)
	appendEvents(t, s, bind(bot2, "early", at(0, 20)), bind(fresh2, "early", at(0, 21)))
	c := &clock{now: at(2, 9)}
	m := newMonitor(t, s, c, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if d := m.Decision(bot); d.Action != risk.Hold {
		t.Fatalf("the farm is %v", d.Action)
	}
	if d := m.Decision(fresh2); d.Action != risk.Allow {
		t.Fatalf("an identity from a clean account: %v", d.Action)
	}
	moved := fmt.Sprintf("%x-%d", bot, 0)
	appendEvents(t, s,
		storage.RiskEvent{At: at(2, 10), Kind: storage.RiskUnbind, AccountID: bot, Detail: map[string]string{"patient": moved}},
		bind(fresh, moved, at(2, 10).Add(time.Minute)))
	appendEvents(t, s, farm(bot2)...)
	c.Set(at(2, 11))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{fresh, fresh2} {
		if d := m.Decision(id); d.Action != risk.Hold {
			t.Errorf("account %d, given an identity from a held account: %v at %d (%v), want hold", id, d.Action, d.Score.Total, d.Score.Reasons)
		}
		if r, ok := stored(t, s, id); !ok || r.Action != "hold" || !slices.Contains(r.Keys, "risk.signal.passed_identities") {
			t.Errorf("account %d's stored decision = %+v (found %v), want hold for passed identities", id, r, ok)
		}
	}
	if got := m.Linked(fresh); !slices.ContainsFunc(got, func(l risk.Link) bool { return l.Account == bot && l.Via == "identity" }) {
		t.Errorf("Linked(fresh) = %v, want the held account it took the identity from", got)
	}
}

// TestMonitorUsedFrom: the monitor knows an account was used from a device
// (hashed as the risk events carry it) within the device window, for the
// review's own-device refusal; not another device, not a week later.
func TestMonitorUsedFrom(t *testing.T) {
	s := openStore(t)
	acct := newAccounts(t, s, 1)[0]
	c := &clock{now: at(0, 9)}
	m, err := riskwatch.New(s, riskwatch.Config{Rules: risk.DefaultRules(shanghai), Policy: risk.DefaultPolicy(), Now: c.Now,
		Hash: func(kind, v string) string { return kind + ":" + v }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m.Request(acct, "phone-1", "10.0.0.0/24", at(0, 9))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		device string
		now    time.Time
		want   bool
	}{{"device:phone-1", at(0, 10), true}, {"device:phone-2", at(0, 10), false}, {"phone-1", at(0, 10), false}, {"", at(0, 10), false},
		{"device:phone-1", at(8, 10), false}} {
		c.Set(tt.now)
		if got := m.UsedFrom(acct, tt.device); got != tt.want {
			t.Errorf("UsedFrom(%q) at %v = %v, want %v", tt.device, tt.now, got, tt.want)
		}
	}
}
