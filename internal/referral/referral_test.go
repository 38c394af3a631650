package referral

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot"
)

var t0 = time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC)

func TestCanMove(t *testing.T) {
	for _, from := range Statuses {
		for _, to := range Statuses {
			want := from == Pending && to != Pending
			if got := CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if CanMove(Pending, "granted") {
		t.Error("CanMove to an unknown status")
	}
}

func TestAdmits(t *testing.T) {
	until := t0.Add(time.Hour)
	tests := []struct {
		s    Status
		now  time.Time
		want bool
	}{
		{Approved, t0, true},
		{Approved, until, false}, // valid until, not through
		{Expired, t0, true},      // the hospital did not decide in time: the patient keeps that release
		{Expired, until.Add(time.Second), false},
		{Pending, t0, false},
		{Declined, t0, false},
		{Redirected, t0, false},
	}
	for _, tt := range tests {
		if got := Admits(tt.s, until, tt.now); got != tt.want {
			t.Errorf("Admits(%s, %v) = %v, want %v", tt.s, tt.now, got, tt.want)
		}
	}
}

func TestRequires(t *testing.T) {
	p := Policy{Rules: []Rule{
		{DepartmentID: 1, Required: true},
		{DoctorID: 11, Required: false}, // exempt in a reviewed department
		{DoctorID: 21, Required: true, Validity: 7 * 24 * time.Hour},
	}}
	tests := []struct {
		doctor, dept int64
		want         bool
		validity     time.Duration
	}{
		{10, 1, true, 0},
		{11, 1, false, 0},
		{20, 2, false, 0},
		{21, 2, true, 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		r, got := p.Requires(tt.doctor, tt.dept)
		if got != tt.want || r.Validity != tt.validity {
			t.Errorf("Requires(%d, %d) = %v, %v; want %v, %v", tt.doctor, tt.dept, r, got, tt.want, tt.validity)
		}
	}
}

func TestRuleCheck(t *testing.T) {
	tests := []struct {
		r   Rule
		key string
	}{
		{Rule{DoctorID: 1, Required: true}, ""},
		{Rule{DepartmentID: 1, Validity: 24 * time.Hour}, ""},
		{Rule{}, "error.referral.rule_target"},
		{Rule{DoctorID: 1, DepartmentID: 1}, "error.referral.rule_target"},
		{Rule{DoctorID: 1, Validity: -time.Hour}, "error.referral.rule_validity"},
		{Rule{DoctorID: 1, Validity: MaxValidity + time.Hour}, "error.referral.rule_validity"},
	}
	for _, tt := range tests {
		err := tt.r.Check()
		if key, _ := fairslot.ErrorKey(err); (err == nil) != (tt.key == "") || (err != nil && key != tt.key) {
			t.Errorf("%+v.Check() = %v, want key %q", tt.r, err, tt.key)
		}
	}
}

func TestDeadlineFor(t *testing.T) {
	p := Policy{}                                                              // defaults: 2h review, 30m margin, 72h with no release
	soon := Release{SessionID: 1, Shuts: t0.Add(2*time.Hour + 30*time.Minute)} // exactly the cut-off
	tight := Release{SessionID: 2, Shuts: t0.Add(2*time.Hour + 29*time.Minute)}
	later := Release{SessionID: 3, Shuts: t0.Add(7 * 24 * time.Hour)}
	tests := []struct {
		name     string
		rs       []Release
		for_     int64
		decideBy time.Time
	}{
		{"at the cut-off: this release", []Release{later, soon}, 1, t0.Add(2 * time.Hour)},
		{"past the cut-off: the next", []Release{tight, later}, 3, later.Shuts.Add(-30 * time.Minute)},
		{"a release that shut", []Release{{SessionID: 4, Shuts: t0.Add(-time.Hour)}, later}, 3, later.Shuts.Add(-30 * time.Minute)},
		{"none planned", nil, 0, t0.Add(72 * time.Hour)},
		{"only too close", []Release{tight}, 0, t0.Add(72 * time.Hour)},
	}
	for _, tt := range tests {
		d := p.DeadlineFor(t0, tt.rs)
		if d.For.SessionID != tt.for_ || !d.DecideBy.Equal(tt.decideBy) {
			t.Errorf("%s: DeadlineFor = %+v, want release %d decided by %v", tt.name, d, tt.for_, tt.decideBy)
		}
		if d.For.SessionID != 0 && !d.DecideBy.Before(d.For.Shuts) {
			t.Errorf("%s: decided by %v, not before the release shuts at %v", tt.name, d.DecideBy, d.For.Shuts)
		}
	}
}

func TestValidUntil(t *testing.T) {
	p := Policy{Validity: 10 * 24 * time.Hour}
	far := Deadline{For: Release{SessionID: 1, Shuts: t0.Add(20 * 24 * time.Hour)}}
	near := Deadline{For: Release{SessionID: 1, Shuts: t0.Add(24 * time.Hour)}}
	tests := []struct {
		name string
		r    Rule
		d    Deadline
		want time.Time
	}{
		{"policy validity", Rule{}, near, t0.Add(10 * 24 * time.Hour)},
		{"rule validity", Rule{Validity: 3 * 24 * time.Hour}, near, t0.Add(3 * 24 * time.Hour)},
		{"at least the release it was for", Rule{}, far, far.For.Shuts},
		{"no release", Rule{}, Deadline{}, t0.Add(10 * 24 * time.Hour)},
		{"default validity", Rule{}, Deadline{}, t0.Add(DefaultValidity)},
	}
	for i, tt := range tests {
		pp := p
		if i == len(tests)-1 {
			pp = Policy{}
		}
		if got := pp.ValidUntil(tt.r, t0, tt.d); !got.Equal(tt.want) {
			t.Errorf("%s: ValidUntil = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := (Policy{AdmitUndecided: true}).ExpiredValidUntil(far); !got.Equal(far.For.Shuts) {
		t.Errorf("ExpiredValidUntil admitting the undecided = %v, want the release's close %v", got, far.For.Shuts)
	}
	// By default an unreviewed patient never enters: the expired request
	// admits until no time at all.
	if got := (Policy{}).ExpiredValidUntil(far); !got.IsZero() || Admits(Expired, got, t0) {
		t.Errorf("ExpiredValidUntil by default = %v, want none", got)
	}
}

func TestCheckDescription(t *testing.T) {
	tests := []struct {
		s, key string
	}{
		{"a rash on the left arm for three weeks", ""},
		{"短", "error.referral.description_short"},
		{"皮疹三周未愈，请专家看", ""}, // 11 characters, 33 bytes
		{string(make([]rune, MaxDescription+1)), "error.referral.description_long"},
		{"\xff\xfe invalid text here", "error.referral.description_invalid"},
	}
	for _, tt := range tests {
		err := CheckDescription(tt.s)
		if key, _ := fairslot.ErrorKey(err); (err == nil) != (tt.key == "") || (err != nil && key != tt.key) {
			t.Errorf("CheckDescription(%.20q) = %v, want key %q", tt.s, err, tt.key)
		}
	}
}

func TestCheckDecision(t *testing.T) {
	tests := []struct {
		d   Decision
		key string
	}{
		{Decision{To: Approved}, ""},
		{Decision{To: Declined, Reason: "a general clinic can treat this"}, ""},
		{Decision{To: Declined}, "error.referral.reason_required"},
		{Decision{To: Redirected, Reason: "dermatology first", RedirectDepartment: 2}, ""},
		{Decision{To: Redirected, Reason: "dermatology first"}, "error.referral.redirect_department"},
		{Decision{To: Expired}, "error.referral.decision"},
		{Decision{To: Pending}, "error.referral.decision"},
		{Decision{To: Declined, Reason: string(make([]rune, MaxReason+1))}, "error.referral.reason_long"},
	}
	for _, tt := range tests {
		err := CheckDecision(tt.d)
		if key, _ := fairslot.ErrorKey(err); (err == nil) != (tt.key == "") || (err != nil && key != tt.key) {
			t.Errorf("CheckDecision(%s) = %v, want key %q", tt.d.To, err, tt.key)
		}
	}
}

func TestOrder(t *testing.T) {
	items := []QueueItem{
		{ID: 1, DecideBy: t0.Add(2 * time.Hour), Score: 0.9},
		{ID: 2, DecideBy: t0.Add(time.Hour), Score: 0.1},
		{ID: 3, DecideBy: t0.Add(2 * time.Hour), Score: 0.95},
		{ID: 4, DecideBy: t0.Add(2 * time.Hour)},
		{ID: 5, DecideBy: t0.Add(2 * time.Hour)},
	}
	Order(items)
	var got []int64
	for _, it := range items {
		got = append(got, it.ID)
	}
	want := []int64{2, 3, 1, 4, 5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order = %v, want %v (deadline first, then score, then age)", got, want)
		}
	}
}
