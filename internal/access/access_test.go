package access

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		reason  Reason
		note    string
		wantErr string
	}{
		{ReasonIdentityCheck, "", ""},
		{" billing ", "  insurer  asks ", ""},
		{"", "", "give a reason"},
		{"curiosity", "", "unknown reason"},
		{ReasonOther, "", "needs a note"},
		{ReasonOther, "ward round", ""},
		{ReasonBilling, strings.Repeat("x", MaxNote+1), "at most"},
		{ReasonBilling, "\xff", "at most"},
	} {
		r, note, err := Check(tt.reason, tt.note)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Check(%q, %q) = %v, want nil", tt.reason, tt.note, err)
			} else if strings.Contains(string(r), " ") || strings.Contains(note, "  ") {
				t.Errorf("Check(%q, %q) = %q, %q: not normalized", tt.reason, tt.note, r, note)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Check(%q, %q) = %v, want %q", tt.reason, tt.note, err, tt.wantErr)
		}
	}
}

func TestDecidePerHour(t *testing.T) {
	l := Limits{PerHour: 5, DistinctPatients: 100}
	var past []Past
	for i := range 5 {
		now := t0.Add(time.Duration(i) * time.Minute)
		if d := l.Decide(now, past, "patient:1"); !d.Allow || d.Lock {
			t.Fatalf("access %d: %+v, want allowed", i+1, d)
		}
		past = append(past, Past{At: now, Subject: "patient:1"})
	}
	if d := l.Decide(t0.Add(10*time.Minute), past, "patient:1"); d.Allow || !d.Lock {
		t.Fatalf("6th access in an hour: %+v, want refused and locked", d)
	}
	// An hour after the first, it has left the window.
	if d := l.Decide(t0.Add(time.Hour+time.Second), past, "patient:1"); !d.Allow {
		t.Fatalf("after the hour: %+v, want allowed", d)
	}
}

func TestDecideDistinct(t *testing.T) {
	l := Limits{}.WithDefaults()
	var past []Past
	for i := range DefaultDistinctPatients {
		now := t0.Add(time.Duration(i) * time.Second)
		s := fmt.Sprintf("patient:%d", i)
		if d := l.Decide(now, past, s); !d.Allow {
			t.Fatalf("patient %d: %+v, want allowed", i, d)
		}
		past = append(past, Past{At: now, Subject: s})
	}
	// The same patients again are not new people.
	if d := l.Decide(t0.Add(time.Minute), past, "patient:3"); !d.Allow {
		t.Fatalf("a patient already reached: %+v, want allowed", d)
	}
	if d := l.Decide(t0.Add(time.Minute), past, "patient:new"); d.Allow || !d.Lock {
		t.Fatalf("the 11th patient in 10 minutes: %+v, want locked", d)
	}
	if d := l.Decide(t0.Add(DefaultWindow+time.Minute), past, "patient:new"); !d.Allow {
		t.Fatalf("after the window: %+v, want allowed", d)
	}
}

func TestValidate(t *testing.T) {
	if err := (Limits{Window: 2 * time.Hour}).Validate(); err == nil {
		t.Error("a window longer than the hour read back: want an error")
	}
	if err := (Limits{PerHour: -1}).Validate(); err == nil {
		t.Error("negative limit: want an error")
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Errorf("zero limits: %v", err)
	}
	if got, want := (Limits{Window: 2 * time.Minute}).Since(t0), t0.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("Since = %v, want %v", got, want)
	}
}
