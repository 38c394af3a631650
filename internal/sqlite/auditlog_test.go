package sqlite

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestAuditLeavesPackedIsByteForByte: the packed read (one column a row)
// gives every record exactly the canonical bytes of reading its columns one
// by one, and of audit.AppendCanonical over the values written — on records
// with every kind of value a column can hold: empty strings, "{}", unicode,
// characters JSON escapes, a NUL, invalid UTF-8, digits and spaces (the
// packing's own separators), the largest numbers, times before 1970 and
// outside year 0 – 9999. Rows the packing leaves to the column read (a
// column of another type, a leaf without its record) are checked too, and
// the test checks which rows took which path, so it cannot pass by never
// packing.
func TestAuditLeavesPackedIsByteForByte(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	raw := openRaw(t, "file:"+filepath.Join(dir, FileName)+"?_pragma=foreign_keys(0)&_pragma=busy_timeout(5000)")
	type rec struct {
		seq, at                                 int64
		actor, action, subject, detail, request string
	}
	const big = math.MaxInt64 - 7
	recs := []rec{
		{1, 1796112000000, "staff:1", "booking.hold", "booking:1", `{"slot":"3"}`, "0123456789abcdef"},
		{2, 1796112000001, "", "", "", "", ""},
		{3, 1796112000120, "system", "x", "y", "{}", ""},
		{4, 1796112000000, "account:Nguyễn Văn Ấn", "预约.确认", "😀 \u2028 \u2029 \u00e9", `{"note":"Trần 李 <&>"}`, "请求"},
		{5, 0, `"quoted" \ back <>&`, "tab\tnew\nline\r", "nul\x00byte", `{"a":"\u0000"}`, "\x01\x1f\x7f"},
		{6, -1, "12 34 ", " 5 6 7 8 ", "9", `{"k":"1 2 3 4 5 6 7 8 "}`, " "},
		{big, math.MaxInt64, "a", "b", "c", "{}", "d"},
		{8, math.MinInt64, "a", "b", "c", "{}", ""},
		{9, -62135596800001, "a", "b", "c", "{}", ""},  // 1 ms before year 1
		{10, 253402300800000, "a", "b", "c", "{}", ""}, // year 10000
		{11, -1796112000123, "a", "b", "c", "{}", ""},
	}
	leaves := map[int64]int64{} // leaf -> seq
	packedWant := map[int64]bool{}
	for i, r := range recs {
		if _, err := raw.Exec(`INSERT INTO audit_events (seq, at_ms, actor, action, subject, detail, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.seq, r.at, r.actor, r.action, r.subject, r.detail, r.request); err != nil {
			t.Fatal(err)
		}
		leaves[int64(i)], packedWant[int64(i)] = r.seq, true
	}
	// Invalid UTF-8 held as text; a column retyped as a blob (left to the
	// column read); an integer and a real written to text columns (stored as
	// their text by the columns' affinity, so packed); a leaf whose record is
	// gone (left to the column read); a leaf with the largest number.
	for _, q := range []string{
		`INSERT INTO audit_events VALUES (20, 1796112000000, CAST(x'fffe61' AS TEXT), 'a', CAST(x'c3' AS TEXT), '{}', CAST(x'80' AS TEXT))`,
		`INSERT INTO audit_events VALUES (21, 1796112000000, CAST('staff:1' AS BLOB), 'a', 'b', '{}', '')`,
		`INSERT INTO audit_events VALUES (22, 1796112000000, 42, 'a', 'b', '{}', '')`,
		`INSERT INTO audit_events VALUES (23, 1796112000000, 'a', 2.5, 'b', '{}', '')`,
		`INSERT INTO audit_events VALUES (30, 1796112000000, 'staff:9', 'a', 'b', '{}', '')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for leaf, seq := range map[int64]int64{20: 20, 21: 21, 22: 22, 23: 23, 24: 999, math.MaxInt64 - 1: 30} {
		leaves[leaf] = seq
		packedWant[leaf] = seq != 21 && seq != 999
	}
	for leaf, seq := range leaves {
		if _, err := raw.Exec(`INSERT INTO audit_leaves (leaf, seq) VALUES (?, ?)`, leaf, seq); err != nil {
			t.Fatal(err)
		}
	}
	packedWant[math.MaxInt64-1] = true

	bySeq := map[int64]rec{}
	for _, r := range recs {
		bySeq[r.seq] = r
	}
	err = s.View(ctx, func(stx storage.Tx) error {
		x := stx.(*tx)
		var packed, byColumn []storage.AuditLeaf
		if err := x.AuditLeaves(ctx, 0, math.MaxInt64, func(l storage.AuditLeaf) error {
			l.Canonical = bytes.Clone(l.Canonical)
			packed = append(packed, l)
			return nil
		}); err != nil {
			return err
		}
		if err := x.auditLeavesByColumn(ctx, 0, math.MaxInt64, func(l storage.AuditLeaf) error {
			l.Canonical = bytes.Clone(l.Canonical)
			byColumn = append(byColumn, l)
			return nil
		}); err != nil {
			return err
		}
		if len(packed) != len(leaves) || len(byColumn) != len(leaves) {
			t.Fatalf("%d leaves packed, %d by column; want %d", len(packed), len(byColumn), len(leaves))
		}
		for i, p := range packed {
			c := byColumn[i]
			if p.Leaf != c.Leaf || p.Seq != c.Seq || !bytes.Equal(p.Canonical, c.Canonical) || (p.Canonical == nil) != (c.Canonical == nil) {
				t.Errorf("leaf %d: packed read %d %d %q; the column read %d %d %q", c.Leaf, p.Leaf, p.Seq, p.Canonical, c.Leaf, c.Seq, c.Canonical)
			}
			if r, ok := bySeq[p.Seq]; ok {
				want := audit.AppendCanonical(nil, r.seq, r.at, r.actor, r.action, r.subject, r.detail, r.request)
				if !bytes.Equal(p.Canonical, want) {
					t.Errorf("leaf %d: %q; want %q", p.Leaf, p.Canonical, want)
				}
			}
		}
		if p := packed[len(packed)-2]; p.Leaf != 24 || p.Canonical != nil {
			t.Errorf("leaf 24 (record missing): %+v; want no canonical bytes", p)
		}
		if p := packed[len(packed)-1]; p.Leaf != math.MaxInt64-1 || p.Seq != 30 || p.Canonical == nil {
			t.Errorf("last leaf: %+v; want leaf %d of record 30", p, int64(math.MaxInt64-1))
		}
		// Which rows the query packed: all with the declared types.
		rows, err := x.query(ctx, auditLeavesPacked, 0, int64(math.MaxInt64))
		if err != nil {
			return err
		}
		defer rows.Close()
		for i := 0; rows.Next(); i++ {
			var col []byte
			if err := rows.Scan(&col); err != nil {
				return err
			}
			l, _, ok := unpackAuditLeaf(col, nil)
			if leaf := byColumn[i].Leaf; ok != packedWant[leaf] || ok && l.Leaf != leaf {
				t.Errorf("leaf %d: packed %v (%q); want packed %v", leaf, ok, col, packedWant[leaf])
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnpackAuditLeafRefusesMalformed: anything but a whole packed record
// is refused (and then read by column), never half-read.
func TestUnpackAuditLeafRefusesMalformed(t *testing.T) {
	good := "7 8 -9223372036854775808 1 1 1 2 0 abc{}"
	if l, _, ok := unpackAuditLeaf([]byte(good), nil); !ok || l.Leaf != 7 || l.Seq != 8 {
		t.Fatalf("%q: %+v %v; want leaf 7 of record 8", good, l, ok)
	}
	for _, p := range []string{
		"", "7", "7 8", "7 8 9 1 1 1 2 0 abc{}x", "7 8 9 1 1 1 2 0 abc{", "7 8 9 1 1 1 2 1 abc{}",
		"7 8 9 1 1 1 -2 0 abc{}", "7 8 9 1 1 1 2 0abc{}", "-7 8 9 1 1 1 2 0 abc{}", "7 8 9 99999999999999999999 1 1 2 0 abc{}",
		"7 8 x 1 1 1 2 0 abc{}", "7  8 9 1 1 1 2 0 abc{}", "7 -8 9 1 1 1 2 0 abc{}",
	} {
		if l, _, ok := unpackAuditLeaf([]byte(p), nil); ok {
			t.Errorf("%q unpacked as %+v; want refused", p, l)
		}
	}
}
