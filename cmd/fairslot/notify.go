package main

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

// newDispatcher is the outbox's dispatcher with the configured provider;
// backgroundJobs runs it on the job leader. An empty provider is the log
// in demo mode (the demo's login codes in the server log, as ever), and
// none otherwise — and in simulation, whose messages cmd/fairsim reads
// from the simulation's board instead.
func newDispatcher(c config.Notify, svc *app.Service, st storage.Store, log *slog.Logger, demo, sim bool) (d *notify.Dispatcher, kind string, err error) {
	kind = c.Provider
	if kind == "" {
		kind = "none"
		if demo && !sim {
			kind = "log"
		}
	}
	d = &notify.Dispatcher{Store: st, Vault: svc.Vault, Log: log, Now: svc.Now, // the simulation's clock under --sim
		Retry: notify.Retry{MaxAttempts: c.MaxAttempts, Backoff: time.Duration(c.Backoff), MaxBackoff: time.Duration(c.MaxBackoff)}}
	switch kind {
	case "log":
		d.Provider = notify.Log{Log: log}
	case "sms_http":
		tmpl, err := notify.ParseSMSTemplate(c.SMSHTTP.Template)
		if err != nil {
			return nil, "", err
		}
		d.Provider = &notify.SMSHTTP{URL: c.SMSHTTP.URL, Body: tmpl, ContentType: c.SMSHTTP.ContentType, Secret: []byte(c.SMSHTTP.Secret),
			SignatureHeader: c.SMSHTTP.SignatureHeader, Timeout: time.Duration(c.SMSHTTP.Timeout)}
	case "smtp":
		d.Provider = &notify.SMTP{Addr: c.SMTP.Addr, Username: c.SMTP.Username, Password: c.SMTP.Password, From: c.SMTP.From,
			PhoneDomain: c.SMTP.PhoneDomain, Timeout: time.Duration(c.SMTP.Timeout)}
	case "none":
		if !demo {
			log.Warn("notify.provider is none: messages (login codes) stay in the outbox and are not sent; set notify.provider")
		}
	}
	return d, kind, nil
}

// registerNotifyMetrics exports the outbox's backlog and the dispatcher's
// counts, per provider.
func registerNotifyMetrics(metrics *prometheus.Registry, d *notify.Dispatcher, provider string) {
	labels := prometheus.Labels{"provider": provider}
	metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_notify_backlog",
		Help: "Messages in the outbox not yet sent nor dead, as the dispatcher last counted (on the job leader)."},
		func() float64 { return float64(d.Stats().Backlog) }))
	metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_notify_sent_total",
		Help: "Messages the provider accepted.", ConstLabels: labels},
		func() float64 { return float64(d.Stats().Sent) }))
	for outcome, count := range map[string]func(notify.Stats) int64{
		"retry": func(s notify.Stats) int64 { return s.Retried },
		"dead":  func(s notify.Stats) int64 { return s.Dead },
	} {
		metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_notify_failed_total",
			Help:        "Failed sends: retry (tried again later) or dead (refused for good or out of attempts; each an ALERT in the log).",
			ConstLabels: prometheus.Labels{"provider": provider, "outcome": outcome}},
			func() float64 { return float64(count(d.Stats())) }))
	}
}
