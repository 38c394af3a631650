package risk_test

import (
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/risk"
)

// TestLinks: the accounts sharing a device, a prefix or a payer with an
// account, within each one's window, masked; never the account itself.
func TestLinks(t *testing.T) {
	tr := risk.NewTracker(risk.DefaultRules(shanghai))
	tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: 1, Device: "device-a", Prefix: "prefix-x"})
	tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: 2, Device: "device-a"})
	tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: 3, Prefix: "prefix-x"})
	tr.Apply(risk.Event{At: day(-3), Kind: risk.Request, Account: 4, Prefix: "prefix-x"}) // past the prefix's day
	tr.Apply(risk.Event{At: noon, Kind: risk.Pay, Account: 1, Patient: patient(1), Payer: "payer-p"})
	tr.Apply(risk.Event{At: noon, Kind: risk.Pay, Account: 5, Patient: patient(2), Payer: "payer-p"})
	tr.Apply(risk.Event{At: noon, Kind: risk.Request, Account: 6, Device: "device-b"})
	tests := []struct {
		account int64
		want    []risk.Link
	}{
		{1, []risk.Link{{2, "device", "devi…"}, {3, "prefix", "pref…"}, {5, "payer", "paye…"}}},
		{2, []risk.Link{{1, "device", "devi…"}}},
		{6, nil},
		{99, nil},
	}
	for _, tt := range tests {
		if got := tr.Links(tt.account, noon.Add(time.Hour)); !slices.Equal(got, tt.want) {
			t.Errorf("Links(%d) = %v, want %v", tt.account, got, tt.want)
		}
	}
}
