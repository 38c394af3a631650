package app_test

import (
	"fmt"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// residentBorn makes a valid resident ID number of someone born on date
// (YYYYMMDD).
func residentBorn(date string, serial int) string {
	first := fmt.Sprintf("110105%s%03d", date, serial%1000)
	return first + string(fairslot.ResidentCheckDigit(first))
}

// TestPriorityIsChecked: the elderly and child groups come from the
// birth date the ID carries; the others are confirmed by the desk with a
// reason, audited; a kiosk declares none (issue 13 item 2). The clock is
// 2026-12-10.
func TestPriorityIsChecked(t *testing.T) {
	e := newEnv(t)
	desk := e.staff(t, "desk")
	kiosk := app.Actor{Kind: storage.StaffToken, ID: 98, Role: fairslot.Kiosk}
	serial := 0
	walkIn := func(a app.Actor, p app.PatientInput, prio, reason string) (string, error) {
		t.Helper()
		serial++
		if a.Role == fairslot.Kiosk {
			e.onRecord(t, p) // a kiosk registers only patients on record
		}
		r, err := e.svc.WalkIn(ctx, a, app.WalkInInput{SessionID: e.session.ID, Patient: p, Priority: prio, PriorityReason: reason})
		return r.Booking.Priority, err
	}
	resident := func(born string) app.PatientInput {
		return app.PatientInput{Name: fmt.Sprint("病人", serial), IDType: fairslot.IDResident, IDNumber: residentBorn(born, serial)}
	}
	for _, c := range []struct {
		what         string
		actor        app.Actor
		patient      app.PatientInput
		prio, reason string
		want         string
		kind         fairslot.Kind // "" for success
	}{
		{"a kiosk walk-in aged 86, nothing asked", kiosk, resident("19401201"), "", "", "elderly", ""},
		{"a kiosk walk-in who turns 60 today", kiosk, resident("19661210"), "", "", "elderly", ""},
		{"a kiosk walk-in who turns 60 tomorrow", kiosk, resident("19661211"), "", "", "", ""},
		{"a kiosk walk-in aged 2", kiosk, resident("20240101"), "", "", "child", ""},
		{"a kiosk walk-in aged 46", kiosk, resident("19800101"), "", "", "", ""},
		{"a kiosk claiming elderly for a 46-year-old", kiosk, resident("19800101"), "elderly", "", "", fairslot.Invalid},
		{"the desk claiming elderly for a 46-year-old, with a reason", desk, resident("19800101"), "elderly", "looks old", "", fairslot.Invalid},
		{"a kiosk claiming child for a 46-year-old", kiosk, resident("19800101"), "child", "", "", fairslot.Invalid},
		{"a kiosk declaring disabled", kiosk, resident("19800101"), "disabled", "wheelchair", "", fairslot.Forbidden},
		{"a kiosk declaring military", kiosk, resident("19800101"), "military", "card shown", "", fairslot.Forbidden},
		{"the desk confirming pregnant without a reason", desk, resident("19900101"), "pregnant", "  ", "", fairslot.Invalid},
		{"the desk confirming pregnant with a reason", desk, resident("19900101"), "pregnant", "maternity card seen", "pregnant", ""},
		{"an unknown group", desk, resident("19900101"), "vip", "friend of the director", "", fairslot.Invalid},
		// A passport carries no birth date: a typed one proves nothing.
		{"a kiosk walk-in with a passport and a typed birth date of 1930", kiosk,
			app.PatientInput{Name: "Old", IDType: fairslot.IDPassport, IDNumber: "E12345671", BirthDate: "1930-01-01"}, "", "", "", ""},
		{"a kiosk claiming elderly on a passport", kiosk,
			app.PatientInput{Name: "Old", IDType: fairslot.IDPassport, IDNumber: "E12345672", BirthDate: "1930-01-01"}, "elderly", "", "", fairslot.Forbidden},
		{"the desk confirming elderly on a passport, with a reason", desk,
			app.PatientInput{Name: "Old", IDType: fairslot.IDPassport, IDNumber: "E12345673", BirthDate: "1930-01-01"}, "elderly", "passport birth date checked", "elderly", ""},
	} {
		got, err := walkIn(c.actor, c.patient, c.prio, c.reason)
		if c.kind != "" {
			wantKind(t, c.what, err, c.kind)
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: priority %q, %v; want %q", c.what, got, err, c.want)
		}
	}
	// The confirmed ones are audited with their reason; the derived ones
	// say where they came from.
	var confirmed, derived int
	for _, ev := range auditLog(t, e) {
		if ev.Action != "booking.walk_in" {
			continue
		}
		switch ev.Detail["priority_from"] {
		case "staff":
			confirmed++
			if ev.Detail["priority_reason"] == "" || ev.Actor != fmt.Sprint("staff:", desk.ID) {
				t.Errorf("a confirmed priority's audit record: %+v", ev)
			}
		case "birth_date":
			derived++
		}
	}
	if confirmed != 2 || derived != 3 {
		t.Errorf("audit: %d confirmed and %d derived priorities, want 2 and 3", confirmed, derived)
	}
}
