package risk

import "fmt"

// Action is what a score makes the system do to an account, mildest first.
type Action int

const (
	Allow     Action = iota
	Challenge        // a harder proof-of-work challenge
	Limit            // lower rate limits as well
	Hold             // entries and bookings held for review instead of taking a slot
	Block            // refused
)

var actionNames = [...]string{"allow", "challenge", "limit", "hold", "block"}

func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return fmt.Sprintf("action(%d)", int(a))
	}
	return actionNames[a]
}

// Policy maps a score to an action: each threshold is the score from which
// its action applies; 0 turns that action off. Hospitals set their own.
type Policy struct {
	ChallengeAt int
	LimitAt     int
	HoldAt      int
	BlockAt     int     // 0 by default: only a reviewer blocks
	LimitFactor float64 // Limit: the rate limits are multiplied by this (0 < f ≤ 1)
	// Regrow: a reviewer's decision stands until the score has grown this
	// much beyond the score the reviewer saw.
	Regrow int
}

// DefaultPolicy challenges at 20, limits at 40, holds at 60 and never
// blocks by itself.
func DefaultPolicy() Policy {
	return Policy{ChallengeAt: 20, LimitAt: 40, HoldAt: 60, LimitFactor: 0.25, Regrow: 30}
}

// Validate reports a policy whose thresholds are out of order.
func (p Policy) Validate() error {
	last := 0
	for i, at := range []int{p.ChallengeAt, p.LimitAt, p.HoldAt, p.BlockAt} {
		if at < 0 {
			return fmt.Errorf("risk policy: the %s threshold is negative", Action(i+1))
		}
		if at != 0 && at < last {
			return fmt.Errorf("risk policy: the %s threshold (%d) is below a milder action's (%d)", Action(i+1), at, last)
		}
		last = max(last, at)
	}
	if p.LimitAt != 0 && (p.LimitFactor <= 0 || p.LimitFactor > 1) {
		return fmt.Errorf("risk policy: limit_factor must be in (0, 1], not %v", p.LimitFactor)
	}
	return nil
}

// Review is a reviewer's decision on an account: the action they chose
// and the score they saw.
type Review struct {
	Action Action
	Saw    int
}

// Decision is what to do with an account now, and why.
type Decision struct {
	Action     Action
	PowLevel   int     // 0–4, what gate.Difficulty takes as risk
	RateFactor float64 // 1, or the policy's LimitFactor under Limit or worse
	Score      Score
	Reviewed   bool // a reviewer's decision, not the score's
}

// Key is the message that explains the decision to the patient.
func (d Decision) Key() string { return "risk.action." + d.Action.String() }

// Decide is the action for s under p, given the reviewer's last decision
// if any: a review stands until the score grows Regrow past what the
// reviewer saw; then the score decides again, never milder than the review.
func (p Policy) Decide(s Score, review *Review) Decision {
	a := Allow
	for i, at := range []int{p.ChallengeAt, p.LimitAt, p.HoldAt, p.BlockAt} {
		if at > 0 && s.Total >= at {
			a = Action(i + 1)
		}
	}
	reviewed := false
	if review != nil {
		if s.Total < review.Saw+p.Regrow {
			a, reviewed = review.Action, true
		} else {
			a = max(a, review.Action)
		}
	}
	d := Decision{Action: a, RateFactor: 1, Score: s, Reviewed: reviewed}
	if a >= Limit && p.LimitFactor > 0 {
		d.RateFactor = p.LimitFactor
	}
	if a >= Challenge && p.ChallengeAt > 0 {
		// One level per ChallengeAt of score, at least one.
		d.PowLevel = min(max(s.Total/p.ChallengeAt, 1), 4)
	}
	return d
}
