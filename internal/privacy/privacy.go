// Package privacy holds the rules of the patient's rights (issue 13 item 8):
// which version of the privacy notice an account must have accepted before
// it binds an identity or books, what blocks closing an account, and when a
// patient's personal fields must be made unreadable (retention). The rules
// are pure functions of values and a time; this package never touches
// storage, HTTP or plaintext personal data.
package privacy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
)

// NoticeVersion is the version of the privacy notice whose text is in the
// pages' catalogue under privacy.notice.*. Change it whenever that text
// changes in substance: every account is asked again before it next binds
// or books. A hospital that rewrites the text sets privacy.notice_version.
const NoticeVersion = "2026-12-01"

// DefaultRetention is how long a patient's personal fields are kept after
// their last activity: three years, the general limitation period for civil
// claims in China (Civil Code art. 188) and Vietnam (Civil Code 2015 art.
// 429) — a booking or payment dispute can be raised that long. Neither
// PIPL (art. 19: the shortest time the purpose needs) nor Decree 13/2023
// fixes a number.
const DefaultRetention = 3 * 365 * 24 * time.Hour

// MinRetention is the shortest retention accepted: six months, the time
// China's Cybersecurity Law (art. 21) asks network logs to be kept, and
// longer than any booking rule looks back (no-shows: 90 days), so a purge
// never frees a patient from a limit.
const MinRetention = 183 * 24 * time.Hour

// Policy is the hospital's privacy configuration.
type Policy struct {
	// NoticeVersion is the notice in force ("": NoticeVersion).
	NoticeVersion string
	// Retention is how long after a patient's last activity their personal
	// fields are kept (0: DefaultRetention).
	Retention time.Duration
}

// Version returns the notice version in force.
func (p Policy) Version() string {
	if p.NoticeVersion == "" {
		return NoticeVersion
	}
	return p.NoticeVersion
}

// RetentionPeriod returns the retention in force.
func (p Policy) RetentionPeriod() time.Duration {
	if p.Retention == 0 {
		return DefaultRetention
	}
	return p.Retention
}

// Validate checks the configuration.
func (p Policy) Validate() error {
	if len(p.NoticeVersion) > 32 {
		return errors.New("privacy.notice_version: at most 32 characters")
	}
	if p.Retention != 0 && p.Retention < MinRetention {
		return fmt.Errorf("privacy.retention: at least %s (six months: China's Cybersecurity Law keeps logs that long, and the no-show rule looks back 90 days)", MinRetention)
	}
	return nil
}

// Consent is an account's acceptance of one version of the notice, in the
// language it was shown in. Consents are appended, never changed.
type Consent struct {
	AccountID int64     `json:"-"`
	Version   string    `json:"version"`
	Lang      string    `json:"lang"`
	At        time.Time `json:"at"`
}

// Langs are the languages the notice is written in.
var Langs = []string{"zh-CN", "vi", "en"}

// ErrConsentRequired is the refusal of a binding or booking by an account
// that has not accepted the notice in force.
var ErrConsentRequired = &fairslot.Error{Kind: fairslot.Forbidden, Message: "accept the privacy notice first (/privacy/consent)"}

// Current reports whether latest — the account's newest consent, nil for
// none — covers the notice in force. Any other version, older or not, does
// not: a new notice asks again.
func (p Policy) Current(latest *Consent) bool {
	return latest != nil && latest.Version == p.Version()
}

// CheckConsent refuses unless latest covers the notice in force.
func (p Policy) CheckConsent(latest *Consent) error {
	if !p.Current(latest) {
		return ErrConsentRequired
	}
	return nil
}

// NewConsent validates an acceptance: it must name the version in force
// (an old page's form accepting an old text is refused) in a language the
// notice is written in.
func (p Policy) NewConsent(accountID int64, version, lang string, at time.Time) (Consent, error) {
	if version != p.Version() {
		return Consent{}, fairslot.Errorf(fairslot.Conflict, "the privacy notice has changed: read the current version (%s) and accept it", p.Version())
	}
	for _, l := range Langs {
		if l == lang {
			return Consent{AccountID: accountID, Version: version, Lang: lang, At: at}, nil
		}
	}
	return Consent{}, fairslot.Errorf(fairslot.Invalid, "language must be one of zh-CN, vi, en")
}

// Activity is what the retention rule needs of one patient.
type Activity struct {
	PatientID int64
	// Last is the newest of: the patient's creation, a binding made or
	// removed, a booking made or changed, a draw entry, a waitlist place.
	Last time.Time
	// Active counts what is still running: bookings held, confirmed,
	// checked in or called; entries in draws not yet run; open waitlist
	// places.
	Active int
	Purged bool
}

// Cutoff is the time before which activity is past retention at now.
func (p Policy) Cutoff(now time.Time) time.Time { return now.Add(-p.RetentionPeriod()) }

// Purgeable reports whether a's personal fields must be made unreadable at
// now: nothing of the patient is running and their last activity is older
// than the retention period. Whether the patient is still bound to an
// account does not matter: an identity nobody used for the whole period is
// unbound and purged (the notice says so).
func (p Policy) Purgeable(a Activity, now time.Time) bool {
	return !a.Purged && a.Active == 0 && a.Last.Before(p.Cutoff(now))
}

// Holding is something of an account that is still running.
type Holding struct {
	Kind string `json:"kind"` // "booking" or "entry"
	ID   int64  `json:"id"`
	// SessionID and Date say which session, for the refusal's list.
	SessionID int64  `json:"session_id"`
	Date      string `json:"date"`
}

// CheckClose refuses to close an account with active bookings or entries
// in draws that have not run, listing them: closing never cancels on the
// patient's behalf, so no refund is made and no cancellation counted
// unseen — the patient cancels each (seeing its refund), then closes. Open
// waitlist places are left by the closing itself: they hold nothing.
func CheckClose(active []Holding) error {
	if len(active) == 0 {
		return nil
	}
	list := make([]string, len(active))
	for i, h := range active {
		what := "booking"
		if h.Kind == "entry" {
			what = "draw entry"
		}
		list[i] = fmt.Sprintf("%s %d (%s)", what, h.ID, h.Date)
	}
	return fairslot.Errorf(fairslot.Conflict, "the account still has %s: cancel them first, then close the account", strings.Join(list, ", "))
}

// ActiveBooking reports whether a booking in status s holds a place.
func ActiveBooking(s fairslot.Status) bool {
	switch s {
	case fairslot.Held, fairslot.Confirmed, fairslot.CheckedIn, fairslot.Called:
		return true
	}
	return false
}
