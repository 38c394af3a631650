package vault

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAuditSigningKeyKeptWithTheKeyset(t *testing.T) {
	keyset := filepath.Join(t.TempDir(), "keys", "keyset.json")
	k1, err := AuditSigningKey(keyset)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := AuditSigningKey(keyset)
	if err != nil || k1 != k2 {
		t.Fatalf("second call: %v; want the same key back", err)
	}
	fi, err := os.Stat(AuditKeyPath(keyset))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	os.Chmod(AuditKeyPath(keyset), 0o644)
	if _, err := AuditSigningKey(keyset); err == nil {
		t.Fatal("a key file readable by others is accepted")
	}
	os.Chmod(AuditKeyPath(keyset), 0o600)
	os.WriteFile(AuditKeyPath(keyset), []byte("not a key"), 0o600)
	if _, err := AuditSigningKey(keyset); err == nil {
		t.Fatal("a damaged key file is accepted")
	}
}
