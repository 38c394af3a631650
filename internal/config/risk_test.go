package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/risk"
)

// TestRiskDefaults: the configuration's defaults are the risk package's,
// in the hospital's zone.
func TestRiskDefaults(t *testing.T) {
	c := config.Default()
	loc := time.FixedZone("CST", 8*3600)
	if got, want := c.Risk.RulesIn(loc), risk.DefaultRules(loc); !reflect.DeepEqual(got, want) {
		t.Errorf("default rules = %+v, want %+v", got, want)
	}
	if got, want := c.Risk.RiskPolicy(), risk.DefaultPolicy(); got != want {
		t.Errorf("default policy = %+v, want %+v", got, want)
	}
}

// TestRiskValidate: a policy out of order, a signal's threshold or window
// that cannot work, and a night that is no night are refused at start.
func TestRiskValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Risk)
		ok   bool
	}{
		{"defaults", func(*config.Risk) {}, true},
		{"a hospital that blocks from 120", func(r *config.Risk) { r.Policy.BlockAt = 120 }, true},
		{"hold below limit", func(r *config.Risk) { r.Policy.HoldAt = 30 }, false},
		{"holding off", func(r *config.Risk) { r.Policy.HoldAt = 0 }, true},
		{"limit factor 2", func(r *config.Risk) { r.Policy.LimitFactor = 2 }, false},
		{"negative regrow", func(r *config.Risk) { r.Policy.Regrow = -1 }, false},
		{"families of 0", func(r *config.Risk) { r.Rules.FamilySize = 0 }, false},
		{"night signal off", func(r *config.Risk) { r.Rules.NightWeight = 0 }, true},
		{"negative weight", func(r *config.Risk) { r.Rules.PayerWeight = -5 }, false},
		{"night from 5 to 1", func(r *config.Risk) { r.Rules.NightFrom, r.Rules.NightTo = 5, 1 }, false},
		{"no device window", func(r *config.Risk) { r.Rules.DeviceWindow = 0 }, false},
		{"memory of an hour", func(r *config.Risk) { r.Rules.Memory = config.Default().Risk.Poll }, false},
		{"cadence cv 1.5", func(r *config.Risk) { r.Rules.CadenceCV = 1.5 }, false},
		{"poll every 1ms", func(r *config.Risk) { r.Poll = 1000000 }, false},
	}
	for _, tt := range tests {
		c := config.Default()
		tt.mod(&c.Risk)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestRiskFromFile: a hospital's risk section in the file overrides the
// defaults it names and keeps the others.
func TestRiskFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fairslot.json")
	if err := os.WriteFile(path, []byte(`{"risk":{"policy":{"challenge_at":20,"limit_at":40,"hold_at":50,"limit_factor":0.5,"regrow":30},"rules":{"family_size":6,"night_from":1}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r := c.Risk.RulesIn(time.UTC)
	if p := c.Risk.RiskPolicy(); p.HoldAt != 50 || p.LimitFactor != 0.5 || r.FamilySize != 6 || r.NightFrom != 1 || r.NightTo != 5 || r.Memory != 30*24*time.Hour {
		t.Errorf("loaded %+v / %+v", c.Risk.Policy, c.Risk.Rules)
	}
}
