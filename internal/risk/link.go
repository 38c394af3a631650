package risk

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Link is another account an account shares a device, an address prefix or
// a payer with, or passed an identity to or from, for a reviewer: Via says which, Masked shows the first four
// characters of the shared id (never the whole). It lives here, not in the
// monitor that computes it, so that the app can name it without importing
// the monitor.
type Link struct {
	Account int64
	Via     string // "device", "prefix", "payer", "identity"
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
	// Identities passed between accounts link both ways: where this
	// account's came from, and where its went.
	for _, h := range a.received {
		if now.Sub(h.at) <= r.Memory && h.from != id {
			out = append(out, Link{Account: h.from, Via: "identity", Masked: mask(h.patient)})
		}
	}
	for heir, at := range t.heirs[id] {
		if now.Sub(at) > r.Memory {
			continue
		}
		if b := t.accounts[heir]; b != nil {
			for _, h := range b.received {
				if h.from == id && now.Sub(h.at) <= r.Memory {
					out = append(out, Link{Account: heir, Via: "identity", Masked: mask(h.patient)})
				}
			}
		}
	}
	slices.SortFunc(out, func(x, y Link) int {
		if c := cmp.Compare(x.Account, y.Account); c != 0 {
			return c
		}
		return cmp.Compare(x.Via+x.Masked, y.Via+y.Masked)
	})
	return slices.CompactFunc(out, func(x, y Link) bool { return x == y })
}

// UsedFrom reports whether the account was seen on device within the
// device window at now.
func (t *Tracker) UsedFrom(id int64, device string, now time.Time) bool {
	a := t.accounts[id]
	if a == nil || !a.devices[device] {
		return false
	}
	at, ok := t.devices[device][key(id)]
	return ok && now.Sub(at) <= t.rules.DeviceWindow
}
