package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// stormPerson is a simulated account with its patients.
type stormPerson struct {
	actor
	c        *apiclient.Client
	account  int64   // its id on the server
	refresh  string  // its refresh token
	patients []int64 // bound now, oldest first
	scalper  bool
	bound    int // identities it has bound so far (its next one's number)
}

// identity is the number of the n-th identity actor a binds, for
// residentID: people's from 0, scalpers' customers and buyers from 1,000,000.
func identity(a actor, n int) int {
	if a.Scalper() {
		return 1_000_000 + a.Index*200 + n
	}
	return a.Index*5 + n
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
	Knobs      map[string]any     `json:"knobs"`
	Storm      demo.Storm         `json:"storm"`
	Sessions   []SessionOutcome   `json:"sessions"`
	Resale     Resale             `json:"resale"`
	Requests   map[string]Summary `json:"requests"`
	SolvedBits map[string]float64 `json:"mean_challenge_bits"`
	// Risk is what the risk monitor decided, read at the end of the run;
	// RiskBeforeSecond as read a moment before the second release.
	Risk             RiskReport  `json:"risk"`
	RiskBeforeSecond *RiskReport `json:"risk_before_second_release,omitempty"`
}

// Resale counts the scalpers' cancel-and-rebook: a won place cancelled
// and booked again at once under the buyer's identity, bound for it.
type Resale struct {
	Tried      int `json:"tried"`
	BuyerBound int `json:"buyer_bound"`
	Cancelled  int `json:"cancelled"`
	Rebooked   int `json:"rebooked"`
}

// SessionOutcome is who got a session's slots.
type SessionOutcome struct {
	Release         int     `json:"release"` // 1 or 2
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
	var o castOptions
	fs.IntVar(&o.People, "humans", 1000, "people, one account each")
	fs.Float64Var(&o.Families, "families", 0.10, "share of people who bind 2 to 4 family members on their one account")
	fs.Float64Var(&o.NightOwls, "night-owls", 0.05, "share of people who bind their patients at night (1 a.m.), once")
	fs.Float64Var(&o.SharedWiFi, "shared-wifi", 0.30, "share of people behind a shared Wi-Fi's address prefix (a hospital's, a housing block's)")
	fs.IntVar(&o.WiFis, "wifis", 4, "shared Wi-Fi prefixes (1 to 50)")
	fs.Float64Var(&o.Cancellers, "cancellers", 0.03, "share of people who cancel a place they won, after the first release")
	fs.IntVar(&o.Groups, "groups", 4, "scalper groups, each on its own network (I1: 4)")
	fs.IntVar(&o.Phones, "phones", 10, "phones (device cookies) per scalper group; the group's accounts share them and move to the next phone on the second day")
	fs.IntVar(&o.Accounts, "accounts", 30, "accounts per scalper group")
	fs.IntVar(&o.Customers, "patients", 3, "customers' identities each scalper account binds at 1 a.m., each night (1 to 5)")
	resell := fs.Float64("resell", 1, "share of the places scalpers win that they resell: bind the buyer, cancel, book again under the buyer")
	poll := fs.Duration("poll", 10*time.Millisecond, "how often each scalper account polls and books")
	slots := fs.Int("slots", 40, "with --fairslot: slots in each storm session")
	window := fs.Duration("window", time.Minute, "with --fairslot: the draw's entry window (at least 1m)")
	clockAt := fs.String("clock", "18:00", "with --fairslot: the server's clock starts at this hospital time; people sign up and bind through the evening")
	nightAt := fs.String("night", "01:00", "the hospital time scalpers (and night owls) bind customers' identities")
	releaseAt := fs.String("release", "07:00", "with --fairslot: the hospital time the famous doctor's sessions are released, on two mornings")
	speed := fs.Float64("speed", 1, "with --fairslot: the server's clock runs this many times as fast as real time (the simulator also moves it forward between phases)")
	second := fs.Bool("second-storm", true, "run the second release's storm too (else stop just before it: the targets are measured by then)")
	flaggedAt := fs.String("flagged-at", "limit", "an account counts as flagged once its risk action reaches this: challenge, limit, hold or block")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed of the people's behaviour")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.People < 1 || o.People > 40_000 || o.Groups < 0 || o.Groups > 200 || o.Accounts < 1 || o.Phones < 1 || o.Customers < 1 || o.Customers > 5 ||
		o.WiFis < 1 || o.WiFis > 50 || *poll < time.Millisecond {
		return fmt.Errorf("need humans 1 to 40000, groups 0 to 200, accounts ≥ 1, phones ≥ 1, patients 1 to 5, wifis 1 to 50, poll ≥ 1ms")
	}
	for _, f := range []float64{o.Families, o.NightOwls, o.SharedWiFi, o.Cancellers, *resell} {
		if f < 0 || f > 1 {
			return fmt.Errorf("shares (--families, --night-owls, --shared-wifi, --cancellers, --resell) are from 0 to 1")
		}
	}
	if severity(*flaggedAt) == 0 {
		return fmt.Errorf("--flagged-at is challenge, limit, hold or block, not %q", *flaggedAt)
	}
	opensIn, err1 := hhmmGap(*clockAt, *releaseAt)
	nightBefore, err2 := hhmmGap(*nightAt, *releaseAt)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if nightBefore >= opensIn {
		return fmt.Errorf("--night (%s) must come between --clock (%s) and --release (%s)", *nightAt, *clockAt, *releaseAt)
	}
	t, err := c.start(ctx, "--sim-clock", *clockAt, "--sim-speed", fmt.Sprint(*speed), "--sim-opens-in", opensIn.String(),
		"--sim-reopens-in", "24h", "--sim-slots", fmt.Sprint(*slots), "--sim-window", window.String())
	if err != nil {
		return err
	}
	defer t.stop()
	storm, err := simSessions(ctx, t)
	if err != nil {
		return err
	}
	clk, err := readClock(ctx, t.Staff)
	if err != nil {
		return err
	}
	rels := storm.Releases()
	// A run is bounded: each phase has its own bound below, and the whole
	// run this one.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute+time.Duration(len(rels))*clk.realFor(rels[0].EntryCloses.Sub(rels[0].Opens)))
	defer cancel()

	actors := cast(o)
	fmt.Fprintf(stdout, "release-storm: %d people (families %.0f%%, night owls %.0f%%, shared Wi-Fi %.0f%% on %d prefixes, cancellers %.0f%%); "+
		"%d scalper groups × %d accounts on %d phones, %d customers an account a night, polling every %v; admission %v\n",
		o.People, 100*o.Families, 100*o.NightOwls, 100*o.SharedWiFi, o.WiFis, 100*o.Cancellers, o.Groups, o.Accounts, o.Phones, o.Customers, *poll, t.Admission)
	for k, r := range rels {
		fmt.Fprintf(stdout, "release %d: draw %d and first come %d, %d slots each, at %s hospital time\n", k+1, r.DrawSession, r.FirstComeSession,
			storm.Slots, r.Opens.Format("2006-01-02 15:04"))
	}
	if len(rels) < 2 {
		fmt.Fprintln(stdout, "the server has one release: the risk targets are measured at the end of the run")
	}
	fmt.Fprintln(stdout, "payer: each person pays from their own wallet account, each scalper group from one for all its accounts (the sandbox is told the payer with each payment)")

	// Evening: everyone signs up; people who are not night owls bind.
	people := make([]*stormPerson, len(actors))
	phones := make([][]string, o.Groups)
	for g := range o.Groups {
		for k := range o.Phones {
			pc := client(t.Public, addr(10, g, 1+k%250))
			pc.Do(ctx, "GET", "/api/v1/challenge", nil, nil, false) // the door issues the phone its device cookie
			if pc.Device == "" {
				pc.Device = fmt.Sprintf("sim-phone-%d-%d", g, k) // front door off: the API names the device as sent
			}
			phones[g] = append(phones[g], pc.Device)
		}
	}
	// People sign up over the evening, not all in one minute: a batch at a
	// time, the server's clock moved on between batches (a hospital's
	// Wi-Fi is one network to the login codes' limits, as it is to any
	// limit keyed on an address).
	const batch = 100
	batches := (len(actors) + batch - 1) / batch
	step := min(15*time.Minute, (opensIn-nightBefore-time.Hour)/time.Duration(max(batches, 1)))
	start := time.Now()
	err = inBatches(len(actors), batch, func(b int) error {
		if b == 0 || step <= 0 {
			return nil
		}
		return clk.advance(ctx, t.Staff, clk.now().Add(step))
	}, func(i int) error {
		a := actors[i]
		p := &stormPerson{actor: a, c: client(t.Public, addr(int(a.Net[0]), int(a.Net[1]), int(a.Net[2]))), scalper: a.Scalper()}
		people[i] = p
		phone := fmt.Sprintf("139%08d", i)
		if p.scalper {
			p.c.Device = phones[a.Group][a.Phone]
			phone = fmt.Sprintf("137%08d", i)
		}
		in, err := patientLogin(ctx, p.c, t.Staff, phone)
		if err != nil {
			return err
		}
		p.account, p.refresh = in.Account.ID, in.Refresh
		if p.scalper || a.Night {
			return nil
		}
		return p.bindNew(ctx, a.Patients)
	})
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	fmt.Fprintf(stdout, "evening (until %s): %d accounts signed up, people's patients bound, in %v\n", clk.now().Format("15:04"), len(people), time.Since(start).Round(time.Millisecond))

	// Night: scalpers bind their customers' identities, night owls theirs.
	rec := newRecorder()
	night := func(k int) error {
		at := rels[k].Opens.Add(-nightBefore)
		if err := clk.advance(ctx, t.Staff, at); err != nil {
			return err
		}
		if now := clk.now(); now.Sub(at) > 30*time.Minute {
			return fmt.Errorf("the server's clock reads %v, past the night's %v: the set-up took too long for --night", now, at)
		}
		if err := refreshAll(ctx, people); err != nil {
			return err
		}
		start := time.Now()
		err := parallel(len(people), 8, func(i int) error {
			p := people[i]
			switch {
			case p.scalper && k > 0:
				// The next day: another phone, any customer still bound
				// unbound, new customers bound.
				p.c.Device = phones[p.Group][(p.Phone+k)%o.Phones]
				p.unbindAll(ctx, rec)
				return p.bindNew(ctx, min(p.Patients, 5-len(p.patients)))
			case p.scalper:
				return p.bindNew(ctx, p.Patients)
			case p.Night && k == 0:
				return p.bindNew(ctx, p.Patients)
			}
			return nil
		})
		fmt.Fprintf(stdout, "night %d (%s): identities bound in %v\n", k+1, clk.now().Format("2006-01-02 15:04"), time.Since(start).Round(time.Millisecond))
		return err
	}
	if err := night(0); err != nil {
		return fmt.Errorf("night 1: %w", err)
	}

	report := StormReport{Scenario: "release-storm", Admission: t.Admission, Humans: o.People, Groups: o.Groups, Accounts: o.Accounts,
		Patients: o.Customers, PollMs: int(*poll / time.Millisecond), Storm: storm, SolvedBits: map[string]float64{},
		Knobs: map[string]any{"families": o.Families, "night_owls": o.NightOwls, "shared_wifi": o.SharedWiFi, "wifis": o.WiFis,
			"cancellers": o.Cancellers, "phones": o.Phones, "resell": *resell, "clock": *clockAt, "night": *nightAt, "release": *releaseAt,
			"speed": *speed, "flagged_at": *flaggedAt, "seed": o.Seed, "slots": storm.Slots, "window": window.String()}}
	rnd := rand.New(rand.NewPCG(o.Seed, 7))
	// The security officer reads the risk decisions, signing in afresh
	// each time: the clock's jumps outlive a staff session.
	readRisk := func() ([]riskAccount, error) {
		staff, err := staffLogin(ctx, t.Staff, "security")
		if err != nil {
			return nil, fmt.Errorf("the security officer's login: %w", err)
		}
		return fetchRisk(ctx, staff)
	}
	storms := 0
	for k, r := range rels {
		if k > 0 {
			if err := night(k); err != nil {
				return fmt.Errorf("night %d: %w", k+1, err)
			}
		}
		// A moment before the release: tokens renewed (the night's jump
		// expired them), and, before the second, the risk read.
		lead := 10*time.Second + time.Duration(len(people))*10*time.Millisecond
		if err := clk.advance(ctx, t.Staff, r.Opens.Add(-clk.simFor(lead))); err != nil {
			return err
		}
		if err := refreshAll(ctx, people); err != nil {
			return err
		}
		if k == 1 {
			if answer, err := readRisk(); err == nil {
				before := tallyRiskAll(actors, accountIDs(people), answer, []time.Time{rels[0].Opens, rels[1].Opens}, *flaggedAt)
				report.RiskBeforeSecond = &before
				printBefore(stdout, before)
			} else {
				fmt.Fprintf(stdout, "risk before release 2: %v\n", err)
			}
			if !*second {
				break
			}
		}
		real := clk.inReal(r)
		if time.Now().After(real.Opens.Add(-time.Second)) {
			return fmt.Errorf("release %d came before its set-up ended; lower --humans", k+1)
		}
		// Bots stop at the window's close, even in the middle of a
		// challenge: a risky account's are hard, and solving one could
		// outlast the run.
		botCtx, stopBots := context.WithDeadline(ctx, real.EntryCloses)
		var wg sync.WaitGroup
		for _, p := range people {
			if p.scalper {
				if len(p.patients) > 0 {
					wg.Go(func() { scalp(botCtx, rec, p, real, *poll) })
				}
				continue
			}
			fcAt := real.Opens.Add(time.Duration(500+rnd.IntN(14500)) * time.Millisecond)
			drawAt := real.Opens.Add(time.Duration(rnd.Int64N(int64(real.EntryCloses.Sub(real.Opens)) * 9 / 10)))
			think := time.Duration(1000+rnd.IntN(2000)) * time.Millisecond
			again := rnd.IntN(2) == 0
			if len(p.patients) > 0 {
				wg.Go(func() { person(ctx, rec, p, real, fcAt, drawAt, think, again) })
			}
		}
		wg.Wait()
		stopBots()
		// After the draw: everyone pays what they won.
		if err := waitDrawn(ctx, t.Public, real); err != nil {
			return err
		}
		storms++
		parallel(len(people), 8, func(i int) error { payWins(ctx, rec, people[i]); return nil })
		fmt.Fprintf(stdout, "release %d (%s): storm over, the draw run and its wins paid\n", k+1, clk.now().Format("2006-01-02 15:04"))
		if k == 0 {
			// The morning after the first release: scalpers resell what they
			// won, some people cancel.
			var mu sync.Mutex
			parallel(len(people), 8, func(i int) error {
				p := people[i]
				if p.scalper {
					got := p.resell(ctx, rec, r, *resell, rnd.Float64)
					// Done with this batch: the customers (and buyers) go,
					// making room for the next night's; their places stay
					// theirs.
					p.unbindAll(ctx, rec)
					mu.Lock()
					report.Resale.Tried += got.Tried
					report.Resale.BuyerBound += got.BuyerBound
					report.Resale.Cancelled += got.Cancelled
					report.Resale.Rebooked += got.Rebooked
					mu.Unlock()
				} else if p.Cancels {
					p.cancelOne(ctx, rec, r)
				}
				return nil
			})
			fmt.Fprintf(stdout, "resale: %d places put up, %d buyers bound, %d cancelled, %d booked again under the buyer\n",
				report.Resale.Tried, report.Resale.BuyerBound, report.Resale.Cancelled, report.Resale.Rebooked)
		}
	}
	report.Sessions, err = tally(ctx, people, rels[:storms], storm.Slots)
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
	var opens []time.Time
	for _, r := range rels {
		opens = append(opens, r.Opens)
	}
	if answer, err := readRisk(); err == nil {
		report.Risk = tallyRiskAll(actors, accountIDs(people), answer, opens, *flaggedAt)
	} else {
		report.Risk = RiskReport{Endpoint: riskPath, FlaggedAt: *flaggedAt, Releases: opens, Error: err.Error()}
	}
	printStorm(stdout, report)
	printRisk(stdout, report.Risk)
	return writeReport(c.out, "release-storm", report, stdout)
}

// inBatches runs fn for 0..n-1, size at a time on 8 workers, calling
// between(k) before the k-th batch; the first error ends it.
func inBatches(n, size int, between func(k int) error, fn func(i int) error) error {
	for k, b := 0, 0; b < n; k, b = k+1, b+size {
		if err := between(k); err != nil {
			return err
		}
		if err := parallel(min(size, n-b), 8, func(j int) error { return fn(b + j) }); err != nil {
			return err
		}
	}
	return nil
}

// hhmmGap is how long after the hospital time from the next to comes.
func hhmmGap(from, to string) (time.Duration, error) {
	f, err1 := time.Parse("15:04", from)
	t, err2 := time.Parse("15:04", to)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("times of day are hh:mm, like 07:00: %q, %q", from, to)
	}
	d := t.Sub(f)
	if d <= 0 {
		d += 24 * time.Hour
	}
	return d, nil
}

func accountIDs(people []*stormPerson) []int64 {
	out := make([]int64, len(people))
	for i, p := range people {
		out[i] = p.account
	}
	return out
}

// refreshAll renews every account's access token.
func refreshAll(ctx context.Context, people []*stormPerson) error {
	return parallel(len(people), 8, func(i int) error {
		p := people[i]
		next, err := renew(ctx, p.c, p.refresh)
		if err != nil {
			return fmt.Errorf("renewing account %d's token: %w", p.account, err)
		}
		p.refresh = next
		return nil
	})
}

// bindNew binds n identities the account has not bound before.
func (p *stormPerson) bindNew(ctx context.Context, n int) error {
	for range n {
		id, err := bind(ctx, p.c, identity(p.actor, p.bound))
		if err != nil {
			return err
		}
		p.bound++
		p.patients = append(p.patients, id)
	}
	return nil
}

// unbindAll unbinds the account's patients, waiting out rate limits as
// the scalpers' software would; one the server keeps stays bound.
func (p *stormPerson) unbindAll(ctx context.Context, rec *recorder) {
	var kept []int64
	for _, id := range p.patients {
		start := time.Now()
		_, err := patiently(ctx, p.c, "POST", fmt.Sprintf("/api/v1/patients/%d/unbind", id), nil, 200)
		code := 200
		if err != nil {
			code, kept = 0, append(kept, id)
		}
		rec.add("scalper unbind", time.Since(start), code)
	}
	p.patients = kept
}

// booking is what an account sees of one of its bookings.
type booking struct {
	ID        int64  `json:"id"`
	SessionID int64  `json:"session_id"`
	PatientID int64  `json:"patient_id"`
	Status    string `json:"status"`
}

func (p *stormPerson) bookings(ctx context.Context) ([]booking, error) {
	resp, err := patiently(ctx, p.c, "GET", "/api/v1/bookings", nil, 200)
	if err != nil {
		return nil, err
	}
	var out struct{ Bookings []booking }
	return out.Bookings, resp.Decode(&out)
}

// resell is I1's cancel-and-rebook: for each place of release r the
// account won (with probability share), it binds the buyer, cancels the
// place and books the same session again at once under the buyer, trying
// for a few seconds, and pays.
func (p *stormPerson) resell(ctx context.Context, rec *recorder, r demo.Release, share float64, coin func() float64) Resale {
	var out Resale
	bs, err := p.bookings(ctx)
	if err != nil {
		return out
	}
	for _, b := range bs {
		if b.Status != "confirmed" || b.SessionID != r.DrawSession && b.SessionID != r.FirstComeSession || coin() >= share {
			continue
		}
		out.Tried++
		if len(p.patients) >= 5 { // the account's limit: a customer with no place goes
			for i, id := range p.patients {
				if !slices.ContainsFunc(bs, func(x booking) bool { return x.PatientID == id && x.Status == "confirmed" }) {
					if resp, err := rec.timed(ctx, "scalper unbind", p.c, "POST", fmt.Sprintf("/api/v1/patients/%d/unbind", id), nil, false, nil); err == nil && resp.Status < 300 {
						p.patients = slices.Delete(p.patients, i, i+1)
					}
					break
				}
			}
		}
		if err := p.bindNew(ctx, 1); err != nil {
			continue
		}
		out.BuyerBound++
		buyer := p.patients[len(p.patients)-1]
		resp, err := rec.timed(ctx, "scalper cancel", p.c, "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", b.ID), nil, false, nil)
		if err != nil || resp.Status != 200 {
			continue
		}
		out.Cancelled++
		for try := 0; try < 50 && ctx.Err() == nil; try++ {
			resp, err := rec.timed(ctx, "scalper rebook", p.c, "POST", "/api/v1/bookings",
				map[string]int64{"session_id": b.SessionID, "patient_id": buyer}, true, nil)
			if err == nil && resp.Status == 201 {
				out.Rebooked++
				pay(ctx, rec, "scalper pay", p, resp)
				break
			}
			waitUntil(ctx, time.Now().Add(100*time.Millisecond))
		}
	}
	return out
}

// cancelOne cancels a place of release r the person won: plans change.
func (p *stormPerson) cancelOne(ctx context.Context, rec *recorder, r demo.Release) {
	bs, err := p.bookings(ctx)
	if err != nil {
		return
	}
	for _, b := range bs {
		if b.Status == "confirmed" && (b.SessionID == r.DrawSession || b.SessionID == r.FirstComeSession) {
			rec.timed(ctx, "human cancel", p.c, "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", b.ID), nil, false, nil)
			return
		}
	}
}

// printBefore shows, per class, the accounts flagged before the second
// release, as the endpoint answered a moment before it.
func printBefore(w io.Writer, r RiskReport) {
	var parts []string
	for _, c := range r.Classes {
		parts = append(parts, fmt.Sprintf("%s %d/%d", c.Class, c.Flagged, c.Accounts))
	}
	fmt.Fprintf(w, "risk before release 2 (flagged = %s or worse): %s\n", r.FlaggedAt, strings.Join(parts, ", "))
}

// scalp is one scalper account: from a second before the release it polls
// every poll, books every patient of its own first come and enters them all
// in the draw, paying at once whatever it holds.
func scalp(ctx context.Context, rec *recorder, p *stormPerson, storm demo.Release, poll time.Duration) {
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
					pay(ctx, rec, "scalper pay", p, resp)
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
func person(ctx context.Context, rec *recorder, p *stormPerson, storm demo.Release, fcAt, drawAt time.Time, think time.Duration, again bool) {
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
				pay(ctx, rec, "human pay", p, resp)
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

// pay pays the booking held answers, from p's wallet account.
func pay(ctx context.Context, rec *recorder, name string, p *stormPerson, held *apiclient.Response) {
	var b struct{ ID int64 }
	if held.Decode(&b) != nil || b.ID == 0 {
		return
	}
	payBooking(ctx, rec, name, p, b.ID)
}

// payBooking pays booking id from p's wallet account: the sandbox stands in
// for the wallet app, so the request names the payer.
func payBooking(ctx context.Context, rec *recorder, name string, p *stormPerson, id int64) {
	rec.timed(ctx, name, p.c, "POST", fmt.Sprintf("/api/v1/bookings/%d/pay", id), payBody(p.actor), false,
		map[string]string{"Idempotency-Key": fmt.Sprint("pay-", id)})
}

// payBody is the pay request's body: the actor's wallet account, if any.
func payBody(a actor) any {
	if a.Payer == "" {
		return nil
	}
	return map[string]string{"payer": a.Payer}
}

// waitDrawn waits for the server's sweep to run the draw after its window.
func waitDrawn(ctx context.Context, base string, storm demo.Release) error {
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

// payWins pays the held bookings the draw gave an account's patients, from
// its wallet account.
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
			payBooking(ctx, rec, class, p, e.BookingID)
		}
	}
}

// tally counts each release's sessions' confirmed bookings by class, from
// what every account sees of its own bookings and entries.
func tally(ctx context.Context, people []*stormPerson, rels []demo.Release, slots int) ([]SessionOutcome, error) {
	var out []SessionOutcome
	for k, r := range rels {
		out = append(out, SessionOutcome{Release: k + 1, Mode: "draw", SessionID: r.DrawSession, Slots: slots},
			SessionOutcome{Release: k + 1, Mode: "first_come", SessionID: r.FirstComeSession, Slots: slots})
	}
	humans, scalperIDs := 0, 0
	var mu sync.Mutex
	err := parallel(len(people), 8, func(i int) error {
		p := people[i]
		bs, err := p.bookings(ctx)
		if err != nil {
			return err
		}
		resp, err := patiently(ctx, p.c, "GET", "/api/v1/entries", nil, 200)
		if err != nil {
			return err
		}
		var es struct {
			Entries []struct {
				SessionID int64 `json:"session_id"`
			}
		}
		resp.Decode(&es)
		mu.Lock()
		defer mu.Unlock()
		if p.scalper {
			scalperIDs += p.Patients // the customers it brings to each release
		} else {
			humans++
		}
		for k := range out {
			for _, e := range es.Entries {
				if e.SessionID == out[k].SessionID {
					if p.scalper {
						out[k].ScalperEntries++
					} else {
						out[k].HumansEntered++
					}
				}
			}
			for _, b := range bs {
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
		o.HumanSuccess = float64(o.ByHumans) / float64(max(humans, 1))
		if n := o.ByHumans + o.ByScalpers; n > 0 {
			o.ScalperShare = float64(o.ByScalpers) / float64(n)
		}
		o.IdentityShare = float64(scalperIDs) / float64(max(scalperIDs+humans, 1))
		if o.Mode != "draw" {
			continue
		}
		// For a draw, the fair share is the scalpers' share of the entries;
		// with n slots drawn, 95% of fair draws give a share within about
		// two binomial standard deviations of it.
		if e := o.HumansEntered + o.ScalperEntries; e > 0 {
			o.IdentityShare = float64(o.ScalperEntries) / float64(e)
			n := float64(o.ByHumans + o.ByScalpers)
			sd := math.Sqrt(o.IdentityShare * (1 - o.IdentityShare) / max(n, 1))
			o.ExpectedLow95, o.ExpectedHigh95 = max(0, o.IdentityShare-1.96*sd), min(1, o.IdentityShare+1.96*sd)
			o.WithinFairRange = o.ScalperShare >= o.ExpectedLow95 && o.ScalperShare <= o.ExpectedHigh95
		}
	}
	return out, err
}

func printStorm(w io.Writer, r StormReport) {
	fmt.Fprintln(w)
	for _, s := range r.Sessions {
		fmt.Fprintf(w, "release %d %-10s session %d: %d slots; confirmed by people %d, by scalpers %d\n", s.Release, s.Mode, s.SessionID, s.Slots, s.ByHumans, s.ByScalpers)
		fmt.Fprintf(w, "           people's success %.1f%%; scalpers' share of slots %.1f%% vs of identities %.1f%%",
			100*s.HumanSuccess, 100*s.ScalperShare, 100*s.IdentityShare)
		if s.Mode == "draw" {
			fmt.Fprintf(w, " (a fair draw: %.1f%%–%.1f%%; entries: people %d, scalpers %d)", 100*s.ExpectedLow95, 100*s.ExpectedHigh95, s.HumansEntered, s.ScalperEntries)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%-15s %7s %7s %9s %9s %9s  %s\n", "requests", "n", "2xx", "p50 ms", "p99 ms", "max ms", "answers")
	for _, name := range []string{"human page", "human book", "human enter", "human pay", "human cancel", "scalper poll", "scalper book", "scalper enter", "scalper pay",
		"scalper cancel", "scalper rebook", "scalper unbind"} {
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
