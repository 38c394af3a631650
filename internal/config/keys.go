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
	// RekeyDB is, on PostgreSQL, the URL the job leader re-seals and
	// re-indexes with: the fairslot_rekey role, which alone (with the owner)
	// may call the reseal and reindex_blind functions — the online role may
	// not, or it could rewrite any blind index or sealed value. Unset, the
	// servers do not re-key by themselves: run `fairslot keys rekey` with
	// that role's or the owner's URL after a rotation (env FAIRSLOT_REKEY_DB).
	RekeyDB string `json:"rekey_db"`
}

func defaultKeys() Keys {
	return Keys{ReloadEvery: fairslot.Duration(10 * time.Second), RekeyEvery: fairslot.Duration(time.Minute), RekeyBatch: 200}
}

func (k Keys) validate(db string) error {
	if k.RekeyDB != "" && db == "" {
		return fmt.Errorf("config: keys.rekey_db is for PostgreSQL; set db too")
	}
	if k.ReloadEvery < fairslot.Duration(time.Second) || k.RekeyEvery < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: keys.reload_every and keys.rekey_every must be at least 1s")
	}
	if k.RekeyBatch < 1 || k.RekeyBatch > 10000 {
		return fmt.Errorf("config: keys.rekey_batch must be 1 to 10000")
	}
	return nil
}
