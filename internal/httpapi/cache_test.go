package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
)

// TestCatalogueCache: within the TTL a catalogue answer is computed once
// per route, id and date range, however a flood spells the id or whatever
// parameters it adds; errors are never kept; what the cache holds stays
// within its bound of bytes, however many addresses and however large the
// answers.
func TestCatalogueCache(t *testing.T) {
	now := time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC)
	c := &answers{ttl: time.Second, now: func() time.Time { return now }, m: map[string]cached{}}
	computed, size := 0, 10
	mux := http.NewServeMux()
	mux.Handle("GET /sessions/{id}", handlerFunc(c.wrap(func(w http.ResponseWriter, r *http.Request) error {
		computed++
		if r.PathValue("id") == "404" {
			return fairslot.Errorf(fairslot.NotFound, "no")
		}
		return writeJSON(w, 200, map[string]string{"n": fmt.Sprint(computed), "pad": strings.Repeat("x", size)})
	})))
	get := func(url string) (int, string) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
		return w.Code, w.Body.String()
	}
	first := ""
	for i, url := range []string{"/sessions/1?from=2026-12-10", "/sessions/01?from=2026-12-10&junk=1", "/sessions/+1?junk=2&from=2026-12-10"} {
		code, body := get(url)
		if i == 0 {
			first = body
		}
		if code != 200 || body != first {
			t.Fatalf("%s: %d %s; want the first answer again", url, code, body)
		}
	}
	if get("/sessions/1?from=2026-12-11"); computed != 2 {
		t.Errorf("another date range computed %d times in all, want 2", computed)
	}
	now = now.Add(time.Second)
	if _, body := get("/sessions/1?from=2026-12-10"); body == first {
		t.Errorf("after the TTL the first answer was served again")
	}
	get("/sessions/404")
	get("/sessions/404")
	if computed != 5 {
		t.Errorf("an error was kept: computed %d times, want 5", computed)
	}
	// Large answers under made-up addresses: the cache stays within its
	// bound; once they expire, room is made again.
	size = 100 << 10
	for i := range 400 {
		get(fmt.Sprintf("/sessions/%d?from=2026-12-10", 1000+i))
	}
	if c.bytes > maxCachedBytes {
		t.Errorf("the cache holds %d bytes; its bound is %d", c.bytes, maxCachedBytes)
	}
	now = now.Add(time.Second)
	before := computed
	get("/sessions/5000")
	get("/sessions/5000")
	if computed != before+1 {
		t.Errorf("with the cache full of expired answers a new one was not kept: computed %d, want %d", computed, before+1)
	}
}

// handlerFunc adapts a handler for a test's mux.
func handlerFunc(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			w.WriteHeader(http.StatusNotFound)
		}
	})
}
