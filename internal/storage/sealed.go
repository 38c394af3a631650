package storage

import (
	"context"
	"slices"
)

// SealedColumn is one column that holds a value sealed by the vault, and
// how that value's associated data is made: fairslot/<Field>/<Row>/<Part>,
// Row being the value of column RowColumn. ID is the row's integer key, the
// order the re-seal job walks in. The names are SQL identifiers taken from
// this file only, never from input.
type SealedColumn struct {
	Table, Column string
	ID, RowColumn string
	Field, Part   string
}

// SealedColumns is every sealed column of the schema: the one list the
// re-seal job walks, `fairslot keys status` counts, and a migration test on
// each backend holds against every column named *_sealed. A new sealed
// column is added here, or that test fails.
var SealedColumns = []SealedColumn{
	{"accounts", "phone_sealed", "id", "ref", "accounts", "phone"},
	{"patients", "id_sealed", "id", "ref", "patients", "id_number"},
	{"patients", "name_sealed", "id", "ref", "patients", "name"},
	{"patients", "phone_sealed", "id", "ref", "patients", "phone"},
	{"patients", "birth_sealed", "id", "ref", "patients", "birth_date"},
	{"releases", "seed_sealed", "session_id", "session_id", "releases", "seed"},
	{"staff", "totp_sealed", "id", "id", "staff", "totp"},
	{"staff", "totp_pending_sealed", "id", "id", "staff", "totp"},
	{"outbox", "recipient_sealed", "id", "ref", "outbox", "recipient"},
	{"outbox", "body_sealed", "id", "ref", "outbox", "body"},
	{"access_log", "note_sealed", "id", "ref", "access_log", "note"},
	{"extra_slot_reasons", "reason_sealed", "slot_id", "slot_id", "extra_slot_reasons", "reason"},
	{"risk_appeals", "text_sealed", "id", "ref", "risk_appeals", "text"},
	{"referrals", "description_sealed", "id", "ref", "referrals", "description"},
	{"referrals", "reason_sealed", "id", "ref", "referrals", "reason"},
	{"referrals", "screen_note_sealed", "id", "ref", "referrals", "screen_note"},
	{"referral_images", "data_sealed", "id", "ref", "referral_images", "data"},
}

// IndexedColumn is a blind index computed from a sealed column: under
// Kind, or under KindPrefix and the value of KindColumn ("id:" and the ID
// type).
type IndexedColumn struct {
	Column                 string
	Sealed                 SealedColumn
	Kind                   string
	KindPrefix, KindColumn string
}

// IndexedColumns is every blind index the index rebuild recomputes.
var IndexedColumns = []IndexedColumn{
	{Column: "phone_index", Sealed: SealedColumns[0], Kind: "phone"},
	{Column: "id_index", Sealed: SealedColumns[1], KindPrefix: "id:", KindColumn: "id_type"},
	{Column: "phone_index", Sealed: SealedColumns[3], Kind: "phone"},
}

// Known reports whether c is in SealedColumns: a backend builds SQL from a
// column's names only when it is.
func (c SealedColumn) Known() bool { return slices.Contains(SealedColumns, c) }

// Known reports whether c is in IndexedColumns.
func (c IndexedColumn) Known() bool { return slices.Contains(IndexedColumns, c) }

// SealedValue is a sealed value with its row.
type SealedValue struct {
	ID    int64
	Row   string // the associated data's row
	Value []byte
}

// IndexedValue is a row's blind index with the sealed value it is computed
// from and the kind it is computed under.
type IndexedValue struct {
	ID            int64
	Row, Kind     string
	Sealed, Index []byte
}

// Rekey is what rotating the keyset needs of a backend. Re-seal and
// re-index are compare-and-set: they change a value only if it is still
// the one read (a Conflict otherwise), so a job racing a write never
// overwrites it.
type Rekey interface {
	// SealedValues lists up to limit values of c with an id above after
	// whose first five bytes (Tink's key prefix) are one of prefixes (the
	// keys older than the primary), by id.
	SealedValues(ctx context.Context, c SealedColumn, prefixes [][]byte, after int64, limit int) ([]SealedValue, error)
	// CountSealed counts the values of c under one of prefixes.
	CountSealed(ctx context.Context, c SealedColumn, prefixes [][]byte) (int, error)
	Reseal(ctx context.Context, c SealedColumn, id int64, old, new []byte) error
	// IndexedValues lists up to limit rows of c with an id above after, by id.
	IndexedValues(ctx context.Context, c IndexedColumn, after int64, limit int) ([]IndexedValue, error)
	Reindex(ctx context.Context, c IndexedColumn, id int64, old, new []byte) error
	// Settings returns the settings whose names start with prefix.
	Settings(ctx context.Context, prefix string) (map[string]string, error)
	// PutRekeyState records what the re-keying has done (a "keys." setting;
	// on PostgreSQL only the rekey role and the owner may).
	PutRekeyState(ctx context.Context, key, value string) error
	// InsertExtraSlotReason keeps an extra slot's reason, sealed.
	InsertExtraSlotReason(ctx context.Context, slotID int64, sealed []byte) error
	ExtraSlotReason(ctx context.Context, slotID int64) ([]byte, error)
}
