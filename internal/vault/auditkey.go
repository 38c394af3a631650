package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// AuditKeyPath is where the audit log's checkpoint signing key lives: beside
// the keyset, with the keyset's protection, so that whoever holds only the
// database (a copy, a backup, its owner's password) cannot sign.
func AuditKeyPath(keyset string) string { return keyset + ".audit-key" }

// AuditSigningKey returns the audit log's Ed25519 note signer key, creating
// it (mode 0600) on first use, named "fairslot-audit-" and 8 random hex
// digits so that two hospitals' logs never share a name. It refuses a key
// file others can read.
func AuditSigningKey(keyset string) (string, error) {
	path := AuditKeyPath(keyset)
	data, err := readSidecar("audit key", path)
	if errors.Is(err, fs.ErrNotExist) {
		return createAuditKey(keyset)
	}
	if err != nil {
		return "", err
	}
	skey := strings.TrimSpace(string(data))
	if _, err := note.NewSigner(skey); err != nil {
		return "", fmt.Errorf("audit key %s: %w", path, err)
	}
	return skey, nil
}

func createAuditKey(keyset string) (string, error) {
	b := make([]byte, 4)
	rand.Read(b)
	skey, _, err := note.GenerateKey(rand.Reader, "fairslot-audit-"+hex.EncodeToString(b))
	if err != nil {
		return "", err
	}
	err = createSidecar("audit key", AuditKeyPath(keyset), []byte(skey+"\n"))
	if errors.Is(err, fs.ErrExist) {
		return AuditSigningKey(keyset)
	}
	if err != nil {
		return "", err
	}
	return skey, nil
}
