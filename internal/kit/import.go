package kit

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
)

// What the desk did on paper comes back as a CSV with a header row; the
// columns are found by name, so the kit's own CSV (CSVHeader) with its
// desk columns filled in is a valid file, and so is one with only the
// columns a kind needs. Rows by kind:
//
//	booking, check_in  checked in on paper: code, checked_in_at, id_last4
//	                   (a booking row with checked_in_at empty is skipped)
//	walk_in            registered on paper: session, checked_in_at,
//	                   patient_name, id_type, id_number; phone, priority
//	waitlist           skipped
//
// checked_in_at is "YYYY-MM-DD HH:MM" (or "HH:MM" with the row's date
// column) in the hospital's time zone: the time the desk wrote down.
const (
	// MaxImportRows bounds a file: a day's outage at one desk is far less.
	MaxImportRows = 20000
	// MaxImportBytes bounds what is read of a file.
	MaxImportBytes = 16 << 20
)

// Entry is one thing the desk did on paper. Line is its line in the file.
type Entry struct {
	Line int
	Kind string // "check_in" or "walk_in"
	At   time.Time
	// A check-in: the booking code and the last four characters of the ID
	// document the desk saw.
	Code, IDLast4 string
	// A walk-in: the session and the patient as written down.
	SessionID                     int64
	Name, IDType, IDNumber, Phone string
	Priority                      string
}

// LineError is a bad row: a fairslot.Error with a catalogue key, so the
// desk's page says it in the clerk's language. It never repeats an ID
// number or phone from the row.
type LineError struct {
	Line int
	Err  error
}

// ImportErrors are all the bad rows of a file.
type ImportErrors []LineError

func (e ImportErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad row(s); nothing was imported:", len(e))
	for _, l := range e {
		fmt.Fprintf(&b, "\n  line %d: %s", l.Line, fairslot.ErrorMessage(l.Err))
	}
	return b.String()
}

// ParseImport reads a desk file. It returns every row's error at once
// (ImportErrors) rather than the first, and no entries when any row is
// bad.
func ParseImport(r io.Reader, loc *time.Location) ([]Entry, error) {
	cr := csv.NewReader(&capped{r: r, left: MaxImportBytes})
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fairslot.E(fairslot.Invalid, "error.kit.empty", "the file is empty: it needs a header row (see 'fairslot kit import -h')")
	}
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup && h != "" {
			return nil, fairslot.E(fairslot.Invalid, "error.kit.column_twice", "line 1: the column %q appears twice", h)
		}
		col[h] = i
	}
	if _, ok := col["kind"]; !ok {
		return nil, fairslot.E(fairslot.Invalid, "error.kit.no_kind", "line 1: no \"kind\" column: the first row must name the columns (kind, code, checked_in_at, id_last4, ...)")
	}
	var out []Entry
	var bad ImportErrors
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var line int
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				// Not the file's content: reading it failed, or it is too
				// large. Nothing of it is entered.
				return nil, err
			}
			line = pe.Line
			bad = append(bad, LineError{line, fairslot.E(fairslot.Invalid, "error.kit.csv", "not valid CSV")})
			if pe.Err == csv.ErrFieldCount {
				continue
			}
			break
		}
		line, _ = cr.FieldPos(0)
		if len(out)+len(bad) >= MaxImportRows {
			return nil, fairslot.E(fairslot.Invalid, "error.kit.rows", "line %d: more than %d rows: split the file", line, MaxImportRows)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e, err := parseRow(get, line, loc)
		switch {
		case err != nil:
			bad = append(bad, LineError{line, err})
		case e.Kind != "":
			out = append(out, e)
		}
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return out, nil
}

// capped reads at most left bytes of r and fails, rather than ending the
// file early, when r has more: a file cut short would lose its last rows
// without a word.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(c.r, one[:]); n == 0 {
			return 0, io.EOF
		}
		return 0, fairslot.E(fairslot.Invalid, "error.kit.size", "the file is larger than %d MiB: split it", MaxImportBytes>>20)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// parseRow returns a row's entry (Kind "" for a row to skip) or why it is bad.
func parseRow(get func(string) string, line int, loc *time.Location) (Entry, error) {
	e := Entry{Line: line}
	kind := get("kind")
	switch kind {
	case "waitlist":
		return e, nil
	case "booking", "check_in":
		if kind == "booking" && get("checked_in_at") == "" && get("id_last4") == "" {
			return e, nil // not checked in on paper
		}
		e.Kind = "check_in"
	case "walk_in":
		e.Kind = "walk_in"
	default:
		return e, fairslot.E(fairslot.Invalid, "error.kit.kind", "kind must be booking, check_in, walk_in or waitlist, not %q", clip(kind))
	}
	at, err := parseTime(get("checked_in_at"), get("date"), loc)
	if err != nil {
		return e, err
	}
	e.At = at
	var missing []string
	need := func(name string) string {
		v := get(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	if e.Kind == "check_in" {
		e.Code, e.IDLast4 = strings.ToUpper(need("code")), strings.ToUpper(need("id_last4"))
		if len(missing) > 0 {
			return e, fairslot.E(fairslot.Invalid, "error.kit.checkin_needs", "a check-in needs %s", strings.Join(missing, ", "))
		}
		if len(e.Code) != 8 {
			return e, fairslot.E(fairslot.Invalid, "error.kit.code", "code must be the 8-character booking code")
		}
		if len(e.IDLast4) != 4 {
			return e, fairslot.E(fairslot.Invalid, "error.kit.last4", "id_last4 must be the last 4 characters of the ID document the desk saw")
		}
		return e, nil
	}
	session := need("session")
	e.Name, e.IDType, e.IDNumber = need("patient_name"), need("id_type"), need("id_number")
	e.Phone, e.Priority = get("phone"), get("priority")
	if len(missing) > 0 {
		return e, fairslot.E(fairslot.Invalid, "error.kit.walkin_needs", "a walk-in needs %s", strings.Join(missing, ", "))
	}
	id, err := strconv.ParseInt(session, 10, 64)
	if err != nil || id <= 0 {
		return e, fairslot.E(fairslot.Invalid, "error.kit.session", "session must be a session number (the kit's session column)")
	}
	e.SessionID = id
	return e, nil
}

func parseTime(at, date string, loc *time.Location) (time.Time, error) {
	if at == "" {
		return time.Time{}, fairslot.E(fairslot.Invalid, "error.kit.time_empty", "checked_in_at is empty: write the time the desk did it")
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, at, loc); err == nil {
			return t, nil
		}
	}
	if hm, err := time.ParseInLocation("15:04", at, loc); err == nil {
		d, err := time.ParseInLocation(time.DateOnly, date, loc)
		if err != nil {
			return time.Time{}, fairslot.E(fairslot.Invalid, "error.kit.time_no_date", "checked_in_at is a time of day, and the date column does not hold a date (YYYY-MM-DD)")
		}
		return time.Date(d.Year(), d.Month(), d.Day(), hm.Hour(), hm.Minute(), 0, 0, loc), nil
	}
	return time.Time{}, fairslot.E(fairslot.Invalid, "error.kit.time_format", "checked_in_at %q is not YYYY-MM-DD HH:MM or HH:MM", clip(at))
}

// clip keeps an echoed value short (and never a whole ID number: only
// kind and time columns are echoed).
func clip(s string) string {
	if r := []rune(s); len(r) > 20 {
		return string(r[:20]) + "…"
	}
	return s
}
