package risk_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/risk"
)

var (
	shanghai = time.FixedZone("CST", 8*3600)
	noon     = time.Date(2026, 12, 1, 12, 0, 0, 0, shanghai)
	release  = time.Date(2026, 12, 1, 7, 0, 0, 0, shanghai)
)

func day(n int) time.Time { return noon.Add(time.Duration(n) * 24 * time.Hour) }

// at is a time on day n at hour:minute, hospital time.
func at(n, hour, minute int) time.Time {
	d := day(n)
	return time.Date(d.Year(), d.Month(), d.Day(), hour, minute, 0, 0, shanghai)
}

func patient(i int) string { return fmt.Sprintf("blind-%04d", i) }

// TestSignals: each signal, fed the events that make it and the nearest
// events that must not, with the explanation it gives.
func TestSignals(t *testing.T) {
	const acct = 1
	var (
		bind = func(when time.Time, p int) risk.Event {
			return risk.Event{At: when, Kind: risk.Bind, Account: acct, Patient: patient(p)}
		}
		unbind = func(when time.Time, p int) risk.Event {
			return risk.Event{At: when, Kind: risk.Unbind, Account: acct, Patient: patient(p)}
		}
		book = func(when time.Time, p int, doctor int64, rel time.Time) risk.Event {
			return risk.Event{At: when, Kind: risk.Book, Account: acct, Patient: patient(p), Doctor: doctor, Release: rel}
		}
		cancel = func(when time.Time, p int, doctor int64, rel time.Time) risk.Event {
			return risk.Event{At: when, Kind: risk.Cancel, Account: acct, Patient: patient(p), Doctor: doctor, Release: rel}
		}
	)
	onDevice := func(account int64, device string) risk.Event {
		return risk.Event{At: noon, Kind: risk.Request, Account: account, Device: device}
	}
	behind := func(account int64, prefix string) risk.Event {
		return risk.Event{At: noon, Kind: risk.Request, Account: account, Prefix: prefix}
	}
	paid := func(account int64, p int, payer string) risk.Event {
		return risk.Event{At: noon, Kind: risk.Pay, Account: account, Patient: patient(p), Payer: payer}
	}
	repeat := func(n int, f func(i int) risk.Event) []risk.Event {
		var out []risk.Event
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	requests := func(n int, gap func(i int) time.Duration) []risk.Event {
		when := noon
		return repeat(n, func(i int) risk.Event {
			when = when.Add(gap(i))
			return risk.Event{At: when, Kind: risk.Request, Account: acct}
		})
	}
	tests := []struct {
		name   string
		events []risk.Event
		want   risk.Signal // "" for none
		weight int
		says   string
	}{
		{"a family of four", repeat(4, func(i int) risk.Event { return bind(noon, i) }), "", 0, ""},
		{"five patients", repeat(5, func(i int) risk.Event { return bind(noon, i) }), risk.ManyPatients, 15, "5 patients bound to the account"},
		// Unbinding does not lower the count within the memory: a held
		// account unbinding its extra customers stayed held (handoff_test.go).
		{"five bound, one unbound after a week", append(repeat(5, func(i int) risk.Event { return bind(noon, i) }), unbind(day(7), 0)), risk.ManyPatients, 15, "5 patients bound to the account within 30 days"},
		{"a family bound at 1 a.m., one night", repeat(3, func(i int) risk.Event { return bind(at(0, 1, i), i) }), "", 0, ""},
		{"bindings on three nights", repeat(3, func(i int) risk.Event { return bind(at(i, 1, 30), i) }), risk.NightBindings, 36, "between 0:00 and 5:00 on 3 nights in 30 days"},
		{"bindings at 5 a.m. and 11 p.m. are not night", []risk.Event{bind(at(0, 5, 0), 1), bind(at(1, 23, 59), 2)}, "", 0, ""},
		{"bound and unbound within a day", []risk.Event{bind(noon, 1), unbind(noon.Add(3*time.Hour), 1)}, risk.QuickUnbinds, 15, "1 identities unbound within 24h0m0s"},
		{"unbound after two days", []risk.Event{bind(noon, 1), unbind(day(2), 1)}, "", 0, ""},
		{"bind, book, cancel", []risk.Event{bind(noon, 1), book(noon.Add(time.Hour), 1, 7, release), cancel(noon.Add(5*time.Hour), 1, 7, time.Time{})}, risk.BindBookCancel, 25, "1 bind-book-cancel cycles within 48h0m0s"},
		{"a cancellation a week after binding", []risk.Event{bind(noon, 1), book(noon.Add(time.Hour), 1, 7, release), cancel(day(7), 1, 7, time.Time{})}, "", 0, ""},
		{"one device, four accounts", repeat(4, func(i int) risk.Event { return onDevice(int64(acct+i), "dev-abcdef") }), risk.SharedDevice, 20, "its device is behind 4 accounts"},
		{"one device, three accounts", repeat(3, func(i int) risk.Event { return onDevice(int64(acct+i), "dev-abcdef") }), "", 0, ""},
		{"a prefix behind 31 accounts", repeat(31, func(i int) risk.Event { return behind(int64(acct+i), "10.1.2.0/24") }), risk.SharedPrefix, 10, "behind 31 accounts in a day"},
		{"a hospital's Wi-Fi behind 30", repeat(30, func(i int) risk.Event { return behind(int64(acct+i), "10.1.2.0/24") }), "", 0, ""},
		{"requests every 500 ms", requests(40, func(int) time.Duration { return 500 * time.Millisecond }), risk.RegularCadence, 30, "40 requests at an even pace (variation 0%)"},
		{"a person's uneven taps", requests(40, func(i int) time.Duration { return time.Duration(1+(i*7919)%13) * 700 * time.Millisecond }), "", 0, ""},
		{"an even pace, too few to judge", requests(20, func(int) time.Duration { return time.Second }), "", 0, ""},
		{"an even but slow pace (a page's own refresh)", requests(40, func(int) time.Duration { return 20 * time.Second }), "", 0, ""},
		{"one doctor in three releases for three patients", repeat(3, func(i int) risk.Event { return book(day(i), i, 9, release.Add(time.Duration(i)*24*time.Hour)) }), risk.TargetsDoctor, 20, "one doctor targeted in 3 releases for 3 patients"},
		{"one patient's follow-ups with one doctor", repeat(3, func(i int) risk.Event { return book(day(i*7), 1, 9, release.Add(time.Duration(i*7)*24*time.Hour)) }), "", 0, ""},
		{"one payer, six identities", repeat(6, func(i int) risk.Event { return paid(int64(acct+i%2), i, "payer-xyz") }), risk.SharedPayer, 25, "its payer paid for 6 identities"},
		{"a parent paying for five children", repeat(5, func(i int) risk.Event { return paid(acct, i, "payer-xyz") }), "", 0, ""},
		{"a cancellation five minutes before the release", []risk.Event{cancel(release.Add(-5*time.Minute), 1, 9, release)}, risk.CancelBeforeRelease, 15, "1 cancellations within 10m0s before the slot's release"},
		{"a cancellation an hour before", []risk.Event{cancel(release.Add(-time.Hour), 1, 9, release)}, "", 0, ""},
		{"a cancellation after the release", []risk.Event{cancel(release.Add(time.Minute), 1, 9, release)}, "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := risk.NewTracker(risk.DefaultRules(shanghai))
			last := noon
			for _, e := range tc.events {
				tr.Apply(e)
				last = e.At
			}
			s := tr.Score(acct, last)
			if tc.want == "" {
				if s.Total != 0 {
					t.Fatalf("score %d, want 0: %v", s.Total, s.Reasons)
				}
				return
			}
			i := slices.IndexFunc(s.Reasons, func(r risk.Reason) bool { return r.Signal == tc.want })
			if i < 0 {
				t.Fatalf("no %s signal; reasons %v", tc.want, s.Reasons)
			}
			r := s.Reasons[i]
			if r.Weight != tc.weight || s.Total != tc.weight {
				t.Errorf("%s weighs %d (total %d), want %d", tc.want, r.Weight, s.Total, tc.weight)
			}
			if got := r.String(); !strings.Contains(got, tc.says) {
				t.Errorf("explained as %q, want it to say %q", got, tc.says)
			}
			if r.Key() != "risk.signal."+string(tc.want) {
				t.Errorf("message key %q", r.Key())
			}
		})
	}
}

// TestEverySignalIsExplained: each signal has an English explanation that
// its params fill completely.
func TestEverySignalIsExplained(t *testing.T) {
	for _, sig := range risk.Signals {
		if s := (risk.Reason{Signal: sig, Weight: 1, Params: []any{1, 2, 3, 4}}).String(); strings.Contains(s, "%!") && !strings.Contains(s, "EXTRA") {
			t.Errorf("%s: explanation %q", sig, s)
		}
	}
}

// TestWindowsForget: what a signal counts ages out of its window, and
// Forget drops accounts gone quiet — the tracker's memory follows activity.
func TestWindowsForget(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	for i := range 4 {
		tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: int64(i + 1), Device: "dev-1"})
	}
	if s := tr.Score(1, noon); s.Total == 0 {
		t.Fatal("a device behind four accounts gives no signal")
	}
	if s := tr.Score(1, day(8)); s.Total != 0 {
		t.Errorf("eight days later the shared device still counts: %v", s.Reasons)
	}
	tr.Apply(risk.Event{At: noon, Kind: risk.Bind, Account: 9, Patient: patient(1)})
	tr.Apply(risk.Event{At: noon.Add(time.Hour), Kind: risk.Unbind, Account: 9, Patient: patient(1)})
	if s := tr.Score(9, day(1)); s.Total == 0 {
		t.Fatal("a quick unbind gives no signal")
	}
	if s := tr.Score(9, day(31)); s.Total != 0 {
		t.Errorf("31 days later the quick unbind still counts: %v", s.Reasons)
	}
	tr.Forget(day(60))
	if s := tr.Score(9, day(60)); s.Total != 0 || len(s.Reasons) != 0 {
		t.Errorf("a forgotten account scores %v", s)
	}
}

// TestApplyNamesTheAccountsItChanges: a fourth account on a device changes
// the other three's scores too, and Apply says so.
func TestApplyNamesTheAccountsItChanges(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	var touched []int64
	for i := range 4 {
		touched = tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: int64(i + 1), Device: "dev-1"})
	}
	if !slices.Equal(touched, []int64{1, 2, 3, 4}) {
		t.Errorf("the fourth account on a device touched %v, want all four", touched)
	}
	for id := int64(1); id <= 4; id++ {
		if s := tr.Score(id, noon); s.Total != 20 {
			t.Errorf("account %d on the shared device scores %d, want 20", id, s.Total)
		}
	}
}

// TestAScalperGroupPassesHoldAndAFamilyDoesNot replays the two ends of I1 on
// one tracker: a scalper account binding customers night after night,
// booking one specialist for each, cancelling and rebooking just before the
// release, on a phone shared with other accounts; and a family binding its
// members one evening, booking, paying from one account.
func TestAScalperGroupPassesHoldAndAFamilyDoesNot(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	p := risk.DefaultPolicy()
	const scalper, family = 100, 200
	for night := range 5 {
		c := 10 + night
		rel := release.Add(time.Duration(night) * 24 * time.Hour)
		for _, acct := range []int64{scalper, scalper + 1, scalper + 2, scalper + 3} {
			tr.Apply(risk.Event{At: at(night, 1, 5), Kind: risk.Request, Account: acct, Device: "phone-1", Prefix: "10.9.9.0/24"})
		}
		tr.Apply(risk.Event{At: at(night, 1, 10), Kind: risk.Bind, Account: scalper, Patient: patient(c)})
		tr.Apply(risk.Event{At: rel, Kind: risk.Book, Account: scalper, Patient: patient(c), Doctor: 42, Release: rel})
		tr.Apply(risk.Event{At: rel.Add(23*time.Hour + 55*time.Minute), Kind: risk.Cancel, Account: scalper, Patient: patient(c), Doctor: 42, Release: rel.Add(24 * time.Hour)})
	}
	for i := range 4 {
		tr.Apply(risk.Event{At: at(0, 21, i), Kind: risk.Bind, Account: family, Patient: patient(500 + i), Device: "family-phone"})
		tr.Apply(risk.Event{At: release.Add(time.Duration(i) * time.Minute), Kind: risk.Book, Account: family, Patient: patient(500 + i), Doctor: int64(i + 1), Release: release})
		tr.Apply(risk.Event{At: release.Add(time.Duration(i)*time.Minute + 30*time.Second), Kind: risk.Pay, Account: family, Patient: patient(500 + i), Payer: "family-card"})
	}
	now := day(5)
	s := tr.Score(scalper, now)
	if d := p.Decide(s, nil); d.Action < risk.Hold {
		t.Errorf("the scalper account is only %s at %d:\n%v", d.Action, s.Total, s.Reasons)
	} else {
		for _, r := range s.Reasons {
			t.Logf("scalper: %s", r)
		}
	}
	if s := tr.Score(family, now); s.Total != 0 {
		t.Errorf("the family scores %d: %v", s.Total, s.Reasons)
	}
}
