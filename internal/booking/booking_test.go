package booking_test

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/booking"
)

var loc = time.FixedZone("CST", 8*3600)

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func session(date, start, end string) fairslot.Session {
	return fairslot.Session{Date: date, Period: fairslot.Morning, Start: at(date + " " + start), End: at(date + " " + end)}
}

func TestCheckOpen(t *testing.T) {
	s := session("2026-12-10", "08:00", "12:00")
	sameDay := booking.Default()
	untilEnd := booking.Default()
	untilEnd.SameDayUntilEnd = true
	dayBefore := booking.Default()
	dayBefore.SameDay = false
	tests := []struct {
		name string
		p    booking.Policy
		now  string
		ok   bool
	}{
		{"before release", sameDay, "2026-12-03 06:59", false},
		{"at release", sameDay, "2026-12-03 07:00", true},
		{"eight days ahead", sameDay, "2026-12-02 12:00", false},
		{"same day before start", sameDay, "2026-12-10 07:59", true},
		{"same day at start", sameDay, "2026-12-10 08:00", false},
		{"open until the end: 11:59", untilEnd, "2026-12-10 11:59", true},
		{"open until the end: 12:00", untilEnd, "2026-12-10 12:00", false},
		{"day-before cut-off: 14:59", dayBefore, "2026-12-09 14:59", true},
		{"day-before cut-off: 15:00", dayBefore, "2026-12-09 15:00", false},
	}
	for _, tt := range tests {
		err := tt.p.CheckOpen(at(tt.now), s)
		if (err == nil) != tt.ok {
			t.Errorf("%s: CheckOpen at %s = %v, want ok=%v", tt.name, tt.now, err, tt.ok)
		}
	}
}

func TestCheckBooking(t *testing.T) {
	p := booking.Default()
	now := at("2026-12-10 09:00")
	days := func(ds ...int) []time.Time {
		var out []time.Time
		for _, d := range ds {
			out = append(out, now.AddDate(0, 0, -d))
		}
		return out
	}
	tests := []struct {
		name string
		h    booking.History
		ok   bool
	}{
		{"fresh", booking.History{}, true},
		{"one in department", booking.History{ActiveInDepartmentOnDay: 1, ActiveOnDay: 1, Active: 1}, false},
		{"one elsewhere that day", booking.History{ActiveOnDay: 1, Active: 1}, true},
		{"two that day", booking.History{ActiveOnDay: 2, Active: 2}, false},
		{"total cap", booking.History{Active: 5}, false},
		{"two no-shows", booking.History{NoShows: days(1, 10)}, true},
		{"three no-shows in 90 days", booking.History{NoShows: days(1, 10, 80)}, false},
		{"three no-shows, one older than 90 days", booking.History{NoShows: days(1, 10, 95)}, true},
		{"suspension earned 85 days ago still runs", booking.History{NoShows: days(85, 86, 89)}, false},
		{"suspension earned 91 days ago is over", booking.History{NoShows: days(91, 92, 93)}, true},
		{"suspension from older no-shows still runs", booking.History{NoShows: days(80, 120, 160)}, false},
		{"three no-shows spread over 120 days", booking.History{NoShows: days(1, 60, 120)}, true},
		{"three cancels in 30 days", booking.History{Cancels: days(1, 2, 29)}, false},
		{"three cancels, one older", booking.History{Cancels: days(1, 2, 31)}, true},
		{"five cancels by the account", booking.History{AccountCancels: days(1, 2, 3, 4, 5)}, true},
		{"six cancels by the account in 30 days", booking.History{AccountCancels: days(1, 2, 3, 4, 5, 29)}, false},
		{"bound an hour ago, no minimum", booking.History{BoundAt: now.Add(-time.Hour)}, true},
	}
	aged := booking.Default()
	aged.MinBindingAge = fairslot.Duration(24 * time.Hour)
	for _, tt := range []struct {
		bound time.Time
		ok    bool
	}{{now.Add(-23 * time.Hour), false}, {now.Add(-24 * time.Hour), true}, {time.Time{}, true}} {
		if err := aged.CheckBooking(now, booking.History{BoundAt: tt.bound}); (err == nil) != tt.ok {
			t.Errorf("binding age, bound at %v: %v, want ok=%v", tt.bound, err, tt.ok)
		}
	}
	for _, tt := range tests {
		err := p.CheckBooking(now, tt.h)
		if (err == nil) != tt.ok {
			t.Errorf("%s: CheckBooking = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && fairslot.ErrorKind(err) != fairslot.Limited {
			t.Errorf("%s: kind = %s, want limit_reached", tt.name, fairslot.ErrorKind(err))
		}
	}
}

func TestSuspendedUntil(t *testing.T) {
	p := booking.Default()
	now := at("2026-12-10 09:00")
	third := now.AddDate(0, 0, -5)
	until, ok := p.SuspendedUntil([]time.Time{now.AddDate(0, 0, -20), third, now.AddDate(0, 0, -40)})
	if !ok || !until.Equal(third.AddDate(0, 0, 90)) {
		t.Errorf("SuspendedUntil = %v, %v; want %v, true", until, ok, third.AddDate(0, 0, 90))
	}
}

func TestHoldExpiry(t *testing.T) {
	p := booking.Default()
	s := session("2026-12-10", "08:00", "12:00")
	if got, want := p.HoldExpiry(at("2026-12-09 10:00"), s), at("2026-12-09 10:15"); !got.Equal(want) {
		t.Errorf("HoldExpiry = %v, want %v", got, want)
	}
	if got, want := p.HoldExpiry(at("2026-12-10 11:55"), s), s.End; !got.Equal(want) {
		t.Errorf("HoldExpiry near the end = %v, want the session end %v", got, want)
	}
}

func TestCheckBinding(t *testing.T) {
	p := booking.Default()
	tests := []struct {
		b  booking.Binding
		ok bool
	}{
		{booking.Binding{}, true},
		{booking.Binding{PatientsOfAccount: 4, AccountsOfPatient: 1, RecentByAccount: 4}, true},
		{booking.Binding{PatientsOfAccount: 5}, false},
		{booking.Binding{AccountsOfPatient: 2}, false},
		{booking.Binding{RecentByAccount: 5}, false},
	}
	for _, tt := range tests {
		if err := p.CheckBinding(tt.b); (err == nil) != tt.ok {
			t.Errorf("CheckBinding(%+v) = %v, want ok=%v", tt.b, err, tt.ok)
		}
	}
}

func TestCheckCancelAndCheckIn(t *testing.T) {
	p := booking.Default()
	s := session("2026-12-10", "08:00", "12:00")
	b := fairslot.Booking{Status: fairslot.Confirmed}
	if err := p.CheckCancel(at("2026-12-10 07:59"), b, s); err != nil {
		t.Errorf("cancel before start: %v", err)
	}
	if err := p.CheckCancel(at("2026-12-10 08:00"), b, s); err == nil {
		t.Error("cancel at start allowed; want refused")
	}
	if err := p.CheckCancel(at("2026-12-09 08:00"), fairslot.Booking{Status: fairslot.Completed}, s); err == nil {
		t.Error("cancel of a completed booking allowed")
	}
	if err := p.CheckCheckIn(at("2026-12-09 23:00"), b, s); err == nil {
		t.Error("check-in the day before allowed")
	}
	if err := p.CheckCheckIn(at("2026-12-10 07:00"), b, s); err != nil {
		t.Errorf("check-in on the day: %v", err)
	}
	if err := p.CheckCheckIn(at("2026-12-10 07:00"), fairslot.Booking{Status: fairslot.Held}, s); err == nil {
		t.Error("check-in of an unpaid hold allowed")
	}
	if p.NoShowDue(at("2026-12-10 12:29"), s) || !p.NoShowDue(at("2026-12-10 12:30"), s) {
		t.Error("NoShowDue: want due from 30 minutes after the session ends")
	}
}

func TestValidate(t *testing.T) {
	if err := booking.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	p := booking.Default()
	p.MaxPerDay = 0
	if p.Validate() == nil {
		t.Error("MaxPerDay 0 accepted")
	}
}
