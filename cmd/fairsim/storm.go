package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// stormPerson is a simulated account with its patients.
type stormPerson struct {
	c        *apiclient.Client
	patients []int64
	scalper  bool
}

// StormReport is what release-storm measured.
type StormReport struct {
	Scenario   string             `json:"scenario"`
	Admission  bool               `json:"admission"`
	Humans     int                `json:"humans"`
	Groups     int                `json:"scalper_groups"`
	Accounts   int                `json:"accounts_per_group"`
	Patients   int                `json:"patients_per_account"`
	PollMs     int                `json:"poll_ms"`
	Storm      demo.Storm         `json:"storm"`
	Sessions   []SessionOutcome   `json:"sessions"`
	Requests   map[string]Summary `json:"requests"`
	SolvedBits map[string]float64 `json:"mean_challenge_bits"`
}

// SessionOutcome is who got a session's slots.
type SessionOutcome struct {
	Mode            string  `json:"mode"`
	SessionID       int64   `json:"session_id"`
	Slots           int     `json:"slots"`
	ByHumans        int     `json:"confirmed_by_humans"`
	ByScalpers      int     `json:"confirmed_by_scalpers"`
	HumanSuccess    float64 `json:"human_success_rate"`
	ScalperShare    float64 `json:"scalper_share_of_slots"`
	IdentityShare   float64 `json:"scalper_share_of_identities"`
	HumansEntered   int     `json:"humans_entered,omitempty"`
	ScalperEntries  int     `json:"scalper_entries,omitempty"`
	ExpectedLow95   float64 `json:"fair_share_low_95,omitempty"`
	ExpectedHigh95  float64 `json:"fair_share_high_95,omitempty"`
	WithinFairRange bool    `json:"within_fair_range,omitempty"`
}

func runStorm(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("release-storm", flag.ContinueOnError)
	var c common
	c.flags(fs)
	humans := fs.Int("humans", 300, "people, one account and one patient each")
	groups := fs.Int("groups", 4, "scalper groups, each on its own network")
	accounts := fs.Int("accounts", 10, "accounts per scalper group")
	patients := fs.Int("patients", 3, "patients (customers' identities) bound to each scalper account")
	poll := fs.Duration("poll", 10*time.Millisecond, "how often each scalper account polls and books")
	slots := fs.Int("slots", 40, "with --fairslot: slots in each storm session")
	window := fs.Duration("window", time.Minute, "with --fairslot: the draw's entry window (at least 1m)")
	seed := fs.Uint64("seed", 1, "random seed of the people's behaviour")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *humans < 1 || *groups < 0 || *accounts < 1 || *patients < 1 || *patients > 5 || *poll < time.Millisecond {
		return fmt.Errorf("need humans ≥ 1, patients 1 to 5, poll ≥ 1ms")
	}
	// The release must come after set-up: about 25 ms per account here.
	opensIn := 10*time.Second + time.Duration(*humans+*groups**accounts)*25*time.Millisecond
	t, err := c.start(ctx, "--sim-opens-in", opensIn.String(), "--sim-slots", fmt.Sprint(*slots), "--sim-window", window.String())
	if err != nil {
		return err
	}
	defer t.stop()
	storm, err := simSessions(ctx, t)
	if err != nil {
		return err
	}
	// A run is bounded: set-up, the window, the draw and the tally.
	ctx, cancel := context.WithDeadline(ctx, storm.EntryCloses.Add(3*time.Minute))
	defer cancel()

	fmt.Fprintf(stdout, "release-storm: %d people; %d scalper groups × %d accounts × %d patients, polling every %v; admission %v\n",
		*humans, *groups, *accounts, *patients, *poll, t.Admission)
	fmt.Fprintf(stdout, "storm sessions: draw %d and first come %d, %d slots each, release at %s\n",
		storm.DrawSession, storm.FirstComeSession, storm.Slots, storm.Opens.Format(time.TimeOnly))
	var people []*stormPerson
	for i := range *humans {
		people = append(people, &stormPerson{c: client(t.Public, addr(20+i/256, i%256, 1))})
	}
	for g := range *groups {
		for a := range *accounts {
			people = append(people, &stormPerson{c: client(t.Public, addr(10, g, 1+a)), scalper: true})
		}
	}
	start := time.Now()
	err = parallel(len(people), 8, func(i int) error {
		p := people[i]
		phone := fmt.Sprintf("139%08d", i)
		if p.scalper {
			phone = fmt.Sprintf("137%08d", i)
		}
		if err := login(ctx, p.c, t.Staff, phone); err != nil {
			return err
		}
		n := 1
		if p.scalper {
			n = *patients
		}
		for j := range n {
			id, err := bind(ctx, p.c, i*5+j)
			if err != nil {
				return err
			}
			p.patients = append(p.patients, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	fmt.Fprintf(stdout, "set-up: %d accounts signed in and their patients bound in %v\n", len(people), time.Since(start).Round(time.Millisecond))
	if time.Now().After(storm.Opens.Add(-time.Second)) {
		return fmt.Errorf("set-up ended after the release; lower --humans or start the server with a later --sim-opens-in")
	}

	rec := newRecorder()
	rnd := rand.New(rand.NewPCG(*seed, 7))
	var wg sync.WaitGroup
	for _, p := range people {
		if p.scalper {
			wg.Go(func() { scalp(ctx, rec, p, storm, *poll) })
			continue
		}
		fcAt := storm.Opens.Add(time.Duration(500+rnd.IntN(14500)) * time.Millisecond)
		drawAt := storm.Opens.Add(time.Duration(rnd.Int64N(int64(storm.EntryCloses.Sub(storm.Opens)) * 9 / 10)))
		think := time.Duration(1000+rnd.IntN(2000)) * time.Millisecond
		again := rnd.IntN(2) == 0
		wg.Go(func() { person(ctx, rec, p, storm, fcAt, drawAt, think, again) })
	}
	wg.Wait()

	// After the draw: everyone pays what they won, then the tally.
	if err := waitDrawn(ctx, t.Public, storm); err != nil {
		return err
	}
	parallel(len(people), 8, func(i int) error { payWins(ctx, rec, people[i]); return nil })
	report := StormReport{Scenario: "release-storm", Admission: t.Admission, Humans: *humans, Groups: *groups, Accounts: *accounts,
		Patients: *patients, PollMs: int(*poll / time.Millisecond), Storm: storm, SolvedBits: map[string]float64{}}
	report.Sessions, err = tally(ctx, people, storm)
	if err != nil {
		return err
	}
	report.Requests = rec.summaries()
	for _, class := range []bool{false, true} {
		solved, bits := 0, 0
		for _, p := range people {
			if p.scalper == class {
				solved += p.c.Solved
				bits += p.c.Bits
			}
		}
		if solved > 0 {
			report.SolvedBits[map[bool]string{false: "human", true: "scalper"}[class]] = float64(bits) / float64(solved)
		}
	}
	printStorm(stdout, report)
	return writeReport(c.out, "release-storm", report, stdout)
}

// scalp is one scalper account: from a second before the release it polls
// every poll, books every patient of its own first come and enters them all
// in the draw, paying at once whatever it holds.
func scalp(ctx context.Context, rec *recorder, p *stormPerson, storm demo.Storm, poll time.Duration) {
	waitUntil(ctx, storm.Opens.Add(-time.Second))
	booked := map[int64]bool{}
	entered := map[int64]bool{}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	stopFirstCome := storm.Opens.Add(20 * time.Second)
	for ctx.Err() == nil && time.Now().Before(storm.EntryCloses) {
		rec.timed(ctx, "scalper poll", p.c, "GET", fmt.Sprintf("/api/v1/sessions/%d", storm.FirstComeSession), nil, false, nil)
		for _, id := range p.patients {
			if !booked[id] && time.Now().Before(stopFirstCome) {
				resp, err := rec.timed(ctx, "scalper book", p.c, "POST", "/api/v1/bookings",
					map[string]int64{"session_id": storm.FirstComeSession, "patient_id": id}, true, nil)
				if err == nil && resp.Status == 201 {
					booked[id] = true
					pay(ctx, rec, "scalper pay", p.c, resp)
				}
				break // one booking attempt a tick
			}
			if !entered[id] && !time.Now().Before(storm.Opens) {
				resp, err := rec.timed(ctx, "scalper enter", p.c, "POST", fmt.Sprintf("/api/v1/sessions/%d/draw/entries", storm.DrawSession),
					map[string]int64{"patient_id": id}, true, nil)
				entered[id] = err == nil && (resp.Status == 201 || resp.Status == 200)
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// person opens the first-come session's page at fcAt, reads for think and
// taps book — once more a moment later if it failed and again is set —
// and pays; at drawAt it opens the draw's page and enters once.
func person(ctx context.Context, rec *recorder, p *stormPerson, storm demo.Storm, fcAt, drawAt time.Time, think time.Duration, again bool) {
	id := p.patients[0]
	var wg sync.WaitGroup
	wg.Go(func() {
		waitUntil(ctx, fcAt)
		rec.timed(ctx, "human page", p.c, "GET", fmt.Sprintf("/api/v1/sessions/%d", storm.FirstComeSession), nil, false, nil)
		waitUntil(ctx, time.Now().Add(think))
		for try := 0; try < 2; try++ {
			resp, err := rec.timed(ctx, "human book", p.c, "POST", "/api/v1/bookings",
				map[string]int64{"session_id": storm.FirstComeSession, "patient_id": id}, false, nil)
			if err == nil && resp.Status == 201 {
				pay(ctx, rec, "human pay", p.c, resp)
				return
			}
			if !again {
				return
			}
			waitUntil(ctx, time.Now().Add(think/2))
		}
	})
	wg.Go(func() {
		waitUntil(ctx, drawAt)
		rec.timed(ctx, "human page", p.c, "GET", fmt.Sprintf("/api/v1/sessions/%d/release", storm.DrawSession), nil, false, nil)
		waitUntil(ctx, time.Now().Add(think))
		rec.timed(ctx, "human enter", p.c, "POST", fmt.Sprintf("/api/v1/sessions/%d/draw/entries", storm.DrawSession),
			map[string]int64{"patient_id": id}, false, nil)
	})
	wg.Wait()
}

func pay(ctx context.Context, rec *recorder, name string, c *apiclient.Client, held *apiclient.Response) {
	var b struct{ ID int64 }
	if held.Decode(&b) != nil || b.ID == 0 {
		return
	}
	rec.timed(ctx, name, c, "POST", fmt.Sprintf("/api/v1/bookings/%d/pay", b.ID), nil, false,
		map[string]string{"Idempotency-Key": fmt.Sprint("pay-", b.ID)})
}

// waitDrawn waits for the server's sweep to run the draw after its window.
func waitDrawn(ctx context.Context, base string, storm demo.Storm) error {
	waitUntil(ctx, storm.EntryCloses)
	c := &apiclient.Client{Base: base}
	for ctx.Err() == nil {
		resp, err := c.Do(ctx, "GET", fmt.Sprintf("/api/v1/sessions/%d/release", storm.DrawSession), nil, nil, false)
		var rel struct{ Drawn time.Time }
		if err == nil && resp.Status == 200 && resp.Decode(&rel) == nil && !rel.Drawn.IsZero() {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the draw of session %d did not run: %w", storm.DrawSession, ctx.Err())
}

// payWins pays the held bookings the draw gave an account's patients.
func payWins(ctx context.Context, rec *recorder, p *stormPerson) {
	resp, err := patiently(ctx, p.c, "GET", "/api/v1/entries", nil, 200)
	if err != nil {
		return
	}
	var out struct {
		Entries []struct {
			BookingID int64 `json:"booking_id"`
		}
	}
	resp.Decode(&out)
	class := map[bool]string{false: "human pay", true: "scalper pay"}[p.scalper]
	for _, e := range out.Entries {
		if e.BookingID != 0 {
			rec.timed(ctx, class, p.c, "POST", fmt.Sprintf("/api/v1/bookings/%d/pay", e.BookingID), nil, false,
				map[string]string{"Idempotency-Key": fmt.Sprint("pay-", e.BookingID)})
		}
	}
}

// tally counts each session's confirmed bookings by class, from what every
// account sees of its own bookings and entries.
func tally(ctx context.Context, people []*stormPerson, storm demo.Storm) ([]SessionOutcome, error) {
	out := []SessionOutcome{{Mode: "draw", SessionID: storm.DrawSession, Slots: storm.Slots},
		{Mode: "first_come", SessionID: storm.FirstComeSession, Slots: storm.Slots}}
	humans, scalperIDs := 0, 0
	var mu sync.Mutex
	err := parallel(len(people), 8, func(i int) error {
		p := people[i]
		resp, err := patiently(ctx, p.c, "GET", "/api/v1/bookings", nil, 200)
		if err != nil {
			return err
		}
		var bs struct {
			Bookings []struct {
				SessionID int64  `json:"session_id"`
				Status    string `json:"status"`
			}
		}
		resp.Decode(&bs)
		resp, err = patiently(ctx, p.c, "GET", "/api/v1/entries", nil, 200)
		if err != nil {
			return err
		}
		var es struct{ Entries []struct{} }
		resp.Decode(&es)
		mu.Lock()
		defer mu.Unlock()
		if p.scalper {
			scalperIDs += len(p.patients)
			out[0].ScalperEntries += len(es.Entries)
		} else {
			humans++
			out[0].HumansEntered += len(es.Entries)
		}
		for _, b := range bs.Bookings {
			for k := range out {
				if b.SessionID == out[k].SessionID && b.Status == "confirmed" {
					if p.scalper {
						out[k].ByScalpers++
					} else {
						out[k].ByHumans++
					}
				}
			}
		}
		return nil
	})
	for k := range out {
		o := &out[k]
		o.HumanSuccess = float64(o.ByHumans) / float64(humans)
		if n := o.ByHumans + o.ByScalpers; n > 0 {
			o.ScalperShare = float64(o.ByScalpers) / float64(n)
		}
		o.IdentityShare = float64(scalperIDs) / float64(scalperIDs+humans)
	}
	// For the draw, the fair share is the scalpers' share of the entries;
	// with n slots drawn, 95% of fair draws give a share within about two
	// binomial standard deviations of it.
	d := &out[0]
	if e := d.HumansEntered + d.ScalperEntries; e > 0 {
		d.IdentityShare = float64(d.ScalperEntries) / float64(e)
		n := float64(d.ByHumans + d.ByScalpers)
		sd := math.Sqrt(d.IdentityShare * (1 - d.IdentityShare) / max(n, 1))
		d.ExpectedLow95, d.ExpectedHigh95 = max(0, d.IdentityShare-1.96*sd), min(1, d.IdentityShare+1.96*sd)
		d.WithinFairRange = d.ScalperShare >= d.ExpectedLow95 && d.ScalperShare <= d.ExpectedHigh95
	}
	return out, err
}

func printStorm(w io.Writer, r StormReport) {
	fmt.Fprintln(w)
	for _, s := range r.Sessions {
		fmt.Fprintf(w, "%-10s session %d: %d slots; confirmed by people %d, by scalpers %d\n", s.Mode, s.SessionID, s.Slots, s.ByHumans, s.ByScalpers)
		fmt.Fprintf(w, "           people's success %.1f%%; scalpers' share of slots %.1f%% vs of identities %.1f%%",
			100*s.HumanSuccess, 100*s.ScalperShare, 100*s.IdentityShare)
		if s.Mode == "draw" {
			fmt.Fprintf(w, " (a fair draw: %.1f%%–%.1f%%; entries: people %d, scalpers %d)", 100*s.ExpectedLow95, 100*s.ExpectedHigh95, s.HumansEntered, s.ScalperEntries)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%-15s %7s %7s %9s %9s %9s  %s\n", "requests", "n", "2xx", "p50 ms", "p99 ms", "max ms", "answers")
	for _, name := range []string{"human page", "human book", "human enter", "human pay", "scalper poll", "scalper book", "scalper enter", "scalper pay"} {
		s, ok := r.Requests[name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%-15s %7d %7d %9.1f %9.1f %9.1f  %v\n", name, s.N, s.OK, s.P50ms, s.P99ms, s.MaxMs, s.Codes)
	}
	fmt.Fprintf(w, "mean challenge difficulty solved (bits): %v\n", r.SolvedBits)
}

func waitUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}
