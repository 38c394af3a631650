package sqlite_test

import (
	"testing"

	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	open := func(t *testing.T) storage.Store { return openTestAt(t, t.TempDir()) }
	storagetest.Run(t, open)
	storagetest.RunRekey(t, func(t *testing.T) (storage.Store, storage.Store) {
		s := open(t)
		return s, nopClose{s}
	})
}

// nopClose is a store whose Close does nothing: one store in two roles.
type nopClose struct{ storage.Store }

func (nopClose) Close() error { return nil }
