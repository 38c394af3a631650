package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// FloodReport is what flood measured.
type FloodReport struct {
	Scenario    string             `json:"scenario"`
	Admission   bool               `json:"admission"`
	Seconds     float64            `json:"seconds_per_phase"`
	Workers     int                `json:"flood_workers"`
	Networks    int                `json:"flood_networks"`
	Quiet       Summary            `json:"staff_quiet"`
	Flooded     Summary            `json:"staff_flooded"`
	P99Ratio    float64            `json:"staff_p99_flooded_over_quiet"`
	Staff       map[string]Summary `json:"staff_requests"`
	Flood       map[int]int64      `json:"flood_answers"` // status → count; 0: no answer
	FloodRate   float64            `json:"flood_requests_per_second"`
	Peak        Peak               `json:"server_peak"`
	AliveAfter  bool               `json:"server_alive_after"`
	StaffFailed int                `json:"staff_failed"`
}

// staffWork is the hospital floor's work during a phase, as open-loop
// arrivals so that a slow server cannot hide behind fewer requests.
type staffWork struct {
	checkIns   chan [2]string // booking code, last 4 of the ID number
	sessions   []int64
	desk, doc  *apiclient.Client
	walkInNext atomic.Int64
}

func runFlood(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	var c common
	c.flags(fs)
	seconds := fs.Duration("duration", 15*time.Second, "length of each phase: quiet, then flooded")
	workers := fs.Int("workers", 64, "flood workers, each sending as fast as it is answered")
	networks := fs.Int("networks", 1024, "address prefixes (/24) the flood comes from, shared round-robin among the workers: a botnet's spread")
	checkIns := fs.Float64("check-ins", 3, "kiosk check-ins per second")
	walkIns := fs.Float64("walk-ins", 1, "desk walk-in registrations per second")
	calls := fs.Float64("calls", 2, "doctor calls (call next, then complete) per second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seconds < time.Second || *seconds > 5*time.Minute || *workers < 1 || *workers > 4096 || *networks < 1 || *networks > 65536 {
		return fmt.Errorf("need 1s ≤ duration ≤ 5m, 1 ≤ workers ≤ 4096 and 1 ≤ networks ≤ 65536")
	}
	t, err := c.start(ctx, "--sim-opens-in", "1h")
	if err != nil {
		return err
	}
	defer t.stop()
	ctx, cancel := context.WithTimeout(ctx, 2**seconds+3*time.Minute)
	defer cancel()
	fmt.Fprintf(stdout, "flood: %v quiet, then %v with %d flood workers from %d networks; staff: %.1f check-ins/s, %.1f walk-ins/s, %.1f calls/s; admission %v\n",
		*seconds, *seconds, *workers, *networks, *checkIns, *walkIns, *calls, t.Admission)

	w, err := floodSetup(ctx, t, int(2**checkIns*seconds.Seconds())+30)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	rec := newRecorder()
	phase := func(name string, flood bool) (map[int]int64, int64) {
		pctx, stop := context.WithTimeout(ctx, *seconds)
		defer stop()
		var wg sync.WaitGroup
		answers := make([]map[int]int64, *workers)
		var total atomic.Int64
		if flood {
			for i := range *workers {
				answers[i] = map[int]int64{}
				wg.Go(func() { floodWorker(pctx, t.Public, i, *workers, *networks, answers[i], &total) })
			}
		}
		w.warmUp(ctx)
		wg.Go(func() { w.run(pctx, rec, name, *checkIns, *walkIns, *calls) })
		wg.Wait()
		merged := map[int]int64{}
		for _, a := range answers {
			for code, n := range a {
				merged[code] += n
			}
		}
		return merged, total.Load()
	}
	phase("quiet", false)
	peakCtx, stopWatch := context.WithCancel(ctx)
	peak := watch(peakCtx, t.Metrics)
	answers, total := phase("flooded", true)
	stopWatch()
	report := FloodReport{Scenario: "flood", Admission: t.Admission, Seconds: seconds.Seconds(), Workers: *workers, Networks: *networks,
		Quiet: rec.all("quiet "), Flooded: rec.all("flooded "), Staff: rec.summaries(), Flood: answers,
		FloodRate: float64(total) / seconds.Seconds(), Peak: peak(), AliveAfter: t.alive()}
	if report.Quiet.P99ms > 0 {
		report.P99Ratio = report.Flooded.P99ms / report.Quiet.P99ms
	}
	report.StaffFailed = report.Quiet.N - report.Quiet.OK + report.Flooded.N - report.Flooded.OK
	printFlood(stdout, report)
	return writeReport(c.out, "flood", report, stdout)
}

// floodSetup signs the desk and a doctor in on the internal listener and
// books and pays n patients into the simulation's floor sessions, for the
// kiosks to check in.
func floodSetup(ctx context.Context, t *target, n int) (*staffWork, error) {
	accounts := (n + 4) / 5
	w := &staffWork{checkIns: make(chan [2]string, accounts*5)}
	var err error
	if w.desk, err = staffLogin(ctx, t.Staff, "desk"); err != nil {
		return nil, err
	}
	if w.doc, err = staffLogin(ctx, t.Staff, "doctor"); err != nil {
		return nil, err
	}
	// The simulation's own sessions of the floor, running from the server's
	// start whatever the hour (the demo's own fill up by the evening).
	storm, err := simSessions(ctx, t)
	if err != nil {
		return nil, err
	}
	w.sessions = storm.FloorSessions
	if len(w.sessions) == 0 {
		return nil, fmt.Errorf("the server has no floor sessions: is it a current 'fairslot serve --demo --sim'?")
	}
	err = parallel(accounts, 8, func(a int) error {
		c := client(t.Public, addr(31+a/256, a%256, 1))
		if err := login(ctx, c, t.Staff, fmt.Sprintf("136%08d", a)); err != nil {
			return err
		}
		for j := range 5 {
			k := a*5 + j
			id, err := bind(ctx, c, 500_000+k)
			if err != nil {
				return err
			}
			held, err := patiently(ctx, c, "POST", "/api/v1/bookings", map[string]int64{"session_id": w.sessions[k%len(w.sessions)], "patient_id": id}, 201)
			if err != nil {
				return err
			}
			var b struct{ ID int64 }
			held.Decode(&b)
			paid, err := patiently(ctx, c, "POST", fmt.Sprintf("/api/v1/bookings/%d/pay", b.ID), nil, 200, map[string]string{"Idempotency-Key": fmt.Sprint("pay-", b.ID)})
			if err != nil {
				return err
			}
			var p struct{ Code string }
			paid.Decode(&p)
			idn := residentID(500_000 + k)
			w.checkIns <- [2]string{p.Code, idn[len(idn)-4:]}
		}
		return nil
	})
	return w, err
}

func staffLogin(ctx context.Context, staffURL, user string) (*apiclient.Client, error) {
	c := client(staffURL, addr(0, 0, 1))
	resp, err := patiently(ctx, c, "POST", "/api/v1/staff/login", map[string]string{"username": user, "password": demo.Password}, 200)
	if err != nil {
		return nil, err
	}
	var out struct{ Token string }
	resp.Decode(&out)
	c.Token = out.Token
	return c, nil
}

// warmUp checks a few patients in before a phase (unmeasured), so that the
// doctors' first calls find someone waiting.
func (w *staffWork) warmUp(ctx context.Context) {
	for range 3 * len(w.sessions) {
		select {
		case ci := <-w.checkIns:
			patiently(ctx, w.desk, "POST", "/api/v1/staff/check-in", map[string]string{"code": ci[0], "id_last4": ci[1]}, 200)
		default:
		}
	}
}

// run sends the phase's staff work until ctx ends: each kind at its rate,
// each request in its own goroutine, recorded as "<phase> <kind>".
func (w *staffWork) run(ctx context.Context, rec *recorder, phase string, checkIns, walkIns, calls float64) {
	var wg sync.WaitGroup
	every := func(rate float64, fn func()) {
		if rate <= 0 {
			return
		}
		wg.Go(func() {
			tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					wg.Go(fn)
				}
			}
		})
	}
	bg := context.WithoutCancel(ctx) // a request started in the phase is seen to its end
	every(checkIns, func() {
		select {
		case ci := <-w.checkIns:
			rec.timed(bg, phase+" check-in", w.desk, "POST", "/api/v1/staff/check-in", map[string]string{"code": ci[0], "id_last4": ci[1]}, false, nil)
		default:
		}
	})
	every(walkIns, func() {
		n := int(w.walkInNext.Add(1))
		rec.timed(bg, phase+" walk-in", w.desk, "POST", "/api/v1/staff/walk-ins", map[string]any{
			"session_id": w.sessions[n%len(w.sessions)], "priority": "elderly",
			"patient": map[string]string{"name": fmt.Sprintf("现场%d", n), "id_type": "cn_resident", "id_number": residentID(700_000 + n)}}, false, nil)
	})
	var callNo atomic.Int64
	every(calls, func() {
		s := w.sessions[int(callNo.Add(1))%len(w.sessions)]
		resp, err := rec.timed(bg, phase+" call-next", w.doc, "POST", fmt.Sprintf("/api/v1/staff/sessions/%d/call-next", s), nil, false, nil)
		var item struct {
			BookingID int64 `json:"booking_id"`
		}
		if err == nil && resp.Status == 200 && resp.Decode(&item) == nil && item.BookingID != 0 {
			rec.timed(bg, phase+" complete", w.doc, "POST", fmt.Sprintf("/api/v1/staff/bookings/%d/complete", item.BookingID), nil, false, nil)
		}
	})
	<-ctx.Done()
	wg.Wait()
}

// floodWorker sends junk and real-looking public requests as fast as they
// are answered, from its share of the flood's networks in turn, until ctx
// ends.
func floodWorker(ctx context.Context, public string, i, workers, networks int, answers map[int]int64, total *atomic.Int64) {
	var cs []*apiclient.Client
	for n := i % networks; n < networks; n += workers {
		cs = append(cs, client(public, addr(100+n/256, n%256, 1)))
		if networks < workers {
			break // fewer networks than workers: several workers share one
		}
	}
	rnd := rand.New(rand.NewPCG(uint64(i), 11))
	for k := 0; ctx.Err() == nil; k++ {
		c := cs[k%len(cs)]
		var resp *apiclient.Response
		var err error
		switch k := rnd.IntN(10); {
		case k < 3: // browsing the catalogue
			resp, err = c.Do(ctx, "GET", fmt.Sprintf("/api/v1/departments/%d/sessions", 1+rnd.IntN(7)), nil, nil, false)
		case k < 5:
			resp, err = c.Do(ctx, "GET", fmt.Sprintf("/api/v1/sessions/%d", 1+rnd.IntN(300)), nil, nil, false)
		case k < 7: // booking with a made-up token
			c.Token = fmt.Sprintf("forged-%d", rnd.Int())
			resp, err = c.Do(ctx, "POST", "/api/v1/bookings", map[string]int{"session_id": 1, "patient_id": 1}, nil, false)
			c.Token = ""
		case k < 8: // login codes for random phones
			resp, err = c.Do(ctx, "POST", "/api/v1/auth/code", map[string]string{"phone": fmt.Sprintf("135%08d", rnd.IntN(1e8))}, nil, false)
		case k < 9:
			resp, err = c.Do(ctx, "GET", fmt.Sprintf("/wp-login.php?x=%d", rnd.Int()), nil, nil, false)
		default:
			resp, err = c.Do(ctx, "GET", "/api/v1/departments", nil, nil, false)
		}
		code := 0
		if err == nil {
			code = resp.Status
		} else if ctx.Err() != nil {
			return // cut off by the phase's end, not a failure of the server
		}
		answers[code]++
		total.Add(1)
	}
}

func printFlood(w io.Writer, r FloodReport) {
	fmt.Fprintf(w, "\n%-22s %6s %6s %9s %9s %9s  %s\n", "staff requests", "n", "2xx", "p50 ms", "p99 ms", "max ms", "answers")
	for _, name := range []string{"quiet check-in", "quiet walk-in", "quiet call-next", "quiet complete",
		"flooded check-in", "flooded walk-in", "flooded call-next", "flooded complete"} {
		if s, ok := r.Staff[name]; ok {
			fmt.Fprintf(w, "%-22s %6d %6d %9.1f %9.1f %9.1f  %v\n", name, s.N, s.OK, s.P50ms, s.P99ms, s.MaxMs, s.Codes)
		}
	}
	fmt.Fprintf(w, "staff, all: quiet %d/%d ok, p99 %.1f ms; flooded %d/%d ok (%.2f%%), p99 %.1f ms; p99 ratio %.2f\n",
		r.Quiet.OK, r.Quiet.N, r.Quiet.P99ms, r.Flooded.OK, r.Flooded.N, 100*r.Flooded.Success, r.Flooded.P99ms, r.P99Ratio)
	fmt.Fprintf(w, "flood: %.0f requests/s; answers %v\n", r.FloodRate, r.Flood)
	fmt.Fprintf(w, "server: peak RSS %.1f MB, peak goroutines %.0f (%d samples); alive after: %v\n", r.Peak.RSSMB, r.Peak.Goroutines, r.Peak.Samples, r.AliveAfter)
}
