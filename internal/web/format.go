package web

import (
	"fmt"
	"math"
	"strings"
	"time"

	"golang.org/x/text/currency"

	"github.com/fairslot/fairslot/internal/localdate"
)

// Local formats (issue 13 item 9): dates, times and money as each language
// writes them, always in the hospital's time zone and currency (Hospital),
// never the host's. The templates' day, stamp, date and money functions are
// bound to one locale each (templates.go), so a page needs no language
// argument to show a date right.

// Hospital is what the pages need to know of the hospital to show its
// dates, money and names.
type Hospital struct {
	// Location is the hospital's time zone; nil means UTC (never the
	// host's zone: a server in another zone must not move the hospital's
	// days).
	Location *time.Location
	// Currency is the ISO 4217 code of the fees ("CNY", "VND"); empty:
	// CNY. Amounts are stored in the currency's minor unit (fen for CNY;
	// the dong itself for VND, whose ISO minor unit is 0).
	Currency string
	// Names translates department and doctor names: language code, then the
	// name as stored, then its translation. A name with no translation in
	// a language is shown as stored.
	Names map[string]map[string]string
}

// unit returns the hospital's currency, or an error for a code ISO 4217
// does not know.
func (h Hospital) unit() (currency.Unit, error) {
	code := h.Currency
	if code == "" {
		code = "CNY"
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return currency.Unit{}, fmt.Errorf("web: currency %q: %w", code, err)
	}
	return u, nil
}

func (h Hospital) location() *time.Location {
	if h.Location == nil {
		return time.UTC
	}
	return h.Location
}

// Day writes a date (weekday included) as the locale does: 2026年12月1日
// 星期二, Thứ Ba, 01/12/2026, Tue 1 Dec 2026.
func (l *Locale) Day(t time.Time) string { return localdate.Day(l.Code, t.In(l.loc)) }

// Stamp is Day and the time of day (24-hour, as all three languages write
// it on a hospital's notices).
func (l *Locale) Stamp(t time.Time) string {
	return l.Day(t) + " " + t.In(l.loc).Format("15:04")
}

// Date writes a session's date, stored as YYYY-MM-DD in the hospital's
// zone; text that is not such a date is returned as it is.
func (l *Locale) Date(s string) string {
	t, err := time.ParseInLocation(time.DateOnly, s, l.loc)
	if err != nil {
		return s
	}
	return l.Day(t)
}

// Money writes an amount in the hospital currency's minor unit with the
// currency's narrow symbol (¥ 25.00, ₫ 150.000), as the locale groups digits.
func (l *Locale) Money(minor int64) string {
	scale, _ := currency.Standard.Rounding(l.cur)
	amount := float64(minor) / math.Pow10(scale)
	return l.p.Sprint(currency.NarrowSymbol(l.cur.Amount(amount)))
}

// Currency is the ISO code of the hospital's currency, for the amount's
// accessible name.
func (l *Locale) Currency() string { return l.cur.String() }

// Name translates a department's or doctor's name from the hospital's
// table, or returns it as stored.
func (l *Locale) NameOf(stored string) string {
	if t, ok := l.names[stored]; ok && t != "" {
		return t
	}
	return stored
}

// duration writes a duration for an error's parameter.
func (l *Locale) duration(d time.Duration) string {
	// Never "1 minutes": under two of a unit, the next smaller one.
	switch {
	case d >= 2*time.Hour && d%time.Hour == 0:
		return l.T("date.hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return l.T("date.minutes", int((d+time.Minute-1)/time.Minute))
	default:
		return l.T("date.seconds", int((d+time.Second-1)/time.Second))
	}
}

// isDate reports whether s is a YYYY-MM-DD date.
func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil && len(s) == 10 && strings.Count(s, "-") == 2
}
