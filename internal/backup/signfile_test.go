package backup

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
)

// A file signed with SignBytes verifies under its own context only, and
// the backups' contexts cannot be used to sign arbitrary bytes.
func TestSignBytesContexts(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	for _, c := range []string{archiveContext, keysContext} {
		if _, err := SignBytes(key, c, []byte("x")); err == nil {
			t.Errorf("SignBytes signed under the backup context %s", c)
		}
	}
	data := []byte("manifest")
	sig, err := SignBytes(key, "fairslot-downtime-kit-v1", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBytes(pub, "fairslot-downtime-kit-v1", sig, data, "m"); err != nil {
		t.Errorf("VerifyBytes: %v", err)
	}
	if err := VerifyBytes(pub, archiveContext, sig, data, "m"); err == nil || !strings.Contains(err.Error(), "not a") {
		t.Errorf("a kit signature verified as an archive's: %v", err)
	}
	if err := VerifyBytes(pub, "fairslot-downtime-kit-v1", sig, []byte("manifesT"), "m"); err == nil {
		t.Error("altered bytes verified")
	}
}
