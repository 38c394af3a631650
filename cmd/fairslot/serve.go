package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address (env FAIRSLOT_ADDR, default :8080)")
	demoMode := fs.Bool("demo", false, "create a demo hospital if the database is empty, and show login codes in the log")
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if *addr != "" {
		c.Addr = *addr
	}
	if *demoMode {
		// The demo's 24-hour clinic takes bookings until a session ends, so
		// the tour works at any hour.
		c.Booking.SameDayUntilEnd = true
	}
	if err := c.Validate(); err != nil {
		return err
	}
	log := newLogger(c, stderr)
	svc, st, err := open(c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if *demoMode || *migrate {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	}
	if err := schemaCurrent(ctx, st); err != nil {
		return err
	}
	if *demoMode {
		svc.Notifier = demoNotifier{log}
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
	}
	if err := svc.RecordConfig(ctx, c.JSON()); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	// Closed when shutdown begins: display streams end then, while ordinary
	// in-flight requests run to completion.
	closing := make(chan struct{})
	api := &httpapi.Server{App: svc, Log: log, Closing: closing, Ready: func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return err
		}
		return schemaCurrent(ctx, st)
	}}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(closing) })

	var wg sync.WaitGroup
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	metrics := prometheus.NewRegistry()
	background, err := backgroundJobs(ctx, c, svc, st, log, metrics)
	if err != nil {
		return err
	}
	if c.AdminAddr != "" {
		admin, err := net.Listen("tcp", c.AdminAddr)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		adminSrv := &http.Server{Handler: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go adminSrv.Serve(admin)
		defer adminSrv.Close()
		log.Info("metrics on the admin listener", "url", "http://"+admin.Addr().String()+"/metrics")
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		background(sweepCtx)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	printBanner(stdout, ln.Addr(), *demoMode)

	select {
	case err := <-serveErr:
		stopSweep()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Duration(c.ShutdownTimeout))
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopSweep()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// backgroundJobs returns the owned background work. On the embedded store
// this node sweeps alone. On PostgreSQL the node that holds the job lock
// sweeps and runs the lock watchdog; the others stand by to take over.
func backgroundJobs(ctx context.Context, c config.Config, svc *app.Service, st storage.Store, log *slog.Logger, metrics *prometheus.Registry) (func(context.Context), error) {
	pg, ok := st.(*postgres.Store)
	if !ok {
		return func(ctx context.Context) { svc.Run(ctx, time.Duration(c.SweepInterval)) }, nil
	}
	var wd *postgres.Watchdog
	if c.WatchdogDB == "" {
		log.Warn("watchdog_db is not set: the lock watchdog is off, and a session locking the registration tables will not be ended")
	} else {
		var err error
		if wd, err = postgres.OpenWatchdog(ctx, c.WatchdogDB, c.NodeName(), log); err != nil {
			return nil, err
		}
		wd.CancelAfter, wd.TerminateAfter = time.Duration(c.WatchdogCancelAfter), time.Duration(c.WatchdogTerminateAfter)
		wd.ReportOnly, wd.Allow = c.WatchdogReportOnly, c.WatchdogAllow
	}
	jobs := pg.NewJobs(c.NodeName(), log)
	metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_job_leader",
		Help: "1 while this node holds the job lock and runs the sweeps and the lock watchdog."},
		func() float64 {
			if jobs.Leading() {
				return 1
			}
			return 0
		}))
	if wd != nil {
		for action, count := range map[string]func(postgres.WatchdogStats) int64{
			"cancel":    func(s postgres.WatchdogStats) int64 { return s.Cancelled },
			"terminate": func(s postgres.WatchdogStats) int64 { return s.Terminated },
			"report":    func(s postgres.WatchdogStats) int64 { return s.Reported },
		} {
			metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_watchdog_actions_total",
				Help:        "Sessions blocking fairslot that the lock watchdog cancelled, terminated or (report-only) reported.",
				ConstLabels: prometheus.Labels{"action": action}},
				func() float64 { return float64(count(wd.Stats())) }))
		}
	}
	return func(ctx context.Context) {
		if wd != nil {
			defer wd.Pool.Close()
		}
		var lastSweep time.Time
		jobs.Run(ctx, func(ctx context.Context) {
			if wd != nil {
				if err := wd.Check(ctx); err != nil && ctx.Err() == nil {
					log.Error("watchdog", "err", err)
				}
			}
			if time.Since(lastSweep) >= time.Duration(c.SweepInterval) {
				lastSweep = time.Now()
				if err := svc.Sweep(ctx); err != nil && ctx.Err() == nil {
					log.Error("sweep failed", "err", err)
				}
			}
		})
	}, nil
}

func printBanner(w io.Writer, addr net.Addr, demoMode bool) {
	url := "http://" + addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		url = fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}
	fmt.Fprintf(w, "fairslot %s listening on %s\n", version, url)
	if !demoMode {
		return
	}
	fmt.Fprintf(w, "\nDemo hospital. API under %s/api/v1/ (see README for a curl tour).\n", url)
	fmt.Fprintf(w, "  patient: phone %s; ask for a code with POST /api/v1/auth/code, the code appears in this log\n", demo.PatientPhone)
	for _, s := range demo.Staff {
		fmt.Fprintf(w, "  staff:   %-7s / %s  (%s)\n", s.Username, demo.Password, s.Role)
	}
	fmt.Fprintln(w)
}

// demoNotifier shows login codes in the server log, masked phone only. It is
// installed in demo mode only.
type demoNotifier struct{ log *slog.Logger }

func (n demoNotifier) Notify(_ context.Context, phone, text string) error {
	n.log.Info("demo: message not sent, shown here instead", "to", vault.MaskPhone(phone), "text", text)
	return nil
}
