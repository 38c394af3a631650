package web

import (
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/risk"
)

// Every risk signal has its message in every language, taking the
// parameters its English explanation (risk.Reason.String) takes, and every
// action its explanation and its name for the reviewers.
func TestRiskKeysInEveryLanguage(t *testing.T) {
	cat, err := loadCatalogue(embedded, Hospital{})
	if err != nil {
		t.Fatal(err)
	}
	params := map[risk.Signal][]any{
		risk.ManyPatients: {6, 30}, risk.NightBindings: {0, 5, 3, 30}, risk.QuickUnbinds: {2, "24h0m0s"},
		risk.BindBookCancel: {1, "48h0m0s"}, risk.SharedDevice: {12}, risk.SharedPrefix: {40}, risk.RegularCadence: {31, 4.2},
		risk.TargetsDoctor: {3, 4}, risk.SharedPayer: {9}, risk.CancelBeforeRelease: {2, "10m0s"}, risk.PassedIdentities: {3, 75},
	}
	for _, sig := range risk.Signals {
		r := risk.Reason{Signal: sig, Weight: 10, Params: params[sig]}
		if en := r.String(); params[sig] == nil || strings.Contains(en, "%!") {
			t.Errorf("%s: the test's parameters %v do not fit its English %q", sig, params[sig], en)
		}
		for _, l := range cat.locales {
			got := l.Tv(r.Key(), r.Params)
			if got == r.Key() || strings.Contains(got, "%!") || !strings.Contains(got, "3") && sig == risk.NightBindings {
				t.Errorf("%s in %s: %q", r.Key(), l.Code, got)
			}
		}
	}
	for a := risk.Allow; a <= risk.Block; a++ {
		for _, key := range []string{risk.Decision{Action: a}.Key(), "risk.review.act." + a.String()} {
			for _, l := range cat.locales {
				if got := l.T(key); got == key || got == "" {
					t.Errorf("%s in %s: %q", key, l.Code, got)
				}
			}
		}
	}
	// Every way risk.Tracker.Links links two accounts has its name.
	for _, via := range []string{"device", "prefix", "payer", "identity"} {
		for _, l := range cat.locales {
			if key := "risk.review.via." + via; l.T(key) == key || l.T(key) == "" {
				t.Errorf("%s in %s: missing", key, l.Code)
			}
		}
	}
}
