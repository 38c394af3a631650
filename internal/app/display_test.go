package app_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
)

// countingStore counts read transactions.
type countingStore struct {
	storage.Store
	views atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, fn)
}

// TestBoardIsReadOnceForAllScreens: every screen and stream of a
// department takes its board from one read — 32 boards waking at a call
// cost one database read, not 32 — until a change is published or a
// second has passed.
func TestBoardIsReadOnceForAllScreens(t *testing.T) {
	e := newEnv(t)
	st := &countingStore{Store: e.svc.Store}
	e.svc.Store = st
	dept := e.session.DepartmentID
	screens := func() {
		t.Helper()
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if _, err := e.svc.Board(ctx, dept); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	screens()
	if n := st.views.Load(); n != 1 {
		t.Errorf("32 screens read the board %d times, want once", n)
	}
	e.svc.Display.Publish(dept) // a call changed it
	screens()
	if n := st.views.Load(); n != 2 {
		t.Errorf("after a change the screens read the board %d times in all, want 2", n)
	}
	e.clock.Add(time.Second) // another node's change shows within a second
	screens()
	if n := st.views.Load(); n != 3 {
		t.Errorf("a second later the screens read the board %d times in all, want 3", n)
	}
}
