package privacy

import (
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
)

func TestConsentCurrent(t *testing.T) {
	p := Policy{NoticeVersion: "v2"}
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		latest *Consent
		want   bool
	}{
		{"none", nil, false},
		{"older version", &Consent{Version: "v1", At: at}, false},
		{"other, newer-looking version", &Consent{Version: "v3", At: at}, false},
		{"current", &Consent{Version: "v2", At: at}, true},
	} {
		if got := p.Current(tc.latest); got != tc.want {
			t.Errorf("%s: Current = %v, want %v", tc.name, got, tc.want)
		}
		err := p.CheckConsent(tc.latest)
		if tc.want != (err == nil) {
			t.Errorf("%s: CheckConsent = %v", tc.name, err)
		}
		if err != nil && fairslot.ErrorKind(err) != fairslot.Forbidden {
			t.Errorf("%s: kind %s, want forbidden", tc.name, fairslot.ErrorKind(err))
		}
	}
	if got := (Policy{}).Version(); got != NoticeVersion {
		t.Errorf("default version %q, want %q", got, NoticeVersion)
	}
}

func TestNewConsent(t *testing.T) {
	p := Policy{}
	at := time.Unix(1, 0)
	if _, err := p.NewConsent(1, "2000-01-01", "en", at); fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Errorf("old version accepted: %v", err)
	}
	for _, lang := range []string{"", "fr", "zh", "EN"} {
		if _, err := p.NewConsent(1, NoticeVersion, lang, at); fairslot.ErrorKind(err) != fairslot.Invalid {
			t.Errorf("language %q: %v, want invalid", lang, err)
		}
	}
	for _, lang := range Langs {
		c, err := p.NewConsent(7, NoticeVersion, lang, at)
		if err != nil || c.AccountID != 7 || c.Lang != lang || c.Version != NoticeVersion || !c.At.Equal(at) {
			t.Errorf("%s: %+v %v", lang, c, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{}, true},
		{Policy{Retention: MinRetention}, true},
		{Policy{Retention: MinRetention - time.Hour}, false},
		{Policy{Retention: 90 * 24 * time.Hour}, false},
		{Policy{NoticeVersion: strings.Repeat("x", 33)}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v", tc.p, err)
		}
	}
	if DefaultRetention < MinRetention {
		t.Error("the default retention is below the minimum")
	}
}

func TestPurgeable(t *testing.T) {
	p := Policy{Retention: 365 * 24 * time.Hour}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old := now.AddDate(-1, 0, -1)
	recent := now.AddDate(0, -11, 0)
	for _, tc := range []struct {
		name string
		a    Activity
		want bool
	}{
		{"old, idle", Activity{Last: old}, true},
		{"exactly at the cutoff", Activity{Last: p.Cutoff(now)}, false},
		{"recent", Activity{Last: recent}, false},
		{"old but a booking still runs", Activity{Last: old, Active: 1}, false},
		{"already purged", Activity{Last: old, Purged: true}, false},
	} {
		if got := p.Purgeable(tc.a, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheckClose(t *testing.T) {
	if err := CheckClose(nil); err != nil {
		t.Fatal(err)
	}
	err := CheckClose([]Holding{{Kind: "booking", ID: 12, Date: "2026-12-10"}, {Kind: "entry", ID: 3, Date: "2026-12-11"}})
	if fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Fatalf("kind %s", fairslot.ErrorKind(err))
	}
	msg := fairslot.ErrorMessage(err)
	for _, want := range []string{"booking 12 (2026-12-10)", "draw entry 3 (2026-12-11)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestActiveBooking(t *testing.T) {
	active := map[fairslot.Status]bool{fairslot.Held: true, fairslot.Confirmed: true, fairslot.CheckedIn: true, fairslot.Called: true}
	for _, s := range fairslot.Statuses {
		if got := ActiveBooking(s); got != active[s] {
			t.Errorf("%s: %v", s, got)
		}
	}
}
