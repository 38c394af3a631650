package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
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
// rewrites the file: Stage and Promote at once. Old keys stay: values sealed
// under them still open, and look-ups still try their indexes, until the
// re-seal job and the index rebuild are done and Prune drops them. Running
// servers pick the new file up on their next Reload.
func Rotate(path string, at time.Time, parts ...Part) (Status, error) {
	return rewrite(path, func(f *file) error {
		if err := f.stage(parts); err != nil {
			return err
		}
		return f.promote(at, parts)
	})
}

// Stage adds a new key to each part named (both when none is) without
// making it primary: a node given this file opens and finds everything
// sealed or indexed under it, but writes under the old primary still. With
// a keyset copied to each node, stage, copy to all, then Promote.
func Stage(path string, parts ...Part) (Status, error) {
	return rewrite(path, func(f *file) error { return f.stage(parts) })
}

// Promote makes the newest key of each part named (both when none is) its
// primary. It fails for a part with nothing staged.
func Promote(path string, at time.Time, parts ...Part) (Status, error) {
	return rewrite(path, func(f *file) error { return f.promote(at, parts) })
}

func orBoth(parts []Part) []Part {
	if len(parts) == 0 {
		return []Part{Sealing, Index}
	}
	return parts
}

// handle returns the part's handle, and its new keys' template.
func (f *file) handle(p Part) (**keyset.Handle, *tinkpb.KeyTemplate, error) {
	switch p {
	case Sealing:
		return &f.aead, aead.AES256GCMKeyTemplate(), nil
	case Index:
		// A file from before rotation has f.derive == f.index: the old
		// handle stays the derivation key as f.index moves on.
		return &f.index, prf.HMACSHA256PRFKeyTemplate(), nil
	}
	return nil, nil, fmt.Errorf("keys: unknown part %q (seal or index)", p)
}

func (f *file) stage(parts []Part) error {
	for _, p := range orBoth(parts) {
		h, t, err := f.handle(p)
		if err != nil {
			return err
		}
		m := keyset.NewManagerFromHandle(*h)
		if _, err := m.Add(t); err != nil {
			return fmt.Errorf("keys: new key: %w", err)
		}
		if *h, err = m.Handle(); err != nil {
			return err
		}
	}
	return nil
}

func (f *file) promote(at time.Time, parts []Part) error {
	for _, p := range orBoth(parts) {
		h, _, err := f.handle(p)
		if err != nil {
			return err
		}
		ids, primary := handleKeys(*h)
		newest := ids[len(ids)-1]
		if newest == primary {
			return fmt.Errorf("keys: no %s key is staged to promote", p)
		}
		m := keyset.NewManagerFromHandle(*h)
		if err := m.SetPrimary(newest); err != nil {
			return err
		}
		if *h, err = m.Handle(); err != nil {
			return err
		}
		if p == Index {
			f.indexRotatedAt = at
		}
	}
	return nil
}

// Prune drops the keys older than the primary from the parts named (a key
// staged after it stays). The caller checks first that nothing needs them
// (fairslot keys prune asks the database and the nodes) against the keyset
// as it read it: checked, the status it read; Prune refuses when a part's
// primary has changed since, since the check said nothing of the new one. A
// value sealed under a dropped key no longer opens.
func Prune(path string, checked Status, parts ...Part) (Status, error) {
	return rewrite(path, func(f *file) error {
		now := f.status()
		if now.Seal.Primary != checked.Seal.Primary || now.Index.Primary != checked.Index.Primary {
			return fmt.Errorf("keys: the keyset's primary keys changed since they were checked (another rotation?); nothing was pruned — check again")
		}
		for _, p := range parts {
			h, _, err := f.handle(p)
			if err != nil {
				return err
			}
			ids, primary := handleKeys(*h)
			m := keyset.NewManagerFromHandle(*h)
			for _, id := range ids {
				if id == primary {
					break // a key staged after it stays
				}
				if err := m.Delete(id); err != nil {
					return err
				}
			}
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

// rewrite changes the keyset file under an exclusive lock (beside the file
// the path leads to, so every writer on this host takes the same one: two
// rotations at once would otherwise lose a key), writing through a symbolic
// link to the file it names rather than replacing the link.
func rewrite(path string, change func(*file) error) (Status, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return Status{}, fmt.Errorf("keyset %s: %w", path, err)
	}
	unlock, err := lockFile(real + ".lock")
	if err != nil {
		return Status{}, err
	}
	defer unlock()
	f, _, err := readFile(real)
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
	if err := install(real, raw, true); err != nil {
		return Status{}, err
	}
	return f.status(), nil
}

// lockFile takes an exclusive advisory lock on name (created 0600), waiting
// for another holder; unlock releases it.
func lockFile(name string) (unlock func(), err error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keyset lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("keyset lock: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
