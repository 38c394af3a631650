package vault

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
)

func TestBackupSigningKeyKeptWithTheKeyset(t *testing.T) {
	keyset := filepath.Join(t.TempDir(), "keys", "keyset.json")
	k1, err := BackupSigningKey(keyset)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := BackupSigningKey(keyset)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second call: %v; want the same key back", err)
	}
	fi, err := os.Stat(BackupKeyPath(keyset))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	pub, err := ParseBackupVerifyKey(FormatBackupVerifyKey(k1.Public().(ed25519.PublicKey)))
	if err != nil || !pub.Equal(k1.Public()) {
		t.Fatalf("verify key round trip: %v", err)
	}
	os.Chmod(BackupKeyPath(keyset), 0o644)
	if _, err := BackupSigningKey(keyset); err == nil {
		t.Fatal("a key file readable by others is accepted")
	}
	os.Chmod(BackupKeyPath(keyset), 0o600)
	os.WriteFile(BackupKeyPath(keyset), []byte("not a key"), 0o600)
	if _, err := BackupSigningKey(keyset); err == nil {
		t.Fatal("a damaged key file is accepted")
	}
}
