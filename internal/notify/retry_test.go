package notify_test

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/notify"
)

// TestRetryWaits: the defaults, and the wait doubling from Backoff after
// each failed attempt up to MaxBackoff.
func TestRetryWaits(t *testing.T) {
	var r notify.Retry
	r.Defaults(30 * time.Second)
	if r != (notify.Retry{MaxAttempts: 8, Backoff: 5 * time.Second, MaxBackoff: 10 * time.Minute, SendTimeout: 30 * time.Second, Batch: 50}) {
		t.Errorf("defaults %+v", r)
	}
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 7: 320 * time.Second, 8: 10 * time.Minute, 40: 10 * time.Minute} {
		if got := r.Wait(n); got != want {
			t.Errorf("wait after attempt %d = %s, want %s", n, got, want)
		}
	}
	kept := notify.Retry{MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute, SendTimeout: time.Second, Batch: 5}
	r = kept
	if r.Defaults(time.Hour); r != kept {
		t.Errorf("Defaults changed set fields: %+v", r)
	}
}
