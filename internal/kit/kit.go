// Package kit is the downtime kit (issue 15 item 5): for each department a
// self-contained, printable HTML page and a CSV of today's and tomorrow's
// bookings by time window and the waitlist, with the newest signed audit
// checkpoint, written as one generation into a directory meant to live on
// another machine, atomically, under a manifest signed with the backup
// key; and the parsing of what the desk did on paper, to take it back in.
//
// It reads through a narrow Source and opens a patient's name only to mask
// it at once: a kit must never carry a full name, an ID number, a phone or
// what check-in asks as proof (the ID number's last four), because it is
// printed, left on desks and copied to shares. It decides nothing about who
// may print it: the staff console asks internal/app first.
package kit

import (
	"context"
	"time"

	"github.com/fairslot/fairslot"
)

// Page is one department's kit: what its page and CSV show.
type Page struct {
	Department fairslot.Department
	Generated  time.Time
	Lang       string
	Days       []Day
	// Checkpoint is the newest signed audit checkpoint (a signed note),
	// empty when the log has none yet.
	Checkpoint []byte
}

// Day is one date's sessions of the department.
type Day struct {
	Date     string // YYYY-MM-DD
	Sessions []Session
}

// Session is one doctor's clinic with its bookings by time window and its
// doctor's open waitlist of that day.
type Session struct {
	ID       int64
	Doctor   string
	Title    fairslot.Title
	Period   fairslot.Period
	Start    time.Time
	End      time.Time
	Room     string
	Windows  []Window
	Waitlist []Wait
}

// Window is a time window with its bookings in slot order.
type Window struct {
	Start, End time.Time
	Rows       []Row
}

// Row is one booking. Name is masked; Proof is the kind of identity
// document check-in asks to see (the desk compares its last four
// characters), never any part of the number.
type Row struct {
	Slot     int
	Ticket   string // the queue number once checked in
	Code     string // the booking code the patient shows
	Name     string // masked: 张*
	Proof    fairslot.IDType
	Status   fairslot.Status
	Priority string
	Channel  fairslot.Channel
}

// Wait is one open waitlist entry, in waiting order; Position counts
// within the session's list as printed.
type Wait struct {
	Position int
	Name     string // masked
	Proof    fairslot.IDType
	Since    time.Time
	// AnySession is true when the patient takes any session of the doctor
	// that day, not only this one.
	AnySession bool
}

// Source reads what the kit shows. Implementations mask names before they
// leave: a Page never holds a full name.
type Source interface {
	// Departments lists the departments a kit is written for.
	Departments(ctx context.Context) ([]fairslot.Department, error)
	// Page reads one department's bookings and waitlist on the dates (in
	// the hospital's time zone) and the newest audit checkpoint.
	Page(ctx context.Context, departmentID int64, dates []string) (Page, error)
}

// Dates returns the dates a kit made at now covers: today and tomorrow in
// loc.
func Dates(now time.Time, loc *time.Location) []string {
	t := now.In(loc)
	return []string{t.Format(time.DateOnly), t.AddDate(0, 0, 1).Format(time.DateOnly)}
}
