package backup

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fairslot/fairslot/internal/vault"
)

// A signature is a detached text file beside what it signs (ARCHIVE.sig
// beside ARCHIVE): its first lines name the format, what is signed (a
// context string, so an archive's signature can never pass for a keyset
// export's), the signer's public key, the signed file's size and SHA-256;
// its last line is the Ed25519 signature of those lines. It covers the
// encrypted bytes, so a restore checks it before decrypting anything, and
// so anyone holding only the public verification key can check a backup
// without being able to read it. The signer's key in the file is only
// there to say whose it is: verification uses the pinned key alone.
const sigHeader = "fairslot signature v1"

// Contexts of the two kinds of signed file.
const (
	archiveContext = "fairslot-backup-archive-v1"
	keysContext    = "fairslot-keys-export-v1"
)

// digest hashes r, returning its size and SHA-256.
func digest(r io.Reader) (int64, [32]byte, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return n, sum, err
}

func sigBody(context string, pub ed25519.PublicKey, size int64, sum [32]byte) string {
	return fmt.Sprintf("%s\ncontext %s\nkey %s\nsize %d\nsha256 %s\n", sigHeader, context, vault.FormatBackupVerifyKey(pub), size, hex.EncodeToString(sum[:]))
}

// sign returns the signature file of a file of size bytes hashing to sum.
func sign(key ed25519.PrivateKey, context string, size int64, sum [32]byte) []byte {
	body := sigBody(context, key.Public().(ed25519.PublicKey), size, sum)
	return []byte(body + "sig " + base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(body))) + "\n")
}

// verify checks sig, a signature file, against the pinned key and the
// signed file f (read to its end). what names the file in errors.
func verify(pinned ed25519.PublicKey, context string, sig []byte, f io.Reader, what string) error {
	s, err := openSignature(pinned, context, sig, what)
	if err != nil {
		return err
	}
	size, sum, err := digest(f)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.check(size, sum)
}

// signed is what a signature file vouches for, once its own signature
// verified with the pinned key: a file of size bytes hashing to sum.
type signed struct {
	size int64
	sum  string // hex
	what string
}

// openSignature checks sig, a signature file, against the pinned key and
// context, and returns the size and hash it signed; the file itself is
// checked against them by signed.check. what names the file in errors.
func openSignature(pinned ed25519.PublicKey, context string, sig []byte, what string) (signed, error) {
	lines := strings.Split(strings.TrimSuffix(string(sig), "\n"), "\n")
	bad := func(why string) error {
		return fmt.Errorf("%s: the signature file is not a fairslot signature (%s): refusing it", what, why)
	}
	if len(lines) != 6 || lines[0] != sigHeader {
		return signed{}, bad("format")
	}
	field := func(i int, name string) (string, bool) { return strings.CutPrefix(lines[i], name+" ") }
	ctx, ok1 := field(1, "context")
	key, ok2 := field(2, "key")
	sizeText, ok3 := field(3, "size")
	sumText, ok4 := field(4, "sha256")
	sigText, ok5 := field(5, "sig")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return signed{}, bad("fields")
	}
	if ctx != context {
		return signed{}, fmt.Errorf("%s: the signature is for a %s, not a %s: refusing it", what, ctx, context)
	}
	signer, err := vault.ParseBackupVerifyKey(key)
	if err != nil {
		return signed{}, bad("key")
	}
	if !signer.Equal(pinned) {
		return signed{}, fmt.Errorf("%s is signed by another key (%s), not the pinned %s: refusing it (forged, or from another installation)",
			what, key, vault.FormatBackupVerifyKey(pinned))
	}
	s, err := base64.StdEncoding.DecodeString(sigText)
	body := strings.Join(lines[:5], "\n") + "\n"
	// Only the canonical encoding: base64 decoding skips \r, which would
	// let one signature be written many ways.
	if err != nil || base64.StdEncoding.EncodeToString(s) != sigText || !ed25519.Verify(pinned, []byte(body), s) {
		return signed{}, fmt.Errorf("%s: the signature does not verify with the pinned key: refusing it (the signature file was altered)", what)
	}
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if err != nil || size < 0 {
		return signed{}, bad("size")
	}
	return signed{size: size, sum: sumText, what: what}, nil
}

// check says whether a file of size bytes hashing to sum is the signed one.
func (s signed) check(size int64, sum [32]byte) error {
	if size != s.size {
		return fmt.Errorf("%s is %d bytes, but %d were signed: refusing it (truncated or extended)", s.what, size, s.size)
	}
	if hex.EncodeToString(sum[:]) != s.sum {
		return fmt.Errorf("%s does not match its signature (SHA-256 differs): refusing it (altered)", s.what)
	}
	return nil
}
