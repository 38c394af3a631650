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
	"slices"
	"strconv"
	"strings"
	"time"

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
	older := j.Vault.OlderSealPrefixes()
	if len(older) == 0 {
		return total, nil // no key older than the primary: nothing to bring over
	}
	prefix := j.Vault.SealPrefix()
	for _, c := range storage.SealedColumns {
		r, err := walk(ctx, j,
			func(tx storage.Tx, after int64) ([]storage.SealedValue, error) {
				return tx.SealedValues(ctx, c, older, after, j.batch())
			},
			func(v storage.SealedValue) int64 { return v.ID },
			func(tx storage.Tx, v storage.SealedValue) (outcome, error) {
				plain, ok := j.open(c, v.ID, v.Row, v.Value)
				if !ok {
					return failed, nil
				}
				fresh, err := j.Vault.Seal(field(c, v.Row), plain)
				if err != nil {
					return 0, err
				}
				if !bytes.HasPrefix(fresh, prefix) {
					return stop, nil // the keyset was reloaded: the next pass goes on under the new primary
				}
				return swap(ctx, tx, func() error { return tx.Reseal(ctx, c, v.ID, v.Value, fresh) })
			})
		total.add(r)
		if err != nil {
			return total, fmt.Errorf("rekey: re-seal %s.%s: %w", c.Table, c.Column, err)
		}
	}
	if total != (Result{}) {
		j.log().Info("rekey: re-sealed under the primary key", "changed", total.Changed, "failed", total.Failed, "raced", total.Raced)
	}
	return total, nil
}

// RebuildIndexes recomputes every blind index under the primary index key.
// A pass that finds nothing to change records the key as verified; until
// then each call makes a whole pass.
func (j Job) RebuildIndexes(ctx context.Context) (Result, error) {
	key := strconv.FormatUint(uint64(j.Vault.IndexKey()), 10)
	if _, index := j.Vault.OldKeys(); !index {
		return Result{}, nil // no key older than the primary: nothing to bring over
	}
	start := time.Now()
	if done, err := j.indexesVerified(ctx); err != nil || done {
		return Result{}, err
	}
	var total Result
	for _, c := range storage.IndexedColumns {
		r, err := walk(ctx, j,
			func(tx storage.Tx, after int64) ([]storage.IndexedValue, error) {
				return tx.IndexedValues(ctx, c, after, j.batch())
			},
			func(v storage.IndexedValue) int64 { return v.ID },
			func(tx storage.Tx, v storage.IndexedValue) (outcome, error) {
				plain, ok := j.open(c.Sealed, v.ID, v.Row, v.Sealed)
				if !ok {
					return failed, nil
				}
				if strconv.FormatUint(uint64(j.Vault.IndexKey()), 10) != key {
					return stop, nil // the keyset was reloaded mid-pass
				}
				// Only an index under an older key moves to the primary; one
				// under a newer key (staged here, promoted elsewhere) stays.
				if !slices.ContainsFunc(j.Vault.OlderIndexes(v.Kind, plain), func(i []byte) bool { return bytes.Equal(i, v.Index) }) {
					return unchanged, nil
				}
				fresh := j.Vault.Index(v.Kind, plain)
				return swap(ctx, tx, func() error { return tx.Reindex(ctx, c, v.ID, v.Index, fresh) })
			})
		total.add(r)
		if err != nil {
			return total, fmt.Errorf("rekey: rebuild %s.%s: %w", c.Sealed.Table, c.Column, err)
		}
	}
	if total == (Result{}) && strconv.FormatUint(uint64(j.Vault.IndexKey()), 10) == key {
		v := key + ":" + strconv.FormatInt(start.UnixMilli(), 10)
		err := j.Store.Update(ctx, func(tx storage.Tx) error { return tx.PutRekeyState(ctx, indexVerified, v) })
		return total, err
	}
	j.log().Info("rekey: blind indexes rebuilt under the primary index key", "changed", total.Changed, "failed", total.Failed, "raced", total.Raced)
	return total, nil
}

// outcome is what became of one row.
type outcome int

const (
	unchanged outcome = iota
	changed
	failed
	raced
	stop // end the pass here
)

// walk visits a column's rows by id in batches of j.batch(), each batch in
// one transaction, adding up what became of them.
func walk[T any](ctx context.Context, j Job, list func(tx storage.Tx, after int64) ([]T, error), id func(T) int64,
	visit func(tx storage.Tx, v T) (outcome, error)) (Result, error) {
	var total Result
	for after, done := int64(0), false; !done; {
		var r Result
		err := j.Store.Update(ctx, func(tx storage.Tx) error {
			r = Result{}
			vs, err := list(tx, after)
			if err != nil {
				return err
			}
			done = len(vs) < j.batch()
			for _, v := range vs {
				o, err := visit(tx, v)
				if err != nil {
					return err
				}
				switch o {
				case changed:
					r.Changed++
				case failed:
					r.Failed++
				case raced:
					r.Raced++
				case stop:
					done = true
					return nil
				}
				after = id(v)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total.add(r)
	}
	return total, nil
}

// open opens a row's sealed value, logging by row (never by content) one
// that opens under no key of the keyset.
func (j Job) open(c storage.SealedColumn, id int64, row string, value []byte) (string, bool) {
	plain, err := j.Vault.Open(field(c, row), value)
	if err != nil {
		j.log().Error("rekey: a sealed value does not open under any key of the keyset", "table", c.Table, "column", c.Column, "id", id)
		return "", false
	}
	return plain, true
}

// swap runs a compare-and-set in a savepoint, so that a lost race (the row
// changed since it was read) leaves the batch's transaction usable.
func swap(ctx context.Context, tx storage.Tx, fn func() error) (outcome, error) {
	err := tx.Savepoint(ctx, fn)
	switch {
	case err == nil:
		return changed, nil
	case fairslot.ErrorKind(err) == fairslot.Conflict:
		return raced, nil
	}
	return 0, err
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

// indexesVerified reports whether every blind index is known to be under
// the primary index key: there is no older key, or a whole pass found
// nothing left under one, and it started after every live node had loaded
// that key (a node still on the older key could have written under it).
func (j Job) indexesVerified(ctx context.Context) (bool, error) {
	verified, _, err := j.indexState(ctx, func() (map[string]NodeReport, error) { return Nodes(ctx, j.Store) })
	return verified, err
}

// indexState is indexesVerified, and whether a clean pass is on record
// for the primary index key whatever the nodes say (rebuilt). nodes reads
// the nodes' reports, only when they matter.
func (j Job) indexState(ctx context.Context, nodes func() (map[string]NodeReport, error)) (verified, rebuilt bool, err error) {
	if _, index := j.Vault.OldKeys(); !index {
		return true, true, nil
	}
	v, err := j.setting(ctx, indexVerified)
	if err != nil {
		return false, false, err
	}
	key, at, _ := strings.Cut(v, ":")
	ms, err := strconv.ParseInt(at, 10, 64)
	if key != strconv.FormatUint(uint64(j.Vault.IndexKey()), 10) || err != nil {
		return false, false, nil
	}
	reports, err := nodes()
	if err != nil {
		return false, true, err
	}
	behind, last := Laggards(reports, j.Vault, time.Now())
	return len(behind) == 0 && ms >= last.UnixMilli(), true, nil
}

// Status is what still needs the old keys.
type Status struct {
	Stale         map[string]int // per table.column: values under a sealing key older than the primary
	IndexVerified bool           // every blind index is under the primary index key, checked after every live node loaded it
	IndexRebuilt  bool           // a whole pass found none under an older key (whatever the nodes)
	Laggards      []string       // live nodes not on the keyset's primaries
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
	older := j.Vault.OlderSealPrefixes()
	err := j.Store.View(ctx, func(tx storage.Tx) error {
		for _, c := range storage.SealedColumns {
			n, err := tx.CountSealed(ctx, c, older)
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
	nodes, err := Nodes(ctx, j.Store) // read once: for the laggards and the index state
	if err != nil {
		return st, err
	}
	st.Laggards, _ = Laggards(nodes, j.Vault, time.Now())
	st.IndexVerified, st.IndexRebuilt, err = j.indexState(ctx, func() (map[string]NodeReport, error) { return nodes, nil })
	return st, err
}
