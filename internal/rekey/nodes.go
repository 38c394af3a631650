package rekey

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Every serving node records which primary keys it has loaded, so that
// `fairslot keys prune` drops a key only when no live node can still write
// under it; and prune records the keys the data is under from then on, so
// that a node started later with an older keyset refuses to serve.
const (
	nodePrefix = "keys.node."
	required   = "keys.required"
	// LiveFor is how recent a node's report must be for prune to count the
	// node as live.
	LiveFor = 10 * time.Minute
)

// NodeReport is one node's loaded keys: the primaries, since when it has
// them, and when it last said so.
type NodeReport struct {
	Seal  uint32    `json:"seal"`
	Index uint32    `json:"index"`
	Since time.Time `json:"since"`
	At    time.Time `json:"at"`
}

// Report records node's loaded primaries (since: when it loaded them).
func Report(ctx context.Context, st storage.Store, node string, v *vault.Vault, since, now time.Time) error {
	seal, index := v.Primaries()
	b, _ := json.Marshal(NodeReport{Seal: seal, Index: index, Since: since, At: now})
	return st.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, nodePrefix+node, string(b)) })
}

// Nodes returns every node's last report.
func Nodes(ctx context.Context, st storage.Store) (map[string]NodeReport, error) {
	out := map[string]NodeReport{}
	err := st.View(ctx, func(tx storage.Tx) error {
		all, err := tx.Settings(ctx, nodePrefix)
		for k, v := range all {
			var r NodeReport
			if json.Unmarshal([]byte(v), &r) == nil {
				out[strings.TrimPrefix(k, nodePrefix)] = r
			}
		}
		return err
	})
	return out, err
}

// Laggards names the live nodes (reported within LiveFor of now) not on
// the vault's primaries, and returns when the last live node loaded them.
func Laggards(nodes map[string]NodeReport, v *vault.Vault, now time.Time) (behind []string, lastSince time.Time) {
	seal, index := v.Primaries()
	for name, r := range nodes {
		if now.Sub(r.At) > LiveFor {
			continue
		}
		if r.Seal != seal || r.Index != index {
			behind = append(behind, fmt.Sprintf("%s (reported %s ago)", name, now.Sub(r.At).Round(time.Second)))
		} else if r.Since.After(lastSince) {
			lastSince = r.Since
		}
	}
	return behind, lastSince
}

type requiredKeys struct {
	Seal  uint32 `json:"seal"`
	Index uint32 `json:"index"`
}

// Require records that the data is under the vault's primaries from now
// on (after a prune).
func Require(ctx context.Context, st storage.Store, v *vault.Vault) error {
	seal, index := v.Primaries()
	b, _ := json.Marshal(requiredKeys{seal, index})
	return st.Update(ctx, func(tx storage.Tx) error { return tx.PutRekeyState(ctx, required, string(b)) })
}

// CheckRequired refuses a keyset that lacks the keys a prune left the data
// under: a node started with a copy from before the rotation would seal
// what no other node can open, and miss what they indexed.
func CheckRequired(ctx context.Context, st storage.Store, v *vault.Vault) error {
	var raw string
	err := st.View(ctx, func(tx storage.Tx) (err error) {
		raw, err = tx.Setting(ctx, required)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			raw, err = "", nil
		}
		return err
	})
	if err != nil || raw == "" {
		return err
	}
	var r requiredKeys
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return fmt.Errorf("keys.required: %w", err)
	}
	if !v.Holds(r.Seal, r.Index) {
		return fmt.Errorf("the keyset %s lacks the keys the data is under since the last prune (sealing %d, index %d): it is an old copy — copy the current keyset to this node", v.Path(), r.Seal, r.Index)
	}
	return nil
}
