package screener

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/app"
)

func TestScreen(t *testing.T) {
	var got app.ScreenRequest
	var auth string
	answer := `{"score": 0.7, "label": "expert", "note": "` + strings.Repeat("n", 600) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		json.NewDecoder(r.Body).Decode(&got)
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	h := &HTTP{URL: srv.URL, Token: "t0k"}
	s, err := h.Screen(context.Background(), app.ScreenRequest{Ref: "r1", Doctor: "Dr A", Description: "a rash"})
	if err != nil || s.Score != 0.7 || s.Label != "expert" || len(s.Note) != maxNote {
		t.Fatalf("Screen = %+v, %v", s, err)
	}
	if got.Description != "a rash" || got.Ref != "r1" || auth != "Bearer t0k" {
		t.Errorf("the service got %+v with %q", got, auth)
	}
	for _, bad := range []string{`{"label": "x"}`, `{"score": 1.5}`, `{"score": -0.1}`, `not json`, `{"score": 0.5, "note": "` + strings.Repeat("x", maxAnswer) + `"}`} {
		answer = bad
		if _, err := (&HTTP{URL: srv.URL}).Screen(context.Background(), app.ScreenRequest{}); err == nil {
			t.Errorf("answer %.40q accepted", bad)
		}
	}
}

// TestBreaker: a service that fails or hangs is called at most Failures
// times in a row; then not at all until the cooldown passes, when one call
// tries again; a hung call ends at the deadline.
func TestBreaker(t *testing.T) {
	var hits atomic.Int32
	var hang atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body) // so the server notices the client leave
		if hang.Load() {
			select { // held until the client gives up (or the test ends)
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	defer close(release)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	h := &HTTP{URL: srv.URL, Failures: 3, Cooldown: time.Minute, Timeout: 50 * time.Millisecond, Now: func() time.Time { return now }}
	for i := range 3 {
		if _, err := h.Screen(context.Background(), app.ScreenRequest{}); err == nil || errors.Is(err, ErrOpen) {
			t.Fatalf("call %d: %v, want the service's failure", i, err)
		}
	}
	if _, err := h.Screen(context.Background(), app.ScreenRequest{}); !errors.Is(err, ErrOpen) {
		t.Fatalf("fourth call: %v, want ErrOpen", err)
	}
	if hits.Load() != 3 {
		t.Errorf("the service was called %d times, want 3", hits.Load())
	}
	now = now.Add(time.Minute)
	hang.Store(true)
	if _, err := h.Screen(context.Background(), app.ScreenRequest{}); err == nil || errors.Is(err, ErrOpen) {
		t.Errorf("after the cooldown: %v, want a call that hit the deadline", err)
	}
	if hits.Load() != 4 {
		t.Errorf("the service was called %d times, want 4", hits.Load())
	}
}
