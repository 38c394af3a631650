package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/template"
	"time"
)

// DefaultSMSTemplate is the gateway request body when none is configured.
const DefaultSMSTemplate = `{"phone":{{json .phone}},"text":{{json .text}},"ref":{{json .ref}}}`

// SMSHTTP sends a text message through an HTTP SMS gateway: the shape most
// hospital gateways in China and Vietnam accept. Each message is a POST of
// the body template to URL with the headers
//
//	X-Timestamp: Unix seconds
//	<SignatureHeader>: hex(HMAC-SHA256(Secret, timestamp + body))
//	Idempotency-Key: the message's ref
//
// A 2xx answer is sent; a 4xx other than 429 a permanent refusal; a 5xx, a
// 429, a timeout or a network error is tried again later. Only the status
// is read: the answer's body is never logged (it may echo the text).
type SMSHTTP struct {
	URL             string
	Body            *template.Template // over .phone, .text, .ref; nil: DefaultSMSTemplate
	ContentType     string             // "": application/json
	Secret          []byte
	SignatureHeader string        // "": X-Signature
	Timeout         time.Duration // each request; 0: 10s
	Client          *http.Client  // nil: a client without redirects
	Now             func() time.Time
}

// ParseSMSTemplate parses a gateway body template; the json function
// quotes a string as a JSON string.
func ParseSMSTemplate(text string) (*template.Template, error) {
	if text == "" {
		text = DefaultSMSTemplate
	}
	return template.New("sms").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(s string) (string, error) {
			b, err := json.Marshal(s)
			return string(b), err
		},
	}).Parse(text)
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Send posts m to the gateway.
func (g *SMSHTTP) Send(ctx context.Context, m Message) error {
	if m.Channel != "sms" {
		return Permanentf("the SMS gateway sends to phones, not %q", m.Channel)
	}
	tmpl := g.Body
	if tmpl == nil {
		var err error
		if tmpl, err = ParseSMSTemplate(""); err != nil {
			return err
		}
	}
	var body bytes.Buffer
	if err := tmpl.Execute(&body, map[string]string{"phone": m.Recipient, "text": m.Text, "ref": m.Ref}); err != nil {
		return Permanentf("sms gateway body template: %w", err)
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	mac := hmac.New(sha256.New, g.Secret)
	mac.Write([]byte(ts))
	mac.Write(body.Bytes())

	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL, &body)
	if err != nil {
		return Permanentf("sms gateway request: %w", err)
	}
	req.Header.Set("Content-Type", cmpOr(g.ContentType, "application/json"))
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set(cmpOr(g.SignatureHeader, "X-Signature"), hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Idempotency-Key", m.Ref)
	client := g.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sms gateway: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 400 && c < 500 && c != http.StatusTooManyRequests:
		return Permanentf("sms gateway answered %s", resp.Status)
	default:
		return fmt.Errorf("sms gateway answered %s", resp.Status)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
