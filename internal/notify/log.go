package notify

import (
	"context"
	"log/slog"
	"strings"

	"github.com/fairslot/fairslot/internal/vault"
)

// Log is the demo's provider: it sends nothing and shows each message in
// the server log (the recipient masked), where the demo's patients read
// their login codes. It puts codes in the log, so it is for the demo and
// tests only.
type Log struct{ Log *slog.Logger }

// Send logs m.
func (l Log) Send(_ context.Context, m Message) error {
	to := vault.MaskPhone(m.Recipient)
	if at := strings.LastIndexByte(m.Recipient, '@'); at >= 0 {
		to = "***" + m.Recipient[at:] // an address: only its domain
	}
	l.Log.Info("demo: message not sent, shown here instead", "to", to, "text", m.Text)
	return nil
}
