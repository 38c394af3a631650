package merkle_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage"
)

func openPG(t *testing.T) storage.Store {
	dsn, _ := pgtest.Fresh(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPostgresLeavesWaitForOlderTransactions: a record committed while an
// older transaction is still open is not numbered until that one ends, so
// the older one's record can still take the earlier leaf.
func TestPostgresLeavesWaitForOlderTransactions(t *testing.T) {
	pgtest.Require(t)
	st := openPG(t)
	l := &merkle.Log{Store: st}
	inA, releaseA, doneA := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		doneA <- st.Update(ctx, func(tx storage.Tx) error {
			if err := tx.AppendAudit(ctx, &audit.Event{At: t0, Actor: "staff:1", Action: "older", Subject: "x:1"}); err != nil {
				return err
			}
			close(inA)
			<-releaseA
			return nil
		})
	}()
	<-inA
	appendEvents(t, st, 0, 1, "staff:2") // B: begins and commits after A began
	n, err := l.Append(ctx)
	if err != nil || n != 0 {
		t.Fatalf("Append while the older transaction runs = %d, %v; want 0 leaves", n, err)
	}
	close(releaseA)
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	appendAll(t, l, 2)
	var actions []string
	st.View(ctx, func(tx storage.Tx) error {
		return tx.AuditLeaves(ctx, 0, 2, func(lf storage.AuditLeaf) error {
			actions = append(actions, string(lf.Canonical))
			return nil
		})
	})
	if len(actions) != 2 || !strings.Contains(actions[0], `"action":"older"`) {
		t.Fatalf("leaves %q: want the older transaction's record first", actions)
	}
}

// TestPostgresConcurrentAndRolledBackLeaveNoGaps: many writers, a third of
// them rolling back (their identities are spent: seq has gaps), with the
// leader appending all along. Every committed record gets exactly one leaf,
// leaves have no gaps, a transaction that committed before another began
// has the earlier leaves, and the log verifies.
func TestPostgresConcurrentAndRolledBackLeaveNoGaps(t *testing.T) {
	pgtest.Require(t)
	st := openPG(t)
	s, v := keys(t, "test-log")
	l := &merkle.Log{Store: st, Signer: s, Batch: 7}
	type txn struct {
		begin, commit int64 // logical clock
		subject       string
	}
	var clock atomic.Int64
	var mu sync.Mutex
	var committed []txn
	rollback := errors.New("rolled back")
	stop := make(chan struct{})
	leaderDone := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				leaderDone <- nil
				return
			default:
			}
			if _, err := l.Append(ctx); err != nil {
				leaderDone <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				subject := fmt.Sprintf("w%d:%d", w, i)
				begin := clock.Add(1)
				err := st.Update(ctx, func(tx storage.Tx) error {
					for j := range 2 {
						if err := tx.AppendAudit(ctx, &audit.Event{At: t0, Actor: "system", Action: "t", Subject: subject, Detail: map[string]string{"j": fmt.Sprint(j)}}); err != nil {
							return err
						}
					}
					if i%3 == 0 {
						return rollback
					}
					return nil
				})
				end := clock.Add(1)
				if errors.Is(err, rollback) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed = append(committed, txn{begin, end, subject})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	want := int64(2 * len(committed))
	appendAll(t, l, want)
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	leafOf := map[string][]int64{}
	var seqs []int64
	err := st.View(ctx, func(tx storage.Tx) error {
		return tx.AuditLeaves(ctx, 0, want+100, func(lf storage.AuditLeaf) error {
			if lf.Leaf != int64(len(seqs)) {
				return fmt.Errorf("leaf %d after %d leaves: a gap", lf.Leaf, len(seqs))
			}
			seqs = append(seqs, lf.Seq)
			c := string(lf.Canonical)
			i := strings.Index(c, `"subject":"`)
			subj := c[i+11:]
			subj = subj[:strings.Index(subj, `"`)]
			leafOf[subj] = append(leafOf[subj], lf.Leaf)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(seqs)) != want || len(leafOf) != len(committed) {
		t.Fatalf("%d leaves for %d subjects; want %d leaves, one pair per committed transaction (%d)", len(seqs), len(leafOf), want, len(committed))
	}
	gaps := 0
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			gaps++
		}
	}
	if gaps == 0 {
		t.Log("no seq gaps or reordering this run: the rollbacks should have left some")
	}
	for _, a := range committed {
		for _, b := range committed {
			if a.commit < b.begin && leafOf[a.subject][1] > leafOf[b.subject][0] {
				t.Fatalf("%s committed before %s began but has a later leaf (%v > %v)", a.subject, b.subject, leafOf[a.subject], leafOf[b.subject])
			}
		}
		if l := leafOf[a.subject]; len(l) != 2 || l[1] != l[0]+1 {
			t.Fatalf("%s has leaves %v: want two, adjacent, in seq order", a.subject, l)
		}
	}
	if rep := verify(t, st, v, nil); !rep.OK() || rep.Size != want {
		t.Fatalf("%+v", rep)
	}
}
