// Package queue holds the clinic-room calling rules as pure functions: where
// a patient whose call was missed goes back into the queue, and when missed
// calls void the booking. It must never touch storage or the clock.
package queue

// Policy says how far a missed call moves a patient back.
type Policy struct {
	Steps     []int `json:"steps"`      // places moved back on the 1st, 2nd, ... missed call; past the list: the end
	MaxMissed int   `json:"max_missed"` // more missed calls than this void the booking
}

// Default is the design brief's rule: back 5 places, then 5 more, then to the
// end; more than 3 missed calls void the booking as a no-show.
func Default() Policy { return Policy{Steps: []int{5, 10}, MaxMissed: 3} }

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
