// Package queue holds the clinic-room calling rules as pure functions: who
// is called next (priority patients interleaved), where a patient whose call
// was missed goes back into the queue, and when missed calls void the
// booking. It must never touch storage or the clock.
package queue

import "github.com/fairslot/fairslot"

// Policy says how far a missed call moves a patient back.
type Policy struct {
	Steps     []int `json:"steps"`      // places moved back on the 1st, 2nd, ... missed call; past the list: the end
	MaxMissed int   `json:"max_missed"` // more missed calls than this void the booking
	// PriorityEvery: one call in every PriorityEvery goes to a waiting
	// priority patient (elderly, disabled, pregnant, ...); 0 calls in queue
	// order only.
	PriorityEvery int `json:"priority_every"`
}

// Default is the design brief's rule: back 5 places, then 5 more, then to the
// end; more than 3 missed calls void the booking as a no-show.
// Priority patients are interleaved 1 in every 3 calls.
func Default() Policy { return Policy{Steps: []int{5, 10}, MaxMissed: 3, PriorityEvery: 3} }

// Validate reports the first setting that makes no sense.
func (p Policy) Validate() error {
	for _, s := range p.Steps {
		if s < 1 {
			return fairslot.Errorf(fairslot.Invalid, "queue policy: steps must be ≥ 1")
		}
	}
	if p.MaxMissed < 1 || p.PriorityEvery < 0 {
		return fairslot.Errorf(fairslot.Invalid, "queue policy: max_missed ≥ 1 and priority_every ≥ 0")
	}
	return nil
}

// Next picks who is called next. waiting holds, in queue order, whether each
// waiting patient is a priority patient; recent holds the same for the calls
// made so far in the session, oldest first. It returns an index into
// waiting, which must not be empty: the first priority patient when no call
// among the last PriorityEvery-1 went to one, else the first other patient;
// whoever is first when only one kind waits.
func (p Policy) Next(waiting, recent []bool) int {
	firstPriority, firstOther := -1, -1
	for i, pr := range waiting {
		if pr && firstPriority < 0 {
			firstPriority = i
		}
		if !pr && firstOther < 0 {
			firstOther = i
		}
	}
	switch {
	case firstPriority < 0 || p.PriorityEvery == 0:
		return 0
	case firstOther < 0:
		return firstPriority
	}
	for i := len(recent) - 1; i >= 0 && i >= len(recent)-(p.PriorityEvery-1); i-- {
		if recent[i] {
			return firstOther
		}
	}
	return firstPriority
}

// Order is the order in which the waiting patients will be called if no
// one else arrives: Next applied again and again. It returns indexes into
// waiting, so that a room's screen and a patient's phone show the priority
// interleave the calls will follow.
func (p Policy) Order(waiting, recent []bool) []int {
	left := make([]int, len(waiting)) // indexes into waiting not yet called
	for i := range left {
		left[i] = i
	}
	recent = recent[:len(recent):len(recent)]
	order := make([]int, 0, len(waiting))
	kinds := make([]bool, 0, len(waiting))
	for len(left) > 0 {
		kinds = kinds[:0]
		for _, i := range left {
			kinds = append(kinds, waiting[i])
		}
		k := p.Next(kinds, recent)
		order = append(order, left[k])
		recent = append(recent, waiting[left[k]])
		left = append(left[:k], left[k+1:]...)
	}
	return order
}

// Reinsert decides where a patient goes after their missed-th missed call
// (1-based). waiting holds the positions of the patients still waiting, in
// ascending order. It returns the new position, or void when the booking is
// to be voided as a no-show.
func (p Policy) Reinsert(waiting []float64, missed int) (pos float64, void bool) {
	if missed > p.MaxMissed {
		return 0, true
	}
	back := len(waiting) // to the end
	if missed-1 < len(p.Steps) && p.Steps[missed-1] < back {
		back = p.Steps[missed-1]
	}
	switch {
	case len(waiting) == 0:
		return 1, false
	case back >= len(waiting):
		return waiting[len(waiting)-1] + 1, false
	case back == 0:
		return waiting[0] - 1, false
	}
	return (waiting[back-1] + waiting[back]) / 2, false
}

// Upcoming returns the next n patients of a queue to be called, in the
// order Next will call them (indexes into waiting, in queue order, true
// for a priority patient; recent as for Next): whom a waiting-room board
// asks to get ready. A patient moved back after a missed call is where
// Reinsert put them, and priority patients come in their interleaved
// turns, not at the head.
func (p Policy) Upcoming(waiting, recent []bool, n int) []int {
	order := p.Order(waiting, recent)
	return order[:min(n, len(order))]
}
