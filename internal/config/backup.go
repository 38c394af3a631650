package config

import (
	"fmt"

	"filippo.io/age"
)

// Backup configures 'fairslot backup' and 'fairslot keys export' (issue 15).
type Backup struct {
	// Recipients are the age X25519 public keys (age1...) every archive
	// and keyset export is encrypted to. Their identities (private keys)
	// must never be on the server: it cannot read its own backups.
	Recipients []string `json:"recipients"`
}

func (b Backup) validate() error {
	if _, err := b.AgeRecipients(); err != nil {
		return err
	}
	return nil
}

// AgeRecipients parses the recipients.
func (b Backup) AgeRecipients() ([]age.Recipient, error) {
	out := make([]age.Recipient, 0, len(b.Recipients))
	for _, r := range b.Recipients {
		x, err := age.ParseX25519Recipient(r)
		if err != nil {
			return nil, fmt.Errorf("config: backup.recipients: %q is not an age X25519 public key (age1...): %v", r, err)
		}
		out = append(out, x)
	}
	return out, nil
}
