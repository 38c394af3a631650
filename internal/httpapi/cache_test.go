package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
)

// TestCatalogueCache: within the TTL a catalogue answer is computed once
// per path and date range, whatever other parameters a flood adds; errors
// are never kept; the table stays bounded.
func TestCatalogueCache(t *testing.T) {
	now := time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC)
	c := &answers{ttl: time.Second, now: func() time.Time { return now }, m: map[string]cached{}}
	computed := 0
	h := c.wrap(func(w http.ResponseWriter, r *http.Request) error {
		computed++
		if r.URL.Path == "/missing" {
			return fairslot.Errorf(fairslot.NotFound, "no")
		}
		return writeJSON(w, 200, map[string]int{"n": computed})
	})
	get := func(url string) (int, string) {
		w := httptest.NewRecorder()
		if err := h(w, httptest.NewRequest("GET", url, nil)); err != nil {
			return 404, ""
		}
		return w.Code, w.Body.String()
	}
	for i := range 50 {
		if code, body := get(fmt.Sprintf("/api/v1/departments/1/sessions?from=2026-12-10&junk=%d", i)); code != 200 || body != "{\"n\":1}\n" {
			t.Fatalf("request %d: %d %s; want the first answer again", i, code, body)
		}
	}
	if get("/api/v1/departments/1/sessions?from=2026-12-11"); computed != 2 {
		t.Errorf("another date range computed %d times in all, want 2", computed)
	}
	now = now.Add(time.Second)
	if _, body := get("/api/v1/departments/1/sessions?from=2026-12-10"); body != "{\"n\":3}\n" {
		t.Errorf("after the TTL: %s, want a fresh answer", body)
	}
	get("/missing")
	get("/missing")
	if computed != 5 {
		t.Errorf("an error was kept: computed %d times, want 5", computed)
	}
	for i := range 2 * maxCached {
		get(fmt.Sprintf("/api/v1/sessions/%d", i))
	}
	if len(c.m) > maxCached {
		t.Errorf("%d answers kept; the bound is %d", len(c.m), maxCached)
	}
}
