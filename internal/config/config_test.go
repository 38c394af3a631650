package config_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/config"
)

func TestLoadOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fairslot.json")
	os.WriteFile(file, []byte(`{"addr": ":9000", "data_dir": "/from/file", "booking": {"hold_for": "10m"}}`), 0o600)
	env := map[string]string{"FAIRSLOT_DATA_DIR": "/from/env"}
	c, err := config.Load(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9000" || c.DataDir != "/from/env" || c.Booking.HoldFor != fairslot.Duration(10*time.Minute) || c.Booking.MaxPerDay != 2 {
		t.Errorf("Load = addr %q, data_dir %q, hold_for %v, max_per_day %d; want file, env, file, default",
			c.Addr, c.DataDir, time.Duration(c.Booking.HoldFor), c.Booking.MaxPerDay)
	}
}

func TestLoadBackupSecretsFromEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fairslot.json")
	os.WriteFile(file, []byte(`{"backup": {"every": "1h", "keep": [{"every": "1h", "keep_for": "48h"}],
		"s3": {"endpoint": "s3.example:443", "bucket": "b", "access_key": "put-only"}}}`), 0o600)
	env := map[string]string{"FAIRSLOT_BACKUP_S3_SECRET_KEY": "from-env", "FAIRSLOT_BACKUP_DB": "postgres://owner:pw@h/db"}
	c, err := config.Load(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := config.KeepRule{Every: fairslot.Duration(time.Hour), KeepFor: fairslot.Duration(48 * time.Hour)}
	if c.Backup.S3.SecretKey != "from-env" || c.Backup.DB != env["FAIRSLOT_BACKUP_DB"] || c.Backup.Every != fairslot.Duration(time.Hour) ||
		len(c.Backup.Keep) != 1 || c.Backup.Keep[0] != want {
		t.Errorf("Load = %+v, s3 %+v; want the secret and the URL from the environment, the rest from the file", c.Backup, *c.Backup.S3)
	}
}

func TestLoadRejectsUnknownFields(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fairslot.json")
	os.WriteFile(file, []byte(`{"adress": ":9000"}`), 0o600)
	if _, err := config.Load(file, func(string) string { return "" }); err == nil {
		t.Error("a misspelt setting was accepted")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Config)
		ok   bool
	}{
		{"defaults", func(*config.Config) {}, true},
		{"keyset inside the data directory", func(c *config.Config) { c.Keyset = "./fairslot-data/keys.json" }, false},
		{"bad time zone", func(c *config.Config) { c.Timezone = "Mars/Olympus" }, false},
		{"the host's time zone", func(c *config.Config) { c.Timezone = "Local" }, false},
		{"no time zone", func(c *config.Config) { c.Timezone = "" }, false},
		{"Vietnam", func(c *config.Config) { c.Timezone, c.Currency = "Asia/Ho_Chi_Minh", "VND" }, true},
		{"not a currency", func(c *config.Config) { c.Currency = "yuan" }, false},
		{"names in a language the pages lack", func(c *config.Config) { c.Names = map[string]map[string]string{"fr": {"儿科": "Pédiatrie"}} }, false},
		{"names", func(c *config.Config) { c.Names = map[string]map[string]string{"vi": {"儿科": "Khoa Nhi"}} }, true},
		{"bad log level", func(c *config.Config) { c.LogLevel = "loud" }, false},
		{"bad booking policy", func(c *config.Config) { c.Booking.MaxPerDepartmentPerDay = 0 }, false},
		{"a PostgreSQL URL", func(c *config.Config) { c.DB = "postgres://u:secret@h/db" }, true},
		{"another database URL", func(c *config.Config) { c.DB = "mysql://u:secret@h/db" }, false},
		{"trusted proxies", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"} }, true},
		{"a proxy by host name", func(c *config.Config) { c.TrustedProxies = []string{"proxy.hospital.example"} }, false},
		{"HSTS off", func(c *config.Config) { c.HSTS = "" }, true},
		{"HSTS without max-age", func(c *config.Config) { c.HSTS = "includeSubDomains" }, false},
		{"a TLS certificate without its key", func(c *config.Config) { c.TLSCert = "cert.pem" }, false},
		{"TLS", func(c *config.Config) { c.TLSCert, c.TLSKey = "cert.pem", "key.pem" }, true},
		{"patient tokens for a week", func(c *config.Config) { c.PatientTokenTTL = fairslot.Duration(7 * 24 * time.Hour) }, false},
		{"refresh shorter than access", func(c *config.Config) { c.PatientRefreshTTL = fairslot.Duration(time.Minute) }, false},
		{"access limits off", func(c *config.Config) { c.Access.PerHour = 0 }, false},
		{"access window of a day", func(c *config.Config) { c.Access.Window = fairslot.Duration(24 * time.Hour) }, false},
		{"backup recipients", func(c *config.Config) {
			c.Backup.Recipients = []string{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"}
		}, true},
		{"a backup recipient that is not an age key", func(c *config.Config) { c.Backup.Recipients = []string{"ssh-ed25519 AAAA"} }, false},
		{"scheduled backups to a directory", func(c *config.Config) {
			c.Backup = scheduled()
		}, true},
		{"scheduled backups with retention", func(c *config.Config) {
			c.Backup = scheduled()
			c.Backup.Keep = []config.KeepRule{{Every: fairslot.Duration(time.Hour), KeepFor: fairslot.Duration(48 * time.Hour)}}
		}, true},
		{"a retention rule of zero", func(c *config.Config) {
			c.Backup = scheduled()
			c.Backup.Keep = []config.KeepRule{{Every: fairslot.Duration(time.Hour)}}
		}, false},
		{"scheduled backups at full speed", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Duty = 1 }, true},
		{"scheduled backups a tenth of the time", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Duty = 0.1 }, true},
		{"a negative backup duty", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Duty = -0.5 }, false},
		{"a backup duty above 1", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Duty = 1.5 }, false},
		{"a backup duty that is not a number", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Duty = math.NaN() }, false},
		{"scheduled backups every millisecond", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Every = fairslot.Duration(time.Millisecond) }, false},
		{"scheduled backups without a recipient", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Recipients = nil }, false},
		{"scheduled backups without a destination", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Dir = "" }, false},
		{"scheduled backups to two destinations", func(c *config.Config) {
			c.Backup = scheduled()
			c.Backup.S3 = &config.S3{Endpoint: "s3.example:443", Bucket: "b"}
		}, false},
		{"scheduled backups inside the data directory", func(c *config.Config) { c.Backup = scheduled(); c.Backup.Dir = "./fairslot-data/backups" }, false},
		{"scheduled backups to S3 with object lock", func(c *config.Config) {
			c.Backup = scheduled()
			c.Backup.Dir = ""
			c.Backup.S3 = &config.S3{Endpoint: "s3.example:443", Bucket: "b", LockMode: "COMPLIANCE", LockFor: fairslot.Duration(30 * 24 * time.Hour)}
		}, true},
		{"an S3 endpoint given as a URL", func(c *config.Config) {
			c.Backup = scheduled()
			c.Backup.Dir = ""
			c.Backup.S3 = &config.S3{Endpoint: "https://s3.example", Bucket: "b"}
		}, false},
		{"an object lock mode without a period", func(c *config.Config) {
			c.Backup = scheduled()
			c.Backup.Dir = ""
			c.Backup.S3 = &config.S3{Endpoint: "s3.example:443", Bucket: "b", LockMode: "GOVERNANCE"}
		}, false},
		{"scheduled backups on PostgreSQL without the owner's URL", func(c *config.Config) {
			c.Backup = scheduled()
			c.DB = "postgres://u:secret@h/db"
		}, false},
		{"scheduled backups on PostgreSQL", func(c *config.Config) {
			c.Backup = scheduled()
			c.DB, c.Backup.DB = "postgres://u:secret@h/db", "postgres://owner:secret@h/db"
		}, true},
		{"stricter access limits", func(c *config.Config) {
			c.Access = config.AccessLimits{PerHour: 5, DistinctPatients: 3, Window: fairslot.Duration(time.Minute)}
		}, true},
	}
	for _, tt := range tests {
		c := config.Default()
		tt.mod(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// scheduled is a valid scheduled-backup configuration.
func scheduled() config.Backup {
	return config.Backup{Recipients: []string{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"},
		Every: fairslot.Duration(time.Hour), Dir: "/mnt/backups"}
}

func TestRedacted(t *testing.T) {
	c := config.Default()
	c.DB = "postgres://fairslot:s3cret@db.example/fairslot"
	c.WatchdogDB = "postgres://watchdog:s3cret@db.example/fairslot"
	c.Backup.DB = "postgres://owner:s3cret@db.example/fairslot"
	c.Backup.S3 = &config.S3{Endpoint: "s3.example:443", Bucket: "b", AccessKey: "put-only", SecretKey: "s3cret"}
	out := string(c.JSON())
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "REDACTED") {
		t.Errorf("printed config leaks the password or lost the redaction mark:\n%s", out)
	}
	c.DB = "mysql://fairslot:s3cret@db.example/fairslot"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Validate error leaks the password: %v", err)
	}
}

// The notify section's secrets are redacted, and its settings validated.
func TestNotifyConfig(t *testing.T) {
	c := config.Default()
	c.Notify.Provider = "sms_http"
	c.Notify.SMSHTTP.URL = "https://user:urlpass@sms.example/send"
	c.Notify.SMSHTTP.Secret = "hmac-s3cret"
	c.Notify.SMTP.Password = "smtp-s3cret"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Notify.PayReminderBefore, fairslot.Duration(10*time.Minute); got != want {
		t.Errorf("pay_reminder_before = %v, want %v by default", got, want)
	}
	if got := c.Notify.DayReminderAt.String(); got != "18:00" {
		t.Errorf("day_reminder_at = %s, want 18:00 by default", got)
	}
	short := c
	short.Notify.PayReminderBefore, short.Notify.DayReminderAt = fairslot.Duration(29*time.Minute), 8*60
	if err := short.Validate(); err != nil {
		t.Errorf("a reminder 29m before a 30m deadline, the day before at 08:00: %v", err)
	}
	out := string(c.JSON())
	for _, secret := range []string{"hmac-s3cret", "smtp-s3cret", "urlpass"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed config leaks %s:\n%s", secret, out)
		}
	}
	for _, tt := range []struct {
		name string
		set  func(*config.Notify)
	}{
		{"unknown provider", func(n *config.Notify) { n.Provider = "pigeon" }},
		{"sms without a secret", func(n *config.Notify) { n.SMSHTTP.Secret = "" }},
		{"sms without a URL", func(n *config.Notify) { n.SMSHTTP.URL = "sms.example" }},
		{"smtp without from", func(n *config.Notify) { n.Provider, n.SMTP.Addr = "smtp", "relay:25" }},
		{"phone country with +", func(n *config.Notify) { n.PhoneCountry = "+86" }},
		{"no attempts", func(n *config.Notify) { n.MaxAttempts = 0 }},
		{"no payment reminder lead", func(n *config.Notify) { n.PayReminderBefore = 0 }},
		{"a payment reminder as long as the offer", func(n *config.Notify) { n.PayReminderBefore = fairslot.Duration(30 * time.Minute) }},
		{"a day-before reminder at night", func(n *config.Notify) { n.DayReminderAt = 23 * 60 }},
		{"a day-before reminder at midnight", func(n *config.Notify) { n.DayReminderAt = 0 }},
	} {
		bad := c
		tt.set(&bad.Notify)
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: valid", tt.name)
		}
	}
}

// TestListenAddr: the demo prints its logins and shows one-time codes in its
// log, so unless an address is given it listens on this machine only; a
// server listens on every interface by default.
func TestListenAddr(t *testing.T) {
	given := config.Default()
	given.Addr = "0.0.0.0:9000"
	for _, tt := range []struct {
		c    config.Config
		demo bool
		want string
	}{
		{config.Default(), true, "127.0.0.1:8080"},
		{config.Default(), false, ":8080"},
		{given, true, "0.0.0.0:9000"},
		{given, false, "0.0.0.0:9000"},
	} {
		if got := tt.c.ListenAddr(tt.demo); got != tt.want {
			t.Errorf("addr %q, demo %v: ListenAddr = %q, want %q", tt.c.Addr, tt.demo, got, tt.want)
		}
	}
}

// The keyset-outside-the-data check resolves symbolic links: a keyset
// reached through a link into the data directory (the link on the keyset's
// side or on the data's, the file existing or not yet) is inside it.
func TestKeysetOutsideResolvesSymlinks(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	other := filepath.Join(root, "secrets")
	for _, d := range []string{data, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) string {
		p := filepath.Join(root, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keysIntoData := link(data, "keys")      // a "keys" directory that is the data directory
	dataIntoKeys := link(other, "datalink") // a data directory that is the secrets directory
	os.WriteFile(filepath.Join(data, "real.json"), []byte("{}"), 0o600)
	fileIntoData := link(filepath.Join(data, "real.json"), "keyset.json")
	os.Mkdir(filepath.Join(data, "sub"), 0o700)
	subOfData := link(filepath.Join(data, "sub"), "x") // x/.. is the data directory, not root
	tests := []struct {
		name, data, keyset string
		ok                 bool
	}{
		{"apart", data, filepath.Join(other, "keyset.json"), true},
		{"a sibling named like the data", data, filepath.Join(root, "data-keys", "k.json"), true},
		{"through a linked directory, not yet created", data, filepath.Join(keysIntoData, "new", "keyset.json"), false},
		{"a linked file", data, fileIntoData, false},
		{"data through a link", dataIntoKeys, filepath.Join(other, "keyset.json"), false},
		{"a link, then ..", data, subOfData + "/../keyset.json", false},
		{"a real directory, then ..", data, filepath.Join(other, "..", "secrets", "k.json"), true},
	}
	for _, tt := range tests {
		c := config.Default()
		c.DataDir, c.Keyset = tt.data, tt.keyset
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestHospitalZoneNotTheHosts: the default zone is the hospital's
// (Asia/Shanghai) whatever zone the host is set to.
func TestHospitalZoneNotTheHosts(t *testing.T) {
	host := time.Local
	t.Cleanup(func() { time.Local = host })
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	time.Local = ny
	loc, err := config.Default().Location()
	if err != nil || loc.String() != "Asia/Shanghai" {
		t.Fatalf("default zone %v, %v; want Asia/Shanghai", loc, err)
	}
	// 00:30 in Shanghai is the previous afternoon in New York.
	at := time.Date(2026, 12, 11, 0, 30, 0, 0, loc)
	if got := at.In(time.Local).Format(time.DateOnly); got != "2026-12-10" {
		t.Fatalf("the host's date %s; the test needs a host zone whose date differs", got)
	}
	if got := time.Unix(at.Unix(), 0).In(loc).Format(time.DateOnly); got != "2026-12-11" {
		t.Errorf("the hospital's date %s, want 2026-12-11", got)
	}
}
