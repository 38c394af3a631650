package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/fairslot/fairslot"
)

// Kit configures the downtime kit (issue 15 item 5): the printable lists
// the job leader writes to Dir every Every while serving.
type Kit struct {
	// Dir is where the kit is written: another machine's share or volume.
	// Empty (the default) writes none while serving ('fairslot kit --out'
	// still makes one). Env FAIRSLOT_KIT_DIR.
	Dir string `json:"dir"`
	// Every is how often the job leader writes a new generation (10m).
	Every fairslot.Duration `json:"every"`
	// Lang is the hospital's language for the printed page: zh-CN (the
	// default), vi or en.
	Lang string `json:"lang"`
	// Keep is how many generations stay in Dir (6; at least 2).
	Keep int `json:"keep"`
}

func (k Kit) validate(dataDir string) error {
	if !slices.Contains([]string{"zh-CN", "vi", "en"}, k.Lang) {
		return fmt.Errorf("config: kit.lang must be zh-CN, vi or en, not %q", k.Lang)
	}
	if k.Keep < 2 {
		return fmt.Errorf("config: kit.keep must be at least 2 (a reader may still be reading the one before the newest)")
	}
	if k.Dir == "" {
		return nil
	}
	if k.Every < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: kit.every must be at least 1s")
	}
	if in, err := Within(dataDir, k.Dir); err != nil {
		return fmt.Errorf("config: cannot resolve kit.dir: %v", err)
	} else if in {
		return fmt.Errorf("config: kit.dir %s is inside the data directory %s: the kit is for when that is gone; put it on another volume or host", k.Dir, dataDir)
	}
	return nil
}
