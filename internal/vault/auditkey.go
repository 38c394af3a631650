package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createAuditKey(path)
	}
	if err != nil {
		return "", fmt.Errorf("read audit key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("audit key %s has mode %v; it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	skey := strings.TrimSpace(string(data))
	if _, err := note.NewSigner(skey); err != nil {
		return "", fmt.Errorf("audit key %s: %w", path, err)
	}
	return skey, nil
}

func createAuditKey(path string) (string, error) {
	b := make([]byte, 4)
	rand.Read(b)
	skey, _, err := note.GenerateKey(rand.Reader, "fairslot-audit-"+hex.EncodeToString(b))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("audit key directory: %w", err)
	}
	// As the keyset: write aside, then link into place, so a concurrent
	// start reads the winner's key and nobody sees half a file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return "", fmt.Errorf("create audit key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(skey + "\n")
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return "", fmt.Errorf("write audit key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return AuditSigningKey(strings.TrimSuffix(path, ".audit-key"))
	} else if err != nil {
		return "", fmt.Errorf("install audit key: %w", err)
	}
	return skey, nil
}
