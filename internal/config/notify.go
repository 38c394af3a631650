package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
)

// Notify configures the notification outbox's dispatcher and its provider
// (internal/notify; issue 13, item 3). Messages are written to the outbox
// by the request that makes them; the job leader sends them.
type Notify struct {
	// Provider is where messages go: "log" (the demo's: the server log;
	// it writes login codes there, so it is for the demo and tests),
	// "sms_http" (an HTTP SMS gateway), "smtp" (email), or "none": the
	// outbox keeps every message and the backlog grows. Empty: "log" in
	// demo mode, "none" otherwise.
	Provider string `json:"provider"`
	// PhoneCountry is the calling code (without +) of a phone number
	// written without one; China's by default.
	PhoneCountry string `json:"phone_country"`
	// MaxAttempts sends before a message is dead (an ALERT in the log);
	// between tries the wait doubles from Backoff up to MaxBackoff.
	MaxAttempts int               `json:"max_attempts"`
	Backoff     fairslot.Duration `json:"backoff"`
	MaxBackoff  fairslot.Duration `json:"max_backoff"`
	// Poll is how often the leader looks for due messages when nothing
	// woke it sooner.
	Poll fairslot.Duration `json:"poll"`
	// PayReminderBefore is how long before a waitlist offer's or a draw
	// win's payment deadline the patient is reminded to pay (1m up to,
	// not including, release.win_hold and release.offer_hold).
	PayReminderBefore fairslot.Duration `json:"pay_reminder_before"`
	// DayReminderAt is the hospital's local time (HH:MM, 08:00–21:00: not
	// a message at night), the day before a session, from which each of
	// its confirmed bookings is reminded.
	DayReminderAt fairslot.TimeOfDay `json:"day_reminder_at"`
	SMSHTTP       SMSHTTP            `json:"sms_http"`
	SMTP          SMTP               `json:"smtp"`
}

// SMSHTTP is an HTTP SMS gateway: a POST of Template (text/template over
// .phone, .text, .ref; the json function quotes a string) to URL, signed
// with HMAC-SHA256 of the timestamp and the body under Secret, in
// SignatureHeader (hex) beside X-Timestamp.
type SMSHTTP struct {
	URL             string            `json:"url"`
	Template        string            `json:"template"`
	ContentType     string            `json:"content_type"`
	Secret          string            `json:"secret"`
	SignatureHeader string            `json:"signature_header"`
	Timeout         fairslot.Duration `json:"timeout"`
}

// SMTP is an email relay. A message to a phone goes to phone@PhoneDomain
// (an email-to-SMS gateway), when set.
type SMTP struct {
	Addr        string            `json:"addr"` // host:port
	Username    string            `json:"username"`
	Password    string            `json:"password"`
	From        string            `json:"from"`
	PhoneDomain string            `json:"phone_domain"`
	Timeout     fairslot.Duration `json:"timeout"`
}

func defaultNotify() Notify {
	return Notify{PhoneCountry: fairslot.DefaultPhoneCountry, MaxAttempts: 8,
		Backoff: fairslot.Duration(5 * time.Second), MaxBackoff: fairslot.Duration(10 * time.Minute),
		Poll:              fairslot.Duration(time.Second),
		PayReminderBefore: fairslot.Duration(10 * time.Minute), DayReminderAt: 18 * 60,
		SMSHTTP: SMSHTTP{SignatureHeader: "X-Signature", ContentType: "application/json", Timeout: fairslot.Duration(10 * time.Second)},
		SMTP:    SMTP{Timeout: fairslot.Duration(10 * time.Second)},
	}
}

func (n Notify) validate() error {
	if n.PhoneCountry == "" || len(n.PhoneCountry) > 3 || strings.Trim(n.PhoneCountry, "0123456789") != "" || n.PhoneCountry[0] == '0' {
		return fmt.Errorf("config: notify.phone_country must be a calling code such as 86 or 84")
	}
	if n.MaxAttempts < 1 || n.Backoff < fairslot.Duration(time.Millisecond) || n.MaxBackoff < n.Backoff || n.Poll < fairslot.Duration(10*time.Millisecond) {
		return fmt.Errorf("config: notify.max_attempts must be at least 1, 0 < notify.backoff ≤ notify.max_backoff, notify.poll at least 10ms")
	}
	if n.DayReminderAt < 8*60 || n.DayReminderAt > 21*60 {
		return fmt.Errorf("config: notify.day_reminder_at must be a time of day from 08:00 to 21:00")
	}
	switch n.Provider {
	case "", "none", "log":
	case "sms_http":
		u, err := url.Parse(n.SMSHTTP.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("config: notify.sms_http.url must be an http(s) URL")
		}
		if n.SMSHTTP.Secret == "" || n.SMSHTTP.SignatureHeader == "" || n.SMSHTTP.Timeout <= 0 {
			return fmt.Errorf("config: notify.sms_http needs secret, signature_header and a positive timeout")
		}
	case "smtp":
		if n.SMTP.Addr == "" || n.SMTP.From == "" || n.SMTP.Timeout <= 0 {
			return fmt.Errorf("config: notify.smtp needs addr, from and a positive timeout")
		}
	default:
		return fmt.Errorf("config: notify.provider must be log, sms_http, smtp or none")
	}
	return nil
}

func (n Notify) redacted() Notify {
	if n.SMSHTTP.Secret != "" {
		n.SMSHTTP.Secret = "REDACTED"
	}
	if n.SMTP.Password != "" {
		n.SMTP.Password = "REDACTED"
	}
	n.SMSHTTP.URL = redactURL(n.SMSHTTP.URL)
	return n
}
