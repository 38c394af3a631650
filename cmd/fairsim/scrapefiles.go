package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the thief's SQLite reader, the same driver the server uses
)

// FilesAttack is what a copy of the data directory and a backup gave a
// thief without the keyset.
type FilesAttack struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Tables, Columns and Cells read through SQL from the copy and the
	// backup (every table, every column, every row).
	Tables  int `json:"tables"`
	Columns int `json:"columns"`
	Cells   int `json:"cells"`
	// Readable is the personal fields of seeded patients found in clear —
	// in a cell or anywhere in the files' bytes; Records the distinct
	// patients.
	Readable int `json:"readable_personal_fields"`
	Records  int `json:"records_exposed"`
	// ControlFound: the hospital's name, stored in clear, was found both by
	// the byte scan and by the SQL scan, so the scans read real data.
	ControlFound bool `json:"control_found"`
	// LogFields is the personal fields found in the server's log, which a
	// thief with the host's files takes too (not counted in Readable).
	LogFields int      `json:"server_log_personal_fields"`
	Notes     []string `json:"notes,omitempty"`
}

// controlText is stored in clear by the demo (the hospital's name): the
// scans must find it, or they prove nothing.
const controlText = "Demo Hospital"

// copiedFiles copies the live data directory as a thief with file access
// would (the database, its WAL and shared memory, while the server runs)
// and takes a backup the way an operator might (VACUUM INTO from a
// read-only connection), then searches every byte of every file, and every
// cell of every table of the copy and the backup, for the seeded names, ID
// numbers and phones. The keyset lives outside the data directory and is
// not taken.
func copiedFiles(ctx context.Context, t *target, ppl *people) (FilesAttack, error) {
	var f FilesAttack
	data := filepath.Join(t.dir, "data")
	stolen, err := os.MkdirTemp(t.dir, "stolen-")
	if err != nil {
		return f, err
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		return f, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(data, e.Name()), filepath.Join(stolen, e.Name())); err != nil {
			return f, err
		}
	}
	db := filepath.Join(data, "fairslot.db")
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("no WAL to copy (%v)", err))
	}
	backup := filepath.Join(t.dir, "backup.db")
	live, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		return f, err
	}
	_, err = live.ExecContext(ctx, "VACUUM INTO '"+strings.ReplaceAll(backup, "'", "''")+"'")
	live.Close()
	if err != nil {
		return f, fmt.Errorf("backup: %w", err)
	}

	found := newExposed(-1)
	var bytesControl, sqlControl bool
	// Every byte of every file: the copy of the directory and the backup.
	files, _ := filepath.Glob(filepath.Join(stolen, "*"))
	for _, path := range append(files, backup) {
		b, err := os.ReadFile(path)
		if err != nil {
			return f, err
		}
		f.Files++
		f.Bytes += int64(len(b))
		found.add(ppl, b)
		bytesControl = bytesControl || bytes.Contains(b, []byte(controlText))
	}
	// Every cell of every table, through SQL: the copy with its WAL applied
	// (as opening it does), and the backup.
	for _, path := range []string{filepath.Join(stolen, "fairslot.db"), backup} {
		ok, err := scanTables(ctx, path, ppl, found, &f)
		if err != nil {
			return f, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		sqlControl = sqlControl || ok
	}
	f.Readable, f.Records = len(found.fields), found.records()
	if t.logs != nil {
		if b, err := os.ReadFile(t.logs.Name()); err == nil {
			inLog := newExposed(-1)
			inLog.add(ppl, b)
			f.LogFields = len(inLog.fields)
		}
	}
	f.ControlFound = bytesControl && sqlControl
	return f, nil
}

// scanTables reads every row of every table of the database at path and
// searches each cell for personal data; it reports whether the control
// text was seen.
func scanTables(ctx context.Context, path string, ppl *people, found *exposed, f *FilesAttack) (bool, error) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var tables []string
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return false, err
		}
		tables = append(tables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	control := false
	for _, tab := range tables {
		f.Tables++
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(tab, `"`, `""`)+`"`)
		if err != nil {
			return false, err
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return false, err
		}
		f.Columns += len(cols)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return false, err
			}
			for _, v := range vals {
				f.Cells++
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				case nil:
					continue
				default:
					b = []byte(fmt.Sprint(v))
				}
				found.add(ppl, b)
				control = control || bytes.Contains(b, []byte(controlText))
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return false, err
		}
	}
	return control, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
