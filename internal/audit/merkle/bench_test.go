package merkle_test

import (
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// BenchmarkVerify measures 'fairslot audit verify' — every leaf recomputed
// from its record's columns and the tree checked against a signed
// checkpoint — over FAIRSLOT_AUDIT_BENCH_RECORDS records (default 100,000)
// on the embedded store, against two baselines measured in the same run:
// SHA-256 of the same canonical bytes on one core (the hashing alone), and
// reading the same rows with the same workers without hashing (the reads
// alone), alternated twice and the best of each kept. The records are made once by a bulk INSERT ... SELECT into
// FAIRSLOT_AUDIT_BENCH_DIR (default: a temporary directory), and reused
// when it already holds them. Run the big one once:
//
//	FAIRSLOT_AUDIT_BENCH_RECORDS=10000000 FAIRSLOT_AUDIT_BENCH_DIR=/tmp/auditbench \
//	  go test ./internal/audit/merkle -run '^$' -bench Verify -benchtime 1x -timeout 30m
func BenchmarkVerify(b *testing.B) {
	n := int64(100_000)
	if s := os.Getenv("FAIRSLOT_AUDIT_BENCH_RECORDS"); s != "" {
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil || n < 1 {
			b.Fatalf("FAIRSLOT_AUDIT_BENCH_RECORDS=%q", s)
		}
	}
	dir := os.Getenv("FAIRSLOT_AUDIT_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	st, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var have int64
	st.View(ctx, func(tx storage.Tx) (err error) { have, err = tx.AuditTreeSize(ctx); return err })
	if have != n {
		if have != 0 {
			b.Fatalf("%s holds %d records, not %d: use another directory", dir, have, n)
		}
		generate(b, filepath.Join(dir, sqlite.FileName), n)
	}
	skey, vkey, _ := merkle.GenerateKey("bench")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)

	// The checkpoint: the tree computed here in one plain pass, then signed.
	var leaves []tlog.Hash // only the tree's right edge is kept
	var levels []int
	var bytesTotal int64
	var sample [][]byte
	err = st.View(ctx, func(tx storage.Tx) error {
		return tx.AuditLeaves(ctx, 0, n, func(l storage.AuditLeaf) error {
			bytesTotal += int64(len(l.Canonical))
			if len(sample) < 100_000 {
				sample = append(sample, append([]byte(nil), l.Canonical...))
			}
			leaves, levels = append(leaves, tlog.RecordHash(l.Canonical)), append(levels, 0)
			for k := len(leaves); k >= 2 && levels[k-1] == levels[k-2]; k = len(leaves) {
				leaves[k-2], levels[k-2] = tlog.NodeHash(leaves[k-2], leaves[k-1]), levels[k-2]+1
				leaves, levels = leaves[:k-1], levels[:k-1]
			}
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	root := leaves[len(leaves)-1]
	for i := len(leaves) - 2; i >= 0; i-- {
		root = tlog.NodeHash(leaves[i], root)
	}
	msg, err := merkle.Sign(merkle.Checkpoint{Origin: "bench", Size: n, Hash: root}, signer)
	if err != nil {
		b.Fatal(err)
	}
	w := []merkle.Source{{Name: "bench", Note: msg}}

	// Baseline 1: SHA-256 of as many canonical bytes, one core.
	start := time.Now()
	var done int64
	for done < n {
		for _, s := range sample {
			if done == n {
				break
			}
			h := sha256.New()
			h.Write([]byte{0})
			h.Write(s)
			h.Sum(nil)
			done++
		}
	}
	shaTime := time.Since(start)

	// Baseline 2: reading the rows, same chunks and workers, no hashing.
	read := func() time.Duration {
		start := time.Now()
		chunk := int64(1 << 15)
		sem := make(chan struct{}, 2)
		errs := make(chan error, (n+chunk-1)/chunk)
		for from := int64(0); from < n; from += chunk {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				errs <- st.View(ctx, func(tx storage.Tx) error {
					return tx.AuditLeaves(ctx, from, min(from+chunk, n), func(storage.AuditLeaf) error { return nil })
				})
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	verify := func() time.Duration {
		start := time.Now()
		rep, err := (&merkle.Verifier{Store: st, Key: verifier}).Verify(ctx, w)
		if err != nil || !rep.OK() || rep.Size != n {
			b.Fatalf("verify: %+v, %v", rep, err)
		}
		return time.Since(start)
	}
	// Alternated, twice, best of each: the machine is shared, and the first
	// pass after generation also pays for a large write-ahead log.
	// CPU time (user + system, the whole process: nothing else runs during
	// a pass) is reported too: on a shared machine it moves far less than
	// the wall time.
	b.ResetTimer()
	readTime, verifyTime := time.Duration(1<<62), time.Duration(1<<62)
	readCPU, verifyCPU := time.Duration(1<<62), time.Duration(1<<62)
	for range 2 * b.N {
		c := cpuTime()
		readTime = min(readTime, read())
		readCPU, c = min(readCPU, cpuTime()-c), cpuTime()
		verifyTime = min(verifyTime, verify())
		verifyCPU = min(verifyCPU, cpuTime()-c)
	}
	b.StopTimer()
	b.ReportMetric(verifyCPU.Seconds(), "verify_cpu_s")
	b.ReportMetric(readCPU.Seconds(), "read_cpu_s")
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(verifyTime.Seconds(), "verify_s")
	b.ReportMetric(float64(n)/verifyTime.Seconds(), "records/s")
	b.ReportMetric(shaTime.Seconds(), "sha256_s")
	b.ReportMetric(readTime.Seconds(), "read_s")
	b.ReportMetric(verifyTime.Seconds()/shaTime.Seconds(), "x_sha256")
	b.ReportMetric(verifyTime.Seconds()/readTime.Seconds(), "x_read")
	b.ReportMetric(float64(bytesTotal)/float64(n), "bytes/record")
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// generate bulk-inserts n audit records like the application's, each
// numbered as the leader would (leaf = seq-1 on the single writer).
func generate(b *testing.B, path string, n int64) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for _, q := range []string{
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ` + strconv.FormatInt(n, 10) + `)
		INSERT INTO audit_events (seq, at_ms, actor, action, subject, detail, request_id)
		SELECT i, 1796112000000 + i * 37,
			CASE i % 5 WHEN 0 THEN 'system' WHEN 1 THEN 'staff:' || (i % 97) ELSE 'account:' || (i * 7919 % 1000003) END,
			CASE i % 4 WHEN 0 THEN 'booking.hold' WHEN 1 THEN 'payment.settle' WHEN 2 THEN 'booking.checkin' ELSE 'staff.login' END,
			'booking:' || i,
			CASE i % 3 WHEN 0 THEN '{}' ELSE '{"session":"' || (i / 48) || '","slot":"' || (i % 48) || '"}' END,
			CASE i % 5 WHEN 0 THEN '' ELSE printf('%016x', i * 2654435761 % 4294967296) END
		FROM c`,
		`INSERT INTO audit_leaves (leaf, seq) SELECT seq - 1, seq FROM audit_events ORDER BY seq`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("generated %d records in %v", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkAppend measures how fast the leader numbers a backlog (after a
// restart, or behind a burst): b.N records bulk-inserted without leaves on
// the embedded store, then numbered and hashed by Log.Append in its
// batches, and a checkpoint signed.
//
//	go test ./internal/audit/merkle -run '^$' -bench Append -benchtime 200000x
func BenchmarkAppend(b *testing.B) {
	dir := b.TempDir()
	st, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ` + strconv.Itoa(b.N) + `)
		INSERT INTO audit_events (at_ms, actor, action, subject, detail, request_id)
		SELECT 1796112000000 + i, 'staff:' || (i % 97), 'booking.hold', 'booking:' || i, '{"slot":"' || (i % 48) || '"}', '' FROM c`); err != nil {
		b.Fatal(err)
	}
	db.Close()
	skey, _, _ := merkle.GenerateKey("bench")
	signer, _ := note.NewSigner(skey)
	l := &merkle.Log{Store: st, Signer: signer}
	b.ResetTimer()
	start := time.Now()
	for {
		n, err := l.Append(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == int64(b.N) {
			break
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
