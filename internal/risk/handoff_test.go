package risk_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/risk"
)

// heldAccount makes account acct score past the hold threshold the way an
// I1 scalper account does: customers' identities bound at 1 a.m. on three
// nights, eight of them in all.
func heldAccount(tr *risk.Tracker, acct int64, first int) {
	for i := range 8 {
		tr.Apply(risk.Event{At: at(i/3, 1, 10+i), Kind: risk.Bind, Account: acct, Patient: patient(first + i)})
	}
}

// TestIdentitiesPassedOnCarryTheScore: the attack issue 17's review found —
// a scalper moves customers' identities from a held account to a fresh one,
// and the fresh one entered the draw unheld. The identity now carries the
// score of the account it left (as it was just before it left, or the
// account's own now if the identity is still bound there), and the account
// it comes to scores at least that. A family moving to a new phone's
// account carries a clean account's zero.
func TestIdentitiesPassedOnCarryTheScore(t *testing.T) {
	p := risk.DefaultPolicy()
	const held, fresh, fresh2, family, newPhone = 1, 2, 3, 10, 11
	later := day(3)
	type move struct {
		from, to int64
		p        int
		unbind   bool // unbind from the old account first; else bind to the new one while still bound
	}
	tests := []struct {
		name    string
		moves   []move
		check   int64
		atLeast risk.Action
		exact   int // when atLeast is Allow: the score wanted
	}{
		{"unbound from a held account, bound to a fresh one", []move{{held, fresh, 0, true}}, fresh, risk.Hold, 0},
		{"bound to a fresh account while still on the held one", []move{{held, fresh, 0, false}}, fresh, risk.Hold, 0},
		{"all eight moved out one by one, the last carries the hold too", func() []move {
			var ms []move
			for i := range 8 {
				ms = append(ms, move{held, fresh, i, true})
			}
			return ms
		}(), fresh, risk.Hold, 0},
		{"bound to a fresh account, then unbound from the held one", []move{{held, fresh, 0, false}, {held, fresh2, 1, true}, {held, 0, 0, true}}, fresh, risk.Hold, 0},
		{"moved on twice", []move{{held, fresh, 0, true}, {fresh, fresh2, 0, true}}, fresh2, risk.Hold, 0},
		{"a family of four moving to a new phone's account", []move{{family, newPhone, 100, true}, {family, newPhone, 101, true},
			{family, newPhone, 102, true}, {family, newPhone, 103, true}}, newPhone, risk.Allow, 0},
		{"a parent re-binding one child after a phone change", []move{{family, newPhone, 101, true}}, newPhone, risk.Allow, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := risk.NewTracker(risk.DefaultRules(shanghai))
			heldAccount(tr, held, 0)
			for i := range 4 {
				tr.Apply(risk.Event{At: at(0, 20, i), Kind: risk.Bind, Account: family, Patient: patient(100 + i)})
			}
			if d := p.Decide(tr.Score(held, later), nil); d.Action < risk.Hold {
				t.Fatalf("the scalper account is only %s", d.Action)
			}
			when := later
			for _, m := range tc.moves {
				when = when.Add(time.Hour)
				if m.unbind {
					tr.Apply(risk.Event{At: when, Kind: risk.Unbind, Account: m.from, Patient: patient(m.p)})
					if m.to != 0 { // 0: only unbound
						tr.Apply(risk.Event{At: when.Add(time.Minute), Kind: risk.Bind, Account: m.to, Patient: patient(m.p)})
					}
				} else {
					tr.Apply(risk.Event{At: when, Kind: risk.Bind, Account: m.to, Patient: patient(m.p)})
				}
			}
			when = when.Add(time.Hour)
			s := tr.Score(tc.check, when)
			d := p.Decide(s, nil)
			if tc.atLeast == risk.Allow {
				if s.Total != tc.exact {
					t.Fatalf("account %d scores %d, want %d: %v", tc.check, s.Total, tc.exact, s.Reasons)
				}
				return
			}
			if d.Action < tc.atLeast {
				t.Fatalf("account %d is %s at %d, want at least %s: %v", tc.check, d.Action, s.Total, tc.atLeast, s.Reasons)
			}
			i := slices.IndexFunc(s.Reasons, func(r risk.Reason) bool { return r.Signal == risk.PassedIdentities })
			if i < 0 {
				t.Fatalf("no %s reason: %v", risk.PassedIdentities, s.Reasons)
			}
			if len(s.Reasons[i].Evidence) == 0 {
				t.Errorf("the reason names no account the identities came from")
			}
			t.Logf("%s", s.Reasons[i])
		})
	}
}

// TestAHeldAccountsScoreReachesItsHeirs: an identity bound to a fresh
// account while still bound to the scalper's is linked to it for the
// reviewer (a cluster's bulk decision takes both), and an event that
// raises the old account's score names the new one as touched, so that
// the monitor decides it again.
func TestAHeldAccountsScoreReachesItsHeirs(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	tr.Apply(risk.Event{At: day(0), Kind: risk.Bind, Account: 1, Patient: patient(0)})
	tr.Apply(risk.Event{At: day(0).Add(time.Minute), Kind: risk.Bind, Account: 2, Patient: patient(0)})
	if got := tr.Score(2, day(0).Add(time.Hour)); got.Total != 0 {
		t.Fatalf("an identity from a clean account scores %v", got)
	}
	touched := tr.Apply(risk.Event{At: day(1), Kind: risk.Bind, Account: 1, Patient: patient(1)})
	if !slices.Contains(touched, 2) {
		t.Errorf("an event of the account an identity came from touched %v, not the account it went to", touched)
	}
	heldAccount(tr, 1, 10)
	if s := tr.Score(2, day(3)); risk.DefaultPolicy().Decide(s, nil).Action < risk.Hold {
		t.Errorf("the heir of an account now held scores %d: %v", s.Total, s.Reasons)
	}
	want := risk.Link{Account: 1, Via: "identity", Masked: "blin…"}
	if got := tr.Links(2, day(3)); !slices.Contains(got, want) {
		t.Errorf("Links(2) = %v, want %v among them", got, want)
	}
	if got := tr.Links(1, day(3)); !slices.Contains(got, risk.Link{Account: 2, Via: "identity", Masked: "blin…"}) {
		t.Errorf("Links(1) = %v, want the account its identity went to", got)
	}
}

// TestADeviceFloodIsBounded: a bot shedding its device cookie on every
// request (or rotating through a botnet's addresses) must not grow the
// tracker without bound within the windows, nor hide a shared device behind
// the junk: each account keeps its most recent devices and prefixes only,
// and the groups hold only the accounts' kept ids.
func TestADeviceFloodIsBounded(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	const bot = 1
	when := noon
	for i := range 100_000 {
		when = when.Add(time.Second)
		tr.Apply(risk.Event{At: when, Kind: risk.Request, Account: bot, Device: fmt.Sprintf("junk-%d", i), Prefix: fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256)})
	}
	if n := tr.Size(); n > 1_000 {
		t.Errorf("after 100,000 distinct devices and prefixes of one account the tracker keeps %d ids", n)
	}
	for acct := int64(1); acct <= 4; acct++ {
		tr.Apply(risk.Event{At: when.Add(time.Minute), Kind: risk.Request, Account: acct, Device: "phone-1"})
	}
	s := tr.Score(bot, when.Add(2*time.Minute))
	if !slices.ContainsFunc(s.Reasons, func(r risk.Reason) bool { return r.Signal == risk.SharedDevice }) {
		t.Errorf("the device shared by four accounts is hidden behind the junk: %v", s.Reasons)
	}
}

// TestAnApprovedAccountIsNoSink: the next door after the hold follows
// identities — get one account approved by a reviewer (a sad story in an
// appeal), then move the held accounts' customers into it. The approval
// stood until the score grew Regrow past what the reviewer saw, and an
// identity from a held account only raised the score to that account's, so
// it never grew enough. An identity from an account the rules would hold
// now counts in full, on top: growth the reviewer never saw. A family of six
// moving to a new phone's account (its old account only challenged, for
// its size) still gains nothing.
func TestAnApprovedAccountIsNoSink(t *testing.T) {
	p := risk.DefaultPolicy()
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	const held, approved, bigFamily, newPhone = 1, 2, 3, 4
	heldAccount(tr, held, 0)
	heldAccount(tr, approved, 100)
	for i := range 6 {
		tr.Apply(risk.Event{At: at(0, 19, i), Kind: risk.Bind, Account: bigFamily, Patient: patient(200 + i)})
	}
	now := day(3)
	saw := tr.Score(approved, now).Total
	review := &risk.Review{Action: risk.Allow, Saw: saw}
	if d := p.Decide(tr.Score(approved, now), review); d.Action != risk.Allow {
		t.Fatalf("the approved account is %v", d.Action)
	}
	tr.Apply(risk.Event{At: now.Add(time.Hour), Kind: risk.Unbind, Account: held, Patient: patient(0)})
	tr.Apply(risk.Event{At: now.Add(time.Hour + time.Minute), Kind: risk.Bind, Account: approved, Patient: patient(0)})
	s := tr.Score(approved, now.Add(2*time.Hour))
	if d := p.Decide(s, review); d.Action < risk.Hold {
		t.Errorf("an approved account (saw %d) given a held account's customer is %v at %d: %v", saw, d.Action, s.Total, s.Reasons)
	}

	before := tr.Score(bigFamily, now.Add(2*time.Hour)).Total
	for i := range 6 {
		tr.Apply(risk.Event{At: now.Add(3 * time.Hour), Kind: risk.Unbind, Account: bigFamily, Patient: patient(200 + i)})
		tr.Apply(risk.Event{At: now.Add(3*time.Hour + time.Minute), Kind: risk.Bind, Account: newPhone, Patient: patient(200 + i)})
	}
	if s := tr.Score(newPhone, now.Add(4*time.Hour)); s.Total != before {
		t.Errorf("a family of six on a new phone's account scores %d, its old account %d: %v", s.Total, before, s.Reasons)
	}
}

// TestAHeldAccountCannotUnbindItsWayOut: a held account unbinding all but
// four of its customers (days after binding them, so no quick unbinds)
// counted only the four still bound, fell below the hold and entered the
// next draws unheld with them. The patients an account bound within the
// memory count, bound or not; a family of five that unbinds one stays
// allowed.
func TestAHeldAccountCannotUnbindItsWayOut(t *testing.T) {
	p := risk.DefaultPolicy()
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	const held, family = 1, 2
	heldAccount(tr, held, 0)
	for i := range 5 {
		tr.Apply(risk.Event{At: at(0, 19, i), Kind: risk.Bind, Account: family, Patient: patient(100 + i)})
	}
	for i := 4; i < 8; i++ {
		tr.Apply(risk.Event{At: day(5), Kind: risk.Unbind, Account: held, Patient: patient(i)})
	}
	tr.Apply(risk.Event{At: day(5), Kind: risk.Unbind, Account: family, Patient: patient(104)})
	s := tr.Score(held, day(6))
	if d := p.Decide(s, nil); d.Action < risk.Hold {
		t.Errorf("the held account, four customers unbound, is %v at %d: %v", d.Action, s.Total, s.Reasons)
	}
	if d := p.Decide(tr.Score(family, day(6)), nil); d.Action != risk.Allow {
		t.Errorf("a family of five that unbound one is %v", d.Action)
	}
	if s := tr.Score(held, day(40)); s.Total != 0 {
		t.Errorf("past the memory the unbound customers still count: %v", s.Reasons)
	}
}
