package backup

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// Manifest describes an archive; it is its first file, manifest.json.
type Manifest struct {
	Format  int       `json:"format"`  // 1
	Backend string    `json:"backend"` // "sqlite" or "postgres"
	Schema  int       `json:"schema"`  // the migration version applied
	Tables  Counts    `json:"tables"`  // rows per table, in the snapshot
	Time    time.Time `json:"time"`
	Node    string    `json:"node"`
	Version string    `json:"version"` // of the fairslot that took it
	Audit   Audit     `json:"audit"`
	// Snapshot is the database file that follows the manifest.
	Snapshot File `json:"snapshot"`
}

// Counts is rows per table.
type Counts map[string]int64

// Audit is the audit log's state in the snapshot.
type Audit struct {
	// Size is the number of records with a leaf number, Root the Merkle
	// tree's hash over them (tlog, base64).
	Size int64  `json:"size"`
	Root string `json:"root"`
	// Checkpoint is the newest signed checkpoint (a signed note); empty
	// when none has been signed yet.
	Checkpoint string `json:"checkpoint"`
}

// File names a file of the archive with its size and SHA-256 (hex).
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

const (
	manifestName  = "manifest.json"
	formatVersion = 1
	// Snapshot file names, by backend.
	sqliteSnapshot   = "fairslot.db"
	postgresSnapshot = "fairslot.pgdump"
	maxManifest      = 1 << 20
)

// seal writes the archive to w: a tar of the manifest and the snapshot
// file, encrypted with age to the recipients. The snapshot's size and hash
// are filled into m.
func seal(ctx context.Context, w io.Writer, m *Manifest, snapshot string, recipients []age.Recipient, p *pacer) error {
	f, err := os.Open(snapshot)
	if err != nil {
		return err
	}
	defer f.Close()
	size, sum, err := digest(paced(ctx, f, p))
	if err != nil {
		return fmt.Errorf("hash snapshot: %w", err)
	}
	m.Snapshot.Size, m.Snapshot.SHA256 = size, hex.EncodeToString(sum[:])
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	aw, err := age.Encrypt(w, recipients...)
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	tw := tar.NewWriter(aw)
	if err := tarFile(tw, manifestName, m.Time, mj); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: m.Snapshot.Name, Mode: 0o600, Size: size, ModTime: m.Time, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if n, err := io.Copy(tw, paced(ctx, f, p)); err != nil || n != size {
		return fmt.Errorf("pack snapshot: %d of %d bytes: %v", n, size, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return aw.Close()
}

func tarFile(tw *tar.Writer, name string, t time.Time, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: t, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// decrypt opens an age file with the identities, saying clearly when none
// of them is a recipient.
func decrypt(r io.Reader, ids []age.Identity, what string) (io.Reader, error) {
	ar, err := age.Decrypt(r, ids...)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, fmt.Errorf("%s is not encrypted to the identity given (--identity): it is for other recipients", what)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decrypt: %w", what, err)
	}
	return ar, nil
}

// unsealSigned is unseal of an archive whose signature s vouches for: in
// the same pass, the archive's bytes are hashed (on another core) and
// checked against s — no more than the signed size is read, and the
// signature's verdict comes before unseal's own, so an altered archive is
// refused as altered whatever it does to the decryption. On any error the
// caller removes dir.
func unsealSigned(f io.Reader, s signed, ids []age.Identity, dir string) (Manifest, error) {
	h := newHashAside()
	in := io.TeeReader(io.LimitReader(f, s.size+1), h)
	m, err := unseal(in, ids, dir)
	_, rerr := io.Copy(io.Discard, in) // what unseal left unread, if it stopped early
	if serr := s.check(h.Sum()); serr != nil {
		return m, serr
	}
	if err == nil {
		err = rerr
	}
	return m, err
}

// unseal reads an archive (already checked against its signature), writing
// the snapshot into dir under its own name, and returns the manifest. The
// archive must hold exactly the manifest, then the snapshot it describes.
func unseal(r io.Reader, ids []age.Identity, dir string) (Manifest, error) {
	var m Manifest
	ar, err := decrypt(r, ids, "the archive")
	if err != nil {
		return m, err
	}
	tr := tar.NewReader(ar)
	damaged := func(why string, args ...any) error {
		return fmt.Errorf("the archive is damaged: "+why, args...)
	}
	h, err := tr.Next()
	if err != nil || h.Name != manifestName || h.Size > maxManifest {
		return m, damaged("it does not start with %s (%v)", manifestName, err)
	}
	mj, err := io.ReadAll(tr)
	if err != nil {
		return m, damaged("%v", err)
	}
	if err := json.Unmarshal(mj, &m); err != nil {
		return m, damaged("manifest: %v", err)
	}
	if m.Format != formatVersion {
		return m, fmt.Errorf("the archive's format is %d; this fairslot reads format %d", m.Format, formatVersion)
	}
	want := map[string]string{"sqlite": sqliteSnapshot, "postgres": postgresSnapshot}[m.Backend]
	if want == "" || m.Snapshot.Name != want {
		return m, damaged("manifest: backend %q with snapshot %q", m.Backend, m.Snapshot.Name)
	}
	h, err = tr.Next()
	if err != nil || h.Name != m.Snapshot.Name || h.Size != m.Snapshot.Size {
		return m, damaged("the snapshot %s of %d bytes the manifest names is missing (%v)", m.Snapshot.Name, m.Snapshot.Size, err)
	}
	out, err := os.OpenFile(filepath.Join(dir, m.Snapshot.Name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return m, err
	}
	hash := newHashAside()
	n, err := io.CopyBuffer(io.MultiWriter(out, hash), tr, make([]byte, 1<<20))
	_, sum := hash.Sum()
	if cerr := out.Sync(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return m, fmt.Errorf("extract the snapshot: %w", err)
	}
	if n != m.Snapshot.Size || hex.EncodeToString(sum[:]) != m.Snapshot.SHA256 {
		return m, damaged("the snapshot does not match the manifest's size and SHA-256")
	}
	if h, err := tr.Next(); err != io.EOF {
		name := ""
		if h != nil {
			name = h.Name
		}
		return m, damaged("unexpected content after the snapshot (%q, %v)", name, err)
	}
	// Read to the end so that age checks the last chunk's tag.
	if _, err := io.Copy(io.Discard, ar); err != nil {
		return m, damaged("%v", err)
	}
	return m, nil
}
