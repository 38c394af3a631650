package queue_test

import (
	"slices"
	"testing"

	"github.com/fairslot/fairslot/internal/queue"
)

func TestReinsert(t *testing.T) {
	p := queue.Default()
	twelve := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := []struct {
		name    string
		waiting []float64
		missed  int
		want    float64
		void    bool
	}{
		{"first miss: behind 5", twelve, 1, 5.5, false},
		{"second miss: behind 10", twelve, 2, 10.5, false},
		{"third miss: the end", twelve, 3, 13, false},
		{"fourth miss: void", twelve, 4, 0, true},
		{"short queue: the end", []float64{1, 2}, 1, 3, false},
		{"empty queue", nil, 1, 1, false},
	}
	for _, tt := range tests {
		got, void := p.Reinsert(tt.waiting, tt.missed)
		if got != tt.want || void != tt.void {
			t.Errorf("%s: Reinsert = %v, %v; want %v, %v", tt.name, got, void, tt.want, tt.void)
		}
	}
}

func TestNext(t *testing.T) {
	p := queue.Default()
	const P, N = true, false
	tests := []struct {
		name            string
		waiting, recent []bool
		want            int
	}{
		{"no priority waiting: the head", []bool{N, N}, nil, 0},
		{"first call goes to priority", []bool{N, N, P}, nil, 2},
		{"priority just called: the other", []bool{N, P}, []bool{P}, 0},
		{"two calls since priority: priority again", []bool{N, P}, []bool{P, N, N}, 1},
		{"one call since priority: the other", []bool{N, P}, []bool{P, N}, 0},
		{"only priority waiting", []bool{P, P}, []bool{P}, 0},
		{"priority head when it is their turn", []bool{P, N}, []bool{N, N}, 0},
	}
	for _, tt := range tests {
		if got := p.Next(tt.waiting, tt.recent); got != tt.want {
			t.Errorf("%s: Next = %d, want %d", tt.name, got, tt.want)
		}
	}
	off := queue.Policy{Steps: []int{5}, MaxMissed: 3}
	if got := off.Next([]bool{N, P}, nil); got != 0 {
		t.Errorf("interleave off: Next = %d, want 0", got)
	}
}

// TestNextShare runs a long queue: with both kinds always waiting, exactly
// one call in every PriorityEvery goes to a priority patient.
func TestNextShare(t *testing.T) {
	for _, every := range []int{2, 3, 5} {
		p := queue.Policy{PriorityEvery: every}
		var recent []bool
		for range 300 {
			i := p.Next([]bool{false, true}, recent)
			recent = append(recent, i == 1)
		}
		n := 0
		for _, pr := range recent {
			if pr {
				n++
			}
		}
		if n != 300/every {
			t.Errorf("every %d: %d priority calls in 300, want %d", every, n, 300/every)
		}
	}
}

func TestOrder(t *testing.T) {
	p := queue.Default()
	const P, N = true, false
	tests := []struct {
		name            string
		waiting, recent []bool
		want            []int
	}{
		{"empty", nil, nil, []int{}},
		{"no priority: queue order", []bool{N, N, N}, nil, []int{0, 1, 2}},
		{"one priority in three calls", []bool{N, N, N, N, P, P}, nil, []int{4, 0, 1, 5, 2, 3}},
		{"priority just called: two others first", []bool{P, N, N, N}, []bool{P}, []int{1, 2, 0, 3}},
	}
	for _, tt := range tests {
		got := p.Order(tt.waiting, tt.recent)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Order = %v, want %v", tt.name, got, tt.want)
		}
		// Order must agree with Next, call by call.
		if len(tt.waiting) > 0 && got[0] != p.Next(tt.waiting, tt.recent) {
			t.Errorf("%s: Order starts with %d, Next says %d", tt.name, got[0], p.Next(tt.waiting, tt.recent))
		}
	}
}

// TestUpcoming: a board's "please get ready" is the calling order's head,
// not the queue's: priority patients in their interleaved turns.
func TestUpcoming(t *testing.T) {
	const P, N = true, false
	tests := []struct {
		name            string
		p               queue.Policy
		waiting, recent []bool
		n               int
		want            []int
	}{
		{"priority patient's turn comes first", queue.Default(), []bool{N, N, N, P, N}, nil, 3, []int{3, 0, 1}},
		{"priority just called: two others first", queue.Default(), []bool{N, P, N}, []bool{P}, 3, []int{0, 2, 1}},
		{"two priority patients one turn apart", queue.Default(), []bool{P, P, N, N, N}, []bool{N, N}, 4, []int{0, 2, 3, 1}},
		{"fewer waiting than asked", queue.Default(), []bool{N, N}, nil, 3, []int{0, 1}},
		{"none asked", queue.Default(), []bool{N, P}, nil, 0, []int{}},
		{"nobody waiting", queue.Default(), nil, []bool{P}, 3, []int{}},
		{"interleave off: the queue's order", queue.Policy{Steps: []int{5}, MaxMissed: 3}, []bool{N, N, P}, nil, 3, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		if got := tt.p.Upcoming(tt.waiting, tt.recent, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Upcoming = %v, want %v", tt.name, got, tt.want)
		}
	}
}
