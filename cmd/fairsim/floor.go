package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
)

// FloorReport is what the floor (and flood) scenarios measured.
type FloorReport struct {
	Scenario    string             `json:"scenario"`
	Listeners   string             `json:"listeners"` // "internal and public", or "single"
	Admission   bool               `json:"admission"`
	ServerCPUs  string             `json:"server_cpus,omitempty"` // the server's taskset, if pinned
	Seconds     float64            `json:"seconds_per_phase"`
	Workers     int                `json:"flood_workers"`
	Networks    int                `json:"flood_networks"`
	Quiet       Summary            `json:"staff_quiet"`
	Flooded     Summary            `json:"staff_flooded"`
	P99Ratio    float64            `json:"staff_p99_flooded_over_quiet"`
	Staff       map[string]Summary `json:"staff_requests"`
	StaffFailed int                `json:"staff_failed"`
	Flood       map[int]int64      `json:"flood_answers"` // status → count; 0: no answer
	FloodRate   float64            `json:"flood_requests_per_second"`
	// The floor scenario's other attackers, on the public listener.
	Streams     map[int]int64 `json:"public_stream_answers,omitempty"` // to stream requests
	StreamsOpen int64         `json:"public_streams_held_most"`        // the most held open at once
	Revoked     map[int]int64 `json:"revoked_token_answers,omitempty"`
	Logins      map[int]int64 `json:"login_flood_answers,omitempty"`
	// The waiting-room boards on the internal listener.
	Boards Boards `json:"boards"`
	Peak   Peak   `json:"server_peak"`
	Alive  bool   `json:"server_alive_after"`
}

// Boards is how the internal listener's boards fared.
type Boards struct {
	N          int   `json:"n"`
	OpenAtEnd  int64 `json:"open_at_end"`
	Events     int64 `json:"events"`
	Reconnects int64 `json:"reconnects"`
}

// floorKnobs are the attackers a run throws at the public listener while
// the floor works on the internal one.
type floorKnobs struct {
	seconds                  time.Duration
	workers, networks        int
	checkIns, walkIns, calls float64
	streams, revoked, logins int
	boards                   int
	serverCPUs               string
}

func runFlood(ctx context.Context, args []string, stdout io.Writer) error {
	return runFloor(ctx, "flood", args, stdout)
}

// runFloor is the floor scenario (and, with its extra attackers off by
// default, the flood scenario): the hospital floor works on the internal
// listener — kiosk check-ins, desk walk-ins, doctors calling, the boards
// streaming — first quietly, then while the public listener gets, all at
// once, a request flood, a login flood, thousands of display streams and
// requests with revoked staff tokens. It reports the staff's success and
// latency in both phases.
func runFloor(ctx context.Context, scenario string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(scenario, flag.ContinueOnError)
	var c common
	c.flags(fs)
	var k floorKnobs
	floor := scenario == "floor"
	fs.DurationVar(&k.seconds, "duration", 15*time.Second, "length of each phase: quiet, then flooded")
	fs.IntVar(&k.workers, "workers", 64, "flood workers, each sending as fast as it is answered")
	fs.IntVar(&k.networks, "networks", 1024, "address prefixes (/24) the flood comes from, shared round-robin among the workers: a botnet's spread")
	fs.Float64Var(&k.checkIns, "check-ins", 3, "kiosk check-ins per second")
	fs.Float64Var(&k.walkIns, "walk-ins", 1, "desk walk-in registrations per second")
	fs.Float64Var(&k.calls, "calls", 2, "doctor calls (call next, then complete) per second")
	fs.IntVar(&k.streams, "streams", map[bool]int{true: 2000}[floor], "display streams the public side keeps trying to hold open")
	fs.IntVar(&k.revoked, "revoked", map[bool]int{true: 8}[floor], "workers sending requests with revoked staff tokens to the public listener")
	fs.IntVar(&k.logins, "logins", map[bool]int{true: 16}[floor], "login-flood workers (a code for a random phone, then a wrong code)")
	fs.IntVar(&k.boards, "boards", map[bool]int{true: 32}[floor], "waiting-room boards streaming on the internal listener through both phases")
	fs.StringVar(&k.serverCPUs, "server-cpus", "", "with --fairslot: run the server under 'taskset -c LIST' (run fairsim itself under taskset for the other CPUs)")
	fs.BoolVar(&c.single, "single", false, "with --fairslot: one listener for everyone (no --staff-addr): the floor works with staff tokens beside the attack, its boards logged in as staff, and the public's streams and revoked tokens meet the stream pools and the token checks there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if k.seconds < time.Second || k.seconds > 5*time.Minute || k.workers < 0 || k.workers > 4096 || k.networks < 1 || k.networks > 65536 ||
		k.streams < 0 || k.streams > 20000 || k.revoked < 0 || k.revoked > 256 || k.logins < 0 || k.logins > 256 || k.boards < 0 || k.boards > 512 {
		return fmt.Errorf("need 1s ≤ duration ≤ 5m, 0 ≤ workers ≤ 4096, 1 ≤ networks ≤ 65536, streams ≤ 20000, revoked, logins ≤ 256, boards ≤ 512")
	}
	c.serverCPUs = k.serverCPUs
	t, err := c.start(ctx, "--sim-opens-in", "1h")
	if err != nil {
		return err
	}
	defer t.stop()
	ctx, cancel := context.WithTimeout(ctx, 2*k.seconds+3*time.Minute)
	defer cancel()
	fmt.Fprintf(stdout, "%s: %v quiet, then %v with %d flood workers from %d networks, %d stream holders, %d revoked-token and %d login-flood workers; "+
		"staff: %.1f check-ins/s, %.1f walk-ins/s, %.1f calls/s, %d boards; admission %v\n",
		scenario, k.seconds, k.seconds, k.workers, k.networks, k.streams, k.revoked, k.logins, k.checkIns, k.walkIns, k.calls, k.boards, t.Admission)

	w, err := floodSetup(ctx, t, int(2*k.checkIns*k.seconds.Seconds())+30)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	revoked, err := revokedTokens(ctx, t, min(k.revoked, 1)*8)
	if err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	runCtx, stopBoards := context.WithCancel(ctx)
	defer stopBoards()
	boardToken := ""
	report := FloorReport{Scenario: scenario, Listeners: "internal and public", Admission: t.Admission, ServerCPUs: k.serverCPUs,
		Seconds: k.seconds.Seconds(), Workers: k.workers, Networks: k.networks}
	if t.Staff == t.Public {
		// One listener: boards log in as staff, or they would share the
		// public's stream pool.
		report.Listeners = "single"
		nurse, err := staffLogin(ctx, t.Staff, "nurse")
		if err != nil {
			return fmt.Errorf("set-up: %w", err)
		}
		boardToken = nurse.Token
	}
	boards := openBoards(runCtx, t.Staff, k.boards, boardToken)
	rec := newRecorder()
	phase := func(name string, attack bool) error {
		w.warmUp(ctx) // unmeasured, before the phase's clock starts
		var child *attacker
		if attack {
			var err error
			if child, err = startAttack(ctx, t.Public, k, revoked); err != nil {
				return err
			}
		}
		pctx, stop := context.WithTimeout(ctx, k.seconds)
		defer stop()
		var wg sync.WaitGroup
		wg.Go(func() { w.run(pctx, rec, name, k.checkIns, k.walkIns, k.calls) })
		wg.Wait()
		if child != nil {
			a, err := child.wait()
			if err != nil {
				return err
			}
			report.Flood, report.Streams, report.Revoked, report.Logins = a.Flood, a.Streams, a.Revoked, a.Logins
			report.FloodRate, report.StreamsOpen = float64(a.FloodTotal)/k.seconds.Seconds(), a.Held
		}
		return nil
	}
	if err := phase("quiet", false); err != nil {
		return err
	}
	peakCtx, stopWatch := context.WithCancel(ctx)
	peak := watch(peakCtx, t.Metrics)
	err = phase("flooded", true)
	stopWatch()
	if err != nil {
		return err
	}
	report.Boards = Boards{N: k.boards, OpenAtEnd: boards.open.Load(), Events: boards.events.Load(), Reconnects: boards.reconnects.Load()}
	stopBoards()
	report.Quiet, report.Flooded, report.Staff = rec.all("quiet "), rec.all("flooded "), rec.summaries()
	report.Peak, report.Alive = peak(), t.alive()
	if report.Quiet.P99ms > 0 {
		report.P99Ratio = report.Flooded.P99ms / report.Quiet.P99ms
	}
	report.StaffFailed = report.Quiet.N - report.Quiet.OK + report.Flooded.N - report.Flooded.OK
	printFloor(stdout, report)
	return writeReport(c.out, scenario, report, stdout)
}

// revokedTokens logs a staff member in n times on the internal listener and
// logs every one of those tokens out again: what an attacker holding a
// copied (since revoked) staff token has.
func revokedTokens(ctx context.Context, t *target, n int) ([]string, error) {
	var out []string
	for range n {
		c, err := staffLogin(ctx, t.Staff, "nurse")
		if err != nil {
			return nil, err
		}
		if _, err := patiently(ctx, c, "POST", "/api/v1/auth/logout", nil, http.StatusNoContent); err != nil {
			return nil, err
		}
		out = append(out, c.Token)
	}
	return out, nil
}

// answers counts a kind of attacker's answers by status.
type answers struct {
	mu sync.Mutex
	m  map[int]int64
}

func (a *answers) add(code int) {
	a.mu.Lock()
	a.m[code]++
	a.mu.Unlock()
}

// record counts an answer by its status, or as 0 when there was none — a
// failure of the server, unless the phase itself ended, which it reports
// by returning false.
func (a *answers) record(ctx context.Context, resp *apiclient.Response, err error) bool {
	if err == nil {
		a.add(resp.Status)
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	a.add(0)
	return true
}

// attack is the public side of a flooded phase.
type attack struct {
	public                          string
	k                               floorKnobs
	revokedTokens                   []string
	flood, streams, revoked, logins answers
	floodTotal, held, mostHeld      atomic.Int64
}

func newAttack(public string, k floorKnobs, revoked []string) *attack {
	a := &attack{public: public, k: k, revokedTokens: revoked}
	for _, m := range []*answers{&a.flood, &a.streams, &a.revoked, &a.logins} {
		m.m = map[int]int64{}
	}
	return a
}

// AttackReport is what the public side's attackers were answered.
type AttackReport struct {
	Flood, Streams, Revoked, Logins map[int]int64
	FloodTotal, Held                int64
}

// attacker is the public side run in a child process ('fairsim attack') at
// a lower CPU priority than this one: the generator's own load must not
// delay the staff requests this process times, or the measurement would
// be of the generator rather than of the server.
type attacker struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// childEnv marks the attack's process, so that a test binary standing in
// for fairsim knows to run it rather than its tests.
const childEnv = "FAIRSIM_CHILD"

// attackOrder is what the floor scenario tells its attack process, on its
// standard input.
type attackOrder struct {
	Public                                      string
	Seconds                                     time.Duration
	Workers, Networks, Streams, Revoked, Logins int
	Tokens                                      []string // the revoked staff tokens
}

func startAttack(ctx context.Context, public string, k floorKnobs, revoked []string) (*attacker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	order, err := json.Marshal(attackOrder{Public: public, Seconds: k.seconds, Workers: k.workers, Networks: k.networks,
		Streams: k.streams, Revoked: k.revoked, Logins: k.logins, Tokens: revoked})
	if err != nil {
		return nil, err
	}
	a := &attacker{}
	a.cmd = exec.CommandContext(ctx, "nice", "-n", "10", self, "attack")
	a.cmd.Stdin = bytes.NewReader(order)
	a.cmd.Env = append(os.Environ(), childEnv+"=1")
	a.cmd.Stdout, a.cmd.Stderr = &a.out, os.Stderr
	return a, a.cmd.Start()
}

func (a *attacker) wait() (AttackReport, error) {
	var r AttackReport
	if err := a.cmd.Wait(); err != nil {
		return r, fmt.Errorf("the attack's process: %w", err)
	}
	return r, json.Unmarshal(a.out.Bytes(), &r)
}

// runAttack is 'fairsim attack': the public side of a flooded phase of the
// floor scenario, which starts it with its order (attackOrder) on stdin;
// the answers go to stdout as JSON.
func runAttack(ctx context.Context, args []string, stdout io.Writer) error {
	var o attackOrder
	if len(args) > 0 {
		return fmt.Errorf("attack takes no arguments: the floor scenario gives its order on stdin")
	}
	if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<20)).Decode(&o); err != nil {
		return fmt.Errorf("attack: the order on stdin: %w", err)
	}
	if err := loopbackOnly(o.Public); err != nil || o.Public == "" || o.Seconds > 5*time.Minute || (o.Revoked > 0 && len(o.Tokens) == 0) {
		return fmt.Errorf("attack needs a loopback public URL, at most 5m and, to replay revoked tokens, the tokens: %v", err)
	}
	k := floorKnobs{seconds: o.Seconds, workers: o.Workers, networks: max(o.Networks, 1), streams: o.Streams, revoked: o.Revoked, logins: o.Logins}
	ctx, cancel := context.WithTimeout(ctx, k.seconds)
	defer cancel()
	a := newAttack(o.Public, k, o.Tokens)
	var wg sync.WaitGroup
	a.start(ctx, &wg)
	wg.Wait()
	return json.NewEncoder(stdout).Encode(AttackReport{Flood: a.flood.m, Streams: a.streams.m, Revoked: a.revoked.m,
		Logins: a.logins.m, FloodTotal: a.floodTotal.Load(), Held: a.mostHeld.Load()})
}

// start starts every attacker of the phase; each stops when ctx ends.
func (a *attack) start(ctx context.Context, wg *sync.WaitGroup) {
	for i := range a.k.workers {
		wg.Go(func() {
			counts := map[int]int64{}
			floodWorker(ctx, a.public, i, a.k.workers, a.k.networks, counts, &a.floodTotal)
			for code, n := range counts {
				a.flood.mu.Lock()
				a.flood.m[code] += n
				a.flood.mu.Unlock()
			}
		})
	}
	for i := range a.k.streams {
		wg.Go(func() { a.holdStream(ctx, i) })
	}
	for i := range a.k.revoked {
		wg.Go(func() { a.useRevoked(ctx, i) })
	}
	for i := range a.k.logins {
		wg.Go(func() { a.loginFlood(ctx, i) })
	}
}

// holdStream keeps asking the public listener for a display stream, from
// its own address, and holds one open whenever it gets it; refused, it
// tries again a second later, as a browser's EventSource does.
func (a *attack) holdStream(ctx context.Context, i int) {
	src := addr(150+i/(256*64), (i/64)%256, 1+i%64) // 64 holders per /24
	hc := client(a.public, src).HTTP
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", a.public+"/api/v1/display/departments/1/events", nil)
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				a.streams.add(0)
			}
		} else {
			a.streams.add(resp.StatusCode)
			if resp.StatusCode == 200 {
				for n, most := a.held.Add(1), a.mostHeld.Load(); n > most && !a.mostHeld.CompareAndSwap(most, n); most = a.mostHeld.Load() {
				}
			}
			// A stream is read until the phase or the server ends it; a
			// refusal is read to its end so the connection is used again,
			// as a browser's would be.
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode == 200 {
				a.held.Add(-1)
			}
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// useRevoked sends what a holder of revoked staff tokens would try on the
// public listener: bookings, staff calls, patients' data.
func (a *attack) useRevoked(ctx context.Context, i int) {
	c := client(a.public, addr(140, i%256, 1))
	rnd := rand.New(rand.NewPCG(uint64(i), 17))
	for k := 0; ctx.Err() == nil; k++ {
		c.Token = a.revokedTokens[k%len(a.revokedTokens)]
		var resp *apiclient.Response
		var err error
		switch rnd.IntN(4) {
		case 0:
			resp, err = c.Do(ctx, "POST", "/api/v1/bookings", map[string]int{"session_id": 1, "patient_id": 1}, nil, false)
		case 1:
			resp, err = c.Do(ctx, "POST", "/api/v1/staff/check-in", map[string]string{"code": "AAAAAAAA", "id_last4": "0000"}, nil, false)
		case 2:
			resp, err = c.Do(ctx, "GET", "/api/v1/staff/risk-events", nil, nil, false)
		default:
			resp, err = c.Do(ctx, "GET", "/api/v1/patients", nil, nil, false)
		}
		if !a.revoked.record(ctx, resp, err) {
			return
		}
	}
}

// loginFlood asks for login codes for random phones and tries wrong codes:
// each code asked for is a write the floor's writes share the database with.
func (a *attack) loginFlood(ctx context.Context, i int) {
	c := client(a.public, addr(145+i/256, i%256, 1))
	rnd := rand.New(rand.NewPCG(uint64(i), 23))
	for ctx.Err() == nil {
		phone := fmt.Sprintf("139%08d", rnd.IntN(1e8))
		for _, step := range []struct {
			path string
			body map[string]string
		}{
			{"/api/v1/auth/code", map[string]string{"phone": phone}},
			{"/api/v1/auth/login", map[string]string{"phone": phone, "code": fmt.Sprintf("%06d", rnd.IntN(1e6))}},
		} {
			if resp, err := c.Do(ctx, "POST", step.path, step.body, nil, false); !a.logins.record(ctx, resp, err) {
				return
			}
		}
	}
}

// boardSet is the internal listener's waiting-room boards.
type boardSet struct {
	open, events, reconnects atomic.Int64
}

// openBoards opens n boards' streams on the internal (or only) listener,
// with the staff token given if any, each reconnecting by itself, until
// ctx ends.
func openBoards(ctx context.Context, staff string, n int, token string) *boardSet {
	b := &boardSet{}
	for i := range n {
		go func() {
			hc := client(staff, addr(0, 1, 1+i%250)).HTTP
			hc.Timeout = 0 // a stream
			for try := 0; ctx.Err() == nil; try++ {
				if try > 0 {
					b.reconnects.Add(1)
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", staff+"/api/v1/display/departments/1/events", nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				if resp.StatusCode == 200 {
					b.open.Add(1)
					sc := bufio.NewScanner(resp.Body)
					for sc.Scan() {
						if strings.HasPrefix(sc.Text(), "event: board") {
							b.events.Add(1)
						}
					}
					b.open.Add(-1)
				}
				resp.Body.Close()
			}
		}()
	}
	return b
}

func printFloor(w io.Writer, r FloorReport) {
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
	if r.Streams != nil {
		fmt.Fprintf(w, "public display streams: answers %v; at most %d held open at once\n", r.Streams, r.StreamsOpen)
		fmt.Fprintf(w, "revoked staff tokens: answers %v\n", r.Revoked)
		fmt.Fprintf(w, "login flood: answers %v\n", r.Logins)
	}
	if r.Boards.N > 0 {
		fmt.Fprintf(w, "boards (%s listener): %d of %d open at the end, %d updates received, %d reconnects\n", map[bool]string{true: "only", false: "internal"}[r.Listeners == "single"], r.Boards.OpenAtEnd, r.Boards.N, r.Boards.Events, r.Boards.Reconnects)
	}
	fmt.Fprintf(w, "server: peak RSS %.1f MB, peak goroutines %.0f (%d samples); alive after: %v\n", r.Peak.RSSMB, r.Peak.Goroutines, r.Peak.Samples, r.Alive)
}
