package kit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fairslot/fairslot/internal/backup"
)

// Verify checks a kit against the pinned backup verification key: dir is
// a kit directory (its CURRENT generation is checked) or one generation.
// It refuses a manifest whose signature does not verify, a file that is
// missing, altered or not in the manifest, and returns the generation's
// directory and manifest.
func Verify(dir string, pub ed25519.PublicKey) (string, Manifest, error) {
	var m Manifest
	gen := dir
	var current *Current
	if c, err := ReadCurrent(dir); err == nil {
		gen, current = filepath.Join(dir, c.Generation), &c
	} else if !errors.Is(err, fs.ErrNotExist) {
		return gen, m, err
	}
	raw, err := os.ReadFile(filepath.Join(gen, ManifestFile))
	if err != nil {
		return gen, m, fmt.Errorf("kit %s: no manifest: %w", gen, err)
	}
	sig, err := os.ReadFile(filepath.Join(gen, SignatureFile))
	if err != nil {
		return gen, m, fmt.Errorf("kit %s: the manifest has no signature: %w", gen, err)
	}
	if err := backup.VerifyBytes(pub, signContext, sig, raw, "kit manifest "+filepath.Join(gen, ManifestFile)); err != nil {
		return gen, m, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Format != Format {
		return gen, m, fmt.Errorf("kit %s: the signed manifest is not a %s manifest", gen, Format)
	}
	if current != nil && !current.GeneratedAt.Equal(m.GeneratedAt) {
		return gen, m, fmt.Errorf("kit %s: CURRENT says it was made at %s, its signed manifest %s: refusing the kit (CURRENT altered)",
			dir, current.GeneratedAt.Format(time.RFC3339), m.GeneratedAt.Format(time.RFC3339))
	}
	listed := map[string]bool{ManifestFile: true, SignatureFile: true}
	for _, f := range m.Files {
		if !fs.ValidPath(f.Name) || filepath.Base(f.Name) != f.Name || listed[f.Name] {
			return gen, m, fmt.Errorf("kit %s: the manifest names a bad file %q", gen, f.Name)
		}
		listed[f.Name] = true
		data, err := os.ReadFile(filepath.Join(gen, f.Name))
		if err != nil {
			return gen, m, fmt.Errorf("kit %s: %s is missing: %w", gen, f.Name, err)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			return gen, m, fmt.Errorf("kit %s: %s does not match the signed manifest (altered): refusing the kit", gen, f.Name)
		}
	}
	entries, err := os.ReadDir(gen)
	if err != nil {
		return gen, m, err
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			return gen, m, fmt.Errorf("kit %s: %s is not in the signed manifest (added): refusing the kit", gen, e.Name())
		}
	}
	return gen, m, nil
}
