package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// BackupKeyPath is where the backup signing key lives: beside the keyset,
// like the audit key, so that whoever holds only the database or the
// backups cannot sign an archive a restore would accept.
func BackupKeyPath(keyset string) string { return keyset + ".backup-key" }

// backupKeyPrefix starts the key file's one line (the Ed25519 seed) and,
// BackupVerifyPrefix the printed verification key, so the two are never confused.
const (
	backupKeyPrefix    = "fairslot-backup-signing-key:"
	BackupVerifyPrefix = "fairslot-backup-key:"
)

// BackupSigningKey returns the backups' Ed25519 signing key, creating it
// (mode 0600) on first use. It refuses a key file others can read.
func BackupSigningKey(keyset string) (ed25519.PrivateKey, error) {
	path := BackupKeyPath(keyset)
	data, err := readSidecar("backup key", path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		err := createSidecar("backup key", path, []byte(backupKeyPrefix+base64.StdEncoding.EncodeToString(seed)+"\n"))
		if errors.Is(err, fs.ErrExist) {
			return BackupSigningKey(keyset)
		}
		if err != nil {
			return nil, err
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, err
	}
	k, err := ParseBackupSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("backup key %s: %w", path, err)
	}
	return k, nil
}

// ParseBackupSigningKey parses a backup key file's contents.
func ParseBackupSigningKey(data []byte) (ed25519.PrivateKey, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(string(data)), backupKeyPrefix)
	seed, err := base64.StdEncoding.DecodeString(s)
	if !ok || err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("not a fairslot backup signing key")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// FormatBackupVerifyKey is the printed form of a backup verification key,
// what 'fairslot backup key' shows and restore --verify-key takes.
func FormatBackupVerifyKey(pub ed25519.PublicKey) string {
	return BackupVerifyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParseBackupVerifyKey parses FormatBackupVerifyKey's output.
func ParseBackupVerifyKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), BackupVerifyPrefix)
	pub, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not a backup verification key (want %s followed by 32 bytes in base64, as 'fairslot backup key' prints)", BackupVerifyPrefix)
	}
	return ed25519.PublicKey(pub), nil
}
