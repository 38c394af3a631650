package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// A keyset may be wrapped by a key-encryption key, so that the file alone —
// in a backup, on a stolen disk — opens nothing:
//
//   - "passphrase", for small sites: the key is argon2id of a passphrase the
//     operator gives in FAIRSLOT_KEYSET_PASSPHRASE or, better, in a file named
//     by FAIRSLOT_KEYSET_PASSPHRASE_FILE (a tmpfs secret, a systemd
//     credential), never on the command line;
//   - "kms", for a hospital KMS: Tink's KMS envelope (a fresh data key per
//     write, itself encrypted by the KMS key at uri). fairslot registers no
//     KMS client of its own; a build that registers one with Tink's
//     registry.RegisterKMSClient (AWS, GCP, Vault…) can use it, and any other
//     build says so clearly.
type kekHeader struct {
	Kind      string `json:"kind"`
	Salt      []byte `json:"salt,omitempty"`
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
	URI       string `json:"uri,omitempty"`
}

// PassphraseEnv and PassphraseFileEnv name where a wrapped keyset's
// passphrase comes from.
const (
	PassphraseEnv     = "FAIRSLOT_KEYSET_PASSPHRASE"
	PassphraseFileEnv = "FAIRSLOT_KEYSET_PASSPHRASE_FILE"
)

// ErrNoPassphrase is returned opening a passphrase-wrapped keyset with
// neither variable set.
var ErrNoPassphrase = errors.New("the keyset is wrapped by a passphrase: set " + PassphraseFileEnv + " (a file holding it) or " + PassphraseEnv)

// MinPassphrase is the shortest passphrase wrap accepts.
const MinPassphrase = 16

// passphrase reads the passphrase from the environment.
func passphrase() ([]byte, error) {
	if name := os.Getenv(PassphraseFileEnv); name != "" {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("keyset passphrase: %w", err)
		}
		if fi, err := os.Stat(name); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("keyset passphrase file %s has mode %v; it must not be readable by group or others (chmod 600)", name, fi.Mode().Perm())
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if p := os.Getenv(PassphraseEnv); p != "" {
		return []byte(p), nil
	}
	return nil, ErrNoPassphrase
}

func newPassphraseKEK(pass []byte) (*kekHeader, tink.AEAD, error) {
	if len(pass) < MinPassphrase {
		return nil, nil, fmt.Errorf("a keyset passphrase needs at least %d characters", MinPassphrase)
	}
	h := &kekHeader{Kind: "passphrase", Salt: make([]byte, 16), Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
	rand.Read(h.Salt)
	a, err := h.fromPassphrase(pass)
	return h, a, err
}

func (h *kekHeader) fromPassphrase(pass []byte) (tink.AEAD, error) {
	if h.Time == 0 || h.MemoryKiB == 0 || h.Threads == 0 || len(h.Salt) < 16 {
		return nil, errors.New("keyset kek: bad argon2id parameters")
	}
	return subtle.NewAESGCM(argon2.IDKey(pass, h.Salt, h.Time, h.MemoryKiB, h.Threads, 32))
}

// primitive is the key-encryption key the header names.
func (h *kekHeader) primitive() (tink.AEAD, error) {
	switch h.Kind {
	case "passphrase":
		pass, err := passphrase()
		if err != nil {
			return nil, err
		}
		return h.fromPassphrase(pass)
	case "kms":
		return kmsAEAD(h.URI)
	}
	return nil, fmt.Errorf("keyset kek: unknown kind %q", h.Kind)
}

// kmsAEAD is Tink's KMS envelope under the KMS key at uri, through a client
// some part of the build registered.
func kmsAEAD(uri string) (tink.AEAD, error) {
	client, err := registry.GetKMSClient(uri)
	if err != nil {
		return nil, fmt.Errorf("keyset kek: no KMS client for %q in this build (register one with Tink's registry.RegisterKMSClient): %w", uri, err)
	}
	remote, err := client.GetAEAD(uri)
	if err != nil {
		return nil, fmt.Errorf("keyset kek: %w", err)
	}
	return aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), remote), nil
}
