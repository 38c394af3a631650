package fairslot

import (
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes as text ("15m"), for
// configuration files.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String is the duration as Go writes it ("30m0s"), for pages and logs.
func (d Duration) String() string { return time.Duration(d).String() }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// TimeOfDay is a wall-clock time in the hospital's time zone, as minutes
// after midnight; it reads and writes as "07:00".
type TimeOfDay int

func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *TimeOfDay) UnmarshalText(b []byte) error {
	v, err := time.Parse("15:04", string(b))
	if err != nil {
		return fmt.Errorf("time of day %q: want HH:MM", b)
	}
	*t = TimeOfDay(v.Hour()*60 + v.Minute())
	return nil
}

// On returns the instant at time of day t on the given date in loc.
func (t TimeOfDay) On(date time.Time, loc *time.Location) time.Time {
	y, m, d := date.In(loc).Date()
	return time.Date(y, m, d, int(t)/60, int(t)%60, 0, 0, loc)
}
