// Package screener is the HTTP client of a hospital's referral triage
// service (an AI model, say, that the hospital runs): it POSTs a request's
// description and reads back a suggestion. It is guarded as every outbound
// call is: a short deadline per call, a bounded answer, and a circuit
// breaker that stops calling a service that keeps failing for a while, so a
// hung screener never slows the sweep that calls it. It must never decide a
// request, and never sends a patient's name, ID number or images.
package screener

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/referral"
)

// HTTP is a screener at an HTTP endpoint. The endpoint gets a POST of
// app.ScreenRequest as JSON (with Authorization: Bearer Token when set) and
// answers 200 with {"score": 0..1, "label": "...", "note": "..."}.
type HTTP struct {
	URL   string
	Token string
	// Timeout bounds one call (0: 3s). After Failures failed calls in a
	// row (0: 3) no call is made for Cooldown (0: 1m); then one call tries
	// again.
	Timeout  time.Duration
	Failures int
	Cooldown time.Duration
	Client   *http.Client // nil: a client of its own
	Now      func() time.Time

	mu        sync.Mutex
	failed    int
	openUntil time.Time
}

// ErrOpen is the answer while the breaker is open: no call was made.
var ErrOpen = errors.New("screener: circuit open after repeated failures")

// Bounds of an answer.
const (
	maxAnswer = 16 << 10
	maxLabel  = 40
	maxNote   = 500
)

func (h *HTTP) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Screen asks the service about one request.
func (h *HTTP) Screen(ctx context.Context, r app.ScreenRequest) (referral.Suggestion, error) {
	h.mu.Lock()
	if h.now().Before(h.openUntil) {
		h.mu.Unlock()
		return referral.Suggestion{}, ErrOpen
	}
	h.mu.Unlock()
	s, err := h.call(ctx, r)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.failed++
		if h.failed >= orInt(h.Failures, 3) {
			h.openUntil = h.now().Add(orDur(h.Cooldown, time.Minute))
			h.failed = 0
		}
		return s, err
	}
	h.failed = 0
	return s, nil
}

func (h *HTTP) call(ctx context.Context, r app.ScreenRequest) (referral.Suggestion, error) {
	var s referral.Suggestion
	ctx, cancel := context.WithTimeout(ctx, orDur(h.Timeout, 3*time.Second))
	defer cancel()
	body, err := json.Marshal(r)
	if err != nil {
		return s, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return s, err
	}
	req.Header.Set("Content-Type", "application/json")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	c := h.Client
	if c == nil {
		c = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, fmt.Errorf("screener: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("screener: status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return s, fmt.Errorf("screener: %w", err)
	}
	if len(raw) > maxAnswer {
		return s, fmt.Errorf("screener: answer over %d bytes", maxAnswer)
	}
	var a struct {
		Score *float64 `json:"score"`
		Label string   `json:"label"`
		Note  string   `json:"note"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return s, fmt.Errorf("screener: answer: %w", err)
	}
	if a.Score == nil || *a.Score < 0 || *a.Score > 1 || *a.Score != *a.Score {
		return s, errors.New("screener: answer without a score in 0..1")
	}
	if !utf8.ValidString(a.Label) || !utf8.ValidString(a.Note) {
		return s, errors.New("screener: answer is not valid text")
	}
	return referral.Suggestion{Score: *a.Score, Label: truncate(a.Label, maxLabel), Note: truncate(a.Note, maxNote)}, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func orDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}
