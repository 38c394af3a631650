package fhir_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/fhir"
)

func TestGrant(t *testing.T) {
	allowed := []string{"system/Slot.rs", "system/Appointment.r", "system/Patient.s"}
	for _, c := range []struct {
		requested string
		want      []string
		ok        bool
	}{
		{"system/Slot.rs", []string{"system/Slot.rs"}, true},
		{"system/Slot.read", []string{"system/Slot.rs"}, true},
		{"system/Slot.cruds", []string{"system/Slot.rs"}, true},
		{"system/Appointment.rs system/Patient.rs", []string{"system/Appointment.r", "system/Patient.s"}, true},
		{"system/*.rs", nil, true}, // no wildcard was registered
		{"system/Schedule.rs", nil, true},
		{"system/Slot.sr", nil, false}, // v2 permissions are in order
		{"system/Slot.rr", nil, false},
		{"user/Slot.rs", nil, false},
		{"system/.rs", nil, false},
		{"system/Slot", nil, false},
	} {
		got, ok := fhir.Grant(c.requested, allowed)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("grant(%q) = %v, %v; want %v, %v", c.requested, got, ok, c.want, c.ok)
		}
	}
	if got, _ := fhir.Grant("system/Slot.rs system/Patient.read", []string{"system/*.read"}); !slices.Equal(got, []string{"system/Slot.rs", "system/Patient.rs"}) {
		t.Errorf("a wildcard registration grants %v, want each type asked for", got)
	}
}

// FuzzGrant: whatever is asked, nothing is granted beyond the registered
// scopes, and what is granted is granted again when asked for.
func FuzzGrant(f *testing.F) {
	for _, s := range []string{"system/Slot.rs", "system/*.cruds system/Patient.read", "system/Slot.sr", "system/a.b.c", ""} {
		f.Add(s)
	}
	allowed := []string{"system/Slot.rs", "system/Appointment.r"}
	f.Fuzz(func(t *testing.T, requested string) {
		got, ok := fhir.Grant(requested, allowed)
		if !ok {
			return
		}
		for _, g := range got {
			typ, perms, _ := strings.Cut(strings.TrimPrefix(g, "system/"), ".")
			for _, p := range perms {
				var held bool
				for _, a := range allowed {
					at, ap, _ := strings.Cut(strings.TrimPrefix(a, "system/"), ".")
					held = held || (at == typ && strings.ContainsRune(ap, p))
				}
				if !held {
					t.Fatalf("grant(%q) = %v: %s.%c was not registered", requested, got, typ, p)
				}
			}
		}
		again, ok := fhir.Grant(strings.Join(got, " "), allowed)
		if !ok || !slices.Equal(again, got) {
			t.Fatalf("asking again for %v grants %v, %v", got, again, ok)
		}
	})
}
