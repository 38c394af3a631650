package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A sidecar is a key file kept beside the keyset (the audit key, the backup
// signing key): with the keyset's protection, never in the database.

// readSidecar reads the sidecar at path: fs.ErrNotExist when there is none,
// an error when others may read it.
func readSidecar(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %v; it must not be readable by group or others (chmod 600)", what, path, fi.Mode().Perm())
	}
	return data, nil
}

// createSidecar writes data to path (mode 0600) unless a file is there:
// written aside, then linked into place, so a concurrent start reads the
// winner's key and nobody sees half a file. It returns an error wrapping
// fs.ErrExist when another process won; the caller then reads theirs.
func createSidecar(what, path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("%s directory: %w", what, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	if err = tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("install %s: %w", what, err)
	}
	return nil
}
