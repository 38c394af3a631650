package app_test

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/gate"
)

// BenchmarkBookingBesideLoginFlood measures bookings (holds, one client
// after another, on the embedded store) alone and then while 8 workers send
// wrong passwords at -flood-rate a second (default 250, ten times the
// incident's 1,500 a minute) — each from a new address prefix, mostly
// for names nobody has and every tenth for one of 8 real accounts, so that
// no throttle spares the server a hash and the real accounts lock — and
// reports the booking rate and median of each phase and their ratios.
// Failures are counted in memory; only the 8 locks are written. With
// -strangers=0 the node-wide budget for unfamiliar networks is lifted, to
// see what the hashing alone costs.
//
//	go test ./internal/app -run '^$' -bench BookingBesideLoginFlood -benchtime 300x
var floodRate = flag.Float64("flood-rate", 250, "BenchmarkBookingBesideLoginFlood: wrong passwords a second (0: as fast as 8 workers go); the incident's was 25")

var strangersBudget = flag.Bool("strangers", true, "BenchmarkBookingBesideLoginFlood: keep the budget of hashes for unfamiliar networks")

func BenchmarkBookingBesideLoginFlood(b *testing.B) {
	e := newBenchEnv(b)
	sessions, people := benchPeople(b, e, 2*b.N)
	benchStaff(b, e, 8)
	if !*strangersBudget {
		e.svc.StaffLogins.Strangers = gate.Limit{Rate: 1e9, Per: time.Second, Burst: 1e9}
	}
	phase := func(from int) (float64, time.Duration) { return benchHolds(b, e, sessions, people, from) }

	// The service's clock follows the wall clock, so that the limits
	// refill as they would.
	tick := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Go(func() {
		last := time.Now()
		for {
			select {
			case <-tick:
				return
			case <-time.After(5 * time.Millisecond):
				now := time.Now()
				e.clock.Add(now.Sub(last))
				last = now
			}
		}
	})
	defer func() { close(tick); ticker.Wait() }()

	b.ResetTimer()
	rateAlone, p50Alone := phase(0)
	stop := make(chan struct{})
	var flood sync.WaitGroup
	var attempts, hashed atomic.Int64
	var next atomic.Int64
	for range 8 {
		flood.Go(func() {
			var pace <-chan time.Time
			if *floodRate > 0 {
				t := time.NewTicker(time.Duration(8 * float64(time.Second) / *floodRate))
				defer t.Stop()
				pace = t.C
			}
			for {
				if pace != nil {
					select {
					case <-stop:
						return
					case <-pace:
					}
				}
				select {
				case <-stop:
					return
				default:
				}
				i := next.Add(1)
				user := fmt.Sprint("ghost", i)
				if i%10 == 0 {
					user = fmt.Sprint("staff", i/10%8)
				}
				a := app.Actor{Addr: fmt.Sprintf("10.%d.%d.0/24", i>>8&255, i&255)}
				_, err := e.svc.StaffLogin(ctx, a, user, "wrong password!", "")
				attempts.Add(1)
				if fairslot.ErrorKind(err) == fairslot.Unauthorized {
					hashed.Add(1)
				}
			}
		})
	}
	// Measure the steady state: once the strangers' burst (50 hashes, a
	// one-off) is spent, or after 3 s.
	for deadline := time.Now().Add(3 * time.Second); hashed.Load() < 50 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	steadyFrom := hashed.Load()
	rateFlood, p50Flood := phase(b.N)
	hashedInPhase := hashed.Load() - steadyFrom
	close(stop)
	flood.Wait()
	b.StopTimer()
	b.ReportMetric(rateAlone, "bookings/s_alone")
	b.ReportMetric(rateFlood, "bookings/s_flood")
	b.ReportMetric(rateFlood/rateAlone, "rate_ratio")
	b.ReportMetric(float64(p50Alone.Microseconds())/1000, "p50_ms_alone")
	b.ReportMetric(float64(p50Flood.Microseconds())/1000, "p50_ms_flood")
	b.ReportMetric(float64(attempts.Load()), "wrong_logins")
	b.ReportMetric(float64(hashed.Load()), "wrong_logins_hashed")
	b.ReportMetric(float64(hashedInPhase), "hashed_while_booking")
}
