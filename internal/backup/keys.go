package backup

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"github.com/fairslot/fairslot/internal/vault"
)

// The keyset export's files: the keyset file (opaque bytes: its format is
// the vault's) and the key files kept beside it.
const (
	keysetName    = "keyset"
	auditKeyName  = "audit-key"
	backupKeyName = "backup-key"
)

// keyFiles maps an export's names to their paths for a keyset path.
func keyFiles(keyset string) map[string]string {
	return map[string]string{keysetName: keyset, auditKeyName: vault.AuditKeyPath(keyset), backupKeyName: vault.BackupKeyPath(keyset)}
}

// ExportKeys writes to path (which must not exist) the keyset and the key
// files beside it, as a tar encrypted with age to the recipients, and its
// signature by the backup key to path+".sig". The keyset and backup key
// must exist; the audit key is included when it does.
func ExportKeys(keyset string, recipients []age.Recipient, key ed25519.PrivateKey, path string, now time.Time) error {
	if len(recipients) == 0 {
		return errors.New("keys export: no recipient: give --recipient or set backup.recipients")
	}
	var buf bytes.Buffer
	aw, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return fmt.Errorf("keys export: %w", err)
	}
	tw := tar.NewWriter(aw)
	for _, name := range []string{keysetName, auditKeyName, backupKeyName} {
		data, err := os.ReadFile(keyFiles(keyset)[name])
		if errors.Is(err, fs.ErrNotExist) && name == auditKeyName {
			continue
		}
		if err != nil {
			return fmt.Errorf("keys export: %w", err)
		}
		if err := tarFile(tw, name, now, data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	size, sum, _ := digest(bytes.NewReader(buf.Bytes()))
	return writeSigned(path, buf.Bytes(), sign(key, keysContext, size, sum))
}

// writeSigned writes data to path and sig to path+".sig", each aside and
// then linked into place: neither overwrites an existing file.
func writeSigned(path string, data, sig []byte) error {
	if err := writeNew(path, bytes.NewReader(data)); err != nil {
		return err
	}
	return writeNew(path+".sig", bytes.NewReader(sig))
}

// writeNew writes r to path, mode 0600, refusing to replace a file.
func writeNew(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// openKeys checks a keyset export against its signature and the pinned
// key, and decrypts it.
func openKeys(path string, ids []age.Identity, pinned ed25519.PublicKey) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys export: %w", err)
	}
	sig, err := os.ReadFile(path + ".sig")
	if err != nil {
		return nil, fmt.Errorf("the keyset export has no signature beside it (%s.sig): refusing it: %w", path, err)
	}
	if err := verify(pinned, keysContext, sig, bytes.NewReader(data), "the keyset export "+path); err != nil {
		return nil, err
	}
	r, err := decrypt(bytes.NewReader(data), ids, "the keyset export")
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the keyset export is damaged: %w", err)
		}
		if _, known := keyFiles("")[h.Name]; !known || out[h.Name] != nil {
			return nil, fmt.Errorf("the keyset export is damaged: unexpected file %q", h.Name)
		}
		if out[h.Name], err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
			return nil, fmt.Errorf("the keyset export is damaged: %w", err)
		}
	}
	if out[keysetName] == nil || out[backupKeyName] == nil {
		return nil, errors.New("the keyset export is damaged: it lacks the keyset or the backup key")
	}
	bk, err := vault.ParseBackupSigningKey(out[backupKeyName])
	if err != nil {
		return nil, fmt.Errorf("the keyset export's backup key: %w", err)
	}
	if !bk.Public().(ed25519.PublicKey).Equal(pinned) {
		return nil, fmt.Errorf("the keyset export's backup key is not the pinned %s: the export is from another installation", vault.FormatBackupVerifyKey(pinned))
	}
	return out, nil
}

// checkKeysTarget refuses to overwrite key files that differ from the
// export's, unless force.
func checkKeysTarget(keyset string, keys map[string][]byte, force bool) error {
	for name, path := range keyFiles(keyset) {
		have, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if keys[name] == nil || !bytes.Equal(have, keys[name]) {
			if !force {
				return fmt.Errorf("%s exists and differs from the keyset export's: refusing to overwrite it without --force", path)
			}
		}
	}
	return nil
}

// installKeys writes the export's key files, mode 0600, each aside and then
// renamed into place.
func installKeys(keyset string, keys map[string][]byte) error {
	if err := os.MkdirAll(filepath.Dir(keyset), 0o700); err != nil {
		return err
	}
	for name, path := range keyFiles(keyset) {
		data := keys[name]
		if data == nil {
			continue
		}
		if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, data) {
			continue
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
		if err != nil {
			return err
		}
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
