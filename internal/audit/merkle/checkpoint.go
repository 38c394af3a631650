// Package merkle makes the audit records tamper-evident: a Merkle tree over
// them in commit order (Go's sumdb/tlog, its stored hashes kept in the
// database), checkpoints of the tree signed as Go notes with an Ed25519 key
// kept with the keyset, copies of those checkpoints pushed to witnesses off
// the host, and a verifier that recomputes every leaf from the records and
// names the first one that does not match. It never holds the signing key
// in the database, and never trusts a checkpoint whose signature does not
// verify.
package merkle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the signed statement "the log named Origin has Size
// records and this root hash": the text of a C2SP tlog checkpoint.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// Text is the note text signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpoint parses a note's text.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) != 4 || lines[3] != "" || lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint: not three lines")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: n}
	copy(c.Hash[:], h)
	return c, nil
}

// GenerateKey makes a new signing key named name, returning the note
// signer key (secret) and its verifier key (public).
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// VerifierKey returns the public verifier key of a signer key.
func VerifierKey(skey string) (string, error) {
	// A signer key is PRIVATE+KEY+name+hash+base64(alg||priv); the
	// verifier key is name+hash+base64(alg||pub).
	s, err := note.NewSigner(skey)
	if err != nil {
		return "", err
	}
	parts := strings.SplitN(skey, "+", 5)
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 33 || key[0] != 1 {
		return "", errors.New("audit key: not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(s.Name(), pub)
}

// Sign signs c.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// Open checks a signed checkpoint against v and parses it. The origin must
// be v's name: a checkpoint of another log is refused.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(append(bytes.Clone(bytes.TrimSpace(msg)), '\n'), note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("signature does not verify: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint of log %q, not %q", c.Origin, v.Name())
	}
	return c, nil
}
