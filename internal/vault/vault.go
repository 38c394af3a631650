// Package vault seals personal data before it reaches storage and computes the
// keyed blind indexes used to look it up. Keys live in a keyset file outside
// the database directory. It must never write plaintext personal data or key
// material anywhere but that keyset file, and never log either.
package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Vault seals and opens personal data and computes blind indexes. It is safe
// for concurrent use.
type Vault struct {
	aead  tink.AEAD
	index *prf.Set
}

// keysetFile is the on-disk form: two Tink keysets in Tink's JSON format, one
// for sealing and one for blind indexes, so either can be rotated alone.
type keysetFile struct {
	AEAD  json.RawMessage `json:"aead"`
	Index json.RawMessage `json:"blind_index"`
}

// Open loads the keyset at path, creating it (mode 0600, with its directory)
// when it does not exist. It refuses a keyset file that others can read.
func Open(path string) (*Vault, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read keyset: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyset %s has mode %v; it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	var f keysetFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse keyset %s: %w", path, err)
	}
	a, err := readHandle(f.AEAD)
	if err != nil {
		return nil, fmt.Errorf("keyset %s: aead: %w", path, err)
	}
	i, err := readHandle(f.Index)
	if err != nil {
		return nil, fmt.Errorf("keyset %s: blind_index: %w", path, err)
	}
	return fromHandles(a, i)
}

func create(path string) (*Vault, error) {
	a, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("new aead key: %w", err)
	}
	i, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("new index key: %w", err)
	}
	var f keysetFile
	if f.AEAD, err = writeHandle(a); err != nil {
		return nil, err
	}
	if f.Index, err = writeHandle(i); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keyset directory: %w", err)
	}
	// Write a temporary file and link it into place: the link fails if another
	// process won the race, and no reader ever sees a half-written keyset.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyset-*")
	if err != nil {
		return nil, fmt.Errorf("create keyset: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("keyset mode: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write keyset: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sync keyset: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("close keyset: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return Open(path)
	} else if err != nil {
		return nil, fmt.Errorf("install keyset: %w", err)
	}
	return fromHandles(a, i)
}

func readHandle(raw json.RawMessage) (*keyset.Handle, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	return insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(raw)))
}

func writeHandle(h *keyset.Handle) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return nil, fmt.Errorf("encode keyset: %w", err)
	}
	return buf.Bytes(), nil
}

func fromHandles(a, i *keyset.Handle) (*Vault, error) {
	p, err := aead.New(a)
	if err != nil {
		return nil, fmt.Errorf("aead primitive: %w", err)
	}
	s, err := prf.NewPRFSet(i)
	if err != nil {
		return nil, fmt.Errorf("prf primitive: %w", err)
	}
	return &Vault{aead: p, index: s}, nil
}

// Field names a sealed value: the table, the row's unique reference and the
// column. It is the associated data, so a ciphertext moved to another row or
// column no longer opens.
type Field struct {
	Table, Row, Column string
}

func (f Field) ad() []byte { return []byte("fairslot/" + f.Table + "/" + f.Row + "/" + f.Column) }

// Seal encrypts plaintext for field f. An empty plaintext seals to nil, so
// optional fields stay empty.
func (v *Vault) Seal(f Field, plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	ct, err := v.aead.Encrypt([]byte(plaintext), f.ad())
	if err != nil {
		return nil, fmt.Errorf("seal %s.%s: %w", f.Table, f.Column, err)
	}
	return ct, nil
}

// Open decrypts a value sealed for field f.
func (v *Vault) Open(f Field, ciphertext []byte) (string, error) {
	if len(ciphertext) == 0 {
		return "", nil
	}
	pt, err := v.aead.Decrypt(ciphertext, f.ad())
	if err != nil {
		return "", fmt.Errorf("open %s.%s: %w", f.Table, f.Column, err)
	}
	return string(pt), nil
}

// Key derives a 32-byte secret for one purpose ("bearer-token",
// "challenge") from the index key, so every node sharing the keyset shares
// it and nothing more has to be configured or stored.
func (v *Vault) Key(purpose string) []byte {
	out, err := v.index.ComputePrimaryPRF([]byte("key\x00"+purpose), 32)
	if err != nil {
		panic(fmt.Sprintf("vault: derive key: %v", err)) // as in Index: 32 bytes of HMAC-SHA256 always works
	}
	return out
}

// Index returns the keyed blind index of a normalized value of a given kind
// ("phone", "id:cn_resident"): equal inputs give equal indexes, and without
// the key the index says nothing about the value.
func (v *Vault) Index(kind, normalized string) []byte {
	out, err := v.index.ComputePrimaryPRF([]byte(kind+"\x00"+normalized), 16)
	if err != nil {
		// The PRF fails only on an output length it cannot produce; 16 bytes
		// from HMAC-SHA256 always works, so this is a programming error.
		panic(fmt.Sprintf("vault: blind index: %v", err))
	}
	return out
}
