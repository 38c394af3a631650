package risk_test

import (
	"testing"

	"github.com/fairslot/fairslot/internal/risk"
)

// TestDecide: the default policy's thresholds, the challenge's level, the
// limits' factor, and a reviewer's decision standing until the score grows.
func TestDecide(t *testing.T) {
	p := risk.DefaultPolicy()
	tests := []struct {
		name   string
		total  int
		review *risk.Review
		want   risk.Action
		pow    int
		rate   float64
	}{
		{"no signal", 0, nil, risk.Allow, 0, 1},
		{"below the challenge", 19, nil, risk.Allow, 0, 1},
		{"a harder challenge", 20, nil, risk.Challenge, 1, 1},
		{"limited", 40, nil, risk.Limit, 2, 0.25},
		{"held", 60, nil, risk.Hold, 3, 0.25},
		{"never blocked by the score alone", 500, nil, risk.Hold, 4, 0.25},
		{"approved by a reviewer at 70", 80, &risk.Review{Action: risk.Allow, Saw: 70}, risk.Allow, 0, 1},
		{"an approval lapses once the score grows 30", 100, &risk.Review{Action: risk.Allow, Saw: 70}, risk.Hold, 4, 0.25},
		{"a reviewer's block stands", 0, &risk.Review{Action: risk.Block, Saw: 65}, risk.Block, 1, 0.25},
		{"a block is never lifted by a growing score", 200, &risk.Review{Action: risk.Block, Saw: 65}, risk.Block, 4, 0.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Decide(risk.Score{Total: tc.total}, tc.review)
			if d.Action != tc.want || d.PowLevel != tc.pow || d.RateFactor != tc.rate {
				t.Errorf("score %d: %s, pow %d, rate ×%v; want %s, %d, ×%v", tc.total, d.Action, d.PowLevel, d.RateFactor, tc.want, tc.pow, tc.rate)
			}
			if d.Reviewed != (tc.review != nil && tc.total < tc.review.Saw+p.Regrow) {
				t.Errorf("Reviewed = %v", d.Reviewed)
			}
			if d.Key() != "risk.action."+tc.want.String() {
				t.Errorf("key %q", d.Key())
			}
		})
	}
	blocking := p
	blocking.BlockAt = 120
	if d := blocking.Decide(risk.Score{Total: 130}, nil); d.Action != risk.Block {
		t.Errorf("a hospital blocking at 120: a score of 130 is %s", d.Action)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := risk.DefaultPolicy().Validate(); err != nil {
		t.Fatalf("the default policy: %v", err)
	}
	for name, p := range map[string]risk.Policy{
		"hold below limit":      {ChallengeAt: 20, LimitAt: 40, HoldAt: 30, LimitFactor: 0.5},
		"negative":              {ChallengeAt: -1},
		"limit factor above 1":  {LimitAt: 40, LimitFactor: 2},
		"limit factor zero":     {LimitAt: 40},
		"block below challenge": {ChallengeAt: 50, BlockAt: 10},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A hospital may turn actions off.
	if err := (risk.Policy{HoldAt: 60}).Validate(); err != nil {
		t.Errorf("hold only: %v", err)
	}
}

// TestOneReasonPerSignal: an account on two crowded devices has one
// shared-device reason (the heavier), and the total counts it once.
func TestOneReasonPerSignal(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	for i := range 4 {
		tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: int64(i + 1), Device: "dev-1"})
	}
	for i := range 8 {
		tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: int64(i + 1), Device: "dev-2"})
	}
	s := tr.Score(1, noon)
	if len(s.Reasons) != 1 || s.Total != s.Reasons[0].Weight || s.Reasons[0].Params[0] != 8 {
		t.Errorf("account on two crowded devices: total %d, reasons %v", s.Total, s.Reasons)
	}
}
