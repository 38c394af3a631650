package vault

import (
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// Part names a rotatable part of the keyset. The derivation key is pinned
// and never rotates (see Key).
type Part string

const (
	Sealing Part = "seal"  // the AEAD key personal fields are sealed under
	Index   Part = "index" // the blind-index key
)

// Status describes a keyset file without opening anything sealed with it.
type Status struct {
	Wrapped        string // "", "passphrase" or "kms"
	Seal, Index    PartStatus
	IndexRotatedAt time.Time // when the index key last rotated (zero: never)
}

// PartStatus lists a part's keys by Tink key id.
type PartStatus struct {
	Primary uint32
	Keys    []uint32
}

func partStatus(h *keyset.Handle) PartStatus {
	ids, primary := handleKeys(h)
	return PartStatus{Primary: primary, Keys: ids}
}

// ReadStatus reads the keyset file at path.
func ReadStatus(path string) (Status, error) {
	f, _, err := readFile(path)
	if err != nil {
		return Status{}, err
	}
	return f.status(), nil
}

func (f *file) status() Status {
	s := Status{Seal: partStatus(f.aead), Index: partStatus(f.index), IndexRotatedAt: f.indexRotatedAt}
	if f.kek != nil {
		s.Wrapped = f.kek.Kind
	}
	return s
}

// Rotate adds a new primary key to each part named (both when none is) and
// rewrites the file. Old keys stay: values sealed under them still open, and
// look-ups still try their indexes, until the re-seal job and the index
// rebuild are done and Prune drops them. Running servers pick the new file
// up on their next Reload.
func Rotate(path string, at time.Time, parts ...Part) (Status, error) {
	if len(parts) == 0 {
		parts = []Part{Sealing, Index}
	}
	return rewrite(path, func(f *file) error {
		for _, p := range parts {
			var err error
			switch p {
			case Sealing:
				f.aead, err = addPrimary(f.aead, aead.AES256GCMKeyTemplate())
			case Index:
				// A file from before rotation has f.derive == f.index: the
				// old handle stays the derivation key as f.index moves on.
				f.index, err = addPrimary(f.index, prf.HMACSHA256PRFKeyTemplate())
				f.indexRotatedAt = at
			default:
				err = fmt.Errorf("keys: unknown part %q (seal or index)", p)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func addPrimary(h *keyset.Handle, t *tinkpb.KeyTemplate) (*keyset.Handle, error) {
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(t)
	if err != nil {
		return nil, fmt.Errorf("keys: new key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, err
	}
	return m.Handle()
}

// Prune drops every key but the primary from the parts named. The caller
// checks first that nothing needs them (fairslot keys prune asks the
// database); a value sealed under a dropped key no longer opens.
func Prune(path string, parts ...Part) (Status, error) {
	return rewrite(path, func(f *file) error {
		for _, p := range parts {
			h := &f.aead
			if p == Index {
				h = &f.index
			} else if p != Sealing {
				return fmt.Errorf("keys: unknown part %q (seal or index)", p)
			}
			ids, primary := handleKeys(*h)
			m := keyset.NewManagerFromHandle(*h)
			for _, id := range ids {
				if id != primary {
					if err := m.Delete(id); err != nil {
						return err
					}
				}
			}
			var err error
			if *h, err = m.Handle(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Wrap encrypts the keyset file under a key derived from passphrase
// (argon2id); WrapKMS under a KMS key. Unwrap writes it in clear again.
// Each needs the current key-encryption key, if any, from the environment.
func Wrap(path string, passphrase []byte) (Status, error) {
	h, a, err := newPassphraseKEK(passphrase)
	if err != nil {
		return Status{}, err
	}
	return rewrite(path, func(f *file) error { f.kek, f.master = h, a; return nil })
}

// WrapKMS wraps the keyset with Tink's KMS envelope under the key at uri.
func WrapKMS(path, uri string) (Status, error) {
	a, err := kmsAEAD(uri)
	if err != nil {
		return Status{}, err
	}
	return rewrite(path, func(f *file) error { f.kek, f.master = &kekHeader{Kind: "kms", URI: uri}, a; return nil })
}

// Unwrap writes the keyset in clear.
func Unwrap(path string) (Status, error) {
	return rewrite(path, func(f *file) error { f.kek, f.master = nil, nil; return nil })
}

func rewrite(path string, change func(*file) error) (Status, error) {
	f, _, err := readFile(path)
	if err != nil {
		return Status{}, err
	}
	if err := change(f); err != nil {
		return Status{}, err
	}
	raw, err := f.encode()
	if err != nil {
		return Status{}, err
	}
	if _, err := f.primitives(raw); err != nil { // never install a keyset that does not load
		return Status{}, err
	}
	if err := install(path, raw, true); err != nil {
		return Status{}, err
	}
	return f.status(), nil
}
