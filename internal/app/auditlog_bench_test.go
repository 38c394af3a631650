package app_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/fairslot/fairslot/internal/audit/merkle"
)

// BenchmarkBookingWithAuditLog measures what the Merkle audit log costs a
// booking (issue 12, item 7): the booking path (hold, then pay: three write
// transactions with their audit records) with 16 clients on the embedded
// store, first with no audit leader running, then while the leader numbers
// the new records and stores their tree hashes every 100 ms (serve: every
// second) and signs a checkpoint every second (serve: every minute). Each op is one booking in each
// phase, the phases interleaved in eight rounds (ABBA); it reports both rates and
// their ratio (with / without).
//
//	go test ./internal/app -run '^$' -bench BookingWithAuditLog -benchtime 2000x -count 3
func BenchmarkBookingWithAuditLog(b *testing.B) {
	benchWithAuditLog(b, newBenchEnv(b))
}

// BenchmarkBookingWithAuditLogPostgres is the same on PostgreSQL, as the
// online role (the leader too).
func BenchmarkBookingWithAuditLogPostgres(b *testing.B) {
	_, online := freshPostgres(b)
	e := &env{dir: b.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(b, online(), e.dir)
	benchWithAuditLog(b, e)
}

func benchWithAuditLog(b *testing.B, e *env) {
	sessions, people := benchPeople(b, e, 2*b.N+b.N/8)
	skey, vkey, err := merkle.GenerateKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	l := &merkle.Log{Store: e.svc.Store, Signer: signer}
	book := func(from, n int) time.Duration { return benchBook(b, e, sessions, people, 16, from, from+n) }
	// Records made before (setup) are numbered first, outside the timer.
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}

	// Eight rounds each way, interleaved, so that a change in the shared
	// machine's load falls on both alike.
	b.ResetTimer()
	var without, with time.Duration
	var ticks, leafErrs atomic.Int64
	const rounds = 8
	per := b.N / rounds
	withLeader := func(from int) time.Duration {
		stop := make(chan struct{})
		var leader sync.WaitGroup
		leader.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				var err error
				if ticks.Add(1)%10 == 0 {
					_, err = l.Checkpoint(ctx)
				} else {
					_, err = l.Append(ctx)
				}
				if err != nil {
					leafErrs.Add(1)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		d := book(from, per)
		close(stop)
		leader.Wait()
		return d
	}
	// A warm-up round first, untimed: pools, caches and prepared
	// statements would otherwise favour whichever phase comes second.
	book(2*rounds*per, per)
	// ABBA: the database grows as the run goes, so each phase goes first
	// in every other round, and a drift falls on both alike.
	for r := range rounds {
		if r%2 == 0 {
			without += book(2*r*per, per)
			with += withLeader((2*r + 1) * per)
		} else {
			with += withLeader(2 * r * per)
			without += book((2*r+1)*per, per)
		}
	}
	b.StopTimer()
	if leafErrs.Load() > 0 {
		b.Fatalf("%d leader ticks failed", leafErrs.Load())
	}
	// Everything is numbered, and verifies.
	for {
		msg, err := l.Checkpoint(ctx)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := (&merkle.Verifier{Store: e.svc.Store, Key: verifier}).Verify(ctx, []merkle.Source{{Name: "bench", Note: msg}})
		if err != nil || !rep.OK() {
			b.Fatalf("verify after the run: %+v, %v", rep, err)
		}
		if rep.Unsigned == 0 {
			break
		}
	}
	rWithout, rWith := float64(rounds*per)/without.Seconds(), float64(rounds*per)/with.Seconds()
	b.ReportMetric(rWithout, "bookings/s_without")
	b.ReportMetric(rWith, "bookings/s_with")
	b.ReportMetric(rWith/rWithout, "ratio")
	b.ReportMetric(float64(ticks.Load()), "leader_ticks")
}
