package vault_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fairslot/fairslot/internal/vault"
)

func TestSealOpenAndAssociatedData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "keyset.json")
	v, err := vault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keyset mode = %v, want 0600", fi.Mode().Perm())
	}
	name := vault.Field{Table: "patients", Row: "r1", Column: "name"}
	ct, err := v.Seal(name, "张三")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("张三")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	if got, err := v.Open(name, ct); err != nil || got != "张三" {
		t.Fatalf("Open = %q, %v; want 张三", got, err)
	}
	for _, other := range []vault.Field{
		{Table: "patients", Row: "r2", Column: "name"},  // another row
		{Table: "patients", Row: "r1", Column: "phone"}, // another column
	} {
		if _, err := v.Open(other, ct); err == nil {
			t.Errorf("a ciphertext sealed for %+v opened as %+v", name, other)
		}
	}

	// Reopening the same keyset reads what the first instance sealed, and
	// computes the same blind indexes.
	v2, err := vault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v2.Open(name, ct); err != nil || got != "张三" {
		t.Errorf("reopened vault: Open = %q, %v", got, err)
	}
	if !bytes.Equal(v.Index("phone", "13812345678"), v2.Index("phone", "13812345678")) {
		t.Error("blind index differs between two opens of one keyset")
	}
	if bytes.Equal(v.Index("phone", "13812345678"), v.Index("phone", "13812345679")) {
		t.Error("blind index equal for different values")
	}
	if bytes.Equal(v.Index("phone", "1"), v.Index("id:passport", "1")) {
		t.Error("blind index equal for one value of two kinds")
	}
	other, err := vault.Open(filepath.Join(t.TempDir(), "other.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(v.Index("phone", "13812345678"), other.Index("phone", "13812345678")) {
		t.Error("blind index does not depend on the key")
	}
}

func TestOpenRefusesReadableKeyset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := vault.Open(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(path); err == nil {
		t.Error("Open accepted a world-readable keyset")
	}
}

func TestConcurrentCreateMakesOneKeyset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	vs := make([]*vault.Vault, 8)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := vault.Open(path)
			if err != nil {
				t.Error(err)
			}
			vs[i] = v
		}()
	}
	wg.Wait()
	for _, v := range vs[1:] {
		if v != nil && vs[0] != nil && !bytes.Equal(v.Index("k", "x"), vs[0].Index("k", "x")) {
			t.Fatal("concurrent opens created different keysets")
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		f        func(string) string
		in, want string
	}{
		{vault.MaskName, "张三", "张*"},
		{vault.MaskName, "Nguyễn Văn An", "N*"},
		{vault.MaskName, "", ""},
		{vault.MaskPhone, "13812341234", "138******34"},
		{vault.MaskPhone, "0912345678", "091*****78"},
		{vault.MaskPhone, "+84912345678", "+84*******78"},
		{vault.MaskPhone, "1234567", "*****67"},
		{vault.MaskPhone, "123456", "******"},
		{vault.MaskID, "11010519491231002X", "11****************"},
		{vault.MaskID, "E12345678", "E1*******"},
		{vault.MaskID, "H12345678", "H1*******"},
		{vault.MaskID, "001099012345", "00**********"},
		{vault.MaskID, "E1234", "*****"},
	}
	for _, tt := range tests {
		if got := tt.f(tt.in); got != tt.want {
			t.Errorf("mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
