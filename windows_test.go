package fairslot

import (
	"testing"
	"time"
)

func TestPlanWindows(t *testing.T) {
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	at := func(hhmm string) time.Time {
		h, _ := time.Parse("15:04", hhmm)
		return day.Add(time.Duration(h.Hour())*time.Hour + time.Duration(h.Minute())*time.Minute)
	}
	sess := Session{Date: "2026-12-03", Period: Morning, Start: at("08:00"), End: at("09:30")}
	// Three windows of 3 places: the first has 2 booked, the second an
	// old cancelled booking and a reserved place, the third nothing.
	uses := []WindowUse{
		{Start: at("08:00"), End: at("08:30"), Capacity: 3, Taken: 2, Free: 1, Referred: 2},
		{Start: at("08:30"), End: at("09:00"), Capacity: 3, Free: 1, Referred: 1}, // and a reserved place
		{Start: at("09:00"), End: at("09:30"), Capacity: 3, Free: 3},
	}
	keep := func(i int, start, end string, places int) WindowPlan {
		return WindowPlan{From: uses[i].Start, FromEnd: uses[i].End, Start: at(start), End: at(end), Capacity: places}
	}
	fresh := func(start, end string, places int) WindowPlan {
		return WindowPlan{Start: at(start), End: at(end), Capacity: places}
	}
	same := []WindowPlan{keep(0, "08:00", "08:30", 3), keep(1, "08:30", "09:00", 3), keep(2, "09:00", "09:30", 3)}
	with := func(i int, w WindowPlan) []WindowPlan {
		p := append([]WindowPlan(nil), same...)
		p[i] = w
		return p
	}
	tests := []struct {
		name string
		plan []WindowPlan
		key  string // the refusal's key; "" when the plan is taken
		want []ChangeKind
	}{
		{"nothing changes", same, "", nil},
		{"no window left", nil, "error.windows.none", nil},
		{"zero places", with(2, keep(2, "09:00", "09:30", 0)), "error.windows.capacity", nil},
		{"negative places", with(2, keep(2, "09:00", "09:30", -3)), "error.windows.capacity", nil},
		{"a huge number of places", with(2, keep(2, "09:00", "09:30", 1<<40)), "error.windows.capacity", nil},
		{"end before start", with(2, keep(2, "09:20", "09:10", 3)), "error.windows.order", nil},
		{"empty window", with(2, keep(2, "09:10", "09:10", 3)), "error.windows.order", nil},
		{"moved onto a kept window", []WindowPlan{keep(0, "08:00", "08:30", 3), keep(1, "08:30", "09:00", 3), keep(2, "08:55", "09:25", 3)}, "error.windows.overlap", nil},
		{"too long", []WindowPlan{keep(0, "08:00", "08:30", 3), keep(1, "08:30", "09:00", 3), fresh("09:00", "09:31", 3)}, "error.windows.long", nil},
		{"outside the session", with(2, keep(2, "09:15", "09:45", 3)), "error.windows.outside", nil},
		{"before the session", append(same[:3:3], fresh("07:30", "08:00", 3)), "error.windows.outside", nil},
		{"overlapping", append(same[:3:3], fresh("08:10", "08:20", 3)), "error.windows.overlap", nil},
		{"a window not the session's", with(2, WindowPlan{From: at("09:05"), FromEnd: at("09:30"), Start: at("09:00"), End: at("09:30"), Capacity: 3}), "error.windows.unknown", nil},
		{"the same window twice", with(2, keep(1, "09:00", "09:30", 3)), "error.windows.unknown", nil},
		{"move a booked window", with(0, keep(0, "08:05", "08:30", 3)), "error.windows.booked_move", nil},
		{"shrink below the booked", with(0, keep(0, "08:00", "08:30", 1)), "error.windows.booked_shrink", nil},
		{"shrink below what stays", with(1, keep(1, "08:30", "09:00", 1)), "error.windows.kept", nil},
		{"shrink to what stays", with(1, keep(1, "08:30", "09:00", 2)), "", []ChangeKind{ShrinkWindow}},
		{"shrink the booked window to its bookings", with(0, keep(0, "08:00", "08:30", 2)), "", []ChangeKind{ShrinkWindow}},
		{"remove a booked window", same[1:], "error.windows.booked_remove", nil},
		{"remove a window with history", []WindowPlan{same[0], same[2]}, "error.windows.kept_remove", nil},
		{"remove a free window", same[:2], "", []ChangeKind{RemoveWindow}},
		{"grow a booked window", with(0, keep(0, "08:00", "08:30", 50)), "", []ChangeKind{AddPlaces}},
		{"51 places", with(0, keep(0, "08:00", "08:30", 51)), "error.windows.capacity", nil},
		{"split a free window", []WindowPlan{same[0], same[1], keep(2, "09:00", "09:15", 2), fresh("09:15", "09:30", 2)}, "",
			[]ChangeKind{ShrinkWindow, MoveWindow, AddPlaces}},
		{"move a free window", with(1, keep(1, "08:40", "09:00", 3)), "", []ChangeKind{MoveWindow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanWindows(sess, uses, tt.plan)
			if tt.key != "" {
				e, ok := err.(*Error)
				if !ok || e.Key != tt.key || e.Field != "windows" {
					t.Fatalf("PlanWindows = %v, %v; want a refusal %s on windows", got, err, tt.key)
				}
				return
			}
			if err != nil {
				t.Fatalf("PlanWindows: %v", err)
			}
			var kinds []ChangeKind
			for _, c := range got {
				kinds = append(kinds, c.Kind)
			}
			if len(kinds) != len(tt.want) {
				t.Fatalf("PlanWindows = %v, want steps %v", got, tt.want)
			}
			for i := range kinds {
				if kinds[i] != tt.want[i] {
					t.Fatalf("PlanWindows = %v, want steps %v", got, tt.want)
				}
			}
		})
	}
}

// Moves that shift every window later go last-first: no window ever
// lands on one still where it was; windows swapping places are refused.
func TestPlanWindowsOrdersMoves(t *testing.T) {
	day := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	m := func(min int) time.Time { return day.Add(time.Duration(min) * time.Minute) }
	sess := Session{Date: "2026-12-03", Period: Morning, Start: m(0), End: m(120)}
	uses := []WindowUse{
		{Start: m(0), End: m(30), Capacity: 2, Free: 2},
		{Start: m(30), End: m(60), Capacity: 2, Free: 2},
		{Start: m(60), End: m(90), Capacity: 2, Free: 2},
	}
	var plan []WindowPlan
	for _, u := range uses {
		plan = append(plan, WindowPlan{From: u.Start, FromEnd: u.End, Start: u.Start.Add(15 * time.Minute), End: u.End.Add(15 * time.Minute), Capacity: 2})
	}
	got, err := PlanWindows(sess, uses, plan)
	if err != nil {
		t.Fatal(err)
	}
	var order []time.Time
	for _, c := range got {
		order = append(order, c.From)
	}
	if len(got) != 3 || !order[0].Equal(m(60)) || !order[1].Equal(m(30)) || !order[2].Equal(m(0)) {
		t.Errorf("moves %v, want the last window first", got)
	}

	swap := []WindowPlan{
		{From: m(0), FromEnd: m(30), Start: m(30), End: m(60), Capacity: 2},
		{From: m(30), FromEnd: m(60), Start: m(0), End: m(30), Capacity: 2},
		{From: m(60), FromEnd: m(90), Start: m(60), End: m(90), Capacity: 2},
	}
	if _, err := PlanWindows(sess, uses, swap); ErrorKind(err) != Conflict {
		t.Errorf("swapping windows: %v, want a conflict", err)
	}
}
