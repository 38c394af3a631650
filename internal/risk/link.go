package risk

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Link is another account an account shares a device, an address prefix or
// a payer with, for a reviewer: Via says which, Masked shows the first four
// characters of the shared id (never the whole). It lives here, not in the
// monitor that computes it, so that the app can name it without importing
// the monitor.
type Link struct {
	Account int64
	Via     string // "device", "prefix", "payer"
	Masked  string
}

// Links lists the other accounts that share a device, an address prefix
// or a payer with the account within each one's window at now, by account
// then by Via. The shared ids are masked.
func (t *Tracker) Links(id int64, now time.Time) []Link {
	a := t.accounts[id]
	if a == nil {
		return nil
	}
	r := t.rules
	var out []Link
	add := func(via string, groups map[string]seen, ids map[string]bool, window time.Duration) {
		for g := range ids {
			for member, at := range groups[g] {
				var other int64
				if _, err := fmt.Sscan(member, &other); err != nil || other == id || now.Sub(at) > window {
					continue
				}
				out = append(out, Link{Account: other, Via: via, Masked: mask(g)})
			}
		}
	}
	add("device", t.devices, a.devices, r.DeviceWindow)
	add("prefix", t.prefixes, a.prefixes, r.PrefixWindow)
	add("payer", t.payerAcc, a.payers, r.Memory)
	slices.SortFunc(out, func(x, y Link) int {
		if c := cmp.Compare(x.Account, y.Account); c != 0 {
			return c
		}
		return cmp.Compare(x.Via+x.Masked, y.Via+y.Masked)
	})
	return slices.CompactFunc(out, func(x, y Link) bool { return x == y })
}
