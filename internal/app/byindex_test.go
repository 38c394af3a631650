package app

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/vault"
)

// A row the index rebuild moves from the old key to the new one between
// two look-up statements (PostgreSQL's READ COMMITTED shows each statement
// what is committed when it starts) is still found: byIndex tries the keys
// oldest first, and a row only ever moves to a newer key. Tried primary
// first, the row was looked for under the new key before the move and
// under the old one after it, missed, and a second identity was inserted
// (or, on the unique index, the request failed).
func TestByIndexFindsARowMovedBetweenStatements(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	v, err := vault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := v.Index("phone", "13800000000")
	if _, err := vault.Rotate(path, time.Now(), vault.Index); err != nil {
		t.Fatal(err)
	}
	v.Reload()
	fresh := v.Index("phone", "13800000000")
	stored := old // the row's index, as committed
	calls := 0
	find := func(i []byte) (int64, error) {
		defer func() {
			calls++
			if calls == 1 {
				stored = fresh // the rebuild commits the move right after the first statement
			}
		}()
		if bytes.Equal(i, stored) {
			return 7, nil
		}
		return 0, fairslot.Errorf(fairslot.NotFound, "no row")
	}
	if id, err := byIndex(v, "phone", "13800000000", find); err != nil || id != 7 {
		t.Errorf("byIndex = %d, %v; want the row, found under the key it moved to", id, err)
	}
}
