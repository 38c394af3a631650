// Package config loads fairslot's configuration: defaults, then an optional
// JSON file, then FAIRSLOT_* environment variables, then command-line flags.
// It validates the result and prints it with secrets redacted. It holds no
// global state.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // the hospital's zone, whatever the host has installed

	"golang.org/x/text/currency"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/queue"
	"github.com/fairslot/fairslot/internal/release"
)

// Config is the whole configuration.
type Config struct {
	// Addr is the public (or only) listener. Empty: ":8080", every
	// interface — but 127.0.0.1:8080 in demo mode, whose logins are printed.
	Addr string `json:"addr"`
	// StaffAddr, when set, is the internal listener for staff, kiosks and
	// displays: its traffic is never shed for public traffic, and the public
	// listener then serves no staff endpoint. Keep it off the public network.
	StaffAddr string `json:"staff_addr"`
	AdminAddr string `json:"admin_addr"` // Prometheus /metrics; empty: off. Keep it off the public network.
	// Admission switches the front door (lanes, rate limits, challenges)
	// on; off only to measure a baseline.
	Admission bool             `json:"admission"`
	FrontDoor frontdoor.Config `json:"front_door"`
	// CatalogueTTL is how long an answer of the public catalogue API
	// (departments, doctors, sessions: the same for everyone) is reused, so
	// that a flood of reads costs one database read per address and TTL.
	CatalogueTTL fairslot.Duration `json:"catalogue_ttl"`
	// InsecureCookies drops the Secure flag from the pages' cookies, for an
	// intranet served over plain HTTP (browsers keep Secure cookies on
	// localhost anyway). Off by default: put TLS in front of the pages.
	InsecureCookies bool `json:"insecure_cookies"`
	// KioskIdle is how long a kiosk page waits for a touch or a key before
	// it goes back to the start screen (default 60s).
	KioskIdle fairslot.Duration `json:"kiosk_idle"`
	// TrustedProxies are the networks (CIDR prefixes or addresses) of the
	// proxies in front of the server, the hospital's TLS proxy: only from
	// them are X-Forwarded-For (the client's address, for every limit and
	// audit record) and X-Forwarded-Proto believed. Empty: none — the TCP
	// peer is the client, and both headers are ignored.
	TrustedProxies []string `json:"trusted_proxies"`
	// HSTS is the Strict-Transport-Security header sent on every response
	// to a request that came over TLS (the server's own, or a trusted
	// proxy's); empty: none.
	HSTS string `json:"hsts"`
	// TLSCert and TLSKey, both set, make the listeners serve HTTPS
	// themselves (PEM files); else plain HTTP, for a TLS proxy in front.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// PatientTokenTTL is how long a patient's access token lives;
	// PatientRefreshTTL how long its refresh token does, renewed (and
	// rotated) with every refresh.
	PatientTokenTTL   fairslot.Duration `json:"patient_token_ttl"`
	PatientRefreshTTL fairslot.Duration `json:"patient_refresh_ttl"`
	DataDir           string            `json:"data_dir"`
	Keyset            string            `json:"keyset"`
	DB                string            `json:"db"` // empty: SQLite in the data directory; else a postgres:// URL (the online role)
	// Node names this server in the database (application_name, heartbeats).
	Node string `json:"node"`
	// PostgreSQL connection settings for every online connection.
	// pg_lock_timeout bounds all the lock waits of one transaction together
	// (PostgreSQL's own bounds each wait alone).
	LockTimeout      fairslot.Duration `json:"pg_lock_timeout"`
	StatementTimeout fairslot.Duration `json:"pg_statement_timeout"`
	IdleInTxTimeout  fairslot.Duration `json:"pg_idle_in_transaction_timeout"`
	// The lock watchdog (PostgreSQL): every node runs one, connected as a
	// role in pg_signal_backend and pg_read_all_stats (fairslot_watchdog),
	// and ends any session that is not a superuser's and blocks online work
	// (idle: at watchdog_cancel_after; running: cancelled then, terminated at
	// watchdog_terminate_after); off when watchdog_db is empty.
	WatchdogDB             string            `json:"watchdog_db"`
	WatchdogCancelAfter    fairslot.Duration `json:"watchdog_cancel_after"`
	WatchdogTerminateAfter fairslot.Duration `json:"watchdog_terminate_after"`
	WatchdogReportOnly     bool              `json:"watchdog_report_only"`
	WatchdogAllow          []string          `json:"watchdog_allow"` // database users never touched (a backup role, say)
	// Timezone is the hospital's IANA time zone (default Asia/Shanghai):
	// its days, release times and cut-offs. The host's zone is never used —
	// a server in another zone must not move the hospital's dates — so
	// "Local" is refused. The zone database is built into the binary.
	Timezone string `json:"timezone"`
	// Currency is the ISO 4217 code of the hospital's fees (default CNY;
	// VND in Vietnam). Fees are stored in its minor unit: fen for CNY, the
	// dong for VND (whose ISO minor unit is 0).
	Currency string `json:"currency"`
	// Names translates department and doctor names on the pages: language
	// code ("zh-CN", "vi", "en"), then the name as stored, then how that
	// language writes it. A name without one is shown as stored.
	Names         map[string]map[string]string `json:"names"`
	LogLevel      string                       `json:"log_level"`
	LogFormat     string                       `json:"log_format"`
	Synchronous   string                       `json:"sqlite_synchronous"`
	BusyTimeout   fairslot.Duration            `json:"busy_timeout"`
	SweepInterval fairslot.Duration            `json:"sweep_interval"`
	// On SIGTERM the node first reports not ready and keeps serving for
	// ShutdownDrain (so a load balancer stops sending it requests, and
	// clients are told to close their connections), then stops accepting
	// and waits up to ShutdownTimeout for requests in flight.
	ShutdownDrain   fairslot.Duration `json:"shutdown_drain"`
	ShutdownTimeout fairslot.Duration `json:"shutdown_timeout"`
	Booking         booking.Policy    `json:"booking"`
	Queue           queue.Policy      `json:"queue"`
	Release         release.Policy    `json:"release"`
	// CancelOffersNextSession: when the hospital cancels a session, each
	// affected patient's message names the doctor's next session with free
	// places, to book if they wish (nothing is booked for them). Off by
	// default.
	CancelOffersNextSession bool `json:"cancel_offers_next_session"`
	// Referral is referral review's timing and screener (referral.go).
	Referral ReferralConfig `json:"referral"`

	// Staff sign-in (issue 12): a staff session ends after session_max, or
	// after session_idle without a request; lock_after failed sign-ins
	// within lock_window lock the account until a security officer or an
	// admin unlocks it; an enrolment code (for a new or reset account's
	// first sign-in) is valid for enrol_code_ttl.
	Staff StaffConfig `json:"staff"`
	// Access bounds each staff account's reveals and look-ups by ID number
	// (issue 12 item 5): more than per_hour in an hour, or more than
	// distinct_patients patients within window, locks the account until
	// security unlocks it.
	Access AccessLimits `json:"access"`
	// Audit is the tamper-evident audit log's checkpoints, verification
	// and witnesses (audit.go).
	Audit Audit `json:"audit"`
	// Keys is how the server follows keyset rotations (keys.go).
	Keys Keys `json:"keys"`
	// Backup is who the backups are encrypted to (backup.go).
	Backup Backup `json:"backup"`
	// Replica is the embedded database's continuous replication (replica.go).
	Replica Replica `json:"replica"`
	// Notify is the notification outbox's provider and retries, and the
	// hospital's phone country (notify.go).
	Notify Notify `json:"notify"`
	// Kit is the downtime kit the job leader writes (kit.go).
	Kit Kit `json:"kit"`
	// FHIR is the FHIR facade's Subscriptions' allowed networks (fhir.go).
	FHIR FHIR `json:"fhir"`
	// Privacy is the privacy notice's version and the retention period of
	// patients' personal fields (privacy.go).
	Privacy Privacy `json:"privacy"`
	// Risk is the risk signals' rules and the actions' thresholds
	// (risk.go): the hospital's own.
	Risk Risk `json:"risk"`
}

// StaffConfig is the staff sign-in policy's configurable part.
type StaffConfig struct {
	SessionMax  fairslot.Duration `json:"session_max"`
	SessionIdle fairslot.Duration `json:"session_idle"`
	LockAfter   int               `json:"lock_after"`
	LockWindow  fairslot.Duration `json:"lock_window"`
	// EnrolCodeTTL is how long the one-time enrolment code of a new or
	// reset account stays valid (default 72h).
	EnrolCodeTTL fairslot.Duration `json:"enrol_code_ttl"`
}

// AccessLimits is the access section of the configuration.
type AccessLimits struct {
	PerHour          int               `json:"per_hour"`
	DistinctPatients int               `json:"distinct_patients"`
	Window           fairslot.Duration `json:"window"`
}

// Limits returns the limits the rules take.
func (a AccessLimits) Limits() access.Limits {
	return access.Limits{PerHour: a.PerHour, DistinctPatients: a.DistinctPatients, Window: time.Duration(a.Window)}
}

// DefaultHSTS is the Strict-Transport-Security value sent over TLS unless
// configured otherwise: a year, subdomains included.
const DefaultHSTS = "max-age=31536000; includeSubDomains"

// Default returns the defaults.
func Default() Config {
	return Config{
		Admission: true, FrontDoor: frontdoor.Default(), CatalogueTTL: fairslot.Duration(time.Second), DataDir: "./fairslot-data", Keyset: "./fairslot-keyset.json", Timezone: "Asia/Shanghai", Currency: "CNY", KioskIdle: fairslot.Duration(time.Minute),
		LogLevel: "info", LogFormat: "text", Synchronous: "FULL",
		HSTS:                   DefaultHSTS,
		PatientTokenTTL:        fairslot.Duration(time.Hour),
		PatientRefreshTTL:      fairslot.Duration(30 * 24 * time.Hour),
		BusyTimeout:            fairslot.Duration(5 * time.Second),
		LockTimeout:            fairslot.Duration(2 * time.Second),
		StatementTimeout:       fairslot.Duration(10 * time.Second),
		IdleInTxTimeout:        fairslot.Duration(30 * time.Second),
		WatchdogCancelAfter:    fairslot.Duration(5 * time.Second),
		WatchdogTerminateAfter: fairslot.Duration(10 * time.Second),
		SweepInterval:          fairslot.Duration(30 * time.Second),
		ShutdownDrain:          fairslot.Duration(5 * time.Second),
		ShutdownTimeout:        fairslot.Duration(20 * time.Second),
		Booking:                booking.Default(), Queue: queue.Default(), Release: release.Default(),
		Kit: Kit{Every: fairslot.Duration(10 * time.Minute), Lang: "zh-CN", Keep: 6},
		// Staff sign-in.
		Staff: StaffConfig{SessionMax: fairslot.Duration(8 * time.Hour), SessionIdle: fairslot.Duration(30 * time.Minute),
			LockAfter: 10, LockWindow: fairslot.Duration(15 * time.Minute), EnrolCodeTTL: fairslot.Duration(72 * time.Hour)},
		// Access limits: 30 reveals and look-ups an hour, 10 patients in 10 minutes.
		Access:  AccessLimits{PerHour: access.DefaultPerHour, DistinctPatients: access.DefaultDistinctPatients, Window: fairslot.Duration(access.DefaultWindow)},
		Audit:   defaultAudit(),
		Keys:    defaultKeys(),
		Notify:  defaultNotify(),
		Privacy: defaultPrivacy(),
		Risk:    defaultRisk(),

		Replica: defaultReplica(),
	}
}

// env lists the variables read, each with the field it sets.
func (c *Config) env() map[string]*string {
	return map[string]*string{
		"FAIRSLOT_ADDR": &c.Addr, "FAIRSLOT_STAFF_ADDR": &c.StaffAddr, "FAIRSLOT_ADMIN_ADDR": &c.AdminAddr, "FAIRSLOT_REDIS": &c.FrontDoor.Redis, "FAIRSLOT_DATA_DIR": &c.DataDir, "FAIRSLOT_KEYSET": &c.Keyset, "FAIRSLOT_DB": &c.DB, "FAIRSLOT_NODE": &c.Node, "FAIRSLOT_WATCHDOG_DB": &c.WatchdogDB, "FAIRSLOT_REKEY_DB": &c.Keys.RekeyDB, "FAIRSLOT_BACKUP_DB": &c.Backup.DB, "FAIRSLOT_KIT_DIR": &c.Kit.Dir,
		"FAIRSLOT_TIMEZONE": &c.Timezone, "FAIRSLOT_CURRENCY": &c.Currency, "FAIRSLOT_LOG_LEVEL": &c.LogLevel, "FAIRSLOT_LOG_FORMAT": &c.LogFormat,
		"FAIRSLOT_SQLITE_SYNCHRONOUS": &c.Synchronous,
		"FAIRSLOT_NOTIFY_PROVIDER":    &c.Notify.Provider, "FAIRSLOT_NOTIFY_SMS_SECRET": &c.Notify.SMSHTTP.Secret, "FAIRSLOT_NOTIFY_SMTP_PASSWORD": &c.Notify.SMTP.Password,
		"FAIRSLOT_REFERRAL_SCREENER_TOKEN": &c.Referral.ScreenerToken,
	}
}

// Load builds the configuration from the defaults, the file at path (if not
// empty) and the environment (getenv, usually os.Getenv).
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	for name, field := range c.env() {
		if v := getenv(name); v != "" {
			*field = v
		}
	}
	if v := getenv("FAIRSLOT_BACKUP_S3_SECRET_KEY"); v != "" && c.Backup.S3 != nil {
		c.Backup.S3.SecretKey = v // kept out of the file
	}
	if v := getenv("FAIRSLOT_REPLICA_DIR"); v != "" {
		c.Replica.Dir = v
	}
	if v := getenv("FAIRSLOT_REPLICA_S3_SECRET_KEY"); v != "" && c.Replica.S3 != nil {
		c.Replica.S3.SecretKey = v
	}
	return c, nil
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.DataDir == "" || c.Keyset == "" {
		return fmt.Errorf("config: data_dir and keyset are required")
	}
	if _, err := c.Location(); err != nil {
		return err
	}
	if c.KioskIdle < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: kiosk_idle must be at least 1s")
	}
	if _, err := currency.ParseISO(c.Currency); err != nil {
		return fmt.Errorf("config: currency %q is not an ISO 4217 code", c.Currency)
	}
	for lang := range c.Names {
		if lang != "zh-CN" && lang != "vi" && lang != "en" {
			return fmt.Errorf("config: names: %q is not a language of the pages (zh-CN, vi, en)", lang)
		}
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return fmt.Errorf("config: db must be empty (the embedded store) or a postgres:// URL, not %q", c.Redacted().DB)
	}
	if c.LockTimeout <= 0 || c.StatementTimeout <= 0 || c.IdleInTxTimeout <= 0 {
		return fmt.Errorf("config: the pg_* timeouts must be positive")
	}
	if c.WatchdogDB != "" && c.DB == "" {
		return fmt.Errorf("config: watchdog_db is for PostgreSQL; set db too")
	}
	if c.WatchdogCancelAfter <= 0 || c.WatchdogTerminateAfter < c.WatchdogCancelAfter {
		return fmt.Errorf("config: want 0 < watchdog_cancel_after ≤ watchdog_terminate_after")
	}
	if in, err := Within(c.DataDir, c.Keyset); err != nil {
		return fmt.Errorf("config: cannot resolve data_dir or keyset: %v", err)
	} else if in {
		return fmt.Errorf("config: the keyset %s must live outside the data directory %s (symbolic links resolved), so a copy of the data holds no key", c.Keyset, c.DataDir)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level must be debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config: log_format must be text or json")
	}
	if c.CatalogueTTL < 0 || c.CatalogueTTL > fairslot.Duration(time.Minute) {
		return fmt.Errorf("config: catalogue_ttl must be 0 (off) to 1m")
	}
	if c.BusyTimeout <= 0 || c.SweepInterval <= 0 || c.ShutdownTimeout <= 0 || c.ShutdownDrain < 0 {
		return fmt.Errorf("config: busy_timeout, sweep_interval and shutdown_timeout must be positive, shutdown_drain not negative")
	}
	if _, err := frontdoor.ParseProxies(c.TrustedProxies); err != nil {
		return err
	}
	if c.HSTS != "" && !strings.HasPrefix(c.HSTS, "max-age=") {
		return fmt.Errorf("config: hsts must be empty (off) or a Strict-Transport-Security value starting max-age=")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("config: set tls_cert and tls_key together, or neither (TLS at a proxy)")
	}
	if c.Staff.SessionIdle < fairslot.Duration(time.Minute) || c.Staff.SessionIdle > c.Staff.SessionMax || c.Staff.SessionMax > fairslot.Duration(24*time.Hour) {
		return fmt.Errorf("config: staff.session_idle must be at least 1m and at most staff.session_max, which is at most 24h")
	}
	if c.Staff.LockAfter < 3 || c.Staff.LockAfter > 1000 || c.Staff.LockWindow < fairslot.Duration(time.Minute) {
		return fmt.Errorf("config: staff.lock_after must be 3 to 1000 and staff.lock_window at least 1m")
	}
	if c.Staff.EnrolCodeTTL < fairslot.Duration(10*time.Minute) || c.Staff.EnrolCodeTTL > fairslot.Duration(30*24*time.Hour) {
		return fmt.Errorf("config: staff.enrol_code_ttl must be 10m to 720h")
	}
	if c.PatientTokenTTL < fairslot.Duration(time.Minute) || c.PatientTokenTTL > fairslot.Duration(24*time.Hour) {
		return fmt.Errorf("config: patient_token_ttl must be 1m to 24h")
	}
	if c.PatientRefreshTTL < c.PatientTokenTTL || c.PatientRefreshTTL > fairslot.Duration(90*24*time.Hour) {
		return fmt.Errorf("config: patient_refresh_ttl must be at least patient_token_ttl and at most 90 days")
	}
	if c.Access.PerHour <= 0 || c.Access.DistinctPatients <= 0 || c.Access.Window <= 0 {
		return fmt.Errorf("config: access.per_hour, access.distinct_patients and access.window must be positive")
	}
	if err := c.Access.Limits().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Keys.validate(c.DB); err != nil {
		return err
	}
	if err := c.Audit.validate(c.DataDir); err != nil {
		return err
	}
	if err := c.Kit.validate(c.DataDir); err != nil {
		return err
	}
	if err := c.Backup.validate(c.DataDir, c.DB); err != nil {
		return err
	}
	if err := c.Privacy.validate(); err != nil {
		return err
	}
	if err := c.Risk.validate(); err != nil {
		return err
	}
	if err := c.Replica.validate(c.DataDir, c.DB); err != nil {
		return err
	}
	if err := c.Notify.validate(); err != nil {
		return err
	}
	if err := c.Referral.validate(); err != nil {
		return err
	}
	if _, err := c.FHIR.Networks(); err != nil {
		return err
	}
	if lead := c.Notify.PayReminderBefore; lead < fairslot.Duration(time.Minute) || lead >= min(c.Release.WinHold, c.Release.OfferHold) {
		return fmt.Errorf("config: notify.pay_reminder_before must be at least 1m and less than release.win_hold and release.offer_hold")
	}
	if err := c.FrontDoor.Validate(); err != nil {
		return err
	}
	if err := c.Booking.Validate(); err != nil {
		return err
	}
	if err := c.Queue.Validate(); err != nil {
		return err
	}
	return c.Release.Validate()
}

// Transport is the client-address and HSTS layer the configuration asks
// for (Validate has checked trusted_proxies).
func (c Config) Transport() *frontdoor.Transport {
	ps, _ := frontdoor.ParseProxies(c.TrustedProxies)
	return &frontdoor.Transport{Proxies: ps, HSTS: c.HSTS}
}

// ListenAddr is the public (or only) listener's address: the configured
// one, else :8080 — or, in demo mode, whose logins are printed and whose
// one-time codes are shown in the log, 127.0.0.1:8080, this machine only.
func (c Config) ListenAddr(demo bool) string {
	switch {
	case c.Addr != "":
		return c.Addr
	case demo:
		return "127.0.0.1:8080"
	}
	return ":8080"
}

// NodeName is the configured node name, or the host name.
func (c Config) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	h, err := os.Hostname()
	if err != nil {
		return "fairslot"
	}
	return h
}

// Location is the hospital's time zone.
func (c Config) Location() (*time.Location, error) {
	if c.Timezone == "" || strings.EqualFold(c.Timezone, "Local") {
		return nil, fmt.Errorf("config: timezone must name the hospital's zone (such as Asia/Shanghai or Asia/Ho_Chi_Minh), not the host's")
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("config: timezone %q: %w", c.Timezone, err)
	}
	return loc, nil
}

// Redacted returns c with secrets replaced: the passwords in database and
// Redis URLs, the SMS gateway's secret and the SMTP password.
func (c Config) Redacted() Config {
	c.DB, c.WatchdogDB, c.FrontDoor.Redis, c.Keys.RekeyDB = redactURL(c.DB), redactURL(c.WatchdogDB), redactURL(c.FrontDoor.Redis), redactURL(c.Keys.RekeyDB)
	c.Audit = c.Audit.redacted()
	c.Notify = c.Notify.redacted()
	c.Backup = c.Backup.redacted()
	c.Replica = c.Replica.redacted()
	c.Referral = c.Referral.redacted()
	return c
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			return u.String()
		}
	}
	return s
}

// JSON is the redacted configuration as indented JSON.
func (c Config) JSON() []byte {
	b, err := json.MarshalIndent(c.Redacted(), "", "  ")
	if err != nil {
		panic(err) // plain values only
	}
	return b
}
