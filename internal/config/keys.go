package config

import (
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
)

// Keys configures how a running server follows the keyset (issue 12, item 9).
type Keys struct {
	// ReloadEvery is how often every node reads the keyset file again, so a
	// rotation made with `fairslot keys rotate` (or a keyset copied over)
	// reaches it; a value under a key it has not read yet makes it reload
	// at once.
	ReloadEvery fairslot.Duration `json:"reload_every"`
	// RekeyEvery is how often the job leader re-seals values under older
	// sealing keys and rebuilds blind indexes under the new index key.
	RekeyEvery fairslot.Duration `json:"rekey_every"`
	// RekeyBatch is how many rows go in one transaction of that work.
	RekeyBatch int `json:"rekey_batch"`
}

func defaultKeys() Keys {
	return Keys{ReloadEvery: fairslot.Duration(10 * time.Second), RekeyEvery: fairslot.Duration(time.Minute), RekeyBatch: 200}
}

func (k Keys) validate() error {
	if k.ReloadEvery < fairslot.Duration(time.Second) || k.RekeyEvery < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: keys.reload_every and keys.rekey_every must be at least 1s")
	}
	if k.RekeyBatch < 1 || k.RekeyBatch > 10000 {
		return fmt.Errorf("config: keys.rekey_batch must be 1 to 10000")
	}
	return nil
}
