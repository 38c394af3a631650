// Package rekey brings stored data to the keyset's primary keys after a
// rotation (`fairslot keys rotate`): it re-seals every value sealed under an
// older key and rebuilds every blind index under the new index key, in
// small transactions while the server serves, on the job leader. Until it is
// done, old keys open old values and look-ups try every index key; `fairslot
// keys prune` drops the old keys only when Status says nothing needs them.
package rekey

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// indexVerified is the setting that names the index key every blind index
// was found to be under by a whole pass that had nothing left to change.
const indexVerified = "keys.index_verified"

// Job re-seals and re-indexes. Batch rows go in one transaction (default 200).
type Job struct {
	Store storage.Store
	Vault *vault.Vault
	Batch int
	Log   *slog.Logger
}

// Result counts what one pass did.
type Result struct {
	Changed int // values re-sealed or indexes rebuilt
	Failed  int // values that did not open (logged by row, never by content)
	Raced   int // values changed by someone else between read and write; the next pass sees them
}

func (r *Result) add(o Result) { r.Changed += o.Changed; r.Failed += o.Failed; r.Raced += o.Raced }

func (j Job) batch() int {
	if j.Batch <= 0 {
		return 200
	}
	return j.Batch
}

func (j Job) log() *slog.Logger {
	if j.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return j.Log
}

func field(c storage.SealedColumn, row string) vault.Field {
	return vault.Field{Table: c.Field, Row: row, Column: c.Part}
}

// Run does one re-seal pass and, unless the indexes are already verified
// under the primary index key, one index pass.
func (j Job) Run(ctx context.Context) (Result, error) {
	r, err := j.Reseal(ctx)
	if err != nil {
		return r, err
	}
	ri, err := j.RebuildIndexes(ctx)
	r.add(ri)
	return r, err
}

// Reseal re-seals, under the primary key, every value of every sealed
// column that is under another key.
func (j Job) Reseal(ctx context.Context) (Result, error) {
	var total Result
	if seal, _ := j.Vault.OldKeys(); !seal {
		return total, nil // one key: everything is under it
	}
	prefix := j.Vault.SealPrefix()
	for _, c := range storage.SealedColumns {
		for after := int64(0); ; {
			var r Result
			var n int
			err := j.Store.Update(ctx, func(tx storage.Tx) error {
				r, n = Result{}, 0
				vs, err := tx.SealedValues(ctx, c, prefix, after, j.batch())
				if err != nil {
					return err
				}
				n = len(vs)
				for _, v := range vs {
					after = v.ID
					plain, err := j.Vault.Open(field(c, v.Row), v.Value)
					if err != nil {
						r.Failed++
						j.log().Error("rekey: a sealed value does not open under any key of the keyset", "table", c.Table, "column", c.Column, "id", v.ID)
						continue
					}
					fresh, err := j.Vault.Seal(field(c, v.Row), plain)
					if err != nil {
						return err
					}
					if !bytes.HasPrefix(fresh, prefix) {
						// The keyset was reloaded mid-pass: the next pass
						// starts again under the new primary.
						return nil
					}
					if err := swap(ctx, tx, func() error { return tx.Reseal(ctx, c, v.ID, v.Value, fresh) }); err != nil {
						if fairslot.ErrorKind(err) != fairslot.Conflict {
							return err
						}
						r.Raced++
						continue
					}
					r.Changed++
				}
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("rekey: re-seal %s.%s: %w", c.Table, c.Column, err)
			}
			total.add(r)
			if n < j.batch() {
				break
			}
		}
	}
	if total.Changed > 0 || total.Failed > 0 {
		j.log().Info("rekey: re-sealed under the primary key", "changed", total.Changed, "failed", total.Failed, "raced", total.Raced)
	}
	return total, nil
}

// swap runs a compare-and-set in a savepoint, so that a lost race leaves the
// batch's transaction usable.
func swap(ctx context.Context, tx storage.Tx, fn func() error) error {
	return tx.Savepoint(ctx, fn)
}

// RebuildIndexes recomputes every blind index under the primary index key.
// A pass that finds nothing to change records the key as verified; until
// then each call makes a whole pass.
func (j Job) RebuildIndexes(ctx context.Context) (Result, error) {
	key := strconv.FormatUint(uint64(j.Vault.IndexKey()), 10)
	if _, index := j.Vault.OldKeys(); !index {
		return Result{}, nil // one key: every index is under it
	}
	if v, err := j.setting(ctx, indexVerified); err != nil || v == key {
		return Result{}, err
	}
	var total Result
	for _, c := range storage.IndexedColumns {
		for after := int64(0); ; {
			var r Result
			var n int
			err := j.Store.Update(ctx, func(tx storage.Tx) error {
				r, n = Result{}, 0
				vs, err := tx.IndexedValues(ctx, c, after, j.batch())
				if err != nil {
					return err
				}
				n = len(vs)
				for _, v := range vs {
					after = v.ID
					plain, err := j.Vault.Open(field(c.Sealed, v.Row), v.Sealed)
					if err != nil {
						r.Failed++
						j.log().Error("rekey: a sealed value does not open under any key of the keyset", "table", c.Sealed.Table, "column", c.Sealed.Column, "id", v.ID)
						continue
					}
					fresh := j.Vault.Index(v.Kind, plain)
					if bytes.Equal(fresh, v.Index) {
						continue
					}
					if err := swap(ctx, tx, func() error { return tx.Reindex(ctx, c, v.ID, v.Index, fresh) }); err != nil {
						if fairslot.ErrorKind(err) != fairslot.Conflict {
							return err
						}
						r.Raced++
						continue
					}
					r.Changed++
				}
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("rekey: rebuild %s.%s: %w", c.Sealed.Table, c.Column, err)
			}
			total.add(r)
			if n < j.batch() {
				break
			}
		}
	}
	if total == (Result{}) && strconv.FormatUint(uint64(j.Vault.IndexKey()), 10) == key {
		err := j.Store.Update(ctx, func(tx storage.Tx) error { return tx.PutSetting(ctx, indexVerified, key) })
		return total, err
	}
	j.log().Info("rekey: blind indexes rebuilt under the primary index key", "changed", total.Changed, "failed", total.Failed, "raced", total.Raced)
	return total, nil
}

func (j Job) setting(ctx context.Context, key string) (v string, err error) {
	err = j.Store.View(ctx, func(tx storage.Tx) error {
		v, err = tx.Setting(ctx, key)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			v, err = "", nil
		}
		return err
	})
	return v, err
}

// Status is what still needs the old keys.
type Status struct {
	Stale         map[string]int // per table.column: values not under the primary sealing key
	IndexVerified bool           // every blind index is under the primary index key
}

// StaleTotal is how many values are still under an older sealing key.
func (s Status) StaleTotal() (n int) {
	for _, v := range s.Stale {
		n += v
	}
	return n
}

// Check counts what still needs the old keys.
func (j Job) Check(ctx context.Context) (Status, error) {
	st := Status{Stale: map[string]int{}}
	prefix := j.Vault.SealPrefix()
	err := j.Store.View(ctx, func(tx storage.Tx) error {
		for _, c := range storage.SealedColumns {
			n, err := tx.CountSealed(ctx, c, prefix)
			if err != nil {
				return err
			}
			st.Stale[c.Table+"."+c.Column] = n
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if _, index := j.Vault.OldKeys(); !index {
		st.IndexVerified = true
		return st, nil
	}
	v, err := j.setting(ctx, indexVerified)
	st.IndexVerified = v == strconv.FormatUint(uint64(j.Vault.IndexKey()), 10)
	return st, err
}
