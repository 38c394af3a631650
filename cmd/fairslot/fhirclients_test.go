package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestFHIRClientCommands: a system is registered with its public JWK set
// and scopes, listed, and revoked once; a private key, a key without kid
// or a scope that is not a SMART system scope is refused.
func TestFHIRClientCommands(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json")}
	if err := run(context.Background(), append([]string{"migrate"}, flags...), new(bytes.Buffer), new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwkFile := func(name string, k jose.JSONWebKey) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	public := jwkFile("public.json", jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES384"})
	private := jwkFile("private.json", jose.JSONWebKey{Key: key, KeyID: "k1", Algorithm: "ES384"})
	noKid := jwkFile("nokid.json", jose.JSONWebKey{Key: &key.PublicKey, Algorithm: "ES384"})
	fhirCmd := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		a := append([]string{"fhir", "clients", args[0]}, flags...)
		err := run(context.Background(), append(a, args[1:]...), &out, &errOut)
		return out.String(), err
	}
	out, err := fhirCmd("add", "--name", "HIS", "--jwk", public, "--scopes", "system/Slot.rs system/Appointment.read")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "scopes: system/Slot.rs system/Appointment.rs") {
		t.Fatalf("add printed %q, want the client_id and the canonical scopes", out)
	}
	id := m[1]
	for _, c := range []struct {
		args    []string
		wantErr string
		out     string
	}{
		{[]string{"add", "--name", "HIS", "--jwk", private, "--scopes", "system/Slot.rs"}, "private key", ""},
		{[]string{"add", "--name", "HIS", "--jwk", noKid, "--scopes", "system/Slot.rs"}, "no kid", ""},
		{[]string{"add", "--name", "HIS", "--jwk", public, "--scopes", "user/Slot.rs"}, "not a SMART system scope", ""},
		{[]string{"add", "--name", "HIS", "--jwk", public, "--scopes", "system/Slot.sr"}, "not a SMART system scope", ""},
		{[]string{"add", "--name", "", "--jwk", public, "--scopes", "system/Slot.rs"}, "needs a name", ""},
		{[]string{"list"}, "", id + "  HIS"},
		{[]string{"list"}, "", "active"},
		{[]string{"revoke", id}, "", id + ": revoked"},
		{[]string{"revoke", id}, "already revoked", ""},
		{[]string{"revoke", "nobody"}, "not found", ""},
		{[]string{"list"}, "", "revoked 20"},
		{[]string{"fly"}, "unknown fhir clients command", ""},
	} {
		out, err := fhirCmd(c.args...)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("fhir clients %v = %v, want an error with %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, c.out) {
			t.Errorf("fhir clients %v = %v, %q; want output with %q", c.args, err, out, c.out)
		}
	}
}
