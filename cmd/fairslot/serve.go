package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/rekey"
	"github.com/fairslot/fairslot/internal/riskwatch"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/web"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address (env FAIRSLOT_ADDR; default :8080, or 127.0.0.1:8080 with --demo)")
	demoMode := fs.Bool("demo", false, "create a demo hospital if the database is empty, and show login codes in the log")
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	staffAddr := fs.String("staff-addr", "", "internal listener for staff, kiosks and displays (env FAIRSLOT_STAFF_ADDR; default: none)")
	noAdmission := fs.Bool("no-admission", false, "switch the front door off (no lanes, rate limits or challenges): a baseline for measurement only")
	simMode := fs.Bool("sim", false, "with --demo: add the simulator's sessions and serve the demo's login codes at /demo/messages/{phone} on the internal listener (cmd/fairsim)")
	simOpensIn := fs.Duration("sim-opens-in", 30*time.Second, "with --sim: the storm sessions release this long after start")
	simWindow := fs.Duration("sim-window", time.Minute, "with --sim: the storm draw's entry window")
	simSlots := fs.Int("sim-slots", 40, "with --sim: slots in each storm session")
	simReopensIn := fs.Duration("sim-reopens-in", 0, "with --sim: the storm doctor's next release (two more sessions) this long after the first; 0: none")
	simClock := fs.String("sim-clock", "", "with --sim: start the server's clock at the next hh:mm in the hospital's time zone (e.g. 01:00) instead of the real time; "+
		"it runs forward from there (see --sim-speed) and POST /demo/clock {\"to\": RFC 3339} on the internal listener (the only one without --staff-addr) moves it forward at once. "+
		"Draws, holds, tokens, sweeps and risk follow it; the front door's limits and challenges keep real time")
	simSpeed := fs.Float64("sim-speed", 1, "with --sim: the server's clock runs this many times as fast as real time (1 to 10000; login codes live 5 minutes, holds 15, on that clock)")
	insecureCookies := fs.Bool("insecure-cookies", false, "send the pages' cookies without the Secure flag, for an intranet on plain HTTP (config insecure_cookies)")
	kioskIdle := fs.Duration("kiosk-idle", 0, "a kiosk page goes back to its start screen after this long without input (config kiosk_idle, default 60s)")
	dev := fs.String("dev", "", "read the pages' templates and catalogue from this directory (internal/web) on every request, for editing them")
	drain := fs.Duration("drain", -1, "on SIGTERM, report not ready and keep serving this long before closing (config shutdown_drain, default 5s)")
	acceptAuditMismatch := fs.Bool("accept-audit-mismatch", false, "start even if the audit log does not match its last signed (witnessed) checkpoint; an ALERT is logged")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if *addr != "" {
		c.Addr = *addr
	}
	c.Addr = c.ListenAddr(*demoMode)
	if *staffAddr != "" {
		c.StaffAddr = *staffAddr
	}
	if *noAdmission {
		c.Admission = false
	}
	if *insecureCookies {
		c.InsecureCookies = true
	}
	if *kioskIdle > 0 {
		c.KioskIdle = fairslot.Duration(*kioskIdle)
	}
	if *drain >= 0 {
		c.ShutdownDrain = fairslot.Duration(*drain)
	}
	if *simMode && !*demoMode {
		return fmt.Errorf("--sim needs --demo: it serves login codes over HTTP")
	}
	if *simMode && (*simSlots < 1 || *simWindow < time.Minute) {
		return fmt.Errorf("--sim-slots must be at least 1 and --sim-window at least 1m")
	}
	if !*simMode && (*simClock != "" || *simSpeed != 1 || *simReopensIn != 0) {
		return fmt.Errorf("--sim-clock, --sim-speed and --sim-reopens-in need --sim")
	}
	if *simMode && *simReopensIn != 0 && *simReopensIn <= *simWindow {
		return fmt.Errorf("--sim-reopens-in must be longer than --sim-window: the next release comes after the first one's draw")
	}
	if *simMode {
		c.SweepInterval = fairslot.Duration(time.Second) // the storm's draw runs as its window closes
	}
	if *demoMode {
		// The demo's 24-hour clinic takes bookings until a session ends, so
		// the tour works at any hour.
		c.Booking.SameDayUntilEnd = true
		// A demo's (and the end-to-end tests') Subscription receivers run on
		// the same host; a real server never calls its own loopback.
		c.FHIR.Loopback = true
	}
	if err := c.Validate(); err != nil {
		return err
	}
	var cert tls.Certificate
	if c.TLSCert != "" {
		if cert, err = tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return fmt.Errorf("tls_cert, tls_key: %w", err)
		}
	}
	// Listen before anything is created: a port already taken must leave no
	// data directory or keyset behind.
	ls, err := listen(c)
	if err != nil {
		return err
	}
	defer ls.close()
	log := newLogger(c, stderr)
	svc, st, err := open(c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	svc.PatientTokenTTL, svc.PatientRefreshTTL = time.Duration(c.PatientTokenTTL), time.Duration(c.PatientRefreshTTL)
	// Only --demo lets the demo's published password in (and without a
	// second factor); without it that password is refused on every account,
	// even on a database the demo seeded.
	svc.DemoMode = *demoMode
	svc.StaffAuth = staffPolicy(c)
	svc.AccessLimits = c.Access.Limits()
	if *demoMode || *migrate {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	}
	if err := schemaCurrent(ctx, st); err != nil {
		return err
	}
	var sim *simulation
	var clock *demo.Clock
	if *simMode {
		// Before the demo is seeded: its sessions are the clock's days.
		start := svc.Now()
		if *simClock != "" {
			if start, err = demo.NextAt(start, svc.Location, *simClock); err != nil {
				return fmt.Errorf("--sim-clock: %w", err)
			}
		}
		if clock, err = demo.NewClock(start, *simSpeed, time.Now); err != nil {
			return fmt.Errorf("--sim-speed: %w", err)
		}
		svc.Now = clock.Now
		if *simClock != "" || *simSpeed != 1 {
			log.Warn("simulation: the server's clock is simulated", "reads", start, "speed", *simSpeed)
		}
	}
	if *demoMode {
		seeded, err := demo.Seeded(ctx, st)
		if err != nil {
			return err
		}
		if !seeded {
			if err := demo.Seed(ctx, svc); err != nil {
				return err
			}
			log.Info("demo hospital created", "data_dir", c.DataDir)
		}
		if *simMode {
			if sim, err = seedSimulation(ctx, svc, clock, *simOpensIn, *simWindow, *simSlots, *simReopensIn); err != nil {
				return err
			}
			svc.Notifier = simNotifier{sim.outbox}
			log.Info("simulation: sessions added", "draw_session", sim.storm.DrawSession,
				"first_come_session", sim.storm.FirstComeSession, "opens", sim.storm.Opens, "floor_sessions", sim.storm.FloorSessions)
		}
	}
	if err := rekey.CheckRequired(ctx, st, svc.Vault); err != nil {
		return err
	}
	outbox, provider, err := newDispatcher(c.Notify, svc, st, log, *demoMode, *simMode) // notify.go
	if err != nil {
		return err
	}
	svc.Outbox = outbox
	auditJob, err := auditStart(ctx, c, st, log, *acceptAuditMismatch) // audit.go
	if err != nil {
		return err
	}
	if err := svc.RecordConfig(ctx, c.JSON()); err != nil {
		return err
	}
	if err := svc.LoadRevocations(ctx); err != nil {
		return err
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(app.Collectors()...) // fairslot_staff_lockouts_total
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rep, err := startReplica(ctx, c, log, metrics) // replica.go
	if err != nil {
		return err
	}
	defer stopReplica(rep, log)
	// draining is set when shutdown begins: /readyz answers not ready, and
	// every response asks its client to close the connection.
	var draining atomic.Bool
	// Closed when shutdown begins: display streams end then (boards
	// reconnect, to another node behind a load balancer), while ordinary
	// requests go on being served through the drain.
	closing := make(chan struct{})
	metrics.MustRegister(st) // fairslot_storage_writable, fairslot_storage_failures_total
	registerAuditMetrics(metrics, auditJob)
	registerNotifyMetrics(metrics, outbox, provider)
	api := &httpapi.Server{App: svc, Log: log, Closing: closing, CatalogueTTL: time.Duration(c.CatalogueTTL), Ready: func(ctx context.Context) error {
		if draining.Load() {
			return errDraining
		}
		if err := st.Ready(ctx); err != nil { // answers, and writes (probing when due)
			return err
		}
		return schemaCurrent(ctx, st)
	}}
	wrap := func(h http.Handler, _ frontdoor.Listener) http.Handler { return h }
	var door *frontdoor.Door
	if c.Admission {
		door, err = frontdoor.New(ctx, c.FrontDoor, svc.Vault.Key, func(tok string) (string, int64, bool) {
			kind, id, ok := svc.TokenClaims(tok)
			return string(kind), id, ok
		}, metrics, log)
		if err != nil {
			return err
		}
		defer door.Close()
		door.Challenged = func(r *http.Request) bool { return httpapi.Challenged(r) || web.Challenged(r) }
		door.Streamed = func(r *http.Request) bool { return httpapi.Streamed(r) || web.Streamed(r) }
		door.TokenCookies = []string{web.SessionCookie, web.StaffCookie}
		api.Door, wrap = door, door.Wrap
	} else {
		log.Warn("admission is off: no lanes, rate limits or challenges; use this only to measure a baseline")
	}
	var riskMonitor *riskwatch.Monitor
	if !c.Risk.Off {
		if riskMonitor, err = newRiskMonitor(c, svc, st, api, door, log); err != nil { // risk.go
			return err
		}
	} else {
		log.Warn("the risk monitor is off: no account is challenged harder, limited, held or blocked by its score")
	}
	names := c.Names
	if *demoMode && names == nil {
		names = demo.Names() // the demo's bilingual names, each language its part
	}
	pages := &web.Pages{API: api, Log: log, Key: svc.Vault.Key, InsecureCookies: c.InsecureCookies, Dev: *dev, KioskIdle: time.Duration(c.KioskIdle),
		Hospital: web.Hospital{Location: svc.Location, Currency: c.Currency, Names: names}}
	// What each listener serves: everything on the only one; beside an
	// internal listener, the public one has the patients' side alone and
	// the internal one the staff's, kiosks' and boards' alone.
	serving := ls.serving()
	transport := c.Transport()
	var servers []*http.Server
	for _, sv := range serving {
		kind := sv.kind
		p, err := pages.Handler(kind)
		if err != nil {
			return err
		}
		h := auditCheckpointRoute(site(api.Handler(kind), p), st)
		h = withFHIR(h, kind, api, subscriptionPolicy(c)) // fhir.go: the internal listener only
		if sim != nil && kind != frontdoor.PublicListener {
			h = sim.handler(h)
		}
		// The transport layer first: every limit after it keys on the
		// real client address it resolves.
		servers = append(servers, hardened(drainable(transport.Wrap(wrap(h, kind)), &draining), log))
	}
	if ls.staff != nil {
		log.Info("staff, kiosks and displays on the internal listener", "url", ls.staff.Addr().String(), "tls", c.TLSCert != "")
	}

	var wg sync.WaitGroup
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	background, err := backgroundJobs(ctx, c, svc, st.Store, log, metrics, auditJob)
	if err != nil {
		return err
	}
	if ls.admin != nil {
		adminSrv := &http.Server{Handler: adminHandler(metrics), ReadHeaderTimeout: 5 * time.Second}
		go adminSrv.Serve(ls.admin)
		defer adminSrv.Close()
		log.Info("metrics on the admin listener", "url", "http://"+ls.admin.Addr().String()+"/metrics")
	}
	wg.Go(func() { background(sweepCtx) })
	wg.Go(func() { svc.FollowRevocations(sweepCtx, app.RevocationPoll) })
	if riskMonitor != nil {
		wg.Go(func() {
			if err := riskMonitor.Run(sweepCtx); err != nil && sweepCtx.Err() == nil {
				log.Error("the risk monitor stopped; scores no longer follow events until a restart", "err", err)
			}
		})
	}

	serveErr := make(chan error, len(servers))
	for i, srv := range servers {
		if c.TLSCert != "" {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			go func() { serveErr <- srv.ServeTLS(serving[i].ln, "", "") }()
			continue
		}
		go func() { serveErr <- srv.Serve(serving[i].ln) }()
	}
	printBanner(stdout, ls.public.Addr(), *demoMode, c.TLSCert != "")

	select {
	case err := <-serveErr:
		stopSweep()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	// Drain: not ready, streams ended, connections closed after their next
	// response, everything still served — so that a load balancer moves
	// traffic elsewhere before this node stops listening.
	draining.Store(true)
	close(closing)
	log.Info("shutting down: not ready, still serving while draining", "drain", time.Duration(c.ShutdownDrain).String())
	select {
	case <-time.After(time.Duration(c.ShutdownDrain)):
	case err := <-serveErr:
		log.Error("a listener failed while draining", "err", err)
	}
	log.Info("shutting down: no new connections; finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Duration(c.ShutdownTimeout))
	defer cancel()
	var shutdown sync.WaitGroup
	errs := make([]error, len(servers))
	for i, srv := range servers {
		shutdown.Go(func() { errs[i] = srv.Shutdown(shutdownCtx) })
	}
	shutdown.Wait()
	err = errors.Join(errs...)
	stopSweep()
	wg.Wait()
	// The last checkpoint covers every record written before the stop.
	finalCtx, cancelFinal := context.WithTimeout(context.Background(), 10*time.Second)
	auditJob.Final(finalCtx)
	cancelFinal()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

var errDraining = errors.New("shutting down")

// adminHandler is the admin listener's: the Prometheus metrics, and Go's
// profiles under /debug/pprof/ for an operator finding where the time goes.
func adminHandler(metrics *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	return mux
}

// drainable asks every client to close its connection after the response
// once draining is set, so that keep-alive connections end cleanly, each
// after an answer, rather than being cut when the server stops.
func drainable(next http.Handler, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// listeners are serve's sockets, opened before anything else.
type listeners struct {
	public, staff, admin net.Listener
}

func listen(c config.Config) (*listeners, error) {
	ls := &listeners{}
	var err error
	if ls.public, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, err
	}
	ls.public = netutil.LimitListener(ls.public, c.FrontDoor.MaxConns)
	if c.StaffAddr != "" {
		if ls.staff, err = net.Listen("tcp", c.StaffAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("staff listener: %w", err)
		}
	}
	if c.AdminAddr != "" {
		if ls.admin, err = net.Listen("tcp", c.AdminAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	return ls, nil
}

// served is a listener the pages and the API are served on, with its kind.
type served struct {
	kind frontdoor.Listener
	ln   net.Listener
}

// serving lists the listeners the pages and the API are served on: the
// only one, or the public one beside the internal one.
func (ls *listeners) serving() []served {
	if ls.staff == nil {
		return []served{{frontdoor.SingleListener, ls.public}}
	}
	return []served{{frontdoor.PublicListener, ls.public}, {frontdoor.InternalListener, ls.staff}}
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.public, ls.staff, ls.admin} {
		if l != nil {
			l.Close()
		}
	}
}

// hardened is an http.Server with limits on header size and on how long a
// client may take to send a request, to read a response and to sit idle, so
// that slow or stuck clients cannot hold connections. Display streams set
// their own write deadlines.
func hardened(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// site puts the JSON API, the static assets and the pages on one listener.
// The API (bearer tokens) and the pages (cookies and CSRF tokens) are
// separate muxes with their own error shapes.
func site(api, pages http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/static/", web.Static())
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	mux.Handle("/", pages)
	return mux
}

// backgroundJobs returns the owned background work, given the backend under
// the watched store. On the embedded store this node sweeps and takes the
// scheduled backups alone. On PostgreSQL every node beats a heartbeat proven
// with a key from the keyset and runs its lock watchdog; the node that holds
// the job lock sweeps, takes the scheduled backups and its watchdog acts
// first, the others stand by to take over and act when the leader does not.
func backgroundJobs(ctx context.Context, c config.Config, svc *app.Service, backend storage.Store, log *slog.Logger, metrics *prometheus.Registry, audit *merkle.Job) (func(context.Context), error) {
	sched, err := backupScheduler(c, backend, log, metrics) // backupsched.go
	if err != nil {
		return nil, err
	}
	kw, err := kitWriter(c, svc, log, metrics) // kit.go
	if err != nil {
		return nil, err
	}
	rk, closeRekey, err := rekeyStore(ctx, c, svc, log) // keysloop.go
	if err != nil {
		return nil, err
	}
	pg, ok := backend.(*postgres.Store)
	if !ok {
		return func(ctx context.Context) {
			var wg sync.WaitGroup
			wg.Go(func() { auditLoop(ctx, audit) })
			if d, ok := svc.Outbox.(*notify.Dispatcher); ok {
				wg.Go(func() { d.Run(ctx, time.Duration(c.Notify.Poll), nil) })
			}
			wg.Go(func() { fhirDeliverer(c, svc, log).Run(ctx, time.Duration(c.Notify.Poll), nil) }) // fhir.go
			wg.Go(func() { keysLoop(ctx, c, svc, rk, log, func() bool { return true }) })
			wg.Go(func() { backupLoop(ctx, sched, func() bool { return true }) })
			wg.Go(func() { kitLoop(ctx, kw, func() bool { return true }) })
			wg.Go(func() { purgeLoop(ctx, c, svc, rk, log, func() bool { return true }) }) // privacy.go
			svc.Run(ctx, time.Duration(c.SweepInterval))
			wg.Wait()
		}, nil
	}
	jobs := pg.NewJobs(c.NodeName(), log)
	if c.WatchdogDB == "" {
		log.Warn("watchdog_db is not set: the lock watchdog is off, and a session locking the registration tables will not be ended")
	} else {
		wd, err := postgres.OpenWatchdog(ctx, c.WatchdogDB, c.NodeName(), svc.Vault.Key(postgres.NodeKeyPurpose), log)
		if err != nil {
			return nil, err
		}
		wd.CancelAfter, wd.TerminateAfter = time.Duration(c.WatchdogCancelAfter), time.Duration(c.WatchdogTerminateAfter)
		wd.ReportOnly, wd.Allow = c.WatchdogReportOnly, c.WatchdogAllow
		jobs.Watchdog = wd
		for action, count := range map[string]func(postgres.WatchdogStats) int64{
			"cancel":    func(s postgres.WatchdogStats) int64 { return s.Cancelled },
			"terminate": func(s postgres.WatchdogStats) int64 { return s.Terminated },
			"report":    func(s postgres.WatchdogStats) int64 { return s.Reported },
			"alert":     func(s postgres.WatchdogStats) int64 { return s.Alerted },
		} {
			metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_watchdog_actions_total",
				Help:        "Sessions blocking fairslot that this node's lock watchdog cancelled, terminated, (report-only) reported, or alerted about as beyond it.",
				ConstLabels: prometheus.Labels{"action": action}},
				func() float64 { return float64(count(wd.Stats())) }))
		}
	}
	metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_job_leader",
		Help: "1 while this node holds the job lock and runs the sweeps."},
		func() float64 {
			if jobs.Leading() {
				return 1
			}
			return 0
		}))
	return func(ctx context.Context) {
		if jobs.Watchdog != nil {
			defer jobs.Watchdog.Pool.Close()
		}
		defer closeRekey()
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { keysLoop(ctx, c, svc, rk, log, jobs.Leading) })
		if d, ok := svc.Outbox.(*notify.Dispatcher); ok {
			wg.Go(func() { d.Run(ctx, time.Duration(c.Notify.Poll), jobs.Leading) })
		}
		wg.Go(func() { fhirDeliverer(c, svc, log).Run(ctx, time.Duration(c.Notify.Poll), jobs.Leading) }) // fhir.go
		wg.Go(func() { backupLoop(ctx, sched, jobs.Leading) })
		wg.Go(func() { kitLoop(ctx, kw, jobs.Leading) })
		wg.Go(func() { purgeLoop(ctx, c, svc, rk, log, jobs.Leading) }) // privacy.go
		var lastSweep time.Time
		jobs.Run(ctx, func(ctx context.Context) {
			audit.Tick(ctx, time.Now()) // numbers, checkpoints and verifies when due
			if time.Since(lastSweep) >= time.Duration(c.SweepInterval) {
				lastSweep = time.Now()
				if err := svc.Sweep(ctx); err != nil && ctx.Err() == nil {
					log.Error("sweep failed", "err", err)
				}
			}
		})
	}, nil
}

func printBanner(w io.Writer, addr net.Addr, demoMode, https bool) {
	scheme := "http"
	if https {
		scheme = "https"
	}
	url := scheme + "://" + addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		url = fmt.Sprintf("%s://127.0.0.1:%d", scheme, tcp.Port)
	}
	fmt.Fprintf(w, "fairslot %s listening on %s\n", version, url)
	if !demoMode {
		return
	}
	fmt.Fprintf(w, "\nDemo hospital. Pages: %s/ (patients), %s/staff/login (staff), %s/kiosk, %s/board/1 (waiting room);\n", url, url, url, url)
	fmt.Fprintf(w, "API under %s/api/v1/ (see README for both tours).\n", url)
	fmt.Fprintf(w, "  patient: phone %s; log in at /login (or POST /api/v1/auth/code): the code appears in this log\n", demo.PatientPhone)
	for _, s := range demo.Staff {
		fmt.Fprintf(w, "  staff:   %-7s / %s  (%s)\n", s.Username, demo.Password, s.Role)
	}
	fmt.Fprintln(w)
}
