package fairslot

import (
	"slices"
	"time"
)

// Replanning a session's time windows (issue 14 item 5): the admin gives
// the windows a session is to have, each with its places, and PlanWindows
// checks them by the rules a session's slots are made by (Session.Validate)
// and by the rule a hospital keeps with its patients — a patient who booked
// a window keeps it as they were told it: it is not moved, removed or cut
// below the places booked in it. What a patient's time must change for is
// cancelling the session, with its notices.

// MaxWindowPlaces is the most places one time window may have.
const MaxWindowPlaces = 50

// MaxWindows is the most time windows one session may have: a 12-hour
// clinic in 15-minute windows.
const MaxWindows = 48

// WindowUse is a session's time window as it stands, read for a change.
type WindowUse struct {
	Start, End time.Time
	Capacity   int // places
	// Taken: places a patient's booking holds (one not cancelled or
	// expired).
	Taken int
	// Free: general places nothing refers to (no booking of any status, no
	// embargo, not an extra place): what lowering the capacity may take.
	Free int
	// Referred: places something refers to (a booking of any status, an
	// embargo, an extra place's reason): a window with any is never
	// removed.
	Referred int
}

// WindowPlan is a time window as the admin plans it. From and FromEnd are
// the times of the window it changes; both zero for a new window.
type WindowPlan struct {
	From, FromEnd time.Time
	Start, End    time.Time
	Capacity      int
}

// New reports whether w adds a window.
func (w WindowPlan) New() bool { return w.From.IsZero() }

// ChangeKind is one step of a replan.
type ChangeKind string

const (
	RemoveWindow ChangeKind = "remove" // take the window, all its places, away
	ShrinkWindow ChangeKind = "shrink" // take Places free general places out
	MoveWindow   ChangeKind = "move"   // give the window's places new times
	AddPlaces    ChangeKind = "add"    // add Places general places at Start–End
)

// WindowChange is one step of a replan: the window as it was (From,
// FromEnd; zero for a new one), where it goes (Start, End) and how many
// places are added or taken.
type WindowChange struct {
	Kind          ChangeKind
	From, FromEnd time.Time
	Start, End    time.Time
	Places        int
}

// PlanWindows checks plan, the windows session s is to have, against the
// windows it has (uses) and returns the steps that make it so, in an order
// in which no two windows ever overlap: removals, then places taken out,
// then moves, then places added. Times are written HH:MM in the zone the
// times carry. Errors are about the form's field "windows".
func PlanWindows(s Session, uses []WindowUse, plan []WindowPlan) ([]WindowChange, error) {
	hm := func(t time.Time) string { return t.Format("15:04") }
	span := func(a, b time.Time) string { return hm(a) + "–" + hm(b) }
	switch {
	case len(plan) == 0:
		return nil, E(Invalid, "error.windows.none", "a session keeps at least one time window (to close it, cancel the session)").On("windows")
	case len(plan) > MaxWindows:
		return nil, E(Invalid, "error.windows.many", "a session has at most %d time windows", MaxWindows).On("windows")
	}
	plan = slices.Clone(plan)
	slices.SortFunc(plan, func(a, b WindowPlan) int { return a.Start.Compare(b.Start) })
	var slots []Slot
	for i, w := range plan {
		switch {
		case w.Capacity < 1 || w.Capacity > MaxWindowPlaces:
			return nil, E(Invalid, "error.windows.capacity", "the window %s has 1 to %d places", hm(w.Start), MaxWindowPlaces).On("windows")
		case !w.End.After(w.Start):
			return nil, E(Invalid, "error.windows.order", "the window %s ends before it starts", span(w.Start, w.End)).On("windows")
		case w.End.Sub(w.Start) > MaxWindow:
			return nil, E(Invalid, "error.windows.long", "the window %s is longer than 30 minutes", span(w.Start, w.End)).On("windows")
		case w.Start.Before(s.Start) || w.End.After(s.End):
			return nil, E(Invalid, "error.windows.outside", "the window %s lies outside the session (%s)", span(w.Start, w.End), span(s.Start, s.End)).On("windows")
		case i > 0 && w.Start.Before(plan[i-1].End):
			p := plan[i-1]
			return nil, E(Invalid, "error.windows.overlap", "the windows %s and %s overlap", span(p.Start, p.End), span(w.Start, w.End)).On("windows")
		}
		for range w.Capacity {
			slots = append(slots, Slot{Number: len(slots) + 1, Start: w.Start, End: w.End})
		}
	}
	if err := s.Validate(slots); err != nil { // the rule every session's slots were made by
		return nil, err
	}

	var removes, shrinks, moves, adds []WindowChange
	var standing []WindowChange // the windows kept where they are: what moves must not land on
	kept := make([]bool, len(uses))
	for _, w := range plan {
		if w.New() {
			adds = append(adds, WindowChange{Kind: AddPlaces, Start: w.Start, End: w.End, Places: w.Capacity})
			continue
		}
		i := slices.IndexFunc(uses, func(u WindowUse) bool { return u.Start.Equal(w.From) && u.End.Equal(w.FromEnd) })
		if i < 0 || kept[i] {
			return nil, E(Invalid, "error.windows.unknown", "the window %s is not one of the session's: show the page again", span(w.From, w.FromEnd)).On("windows")
		}
		kept[i] = true
		u := uses[i]
		moved := !u.Start.Equal(w.Start) || !u.End.Equal(w.End)
		switch {
		case moved && u.Taken > 0:
			return nil, E(Conflict, "error.windows.booked_move", "%d patients booked the window %s: its times stay as they were told (to change them, cancel the session)",
				u.Taken, span(u.Start, u.End)).On("windows")
		case w.Capacity < u.Taken:
			return nil, E(Conflict, "error.windows.booked_shrink", "%d patients booked the window %s: it keeps at least %d places",
				u.Taken, span(u.Start, u.End), u.Taken).On("windows")
		case w.Capacity < u.Capacity-u.Free:
			return nil, E(Conflict, "error.windows.kept", "the window %s keeps at least %d places: booked, reserved and extra places stay",
				span(u.Start, u.End), u.Capacity-u.Free).On("windows")
		}
		if w.Capacity < u.Capacity {
			shrinks = append(shrinks, WindowChange{Kind: ShrinkWindow, From: u.Start, FromEnd: u.End, Start: u.Start, End: u.End, Places: u.Capacity - w.Capacity})
		}
		if moved {
			moves = append(moves, WindowChange{Kind: MoveWindow, From: u.Start, FromEnd: u.End, Start: w.Start, End: w.End})
		} else {
			standing = append(standing, WindowChange{Start: u.Start, End: u.End})
		}
		if w.Capacity > u.Capacity {
			adds = append(adds, WindowChange{Kind: AddPlaces, From: u.Start, FromEnd: u.End, Start: w.Start, End: w.End, Places: w.Capacity - u.Capacity})
		}
	}
	for i, u := range uses {
		if kept[i] {
			continue
		}
		switch {
		case u.Taken > 0:
			return nil, E(Conflict, "error.windows.booked_remove", "%d patients booked the window %s: it cannot be removed (to close it, cancel the session)",
				u.Taken, span(u.Start, u.End)).On("windows")
		case u.Referred > 0:
			return nil, E(Conflict, "error.windows.kept_remove", "places of the window %s were booked before or added as extra places: it stays (lower its places instead)",
				span(u.Start, u.End)).On("windows")
		}
		removes = append(removes, WindowChange{Kind: RemoveWindow, From: u.Start, FromEnd: u.End, Start: u.Start, End: u.End, Places: -u.Capacity})
	}
	ordered, ok := orderMoves(standing, moves)
	if !ok {
		return nil, E(Conflict, "error.windows.swap", "windows would have to pass through each other: move them one at a time").On("windows")
	}
	return slices.Concat(removes, shrinks, ordered, adds), nil
}

// orderMoves orders moves so that none lands on a window still where it
// is: each move goes once the place it goes to is clear. It fails when
// moves wait on each other in a ring (windows swapping places).
func orderMoves(standing, moves []WindowChange) ([]WindowChange, bool) {
	var done []WindowChange
	pending := slices.Clone(moves)
	for len(pending) > 0 {
		clear := func(m WindowChange) bool {
			overlaps := func(start, end time.Time) bool { return m.Start.Before(end) && start.Before(m.End) }
			for _, s := range standing {
				if overlaps(s.Start, s.End) {
					return false
				}
			}
			for _, o := range pending {
				if !(o.From.Equal(m.From) && o.FromEnd.Equal(m.FromEnd)) && overlaps(o.From, o.FromEnd) {
					return false
				}
			}
			return true
		}
		next := slices.IndexFunc(pending, clear)
		if next < 0 {
			return nil, false
		}
		m := pending[next]
		done = append(done, m)
		standing = append(standing, WindowChange{Start: m.Start, End: m.End})
		pending = slices.Delete(pending, next, next+1)
	}
	return done, true
}
