package e2e_test

import (
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
)

// TestAxeCheckFindsViolations: the check fails a page that breaks the
// rules — an image with no text and a button with no name.
func TestAxeCheckFindsViolations(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	ctx := e2e.Tab(t, e2e.Chromium(t), 390, 844, true)
	e2e.Do(t, ctx, "open a page that breaks the rules", chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>t</title><main><img src="x.png"><button></button></main></html>`))
	found, checked := e2e.AxeRun(t, ctx, "broken page")
	if !checked {
		t.Skip("axe-core is not installed (npm ci --prefix testdata/js)")
	}
	var ids []string
	for _, v := range found {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"image-alt", "button-name"} {
		if !slices.Contains(ids, want) {
			t.Errorf("axe-core did not report %s on a page that breaks it; it reported %v", want, ids)
		}
	}
}
