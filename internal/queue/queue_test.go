package queue_test

import (
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
