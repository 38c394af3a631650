package backup

import (
	"sort"
	"strings"
	"time"
)

// A KeepRule keeps the first archive of every period of Every (periods
// counted from the Unix epoch, in UTC) for KeepFor: "hourly for 48 h" is
// {time.Hour, 48 * time.Hour}.
type KeepRule struct {
	Every, KeepFor time.Duration
}

// Archived is an archive found at a destination, with the time in its name.
type Archived struct {
	Name string
	Time time.Time
}

// stampLayout is the time in an archive's name, fairslot-NODE-TIME.tar.age.
const stampLayout = "20060102T150405Z"

// ParseArchiveName returns the time in an archive's name, and false for
// any other name (signatures, temporary files, anything else).
func ParseArchiveName(name string) (time.Time, bool) {
	base, ok := strings.CutSuffix(name, ".tar.age")
	if !ok || !strings.HasPrefix(base, "fairslot-") || len(base) < len("fairslot-")+len(stampLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(stampLayout, base[len(base)-len(stampLayout):])
	return t, err == nil
}

// Prune returns the archives the rules no longer keep at now: an archive
// is kept while, under some rule, it is younger than KeepFor and the
// oldest of its period (so what is kept does not change as newer archives
// arrive). The newest archive is always kept, and with no rules every
// archive is. The result is sorted oldest first.
func Prune(archives []Archived, rules []KeepRule, now time.Time) []Archived {
	if len(rules) == 0 || len(archives) == 0 {
		return nil
	}
	sorted := append([]Archived(nil), archives...)
	sort.Slice(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.Before(sorted[j].Time)
		}
		return sorted[i].Name < sorted[j].Name
	})
	keep := make([]bool, len(sorted))
	keep[len(sorted)-1] = true
	for _, r := range rules {
		seen := map[int64]bool{}
		for i, a := range sorted {
			period := a.Time.UnixNano() / int64(r.Every) // floor for times after 1970
			if seen[period] {
				continue
			}
			seen[period] = true
			if now.Sub(a.Time) < r.KeepFor {
				keep[i] = true
			}
		}
	}
	var drop []Archived
	for i, a := range sorted {
		if !keep[i] {
			drop = append(drop, a)
		}
	}
	return drop
}
