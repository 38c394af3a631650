package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// The SQL below takes table and column names from storage.SealedColumns and
// storage.IndexedColumns only (Known), never from input; the changes go
// through the owner's reseal and reindex_blind functions (0013), which check
// the names again.

func known(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("postgres: %s is not in the schema's list", what)
	}
	return nil
}

func (t *tx) SealedValues(ctx context.Context, c storage.SealedColumn, prefixes [][]byte, after int64, limit int) ([]storage.SealedValue, error) {
	if err := known(c.Known(), c.Table+"."+c.Column); err != nil {
		return nil, err
	}
	return all(ctx, t, func(r pgx.Rows) (v storage.SealedValue, err error) {
		return v, r.Scan(&v.ID, &v.Row, &v.Value)
	}, fmt.Sprintf(`SELECT %[1]s AS k, %[2]s::text AS r, %[3]s FROM %[4]s
		WHERE %[1]s > $1 AND substring(%[3]s FROM 1 FOR 5) = ANY($2::bytea[]) ORDER BY k LIMIT $3`,
		c.ID, c.RowColumn, c.Column, c.Table), after, prefixes, limit)
}

func (t *tx) CountSealed(ctx context.Context, c storage.SealedColumn, prefixes [][]byte) (int, error) {
	if err := known(c.Known(), c.Table+"."+c.Column); err != nil {
		return 0, err
	}
	var n int
	err := t.tx.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %[2]s WHERE substring(%[1]s FROM 1 FOR 5) = ANY($1::bytea[])`,
		c.Column, c.Table), prefixes).Scan(&n)
	return n, err
}

func (t *tx) Reseal(ctx context.Context, c storage.SealedColumn, id int64, old, new []byte) error {
	if err := known(c.Known(), c.Table+"."+c.Column); err != nil {
		return err
	}
	return t.compareAndSet(ctx, `SELECT reseal($1, $2, $3, $4, $5)`, c.Table, c.Column, id, old, new)
}

func (t *tx) IndexedValues(ctx context.Context, c storage.IndexedColumn, after int64, limit int) ([]storage.IndexedValue, error) {
	if err := known(c.Known(), c.Sealed.Table+"."+c.Column); err != nil {
		return nil, err
	}
	kind := "''"
	if c.KindColumn != "" {
		kind = c.KindColumn + "::text"
	}
	s := c.Sealed
	return all(ctx, t, func(r pgx.Rows) (v storage.IndexedValue, err error) {
		err = r.Scan(&v.ID, &v.Row, &v.Kind, &v.Sealed, &v.Index)
		v.Kind = c.Kind + c.KindPrefix + v.Kind
		return v, err
	}, fmt.Sprintf(`SELECT %[1]s AS k, %[2]s::text AS r, %[3]s, %[4]s, %[5]s FROM %[6]s
		WHERE %[1]s > $1 AND %[5]s IS NOT NULL AND length(%[4]s) > 0 ORDER BY k LIMIT $2`,
		s.ID, s.RowColumn, kind, s.Column, c.Column, s.Table), after, limit)
}

func (t *tx) Reindex(ctx context.Context, c storage.IndexedColumn, id int64, old, new []byte) error {
	if err := known(c.Known(), c.Sealed.Table+"."+c.Column); err != nil {
		return err
	}
	return t.compareAndSet(ctx, `SELECT reindex_blind($1, $2, $3, $4, $5)`, c.Sealed.Table, c.Column, id, old, new)
}

// compareAndSet calls an owner function that changes one row only if it
// still holds what was read, returning the rows changed: a Conflict when
// none was.
func (t *tx) compareAndSet(ctx context.Context, call string, args ...any) error {
	var n int64
	if err := t.tx.QueryRow(ctx, call, args...).Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fairslot.Errorf(fairslot.Conflict, "the value changed since it was read")
	}
	return nil
}

func (t *tx) InsertExtraSlotReason(ctx context.Context, slotID int64, sealed []byte) error {
	_, err := t.exec(ctx, `INSERT INTO extra_slot_reasons (slot_id, reason_sealed) VALUES ($1, $2)`, slotID, sealed)
	return err
}

func (t *tx) ExtraSlotReason(ctx context.Context, slotID int64) ([]byte, error) {
	var v []byte
	return v, one(t.tx.QueryRow(ctx, `SELECT reason_sealed FROM extra_slot_reasons WHERE slot_id = $1`, slotID), "extra slot reason", &v)
}

func (t *tx) PutRekeyState(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, `SELECT put_rekey_state($1, $2)`, key, value)
	return err
}

func (t *tx) Settings(ctx context.Context, prefix string) (map[string]string, error) {
	type kv struct{ k, v string }
	rows, err := all(ctx, t, func(r pgx.Rows) (x kv, err error) { return x, r.Scan(&x.k, &x.v) },
		`SELECT key, value FROM settings WHERE substr(key, 1, length($1::text)) = $1`, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, x := range rows {
		out[x.k] = x.v
	}
	return out, nil
}
