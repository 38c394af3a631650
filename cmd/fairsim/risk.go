package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
)

// riskPath is the staff endpoint listing accounts by their risk decision
// (issue 17's contract): every account whose action is at least challenge.
const riskPath = "/api/v1/staff/risk/accounts?min=challenge"

// riskAccount is one account in riskPath's answer.
type riskAccount struct {
	AccountID int64                `json:"account_id"`
	Action    string               `json:"action"`
	Score     int                  `json:"score"`
	Reviewed  bool                 `json:"reviewed"`
	Since     map[string]time.Time `json:"since"` // when each action was first reached
	Reasons   []string             `json:"reasons"`
}

// actions are the risk actions above allow, mildest first.
var actions = []string{"challenge", "limit", "hold", "block"}

// severity is an action's place in actions plus one; 0 for allow or an
// action this simulator does not know.
func severity(action string) int { return slices.Index(actions, action) + 1 }

// fetchRisk reads riskPath with a staff token (admin or security).
func fetchRisk(ctx context.Context, staff *apiclient.Client) ([]riskAccount, error) {
	resp, err := patiently(ctx, staff, "GET", riskPath, nil, 200)
	if err != nil {
		return nil, err
	}
	var out struct {
		Accounts []riskAccount `json:"accounts"`
	}
	if err := resp.Decode(&out); err != nil {
		return nil, fmt.Errorf("GET %s: %w", riskPath, err)
	}
	return out.Accounts, nil
}

// RiskReport is the risk side of release-storm: per class, what the risk
// monitor decided about its accounts and when, against issue 17's targets.
type RiskReport struct {
	Endpoint  string      `json:"endpoint"`
	Error     string      `json:"error,omitempty"` // the endpoint could not be read: no figures
	FlaggedAt string      `json:"flagged_at"`      // an account is flagged once it reaches this action or worse
	Releases  []time.Time `json:"releases"`        // on the server's clock
	Classes   []RiskClass `json:"classes"`
	Unknown   int         `json:"unknown_accounts"` // accounts in the answer that are not the simulation's (the demo's own)
	Targets   []Target    `json:"targets"`
	// ByLevel are the targets again with flagged read as each action in
	// turn: the issue does not say which action a flag is.
	ByLevel map[string][]Target `json:"targets_by_flag_level,omitempty"`
}

// RiskClass is one class's figures: people, or one scalper group.
type RiskClass struct {
	Class    string         `json:"class"`
	Accounts int            `json:"accounts"`
	Now      map[string]int `json:"action_at_end"` // accounts by their action at the end of the run
	Reached  map[string]int `json:"reached"`       // accounts that reached each action at some time
	Flagged  int            `json:"flagged"`
	// FlaggedBefore[i]: flagged before release i+1 opened.
	FlaggedBefore []int `json:"flagged_before_release"`
	HeldOrBlocked int   `json:"held_or_blocked"`
	// First, Median and Last are when the class's flagged accounts were
	// first flagged, in seconds after each release opened (negative:
	// before it).
	First   []float64      `json:"first_flag_s,omitempty"`
	Median  []float64      `json:"median_flag_s,omitempty"`
	Last    []float64      `json:"last_flag_s,omitempty"`
	Reasons map[string]int `json:"reasons,omitempty"` // flagged accounts' reasons, numbers as N
	// Traits break people down by how they behave: trait → accounts,
	// flagged, held or blocked.
	Traits map[string][3]int `json:"traits,omitempty"`
}

// Target is one of issue 17's targets, against what was measured.
type Target struct {
	What     string  `json:"what"`
	Measured float64 `json:"measured"`
	Of       string  `json:"of"` // "n of m"
	AtLeast  bool    `json:"at_least"`
	Bound    float64 `json:"bound"`
	Met      bool    `json:"met"`
}

var numbers = regexp.MustCompile(`\d+(\.\d+)?`)

// tallyRisk sorts the endpoint's answer by class: ids[i] is actors[i]'s
// account, releases are when the storm's releases opened (server clock).
func tallyRisk(actors []actor, ids []int64, answer []riskAccount, releases []time.Time, flaggedAt string) RiskReport {
	r := RiskReport{Endpoint: riskPath, FlaggedAt: flaggedAt, Releases: releases}
	byID := map[int64]riskAccount{}
	for _, a := range answer {
		byID[a.AccountID] = a
	}
	known := map[int64]bool{}
	classes := map[string]*RiskClass{}
	var order []string
	flagTimes := map[string][]time.Time{}
	for i, ac := range actors {
		c := classes[ac.Class]
		if c == nil {
			c = &RiskClass{Class: ac.Class, Now: map[string]int{}, Reached: map[string]int{}, FlaggedBefore: make([]int, len(releases)),
				Reasons: map[string]int{}}
			if !ac.Scalper() {
				c.Traits = map[string][3]int{}
			}
			classes[ac.Class] = c
			order = append(order, ac.Class)
		}
		c.Accounts++
		known[ids[i]] = true
		ra, ok := byID[ids[i]]
		flagged, held := false, false
		if ok {
			if severity(ra.Action) > 0 {
				c.Now[ra.Action]++
			}
			var first time.Time
			for _, act := range actions {
				at, reached := ra.Since[act]
				if !reached && severity(ra.Action) >= severity(act) {
					reached = true // an action held now was reached, even if its time is missing
				}
				if !reached {
					continue
				}
				c.Reached[act]++
				if severity(act) >= severity(flaggedAt) {
					flagged = true
					if !at.IsZero() && (first.IsZero() || at.Before(first)) {
						first = at
					}
				}
				if act == "hold" || act == "block" {
					held = true
				}
			}
			if flagged {
				c.Flagged++
				for k, rel := range releases {
					if !first.IsZero() && first.Before(rel) {
						c.FlaggedBefore[k]++
					}
				}
				if !first.IsZero() {
					flagTimes[ac.Class] = append(flagTimes[ac.Class], first)
				}
				for _, reason := range ra.Reasons {
					c.Reasons[numbers.ReplaceAllString(reason, "N")]++
				}
			}
			if held {
				c.HeldOrBlocked++
			}
		}
		if c.Traits != nil {
			for _, trait := range traits(ac) {
				t := c.Traits[trait]
				t[0]++
				if flagged {
					t[1]++
				}
				if held {
					t[2]++
				}
				c.Traits[trait] = t
			}
		}
	}
	for _, a := range answer {
		if !known[a.AccountID] {
			r.Unknown++
		}
	}
	for _, name := range order {
		c := classes[name]
		if ts := flagTimes[name]; len(ts) > 0 {
			slices.SortFunc(ts, time.Time.Compare)
			for _, rel := range releases {
				c.First = append(c.First, ts[0].Sub(rel).Seconds())
				c.Median = append(c.Median, ts[len(ts)/2].Sub(rel).Seconds())
				c.Last = append(c.Last, ts[len(ts)-1].Sub(rel).Seconds())
			}
		}
		r.Classes = append(r.Classes, *c)
	}
	r.Targets = targets(r)
	return r
}

// tallyRiskAll is tallyRisk with the targets at every flag level too.
func tallyRiskAll(actors []actor, ids []int64, answer []riskAccount, releases []time.Time, flaggedAt string) RiskReport {
	r := tallyRisk(actors, ids, answer, releases, flaggedAt)
	r.ByLevel = map[string][]Target{}
	for _, level := range actions[:3] {
		r.ByLevel[level] = tallyRisk(actors, ids, answer, releases, level).Targets
	}
	return r
}

// traits names how a person behaves, for the breakdown.
func traits(a actor) []string {
	out := []string{"one patient"}
	if a.Patients > 1 {
		out[0] = "family"
	}
	if a.Night {
		out = append(out, "night owl")
	}
	if a.WiFi >= 0 {
		out = append(out, "shared Wi-Fi")
	}
	if a.Cancels {
		out = append(out, "cancels")
	}
	return out
}

// targets are issue 17's: at least 90 % of scalper accounts flagged before
// the second release, at most 1 % of people flagged, at most 0.1 % of
// people held or blocked.
func targets(r RiskReport) []Target {
	var scalpers, scalpersFlagged, people, peopleFlagged, peopleHeld int
	last := len(r.Releases) - 1
	for _, c := range r.Classes {
		if c.Class == "people" {
			people += c.Accounts
			peopleFlagged += c.Flagged
			peopleHeld += c.HeldOrBlocked
			continue
		}
		scalpers += c.Accounts
		if last >= 1 {
			scalpersFlagged += c.FlaggedBefore[1]
		} else {
			scalpersFlagged += c.Flagged
		}
	}
	share := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return float64(n) / float64(of)
	}
	when := "before the second release"
	if last < 1 {
		when = "by the end (the run had one release)"
	}
	t := []Target{
		{What: "scalper accounts flagged " + when, Measured: share(scalpersFlagged, scalpers), Of: fmt.Sprintf("%d of %d", scalpersFlagged, scalpers), AtLeast: true, Bound: 0.90},
		{What: "people flagged", Measured: share(peopleFlagged, people), Of: fmt.Sprintf("%d of %d", peopleFlagged, people), Bound: 0.01},
		{What: "people held or blocked", Measured: share(peopleHeld, people), Of: fmt.Sprintf("%d of %d", peopleHeld, people), Bound: 0.001},
	}
	for i := range t {
		if t[i].AtLeast {
			t[i].Met = t[i].Measured >= t[i].Bound
		} else {
			t[i].Met = t[i].Measured <= t[i].Bound
		}
		if scalpers == 0 && i == 0 || people == 0 && i > 0 {
			t[i].Met = false // nothing measured
		}
	}
	return t
}

func printRisk(w io.Writer, r RiskReport) {
	fmt.Fprintf(w, "\nrisk: GET %s; flagged = reached %s or worse\n", r.Endpoint, r.FlaggedAt)
	if r.Error != "" {
		fmt.Fprintf(w, "  no figures: %s\n", r.Error)
		return
	}
	fmt.Fprintf(w, "%-9s %8s %9s %6s %5s %6s %9s %12s %12s  %s\n", "class", "accounts", "challenge", "limit", "hold", "block",
		"flagged", "before 2nd", "held/blocked", "first flag (median, last) after release 1 | release 2")
	for _, c := range r.Classes {
		before := "-"
		if len(c.FlaggedBefore) > 1 {
			before = fmt.Sprint(c.FlaggedBefore[1])
		}
		when := "-"
		if len(c.First) > 0 {
			var parts []string
			for k := range c.First {
				parts = append(parts, fmt.Sprintf("%s (%s, %s)", secs(c.First[k]), secs(c.Median[k]), secs(c.Last[k])))
			}
			when = strings.Join(parts, " | ")
		}
		fmt.Fprintf(w, "%-9s %8d %9d %6d %5d %6d %9d %12s %12d  %s\n", c.Class, c.Accounts, c.Now["challenge"], c.Now["limit"], c.Now["hold"],
			c.Now["block"], c.Flagged, before, c.HeldOrBlocked, when)
	}
	for _, c := range r.Classes {
		if c.Traits == nil {
			continue
		}
		var parts []string
		for _, t := range []string{"one patient", "family", "night owl", "shared Wi-Fi", "cancels"} {
			if n, ok := c.Traits[t]; ok {
				parts = append(parts, fmt.Sprintf("%s %d/%d/%d", t, n[0], n[1], n[2]))
			}
		}
		fmt.Fprintf(w, "  %s by behaviour (accounts/flagged/held): %s\n", c.Class, strings.Join(parts, "; "))
	}
	reasons := map[string]map[bool]int{}
	for _, c := range r.Classes {
		for k, n := range c.Reasons {
			if reasons[k] == nil {
				reasons[k] = map[bool]int{}
			}
			reasons[k][c.Class != "people"] += n
		}
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return (reasons[b][true] + reasons[b][false]) - (reasons[a][true] + reasons[a][false])
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  reason of flagged accounts: %-70s scalpers %4d, people %4d\n", k, reasons[k][true], reasons[k][false])
	}
	if r.Unknown > 0 {
		fmt.Fprintf(w, "  (%d accounts in the answer are not the simulation's)\n", r.Unknown)
	}
	fmt.Fprintln(w, "targets (issue 17):")
	for _, t := range r.Targets {
		cmp, verdict := "≤", "not met"
		if t.AtLeast {
			cmp = "≥"
		}
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(w, "  %-60s %s %5.1f %%: %5.1f %% (%s)  %s\n", t.What, cmp, 100*t.Bound, 100*t.Measured, t.Of, verdict)
	}
	for _, level := range actions[:3] {
		ts, ok := r.ByLevel[level]
		if !ok {
			continue
		}
		var parts []string
		for _, t := range ts {
			parts = append(parts, fmt.Sprintf("%.1f %% %s", 100*t.Measured, map[bool]string{true: "met", false: "not met"}[t.Met]))
		}
		fmt.Fprintf(w, "  with flagged = %-9s scalpers %s; people flagged %s; held or blocked %s\n", level+":", parts[0], parts[1], parts[2])
	}
}

// secs shows a number of seconds as a signed duration.
func secs(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}
