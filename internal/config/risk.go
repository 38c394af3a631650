package config

import (
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/risk"
)

// Risk is the risk section (issue 17): the signals' thresholds and
// weights, and the policy that turns a score into an action — the
// hospital's own. Every node runs the risk monitor.
type Risk struct {
	// Off: no monitor runs and no account is challenged harder, limited,
	// held or blocked by its score (the events are still recorded).
	Off    bool       `json:"off"`
	Rules  RiskRules  `json:"rules"`
	Policy RiskPolicy `json:"policy"`
	// Poll is how often a node looks for new risk events when no request
	// of its own nudged it (default 2s); Sweep how often it decides every
	// flagged account again, as signals age (default 5m).
	Poll  fairslot.Duration `json:"poll"`
	Sweep fairslot.Duration `json:"sweep"`
}

// RiskRules are risk.Rules in the configuration's units; the time zone
// is the hospital's (timezone).
type RiskRules struct {
	FamilySize    int               `json:"family_size"`
	PerPatient    int               `json:"per_patient"`
	NightFrom     int               `json:"night_from"`
	NightTo       int               `json:"night_to"`
	NightMin      int               `json:"night_min"`
	NightWeight   int               `json:"night_weight"`
	QuickUnbind   fairslot.Duration `json:"quick_unbind"`
	QuickWeight   int               `json:"quick_weight"`
	CycleWithin   fairslot.Duration `json:"cycle_within"`
	CycleWeight   int               `json:"cycle_weight"`
	DeviceMax     int               `json:"device_max"`
	DeviceWindow  fairslot.Duration `json:"device_window"`
	DeviceWeight  int               `json:"device_weight"`
	PrefixMax     int               `json:"prefix_max"`
	PrefixWindow  fairslot.Duration `json:"prefix_window"`
	PrefixWeight  int               `json:"prefix_weight"`
	CadenceMin    int               `json:"cadence_min"`
	CadenceCV     float64           `json:"cadence_cv"`
	CadenceMax    fairslot.Duration `json:"cadence_max"`
	CadenceWeight int               `json:"cadence_weight"`
	TargetMin     int               `json:"target_min"`
	TargetPeople  int               `json:"target_people"`
	TargetWeight  int               `json:"target_weight"`
	PayerMax      int               `json:"payer_max"`
	PayerWeight   int               `json:"payer_weight"`
	BeforeWithin  fairslot.Duration `json:"before_within"`
	BeforeWeight  int               `json:"before_weight"`
	MaxPerSignal  int               `json:"max_per_signal"`
	Memory        fairslot.Duration `json:"memory"`
	// InheritInFull: an identity passed on from an account scoring this
	// much adds its score in full to the account it goes to (0: it only
	// raises the score to it).
	InheritInFull int `json:"inherit_in_full"`
}

// RiskPolicy is risk.Policy: the score from which each action applies (0
// turns it off), the limited accounts' rate factor, and how far a score
// must grow past what a reviewer saw for the score to decide again.
type RiskPolicy struct {
	ChallengeAt int     `json:"challenge_at"`
	LimitAt     int     `json:"limit_at"`
	HoldAt      int     `json:"hold_at"`
	BlockAt     int     `json:"block_at"`
	LimitFactor float64 `json:"limit_factor"`
	Regrow      int     `json:"regrow"`
}

func defaultRisk() Risk {
	r := risk.DefaultRules(time.UTC)
	p := risk.DefaultPolicy()
	d := func(x time.Duration) fairslot.Duration { return fairslot.Duration(x) }
	return Risk{Poll: d(2 * time.Second), Sweep: d(5 * time.Minute),
		Rules: RiskRules{FamilySize: r.FamilySize, PerPatient: r.PerPatient, NightFrom: r.NightFrom, NightTo: r.NightTo, NightMin: r.NightMin,
			NightWeight: r.NightWeight, QuickUnbind: d(r.QuickUnbind), QuickWeight: r.QuickWeight, CycleWithin: d(r.CycleWithin),
			CycleWeight: r.CycleWeight, DeviceMax: r.DeviceMax, DeviceWindow: d(r.DeviceWindow), DeviceWeight: r.DeviceWeight,
			PrefixMax: r.PrefixMax, PrefixWindow: d(r.PrefixWindow), PrefixWeight: r.PrefixWeight, CadenceMin: r.CadenceMin,
			CadenceCV: r.CadenceCV, CadenceMax: d(r.CadenceMax), CadenceWeight: r.CadenceWeigh, TargetMin: r.TargetMin,
			TargetPeople: r.TargetPeople, TargetWeight: r.TargetWeight, PayerMax: r.PayerMax, PayerWeight: r.PayerWeight,
			BeforeWithin: d(r.BeforeWithin), BeforeWeight: r.BeforeWeight, MaxPerSignal: r.MaxPerSignal, Memory: d(r.Memory),
			InheritInFull: r.InheritInFull},
		Policy: RiskPolicy{ChallengeAt: p.ChallengeAt, LimitAt: p.LimitAt, HoldAt: p.HoldAt, BlockAt: p.BlockAt,
			LimitFactor: p.LimitFactor, Regrow: p.Regrow}}
}

// RulesIn returns the rules the risk package takes, "night" in loc.
func (r Risk) RulesIn(loc *time.Location) risk.Rules {
	c := r.Rules
	t := func(x fairslot.Duration) time.Duration { return time.Duration(x) }
	return risk.Rules{Location: loc, FamilySize: c.FamilySize, PerPatient: c.PerPatient, NightFrom: c.NightFrom, NightTo: c.NightTo,
		NightMin: c.NightMin, NightWeight: c.NightWeight, QuickUnbind: t(c.QuickUnbind), QuickWeight: c.QuickWeight,
		CycleWithin: t(c.CycleWithin), CycleWeight: c.CycleWeight, DeviceMax: c.DeviceMax, DeviceWindow: t(c.DeviceWindow),
		DeviceWeight: c.DeviceWeight, PrefixMax: c.PrefixMax, PrefixWindow: t(c.PrefixWindow), PrefixWeight: c.PrefixWeight,
		CadenceMin: c.CadenceMin, CadenceCV: c.CadenceCV, CadenceMax: t(c.CadenceMax), CadenceWeigh: c.CadenceWeight,
		TargetMin: c.TargetMin, TargetPeople: c.TargetPeople, TargetWeight: c.TargetWeight, PayerMax: c.PayerMax,
		PayerWeight: c.PayerWeight, BeforeWithin: t(c.BeforeWithin), BeforeWeight: c.BeforeWeight, MaxPerSignal: c.MaxPerSignal,
		Memory: t(c.Memory), InheritInFull: c.InheritInFull}
}

// RiskPolicy returns the policy the risk package takes.
func (r Risk) RiskPolicy() risk.Policy {
	p := r.Policy
	return risk.Policy{ChallengeAt: p.ChallengeAt, LimitAt: p.LimitAt, HoldAt: p.HoldAt, BlockAt: p.BlockAt, LimitFactor: p.LimitFactor, Regrow: p.Regrow}
}

func (r Risk) validate() error {
	if err := r.RiskPolicy().Validate(); err != nil {
		return fmt.Errorf("config: risk.policy: %w", err)
	}
	if r.Policy.Regrow < 0 {
		return fmt.Errorf("config: risk.policy.regrow must not be negative")
	}
	c := r.Rules
	for name, v := range map[string]int{"family_size": c.FamilySize, "night_min": c.NightMin, "device_max": c.DeviceMax, "prefix_max": c.PrefixMax,
		"cadence_min": c.CadenceMin, "target_min": c.TargetMin, "target_people": c.TargetPeople, "payer_max": c.PayerMax, "max_per_signal": c.MaxPerSignal} {
		if v < 1 {
			return fmt.Errorf("config: risk.rules.%s must be at least 1", name)
		}
	}
	for name, v := range map[string]int{"per_patient": c.PerPatient, "night_weight": c.NightWeight, "quick_weight": c.QuickWeight,
		"cycle_weight": c.CycleWeight, "device_weight": c.DeviceWeight, "prefix_weight": c.PrefixWeight, "cadence_weight": c.CadenceWeight,
		"target_weight": c.TargetWeight, "payer_weight": c.PayerWeight, "before_weight": c.BeforeWeight, "inherit_in_full": c.InheritInFull} {
		if v < 0 {
			return fmt.Errorf("config: risk.rules.%s must not be negative (0 turns the signal off)", name)
		}
	}
	if c.NightFrom < 0 || c.NightTo > 24 || c.NightFrom >= c.NightTo {
		return fmt.Errorf("config: risk.rules: want 0 ≤ night_from < night_to ≤ 24")
	}
	for name, v := range map[string]fairslot.Duration{"quick_unbind": c.QuickUnbind, "cycle_within": c.CycleWithin, "device_window": c.DeviceWindow,
		"prefix_window": c.PrefixWindow, "cadence_max": c.CadenceMax, "before_within": c.BeforeWithin} {
		if v <= 0 {
			return fmt.Errorf("config: risk.rules.%s must be positive", name)
		}
	}
	if c.Memory < fairslot.Duration(24*time.Hour) || c.Memory > fairslot.Duration(365*24*time.Hour) {
		return fmt.Errorf("config: risk.rules.memory must be 24h to 8760h")
	}
	if !(c.CadenceCV > 0 && c.CadenceCV < 1) {
		return fmt.Errorf("config: risk.rules.cadence_cv must be between 0 and 1")
	}
	if r.Poll < fairslot.Duration(100*time.Millisecond) || r.Sweep < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: risk.poll must be at least 100ms and risk.sweep at least 1s")
	}
	return nil
}
