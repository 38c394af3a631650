package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// Every column of the schema that holds a sealed value (named *_sealed) is
// in storage.SealedColumns, so key rotation re-seals it: a migration that
// adds one without listing it fails here.
func TestEverySealedColumnIsListed(t *testing.T) {
	dir := t.TempDir()
	openTestAt(t, dir).Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND p.name LIKE '%\_sealed' ESCAPE '\'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		found = append(found, table+"."+column)
		if !slices.ContainsFunc(storage.SealedColumns, func(c storage.SealedColumn) bool { return c.Table == table && c.Column == column }) {
			t.Errorf("%s.%s is sealed but not in storage.SealedColumns: a key rotation would leave it under the old key", table, column)
		}
	}
	if len(found) != len(storage.SealedColumns) {
		t.Errorf("the schema has %d sealed columns (%s), the list %d", len(found), strings.Join(found, ", "), len(storage.SealedColumns))
	}
}
