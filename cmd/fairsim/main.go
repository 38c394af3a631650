// Command fairsim is fairslot's attack and load simulator. It talks to a
// fairslot server over HTTP only, on loopback addresses only, and every
// scenario is bounded in time and requests and stops by itself.
//
//	fairsim release-storm [flags]   scalper bots against people at a hot release (incident I1)
//	fairsim flood [flags]           a public flood while the hospital floor works (incident I2)
//	fairsim floor [flags]           the floor works while the public side floods, logs in, streams and replays revoked tokens
//	fairsim bare [flags]            a bare net/http server answering 200: the baseline for wrk
//	fairsim scrape [flags]          stolen passwords, sessions, files and tokens against 20,000 patients (incident I4)
//	fairsim ransomware [flags]      kill, destroy and restore from the replica mid-morning (incident I5)
//
// With --fairslot BIN it starts 'BIN serve --demo --sim' itself on free
// loopback ports with a fresh data directory (add --baseline for the same
// server with its front door off); otherwise give --url, --staff-url and
// --metrics-url of a server started that way. It prints a summary and
// writes the whole report as JSON (--out).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fairsim:", err)
		os.Exit(1)
	}
}

// target is the server under test and how to reach it.
type target struct {
	Public, Staff, Metrics string
	Admission              bool
	cmd                    *exec.Cmd
	dir                    string
	logs                   *os.File
}

// common are the flags every scenario takes.
type common struct {
	bin, url, staffURL, metricsURL, out string
	baseline                            bool
	serveArgs                           []string
	serverCPUs                          string // run the server under taskset -c
	single                              bool   // one listener for everyone: no --staff-addr
	logLevel                            string // the server's log level; default warn
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.bin, "fairslot", "", "start this fairslot binary (serve --demo --sim) on loopback for the run")
	fs.BoolVar(&c.baseline, "baseline", false, "with --fairslot: start it with --no-admission (the front door off), as the baseline")
	fs.StringVar(&c.url, "url", "", "public URL of a running 'fairslot serve --demo --sim' (instead of --fairslot)")
	fs.StringVar(&c.staffURL, "staff-url", "", "its internal (staff) URL; default: --url")
	fs.StringVar(&c.metricsURL, "metrics-url", "", "its admin /metrics URL (peak memory and goroutines); default: none")
	fs.StringVar(&c.out, "out", "", "write the JSON report here (default fairsim-SCENARIO.json)")
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fairsim release-storm|flood|floor|bare|scrape|ransomware [flags]; fairsim SCENARIO -h lists the flags")
	}
	switch args[0] {
	case "release-storm":
		return runStorm(ctx, args[1:], stdout)
	case "flood":
		return runFlood(ctx, args[1:], stdout)
	case "floor":
		return runFloor(ctx, "floor", args[1:], stdout)
	case "attack": // the floor scenario's public side, in its own process
		return runAttack(ctx, args[1:], stdout)
	case "bare":
		return runBare(ctx, args[1:], stdout)
	case "scrape":
		return runScrape(ctx, args[1:], stdout)
	case "ransomware":
		return runRansomware(ctx, args[1:], stdout) // ransomware.go
	}
	return fmt.Errorf("unknown scenario %q: want release-storm, flood, floor, bare, scrape or ransomware", args[0])
}

// start reaches the server: it starts one with --fairslot, else uses the
// URLs given, which must be loopback addresses.
func (c *common) start(ctx context.Context, simArgs ...string) (*target, error) {
	if c.bin == "" {
		if c.url == "" {
			return nil, errors.New("give --fairslot BIN, or --url of a running server")
		}
		t := &target{Public: c.url, Staff: c.staffURL, Metrics: c.metricsURL, Admission: !c.baseline}
		if t.Staff == "" {
			t.Staff = t.Public
		}
		for _, u := range []string{t.Public, t.Staff, t.Metrics} {
			if err := loopbackOnly(u); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	dir, err := os.MkdirTemp("", "fairsim-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	t := &target{Public: "http://" + ports[0], Staff: "http://" + ports[1], Metrics: "http://" + ports[2] + "/metrics", Admission: !c.baseline, dir: dir}
	args := []string{"serve", "--demo", "--sim", "--addr", ports[0], "--staff-addr", ports[1]}
	if c.single {
		t.Staff, args = t.Public, args[:5]
	}
	// No drain on SIGTERM: no load balancer watches this server.
	args = append(append(args, "--drain", "0s", "--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")), simArgs...)
	if c.baseline {
		args = append(args, "--no-admission")
	}
	args = append(args, c.serveArgs...)
	if t.logs, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		return nil, err
	}
	t.cmd = exec.Command(c.bin, args...)
	if c.serverCPUs != "" {
		t.cmd = exec.Command("taskset", append([]string{"-c", c.serverCPUs, c.bin}, args...)...)
	}
	level := c.logLevel
	if level == "" {
		level = "warn"
	}
	t.cmd.Env = append(os.Environ(), "FAIRSLOT_ADMIN_ADDR="+ports[2], "FAIRSLOT_LOG_LEVEL="+level)
	t.cmd.Stdout, t.cmd.Stderr = t.logs, t.logs
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second) // a bound on a hang, not a speed target
	for {
		resp, err := http.Get(t.Public + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return t, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.stop()
			return nil, fmt.Errorf("the server did not become ready; its log is %s", t.logs.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive reports whether the server still answers (and, when started here,
// its process still runs).
func (t *target) alive() bool {
	if t.cmd != nil && t.cmd.ProcessState != nil {
		return false
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(t.Staff + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// stop ends a server started here and removes its data.
func (t *target) stop() {
	if t.cmd == nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
	t.logs.Close()
	os.RemoveAll(t.dir)
}

// simSessions reads the simulation's sessions from the server's internal
// listener (GET /demo/storm, served by 'serve --demo --sim').
func simSessions(ctx context.Context, t *target) (demo.Storm, error) {
	var storm demo.Storm
	resp, err := (&apiclient.Client{Base: t.Staff}).Do(ctx, "GET", "/demo/storm", nil, nil, false)
	if err == nil && resp.Status != 200 {
		err = fmt.Errorf("status %d", resp.Status)
	}
	if err != nil {
		return storm, fmt.Errorf("GET /demo/storm: %v (is the server running with --demo --sim?)", err)
	}
	return storm, resp.Decode(&storm)
}

func freePorts(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// loopbackOnly refuses any target that is not on this machine's loopback.
func loopbackOnly(u string) error {
	if u == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return fmt.Errorf("%s: only http:// loopback targets", u)
	}
	host, _, _ := strings.Cut(rest, "/")
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil || !a.IsLoopback() {
		return fmt.Errorf("%s: fairsim sends traffic to loopback addresses only", u)
	}
	return nil
}

// client is one simulated client: its own connections from its own
// loopback source address, so that per-address limits see it as the
// network it stands for.
func client(base string, src netip.Addr) *apiclient.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &apiclient.Client{HTTP: &http.Client{Transport: tr, Timeout: 15 * time.Second}, Base: base}
}

// addr is the loopback address 127.a.b.c.
func addr(a, b, c int) netip.Addr { return netip.AddrFrom4([4]byte{127, byte(a), byte(b), byte(c)}) }

func writeReport(path, scenario string, report any, stdout io.Writer) error {
	if path == "" {
		path = "fairsim-" + scenario + ".json"
	}
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nreport written to %s\n", path)
	return nil
}
