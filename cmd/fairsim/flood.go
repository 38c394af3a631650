package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// staffWork is the hospital floor's work during a phase, as open-loop
// arrivals so that a slow server cannot hide behind fewer requests.
type staffWork struct {
	checkIns   chan [2]string // booking code, last 4 of the ID number
	sessions   []int64
	desk, doc  *apiclient.Client
	walkInNext atomic.Int64
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
	// The rooms' calls come from the demo's nurse: the demo doctor's login
	// acts only on its own doctor record's sessions (issue 12), and the
	// floor's three clinics are three other doctors'. A nurse calls and
	// completes through the same use cases.
	if w.doc, err = staffLogin(ctx, t.Staff, "nurse"); err != nil {
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
	// The floor's requests overlap (each arrives on its own clock): keep
	// enough connections that they do not open new ones as they go.
	c.HTTP.Transport.(*http.Transport).MaxIdleConnsPerHost = 32
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
