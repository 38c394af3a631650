package httpapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestLastingConditionsDoNotFloodTheLog: a storage fault and lock
// contention each fail every request while they last. A storage fault is
// 503 with the store's Retry-After and no line per request (the store's
// health tracker logs the outage once); lock contention logs one ALERT per
// interval, not one per request.
func TestLastingConditionsDoNotFloodTheLog(t *testing.T) {
	fault := fmt.Errorf("commit: %w", &storage.Fault{Reason: storage.DiskFull, Err: errors.New("database or disk is full (13)")})
	busy := fmt.Errorf("%w (database is locked (5))", storage.ErrBusy)
	tests := []struct {
		name       string
		err        error
		retryAfter string
		lines      int
	}{
		{"storage fault", fault, "60", 0},
		{"lock contention", busy, "5", 1},
		{"another unavailable", fairslot.Errorf(fairslot.Unavailable, "the server is shutting down"), "5", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &httpapi.Server{Log: slog.New(slog.NewTextHandler(&logs, nil))}
			start := time.Now()
			for range 100 {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("POST", "/api/v1/bookings", nil)
				if code := s.Failed(w, r, tt.err); code != 503 {
					t.Fatalf("status = %d, want 503", code)
				}
				if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
					t.Fatalf("Retry-After = %q, want %q", got, tt.retryAfter)
				}
			}
			// One line per 10 s interval: a slow machine may cross one.
			most := tt.lines * (1 + int(time.Since(start)/(10*time.Second)))
			if n := strings.Count(logs.String(), "\n"); n < tt.lines || n > most {
				t.Errorf("100 failed requests logged %d lines, want %d to %d:\n%s", n, tt.lines, most, logs.String())
			}
		})
	}
	if msg := fairslot.ErrorMessage(fault); !strings.Contains(msg, "cannot write to its storage") || strings.Contains(msg, "(13)") {
		t.Errorf("a storage fault shows %q; want the clear message without the driver's", msg)
	}
}
