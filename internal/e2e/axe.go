package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axe-core (npm, pinned in testdata/js/package-lock.json, installed by
// .ci/run with npm ci) checks the pages the browser tests open for
// accessibility: a serious or critical violation fails the test.

var axeSource = sync.OnceValues(func() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "testdata", "js", "node_modules", "axe-core", "axe.min.js"))
	return string(b), err
})

// axeKnown lists the violations the pages still have, each with the work
// that removes it; they are logged, not failed, until then. Delete the
// entry with the fix.
var axeKnown = map[string]string{}

// AxeViolation is what the test reports of one of axe's findings.
type AxeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// AxeCheck runs axe-core on the page open in ctx and fails the test on any
// serious or critical violation, naming the rule and the elements. Without
// axe-core installed it says so and checks nothing — except in CI, where
// that is a failure.
func AxeCheck(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	found, checked := AxeRun(t, ctx, name)
	for _, v := range found {
		if why, ok := axeKnown[v.ID]; ok {
			t.Logf("%s: KNOWN axe-core %s violation %s, not yet fixed (%s)", name, v.Impact, v.ID, why)
			continue
		}
		t.Errorf("%s: axe-core %s violation %s (%s):\n  %s", name, v.Impact, v.ID, v.Help, strings.Join(v.Targets, "\n  "))
	}
	if checked && len(found) == 0 {
		t.Logf("%s: axe-core found no serious or critical violation", name)
	}
}

// AxeRun returns axe-core's serious and critical findings on the page open
// in ctx, and whether it ran at all.
func AxeRun(t *testing.T, ctx context.Context, name string) ([]AxeViolation, bool) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install axe-core (npm ci --prefix testdata/js): %v", err)
		}
		t.Logf("%s: accessibility not checked: axe-core is not installed (npm ci --prefix testdata/js)", name)
		return nil, false
	}
	found := Value(t, ctx, "run axe-core on "+name, chromedp.Evaluate[[]AxeViolation](`(async () => {
		if (!window.axe) { `+src+`
		}
		const r = await axe.run(document, {resultTypes: ["violations"]});
		return r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
			id: v.id, impact: v.impact, help: v.help,
			targets: v.nodes.map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replaceAll("\n", " ")),
		}));
	})()`, chromedp.EvalAwaitPromise))
	return found, true
}
