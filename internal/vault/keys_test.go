package vault_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/vault"
)

func mustOpen(t *testing.T, path string) *vault.Vault {
	t.Helper()
	v, err := vault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// legacyKeyset writes a keyset file as fairslot wrote it before rotation
// existed (no "derive" part): the blind-index key was the derivation key.
func legacyKeyset(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "keyset.json")
	mustOpen(t, path)
	raw, _ := os.ReadFile(path)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "derive")
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRotateKeepsOldValuesAndPinnedKeys(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "keyset.json")
		if legacy {
			path = legacyKeyset(t)
		}
		v := mustOpen(t, path)
		f := vault.Field{Table: "patients", Row: "r1", Column: "name"}
		old, _ := v.Seal(f, "张三")
		oldIndex, oldKey, oldHash := v.Index("phone", "138"), v.Key("bearer-token"), v.Hash("login-code", "138:1")
		if !v.Current(old) {
			t.Fatal("a fresh value is not under the primary key")
		}
		st, err := vault.Rotate(path, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Seal.Keys) != 2 || len(st.Index.Keys) != 2 || st.IndexRotatedAt.IsZero() {
			t.Fatalf("after rotate: %+v", st)
		}
		// Not yet reloaded: still the old keys.
		if !v.Current(old) {
			t.Error("the vault changed keys before Reload")
		}
		if changed, err := v.Reload(); !changed || err != nil {
			t.Fatalf("Reload = %v, %v", changed, err)
		}
		if changed, _ := v.Reload(); changed {
			t.Error("a second Reload of an unchanged file reported a change")
		}
		if v.Current(old) {
			t.Error("a value under the old key counts as current")
		}
		if got, err := v.Open(f, old); err != nil || got != "张三" {
			t.Errorf("old value after rotation: %q, %v", got, err)
		}
		fresh, _ := v.Seal(f, "张三")
		if !v.Current(fresh) || !bytes.HasPrefix(fresh, v.SealPrefix()) {
			t.Error("a new value is not under the new primary key")
		}
		if bytes.Equal(v.Index("phone", "138"), oldIndex) {
			t.Error("the primary index did not change")
		}
		idx := v.Indexes("phone", "138")
		if len(idx) != 2 || !bytes.Equal(idx[1], v.Index("phone", "138")) || !bytes.Equal(idx[0], oldIndex) {
			t.Errorf("Indexes = %x, want the old then the new (the order rows move in)", idx)
		}
		if !bytes.Equal(v.Key("bearer-token"), oldKey) || !bytes.Equal(v.Hash("login-code", "138:1"), oldHash) {
			t.Errorf("legacy=%v: a derived key or hash changed with the rotation: tokens, CSRF and node proofs would break", legacy)
		}
		// Pruning drops the old keys: the old value no longer opens, the
		// derived keys still do not move.
		checked, _ := vault.ReadStatus(path)
		st, err = vault.Prune(path, checked, vault.Sealing, vault.Index)
		if err != nil || len(st.Seal.Keys) != 1 || len(st.Index.Keys) != 1 {
			t.Fatalf("Prune = %+v, %v", st, err)
		}
		v2 := mustOpen(t, path)
		if _, err := v2.Open(f, old); err == nil {
			t.Error("a value under a pruned key still opens")
		}
		if got, err := v2.Open(f, fresh); err != nil || got != "张三" {
			t.Errorf("a current value after prune: %q, %v", got, err)
		}
		if len(v2.Indexes("phone", "138")) != 1 || !bytes.Equal(v2.Key("bearer-token"), oldKey) {
			t.Error("prune: wrong indexes, or the derived key moved")
		}
	}
}

// A node that has not yet read a rotated keyset reloads it when a value
// under an unknown key arrives (sealed by a node that has).
func TestOpenReloadsForAnUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	behind := mustOpen(t, path)
	if _, err := vault.Rotate(path, time.Now(), vault.Sealing); err != nil {
		t.Fatal(err)
	}
	ahead := mustOpen(t, path)
	f := vault.Field{Table: "accounts", Row: "a", Column: "phone"}
	ct, _ := ahead.Seal(f, "13800000000")
	if got, err := behind.Open(f, ct); err != nil || got != "13800000000" {
		t.Errorf("Open of a value under a newer key = %q, %v", got, err)
	}
}

func TestWrapWithPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	v := mustOpen(t, path)
	f := vault.Field{Table: "patients", Row: "r", Column: "id_number"}
	ct, _ := v.Seal(f, "11010519491231002X")
	key := v.Key("bearer-token")
	if _, err := vault.Wrap(path, []byte("short")); err == nil {
		t.Error("a short passphrase was accepted")
	}
	pass := "correct horse battery staple"
	st, err := vault.Wrap(path, []byte(pass))
	if err != nil || st.Wrapped != "passphrase" {
		t.Fatalf("Wrap = %+v, %v", st, err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("AES")) || bytes.Contains(raw, []byte("\"value\"")) {
		t.Error("the wrapped file still shows key material in clear")
	}
	t.Setenv(vault.PassphraseEnv, "")
	t.Setenv(vault.PassphraseFileEnv, "")
	if _, err := vault.Open(path); !errors.Is(err, vault.ErrNoPassphrase) {
		t.Errorf("Open without a passphrase = %v, want ErrNoPassphrase", err)
	}
	t.Setenv(vault.PassphraseEnv, "wrong passphrase, long enough")
	if _, err := vault.Open(path); err == nil || !strings.Contains(err.Error(), "unwrap") {
		t.Errorf("Open with a wrong passphrase = %v", err)
	}
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte(pass+"\n"), 0o600)
	t.Setenv(vault.PassphraseFileEnv, file) // the file wins over the variable
	w := mustOpen(t, path)
	if got, err := w.Open(f, ct); err != nil || got != "11010519491231002X" || !bytes.Equal(w.Key("bearer-token"), key) {
		t.Errorf("wrapped keyset: Open = %q, %v (or the derived key changed)", got, err)
	}
	// Rotation keeps the wrapping; unwrap brings the clear file back.
	if st, err := vault.Rotate(path, time.Now()); err != nil || st.Wrapped != "passphrase" {
		t.Fatalf("Rotate of a wrapped keyset = %+v, %v", st, err)
	}
	if st, err := vault.Unwrap(path); err != nil || st.Wrapped != "" {
		t.Fatalf("Unwrap = %+v, %v", st, err)
	}
	t.Setenv(vault.PassphraseFileEnv, "")
	if got, err := mustOpen(t, path).Open(f, ct); err != nil || got != "11010519491231002X" {
		t.Errorf("unwrapped: Open = %q, %v", got, err)
	}
}

func TestWrapKMSNeedsARegisteredClient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	mustOpen(t, path)
	before, _ := os.ReadFile(path)
	if _, err := vault.WrapKMS(path, "aws-kms://arn:aws:kms:none"); err == nil || !strings.Contains(err.Error(), "no KMS client") {
		t.Errorf("WrapKMS without a client = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed wrap changed the keyset")
	}
}

// Staged rotation, for keysets copied to each node: a node given the staged
// file opens and finds what a promoted node writes, before it promotes.
func TestStageThenPromote(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	first := mustOpen(t, path)
	f := vault.Field{Table: "accounts", Row: "a", Column: "phone"}
	old, _ := first.Seal(f, "13800000000")
	if _, err := vault.Promote(path, time.Now()); err == nil {
		t.Error("Promote with nothing staged succeeded")
	}
	st, err := vault.Stage(path)
	if err != nil || len(st.Seal.Keys) != 2 || st.Seal.Primary != st.Seal.Keys[0] || !st.IndexRotatedAt.IsZero() {
		t.Fatalf("Stage = %+v, %v", st, err)
	}
	staged := mustOpen(t, path) // a node given the staged copy
	if ct, _ := staged.Seal(f, "x"); !first.Current(ct) {
		t.Error("a staged key was used to seal")
	}
	if len(staged.Indexes("phone", "1")) != 2 {
		t.Error("a staged index key is not tried by look-ups")
	}
	promotedPath := filepath.Join(t.TempDir(), "keyset.json")
	raw, _ := os.ReadFile(path)
	os.WriteFile(promotedPath, raw, 0o600)
	st, err = vault.Promote(promotedPath, time.Now())
	if err != nil || st.Seal.Primary != st.Seal.Keys[1] || st.IndexRotatedAt.IsZero() {
		t.Fatalf("Promote = %+v, %v", st, err)
	}
	promoted := mustOpen(t, promotedPath)
	ct, _ := promoted.Seal(f, "13900000000")
	if got, err := staged.Open(f, ct); err != nil || got != "13900000000" {
		t.Errorf("the staged node opens the promoted node's value: %q, %v", got, err)
	}
	if !bytes.Equal(staged.Indexes("phone", "1")[1], promoted.Index("phone", "1")) {
		t.Error("the staged node does not look up under the promoted index key")
	}
	if got, err := promoted.Open(f, old); err != nil || got != "13800000000" {
		t.Errorf("old value on the promoted node: %q, %v", got, err)
	}
	// Pruning the staged copy drops nothing staged: its primary is the oldest.
	checked, _ := vault.ReadStatus(path)
	if st, err := vault.Prune(path, checked, vault.Sealing, vault.Index); err != nil || len(st.Seal.Keys) != 2 {
		t.Errorf("Prune of a staged keyset = %+v, %v; the staged key must stay", st, err)
	}
}

// Rewrites of one keyset are serialised: twenty rotations at once leave
// twenty-one sealing keys (before, some were lost, and with them whatever
// a server had sealed under them).
func TestConcurrentRotationsLoseNoKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	mustOpen(t, path)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := vault.Rotate(path, time.Now(), vault.Sealing); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st, err := vault.ReadStatus(path); err != nil || len(st.Seal.Keys) != 21 {
		t.Errorf("after 20 concurrent rotations: %d sealing keys, %v; want 21", len(st.Seal.Keys), err)
	}
}

// Prune refuses when the keyset's primaries changed since the caller's
// check: the check said nothing of data under the key now primary.
func TestPruneRefusesAKeysetChangedSinceTheCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	mustOpen(t, path)
	vault.Rotate(path, time.Now())
	checked, _ := vault.ReadStatus(path)
	vault.Rotate(path, time.Now(), vault.Sealing) // someone rotates between the check and the prune
	before, _ := os.ReadFile(path)
	if _, err := vault.Prune(path, checked, vault.Sealing, vault.Index); err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("Prune after an intervening rotation = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused prune changed the keyset")
	}
}

// A keyset path that is a symbolic link is written through: the file it
// names is rotated, the link stays a link (before, the link was replaced
// by a plain file beside it — in the data directory, if that is where the
// link was).
func TestRotateWritesThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "secrets", "keyset.json")
	mustOpen(t, real)
	link := filepath.Join(dir, "keyset.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Rotate(link, time.Now()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the rotation replaced the symbolic link with a file")
	}
	if st, err := vault.ReadStatus(real); err != nil || len(st.Seal.Keys) != 2 {
		t.Errorf("the linked keyset was not rotated: %+v, %v", st, err)
	}
}

// A keyset path that is a link to nothing is refused with a clear error
// (before, Open recursed for ever).
func TestDanglingSymlinkKeyset(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "keyset.json")
	os.Symlink(filepath.Join(dir, "missing", "keyset.json"), link)
	if _, err := vault.Open(link); err == nil || !strings.Contains(err.Error(), "symbolic link to nothing") {
		t.Errorf("Open of a dangling link = %v", err)
	}
}

func TestPassphraseFileMustBePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	mustOpen(t, path)
	if _, err := vault.Wrap(path, []byte("a passphrase long enough")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("a passphrase long enough"), 0o644)
	t.Setenv(vault.PassphraseFileEnv, file)
	if _, err := vault.Open(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Open with a world-readable passphrase file = %v", err)
	}
}
