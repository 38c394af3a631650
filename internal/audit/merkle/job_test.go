package merkle_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/audit/merkle"
)

// TestJobCheckpointsWitnessesAndAlerts: the leader's ticks sign and push
// checkpoints to a directory and an HTTP witness, verify the new part of
// the log, and raise an ALERT (and count it) when a record under a
// checkpoint is changed.
func TestJobCheckpointsWitnessesAndAlerts(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		st, exec, query := b.open(t)
		s, v := keys(t, "test-log")
		dir := t.TempDir()
		var mu sync.Mutex
		var posted [][]byte
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			buf.ReadFrom(r.Body)
			mu.Lock()
			posted = append(posted, buf.Bytes())
			mu.Unlock()
		}))
		defer srv.Close()
		var logs bytes.Buffer
		l := &merkle.Log{Store: st, Signer: s}
		j := &merkle.Job{Log: l, Verifier: &merkle.Verifier{Store: st, Key: v},
			Witnesses:       []merkle.Witness{merkle.DirWitness{Dir: dir}, merkle.HTTPWitness{URL: srv.URL}},
			CheckpointEvery: time.Minute, VerifyEvery: 3 * time.Minute, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		now := t0
		for i := range 4 {
			appendEvents(t, st, 5*i, 5, "staff:1")
			appendAll(t, l, int64(5*i+5))
			j.Tick(ctx, now)
			now = now.Add(time.Minute)
		}
		ws, err := merkle.DirWitness{Dir: dir}.Read()
		if err != nil || len(ws) != 4 || len(posted) != 4 {
			t.Fatalf("witness dir holds %d checkpoints (%v), HTTP got %d; want 4 each", len(ws), err, len(posted))
		}
		if fi, _ := os.Stat(dir + "/checkpoint.00000000000000000020"); fi == nil || fi.Mode().Perm() != 0o444 {
			t.Fatalf("witness file %v: want checkpoint.<size> read-only", fi)
		}
		if j.Mismatches.Load() != 0 || j.Verified.Size == 0 {
			t.Fatalf("untampered: %d mismatches, verified up to %d; want none, and progress\n%s", j.Mismatches.Load(), j.Verified.Size, logs.String())
		}
		// A record added after the last verification is changed under the
		// next checkpoint.
		appendEvents(t, st, 20, 5, "staff:1")
		appendAll(t, l, 25)
		j.Tick(ctx, now)
		seq := query(`SELECT seq FROM audit_leaves WHERE leaf = 22`)
		if err := exec(fmt.Sprintf(`UPDATE audit_events SET action = 'nothing' WHERE seq = %d`, seq)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(3 * time.Minute)
		j.Tick(ctx, now)
		if j.Mismatches.Load() != 1 || !strings.Contains(logs.String(), "ALERT: the audit log does not match") || !strings.Contains(logs.String(), "first_bad_index=22") {
			t.Fatalf("after a tamper: %d mismatches; log:\n%s\nwant an ALERT naming leaf 22", j.Mismatches.Load(), logs.String())
		}
		// The whole verification names it too, against the witness.
		rep := verify(t, st, v, ws)
		if rep.FirstBad != 22 {
			t.Fatalf("verify: %+v; want first bad 22", rep)
		}
	})
}

func TestDirWitnessNeverRewrites(t *testing.T) {
	w := merkle.DirWitness{Dir: t.TempDir()}
	if err := w.Push(ctx, 5, []byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Push(ctx, 5, []byte("a\n")); err != nil {
		t.Fatalf("the same checkpoint again: %v; want accepted", err)
	}
	if err := w.Push(ctx, 5, []byte("b\n")); !errors.Is(err, merkle.ErrWitnessConflict) {
		t.Fatalf("another checkpoint of the same size: %v; want ErrWitnessConflict", err)
	}
	got, _ := w.Read()
	if len(got) != 1 || string(got[0].Note) != "a\n" {
		t.Fatalf("witness holds %q; want the first checkpoint, unchanged", got)
	}
	if err := (merkle.DirWitness{Dir: "/nonexistent/x"}).Push(ctx, 1, []byte("a")); err == nil {
		t.Fatal("a missing witness directory is not an error")
	}
}
