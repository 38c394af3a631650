package gate

import (
	"testing"
	"time"
)

// Remaining counts what Allow would still take, spending nothing, and
// grows back at the limit's rate.
func TestRemaining(t *testing.T) {
	m := NewMemory(Limit{Rate: 5, Per: time.Hour, Burst: 5}, 10)
	now := time.Date(2026, 12, 10, 8, 0, 0, 0, time.UTC)
	for want := 5; want >= 0; want-- {
		if got := m.Remaining("k", now); got != want {
			t.Fatalf("Remaining = %d, want %d", got, want)
		}
		if ok, _ := m.Allow("k", now); ok != (want > 0) {
			t.Fatalf("Allow with %d remaining = %v", want, ok)
		}
	}
	if got := m.Remaining("k", now.Add(12*time.Minute)); got != 1 {
		t.Errorf("12 minutes later (one per 12): Remaining = %d, want 1", got)
	}
	if got := m.Remaining("other", now); got != 5 {
		t.Errorf("a new key: Remaining = %d, want 5", got)
	}
}
