package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// SMTP sends messages as email through a relay with the standard library's
// net/smtp: STARTTLS when the relay offers it (required before a password
// is sent, by net/smtp's PlainAuth, unless the relay is on localhost), then
// AUTH PLAIN when a username is set. A message to a phone goes to
// phone@PhoneDomain (an email-to-SMS gateway) when PhoneDomain is set, and
// is refused for good otherwise. The ref is the Message-ID's left part, so
// a relay or mailbox that deduplicates by Message-ID drops a repeat.
// A 5xx reply refuses the message for good; anything else is retried.
type SMTP struct {
	Addr               string // host:port
	Username, Password string
	From               string
	PhoneDomain        string
	Timeout            time.Duration // the whole exchange; 0: 10s
	Now                func() time.Time
}

// Send delivers m over one SMTP connection.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to := m.Recipient
	if m.Channel == "sms" {
		if s.PhoneDomain == "" {
			return Permanentf("smtp: no phone_domain to send a text message to a phone")
		}
		to = strings.TrimPrefix(to, "+") + "@" + s.PhoneDomain
	}
	if _, err := mail.ParseAddress(to); err != nil {
		return Permanentf("smtp: bad recipient address")
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return Permanentf("smtp: bad from address: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return classifySMTP(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return classifySMTP(err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return classifySMTP(err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return classifySMTP(err)
	}
	if err := c.Rcpt(to); err != nil {
		return classifySMTP(err)
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP(err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if _, err := w.Write(s.email(m, from, to, now())); err != nil {
		return classifySMTP(err)
	}
	if err := w.Close(); err != nil {
		return classifySMTP(err)
	}
	return classifySMTP(c.Quit())
}

// email is the RFC 5322 message: UTF-8 text, quoted-printable-free (base64
// would hide nothing; 8bit is accepted by every relay that speaks 8BITMIME,
// and the texts are short).
func (s *SMTP) email(m Message, from *mail.Address, to string, now time.Time) []byte {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	ref := m.Ref
	if ref == "" {
		b := make([]byte, 12)
		rand.Read(b)
		ref = hex.EncodeToString(b)
	}
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", to)
	h("Subject", mime.QEncoding.Encode("utf-8", "fairslot"))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+ref+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// classifySMTP makes a 5xx reply permanent; everything else (4xx, network)
// stays retryable.
func classifySMTP(err error) error {
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(fmt.Errorf("smtp: %w", err))
	}
	return fmt.Errorf("smtp: %w", err)
}
