package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// The SQL below takes table and column names from storage.SealedColumns and
// storage.IndexedColumns only (Known), never from input.

func known(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("sqlite: %s is not in the schema's list", what)
	}
	return nil
}

// prefixIn is "the value's key prefix is one of prefixes" and its arguments.
func prefixIn(column string, prefixes [][]byte) (string, []any) {
	if len(prefixes) == 0 {
		return "0", nil
	}
	args := make([]any, len(prefixes))
	for i, p := range prefixes {
		args[i] = p
	}
	return "substr(" + column + ", 1, 5) IN (?" + strings.Repeat(", ?", len(prefixes)-1) + ")", args
}

func (t *tx) SealedValues(ctx context.Context, c storage.SealedColumn, prefixes [][]byte, after int64, limit int) ([]storage.SealedValue, error) {
	if err := known(c.Known(), c.Table+"."+c.Column); err != nil {
		return nil, err
	}
	in, args := prefixIn(c.Column, prefixes)
	return all(ctx, t, func(r *sql.Rows) (v storage.SealedValue, err error) {
		return v, r.Scan(&v.ID, &v.Row, &v.Value)
	}, fmt.Sprintf(`SELECT %[1]s AS k, CAST(%[2]s AS TEXT) AS r, %[3]s FROM %[4]s
		WHERE %[1]s > ? AND %[5]s ORDER BY k LIMIT ?`,
		c.ID, c.RowColumn, c.Column, c.Table, in), append(append([]any{after}, args...), limit)...)
}

func (t *tx) CountSealed(ctx context.Context, c storage.SealedColumn, prefixes [][]byte) (int, error) {
	if err := known(c.Known(), c.Table+"."+c.Column); err != nil {
		return 0, err
	}
	in, args := prefixIn(c.Column, prefixes)
	var n int
	err := t.queryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s`, c.Table, in), args...).Scan(&n)
	return n, err
}

func (t *tx) Reseal(ctx context.Context, c storage.SealedColumn, id int64, old, new []byte) error {
	if err := known(c.Known(), c.Table+"."+c.Column); err != nil {
		return err
	}
	// As PostgreSQL's reseal: a re-seal changes the key, or it is no re-seal.
	if len(new) < 5 || new[0] != 1 || (len(old) >= 5 && bytes.Equal(new[:5], old[:5])) {
		return fairslot.Errorf(fairslot.Invalid, "reseal: the new value must be sealed under another key")
	}
	return t.compareAndSet(ctx, fmt.Sprintf(`UPDATE %s SET %[2]s = ? WHERE %s = ? AND %[2]s = ?`, c.Table, c.Column, c.ID), new, id, old)
}

func (t *tx) IndexedValues(ctx context.Context, c storage.IndexedColumn, after int64, limit int) ([]storage.IndexedValue, error) {
	if err := known(c.Known(), c.Sealed.Table+"."+c.Column); err != nil {
		return nil, err
	}
	kind := "''"
	if c.KindColumn != "" {
		kind = c.KindColumn
	}
	s := c.Sealed
	return all(ctx, t, func(r *sql.Rows) (v storage.IndexedValue, err error) {
		err = r.Scan(&v.ID, &v.Row, &v.Kind, &v.Sealed, &v.Index)
		v.Kind = c.Kind + c.KindPrefix + v.Kind
		return v, err
	}, fmt.Sprintf(`SELECT %[1]s AS k, CAST(%[2]s AS TEXT) AS r, %[3]s, %[4]s, %[5]s FROM %[6]s
		WHERE %[1]s > ? AND %[5]s IS NOT NULL AND length(%[4]s) > 0 ORDER BY k LIMIT ?`,
		s.ID, s.RowColumn, kind, s.Column, c.Column, s.Table), after, limit)
}

func (t *tx) Reindex(ctx context.Context, c storage.IndexedColumn, id int64, old, new []byte) error {
	if err := known(c.Known(), c.Sealed.Table+"."+c.Column); err != nil {
		return err
	}
	if len(new) != 16 {
		return fairslot.Errorf(fairslot.Invalid, "reindex: a blind index is 16 bytes")
	}
	return t.compareAndSet(ctx, fmt.Sprintf(`UPDATE %s SET %[2]s = ? WHERE %s = ? AND %[2]s = ?`, c.Sealed.Table, c.Column, c.Sealed.ID), new, id, old)
}

// compareAndSet runs an UPDATE that changes one row only if it still holds
// what was read: a Conflict when it does not.
func (t *tx) compareAndSet(ctx context.Context, query string, args ...any) error {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return firstNonNil(err, fairslot.Errorf(fairslot.Conflict, "the value changed since it was read"))
	}
	return nil
}

func (t *tx) InsertExtraSlotReason(ctx context.Context, slotID int64, sealed []byte) error {
	_, err := t.exec(ctx, `INSERT INTO extra_slot_reasons (slot_id, reason_sealed) VALUES (?, ?)`, slotID, sealed)
	return err
}

func (t *tx) ExtraSlotReason(ctx context.Context, slotID int64) ([]byte, error) {
	var v []byte
	return v, one(t.queryRow(ctx, `SELECT reason_sealed FROM extra_slot_reasons WHERE slot_id = ?`, slotID), "extra slot reason", &v)
}

func (t *tx) PutRekeyState(ctx context.Context, key, value string) error {
	return t.PutSetting(ctx, key, value)
}

func (t *tx) Settings(ctx context.Context, prefix string) (map[string]string, error) {
	type kv struct{ k, v string }
	rows, err := all(ctx, t, func(r *sql.Rows) (x kv, err error) { return x, r.Scan(&x.k, &x.v) },
		`SELECT key, value FROM settings WHERE substr(key, 1, length(?1)) = ?1`, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, x := range rows {
		out[x.k] = x.v
	}
	return out, nil
}
