// Package vault seals personal data before it reaches storage and computes the
// keyed blind indexes used to look it up. Keys live in a keyset file outside
// the database directory. It must never write plaintext personal data or key
// material anywhere but that keyset file, and never log either.
//
// The keyset holds three Tink keysets: "aead" seals (new values under its
// primary key, old values open under any key it still holds), "blind_index"
// computes indexes (under its primary; look-ups try every key it holds while
// a rebuild is under way), and "derive", pinned, from which Key derives the
// secrets of bearer tokens, CSRF and node proofs, so that rotating the other
// two signs nobody out. The file may be wrapped by a key-encryption key
// (kek.go). Rotation, pruning and wrapping rewrite the file (keys.go); a
// running Vault picks the new file up with Reload.
package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Vault seals and opens personal data and computes blind indexes. It is safe
// for concurrent use, and for Reload while in use.
type Vault struct {
	path    string
	keys    atomic.Pointer[primitives]
	reload  sync.Mutex
	lastTry time.Time // of a reload forced by an unknown key, under reload
}

// primitives is one loaded keyset, swapped whole on Reload.
type primitives struct {
	raw []byte // the file as read, to see whether it changed
	// olderSeal are the prefixes of the sealing keys older than the primary,
	// olderIndex the ids of the index keys older than it (see OldKeys).
	olderSeal  [][]byte
	olderIndex []uint32
	newerSeal  map[uint32]bool // sealing keys staged after the primary
	indexOrder []uint32        // the index keys, oldest first
	aead       tink.AEAD
	index      *prf.Set
	derive     *prf.Set
	prefix     []byte // what the primary sealing key's ciphertexts start with
}

// Open loads the keyset at path, creating it (mode 0600, with its directory)
// when it does not exist. It refuses a keyset file that others can read, and
// a wrapped one whose key-encryption key is not at hand.
func Open(path string) (*Vault, error) {
	return open(path, true)
}

func open(path string, create bool) (*Vault, error) {
	f, raw, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("keyset %s is a symbolic link to nothing: point it at the keyset, or remove it to create one", path)
		}
		if f, err = newFile(); err != nil {
			return nil, err
		}
		if raw, err = f.encode(); err != nil {
			return nil, err
		}
		if err := install(path, raw, false); errors.Is(err, fs.ErrExist) {
			return open(path, false) // another process won the race: read its keyset, once
		} else if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	p, err := f.primitives(raw)
	if err != nil {
		return nil, fmt.Errorf("keyset %s: %w", path, err)
	}
	v := &Vault{path: path}
	v.keys.Store(p)
	return v, nil
}

// Path is the keyset file's path.
func (v *Vault) Path() string { return v.path }

// Reload reads the keyset file again and, when it changed, swaps the keys in
// use: how a rotation made by `fairslot keys rotate` (here or on another
// node, with a shared or copied keyset) reaches a running server. A file
// that cannot be read or parsed leaves the keys in use as they are.
func (v *Vault) Reload() (changed bool, err error) {
	v.reload.Lock()
	defer v.reload.Unlock()
	raw, err := readRaw(v.path)
	if err != nil {
		return false, err
	}
	if bytes.Equal(raw, v.keys.Load().raw) {
		return false, nil // unchanged: not even a passphrase to derive again
	}
	f, err := parse(raw)
	if err != nil {
		return false, fmt.Errorf("keyset %s: %w", v.path, err)
	}
	p, err := f.primitives(raw)
	if err != nil {
		return false, fmt.Errorf("keyset %s: %w", v.path, err)
	}
	v.keys.Store(p)
	return true, nil
}

// reloadForUnknownKey reloads at most once a second when a ciphertext did not
// open: another node may have rotated and sealed under a key this one has not
// read yet.
func (v *Vault) reloadForUnknownKey() bool {
	v.reload.Lock()
	if time.Since(v.lastTry) < time.Second {
		v.reload.Unlock()
		return false
	}
	v.lastTry = time.Now()
	v.reload.Unlock()
	changed, _ := v.Reload()
	return changed
}

func (f *file) primitives(raw []byte) (*primitives, error) {
	a, err := aead.New(f.aead)
	if err != nil {
		return nil, fmt.Errorf("aead primitive: %w", err)
	}
	i, err := prf.NewPRFSet(f.index)
	if err != nil {
		return nil, fmt.Errorf("prf primitive: %w", err)
	}
	d, err := prf.NewPRFSet(f.derive)
	if err != nil {
		return nil, fmt.Errorf("derive primitive: %w", err)
	}
	p := &primitives{raw: raw, aead: a, index: i, derive: d, prefix: tinkPrefix(f.aead.KeysetInfo().GetPrimaryKeyId())}
	for _, id := range older(f.aead) {
		p.olderSeal = append(p.olderSeal, tinkPrefix(id))
	}
	p.olderIndex = older(f.index)
	p.indexOrder, _ = handleKeys(f.index)
	ids, primary := handleKeys(f.aead)
	p.newerSeal = map[uint32]bool{}
	for i := len(ids) - 1; i >= 0 && ids[i] != primary; i-- {
		p.newerSeal[ids[i]] = true
	}
	return p, nil
}

// older lists h's keys added before its primary (a key staged after it is
// newer, and never older).
func older(h *keyset.Handle) []uint32 {
	ids, primary := handleKeys(h)
	for i, id := range ids {
		if id == primary {
			return ids[:i]
		}
	}
	return nil
}

// tinkPrefix is the five bytes Tink puts before a ciphertext made under key
// id (the TINK output prefix: version byte 1, then the id big-endian).
func tinkPrefix(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{1}, id)
}

// Field names a sealed value: the table, the row's unique reference and the
// column. It is the associated data, so a ciphertext moved to another row or
// column no longer opens.
type Field struct {
	Table, Row, Column string
}

func (f Field) ad() []byte { return []byte("fairslot/" + f.Table + "/" + f.Row + "/" + f.Column) }

// Seal encrypts plaintext for field f under the primary sealing key. An
// empty plaintext seals to nil, so optional fields stay empty.
func (v *Vault) Seal(f Field, plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	ct, err := v.keys.Load().aead.Encrypt([]byte(plaintext), f.ad())
	if err != nil {
		return nil, fmt.Errorf("seal %s.%s: %w", f.Table, f.Column, err)
	}
	return ct, nil
}

// Open decrypts a value sealed for field f under any key the keyset holds.
func (v *Vault) Open(f Field, ciphertext []byte) (string, error) {
	if len(ciphertext) == 0 {
		return "", nil
	}
	pt, err := v.keys.Load().aead.Decrypt(ciphertext, f.ad())
	if err != nil && v.reloadForUnknownKey() {
		pt, err = v.keys.Load().aead.Decrypt(ciphertext, f.ad())
	}
	if err != nil {
		return "", fmt.Errorf("open %s.%s: %w", f.Table, f.Column, err)
	}
	return string(pt), nil
}

// Current reports whether a sealed value is under the primary sealing key
// (an empty value is): what the re-seal job skips.
func (v *Vault) Current(ciphertext []byte) bool {
	return len(ciphertext) == 0 || bytes.HasPrefix(ciphertext, v.keys.Load().prefix)
}

// SealPrefix is what every value sealed under the primary key starts with,
// so storage can count and find the values still under older keys.
func (v *Vault) SealPrefix() []byte { return bytes.Clone(v.keys.Load().prefix) }

// Key derives a 32-byte secret for one purpose ("bearer-token",
// "challenge") from the pinned derivation key, so every node sharing the
// keyset shares it, nothing more has to be configured or stored, and no
// rotation changes it.
func (v *Vault) Key(purpose string) []byte {
	out, err := v.keys.Load().derive.ComputePrimaryPRF([]byte("key\x00"+purpose), 32)
	if err != nil {
		panic(fmt.Sprintf("vault: derive key: %v", err)) // as in Index: 32 bytes of HMAC-SHA256 always works
	}
	return out
}

// Hash is a keyed hash of a value that is compared but never looked up
// across a rotation (a device, a login code): under the pinned derivation
// key, so it stays equal when the blind-index key rotates.
func (v *Vault) Hash(purpose, value string) []byte {
	out, err := v.keys.Load().derive.ComputePrimaryPRF([]byte("hash\x00"+purpose+"\x00"+value), 16)
	if err != nil {
		panic(fmt.Sprintf("vault: hash: %v", err))
	}
	return out
}

// Index returns the keyed blind index of a normalized value of a given kind
// ("phone", "id:cn_resident") under the primary index key: equal inputs give
// equal indexes, and without the key the index says nothing about the
// value. New rows store it.
func (v *Vault) Index(kind, normalized string) []byte {
	s := v.keys.Load().index
	return computeIndex(s.PRFs[s.PrimaryID], kind, normalized)
}

// Indexes returns the value's blind index under every index key the keyset
// holds, oldest first: a look-up tries each, so that rows not yet rebuilt
// after a rotation are still found. Oldest first because the rebuild only
// ever moves a row to a newer key: a row moved between two look-up
// statements has moved to a key not yet tried, never away from one still
// to come (primary first, a row moved between them would be missed).
func (v *Vault) Indexes(kind, normalized string) [][]byte {
	p := v.keys.Load()
	out := make([][]byte, len(p.indexOrder))
	for i, id := range p.indexOrder {
		out[i] = computeIndex(p.index.PRFs[id], kind, normalized)
	}
	return out
}

// OldKeys reports, for the sealing and the index part, whether the keyset
// holds keys older than the primary, under which stored data may still be:
// what the rekey job brings to the primary. A key staged after the primary
// is not old: values under it, which promoted nodes write, are left alone.
func (v *Vault) OldKeys() (seal, index bool) {
	p := v.keys.Load()
	return len(p.olderSeal) > 0, len(p.olderIndex) > 0
}

// OlderSealPrefixes are what values sealed under a key older than the
// primary start with.
func (v *Vault) OlderSealPrefixes() [][]byte { return v.keys.Load().olderSeal }

// OlderIndexes returns the value's blind index under each index key older
// than the primary: a stored index equal to one of them is to be rebuilt.
func (v *Vault) OlderIndexes(kind, normalized string) [][]byte {
	s := v.keys.Load()
	out := make([][]byte, len(s.olderIndex))
	for i, id := range s.olderIndex {
		out[i] = computeIndex(s.index.PRFs[id], kind, normalized)
	}
	return out
}

// Primaries names the primary sealing and index keys.
func (v *Vault) Primaries() (seal, index uint32) {
	p := v.keys.Load()
	return binary.BigEndian.Uint32(p.prefix[1:]), p.index.PrimaryID
}

// Holds reports whether the keyset holds these sealing and index keys.
func (v *Vault) Holds(seal, index uint32) bool {
	p := v.keys.Load()
	_, ok := p.index.PRFs[index]
	if !ok {
		return false
	}
	if bytes.Equal(p.prefix, tinkPrefix(seal)) {
		return true
	}
	for _, o := range p.olderSeal {
		if bytes.Equal(o, tinkPrefix(seal)) {
			return true
		}
	}
	return p.newerSeal[seal]
}

// IndexKey names the primary index key, so a rebuild can record which key
// it brought the indexes to.
func (v *Vault) IndexKey() uint32 { return v.keys.Load().index.PrimaryID }

func computeIndex(p prf.PRF, kind, normalized string) []byte {
	out, err := p.ComputePRF([]byte(kind+"\x00"+normalized), 16)
	if err != nil {
		// The PRF fails only on an output length it cannot produce; 16 bytes
		// from HMAC-SHA256 always works, so this is a programming error.
		panic(fmt.Sprintf("vault: blind index: %v", err))
	}
	return out
}

// keysetInfo is used by Status.
func handleKeys(h *keyset.Handle) (ids []uint32, primary uint32) {
	info := h.KeysetInfo()
	for _, k := range info.GetKeyInfo() {
		ids = append(ids, k.GetKeyId())
	}
	return ids, info.GetPrimaryKeyId()
}
