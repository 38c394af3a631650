package sqlite_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// A panicking writer gets an error; the writers batched with it and the
// store itself carry on.
func TestWriterSurvivesPanic(t *testing.T) {
	ctx := context.Background()
	s := openTestAt(t, t.TempDir())
	defer s.Close()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx storage.Tx) error {
				if err := tx.PutSetting(ctx, "k"+string(rune('a'+i)), "v"); err != nil {
					return err
				}
				if i == 7 {
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == 7 {
			if err == nil || !strings.Contains(err.Error(), "panic") {
				t.Errorf("the panicking writer got %v, want a panic error", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	s.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Setting(ctx, "k"+string(rune('a'+7))); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("the panicking writer's change was kept: %v", err)
		}
		return nil
	})
}

func TestCancelledWriteDoesNothing(t *testing.T) {
	s := openTestAt(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, "k", "v") })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context = %v, want context.Canceled", err)
	}
	s.View(context.Background(), func(tx storage.Tx) error {
		if _, err := tx.Setting(context.Background(), "k"); fairslot.ErrorKind(err) != fairslot.NotFound {
			t.Errorf("a cancelled write was kept: %v", err)
		}
		return nil
	})
}

func TestWriteAfterClose(t *testing.T) {
	s := openTestAt(t, t.TempDir())
	s.Close()
	err := s.Update(context.Background(), func(tx storage.Tx) error { return nil })
	if fairslot.ErrorKind(err) != fairslot.Unavailable {
		t.Errorf("Update after Close = %v, want unavailable", err)
	}
}
