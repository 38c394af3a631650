package frontdoor_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/gate"
)

// TestReducedLimit: a risk factor multiplies an account limit's rate and
// burst over the same period, never below one request.
func TestReducedLimit(t *testing.T) {
	minute := fairslot.Duration(time.Minute)
	tests := []struct {
		l    frontdoor.Limit
		f    float64
		want gate.Limit
	}{
		{frontdoor.Limit{Rate: 5, Per: minute, Burst: 20}, 0.25, gate.Limit{Rate: 1, Per: time.Minute, Burst: 5}},
		{frontdoor.Limit{Rate: 40, Per: minute, Burst: 8}, 0.5, gate.Limit{Rate: 20, Per: time.Minute, Burst: 4}},
		{frontdoor.Limit{Rate: 1, Per: minute, Burst: 1}, 0.1, gate.Limit{Rate: 1, Per: time.Minute, Burst: 1}},
		{frontdoor.Limit{Rate: 10, Per: minute, Burst: 10}, 1, gate.Limit{Rate: 10, Per: time.Minute, Burst: 10}},
	}
	for _, tt := range tests {
		if got := frontdoor.ReducedLimit(tt.l, tt.f); got != tt.want {
			t.Errorf("ReducedLimit(%+v, %v) = %+v, want %+v", tt.l, tt.f, got, tt.want)
		}
	}
}

// TestRiskRateFactor: an account the risk rules limit runs out of requests
// at its reduced burst while another account (and the same account once
// its factor is back to 1) runs at the full one; each signed-in request is
// observed with its account, device and prefix; anonymous ones are not.
func TestRiskRateFactor(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.AccountLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Hour), Burst: 8}
	d, _ := newDoor(t, cfg)
	var mu sync.Mutex
	factors := map[int64]float64{1: 0.25}
	d.RateFactor = func(id int64) float64 {
		mu.Lock()
		defer mu.Unlock()
		if f, ok := factors[id]; ok {
			return f
		}
		return 1
	}
	type seen struct {
		account        int64
		device, prefix string
	}
	var observed []seen
	d.Observe = func(account int64, device, prefix string, _ time.Time) {
		mu.Lock()
		observed = append(observed, seen{account, device, prefix})
		mu.Unlock()
	}
	h := d.Wrap(ok, frontdoor.SingleListener)
	admitted := func(tok string, n int) int {
		got := 0
		for i := range n {
			// Each from its own network, so that only the account limits count.
			if w := serve(h, request("GET", "/x", "10."+strconv.Itoa(i)+"."+tok[len(tok)-1:]+".1:1", tok)); w.Code == 200 {
				got++
			} else if w.Code != 429 || w.Header().Get("Retry-After") == "" {
				t.Errorf("a refused request: %d %q, want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
			}
		}
		return got
	}
	if got := admitted("acct-1", 8); got != 2 {
		t.Errorf("a limited account (factor 0.25 of burst 8) was admitted %d times, want 2", got)
	}
	if got := admitted("acct-2", 10); got != 8 {
		t.Errorf("an account at full rate was admitted %d times, want 8", got)
	}
	mu.Lock()
	factors[3] = 0.5
	mu.Unlock()
	if got := admitted("acct-3", 8); got != 4 {
		t.Errorf("an account at factor 0.5 was admitted %d times, want 4", got)
	}
	mu.Lock()
	n := len(observed)
	first := observed[0]
	mu.Unlock()
	if n != 26 || first.account != 1 || first.prefix != "10.0.1.0/24" {
		t.Errorf("observed %d requests, the first %+v; want 26, account 1 from 10.0.1.0/24", n, first)
	}
	serve(h, request("GET", "/x", "10.200.0.1:1", ""))
	mu.Lock()
	if len(observed) != n {
		t.Error("an anonymous request was observed")
	}
	mu.Unlock()
}
