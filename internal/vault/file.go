package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// onDisk is the keyset file: Tink keysets in Tink's JSON format, in clear or,
// when kek is set, each encrypted by the key-encryption key (Tink's
// EncryptedKeyset, with the part's name as associated data so parts cannot
// be swapped). A file written before rotation existed has no "derive": its
// blind-index key, as it was, is the derivation key from then on.
type onDisk struct {
	KEK            *kekHeader      `json:"kek,omitempty"`
	AEAD           json.RawMessage `json:"aead"`
	Index          json.RawMessage `json:"blind_index"`
	Derive         json.RawMessage `json:"derive,omitempty"`
	IndexRotatedAt *time.Time      `json:"index_rotated_at,omitempty"`
}

// file is the keyset file parsed: three handles and how they are wrapped.
type file struct {
	kek                 *kekHeader
	master              tink.AEAD // the key-encryption key's primitive, when wrapped
	aead, index, derive *keyset.Handle
	indexRotatedAt      time.Time
}

func newFile() (*file, error) {
	f := &file{}
	var err error
	if f.aead, err = keyset.NewHandle(aead.AES256GCMKeyTemplate()); err != nil {
		return nil, fmt.Errorf("new aead key: %w", err)
	}
	if f.index, err = keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate()); err != nil {
		return nil, fmt.Errorf("new index key: %w", err)
	}
	if f.derive, err = keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate()); err != nil {
		return nil, fmt.Errorf("new derivation key: %w", err)
	}
	return f, nil
}

// readFile reads and parses the keyset at path, refusing one that group or
// others can read.
func readFile(path string) (*file, []byte, error) {
	raw, err := readRaw(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("keyset %s: %w", path, err)
	}
	return f, raw, nil
}

func readRaw(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read keyset: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyset %s has mode %v; it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	return raw, nil
}

func parse(raw []byte) (*file, error) {
	var d onDisk
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	f := &file{kek: d.KEK}
	if d.IndexRotatedAt != nil {
		f.indexRotatedAt = *d.IndexRotatedAt
	}
	if d.KEK != nil {
		var err error
		if f.master, err = d.KEK.primitive(); err != nil {
			return nil, err
		}
	}
	var err error
	if f.aead, err = f.readPart("aead", d.AEAD); err != nil {
		return nil, err
	}
	if f.index, err = f.readPart("blind_index", d.Index); err != nil {
		return nil, err
	}
	if len(d.Derive) == 0 {
		f.derive = f.index // pinned from here on: see onDisk
	} else if f.derive, err = f.readPart("derive", d.Derive); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *file) readPart(name string, raw json.RawMessage) (*keyset.Handle, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: missing", name)
	}
	r := keyset.NewJSONReader(bytes.NewReader(raw))
	var h *keyset.Handle
	var err error
	if f.master == nil {
		h, err = insecurecleartextkeyset.Read(r)
	} else {
		h, err = keyset.ReadWithAssociatedData(r, f.master, []byte("fairslot-keyset/"+name))
	}
	if err != nil {
		if f.master != nil {
			return nil, fmt.Errorf("%s: cannot unwrap (wrong passphrase or key-encryption key?): %w", name, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return h, nil
}

func (f *file) writePart(name string, h *keyset.Handle) (json.RawMessage, error) {
	var buf bytes.Buffer
	w := keyset.NewJSONWriter(&buf)
	var err error
	if f.master == nil {
		err = insecurecleartextkeyset.Write(h, w)
	} else {
		err = h.WriteWithAssociatedData(w, f.master, []byte("fairslot-keyset/"+name))
	}
	if err != nil {
		return nil, fmt.Errorf("encode keyset %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// encode is the file's bytes.
func (f *file) encode() ([]byte, error) {
	d := onDisk{KEK: f.kek}
	if !f.indexRotatedAt.IsZero() {
		t := f.indexRotatedAt.UTC()
		d.IndexRotatedAt = &t
	}
	var err error
	if d.AEAD, err = f.writePart("aead", f.aead); err != nil {
		return nil, err
	}
	if d.Index, err = f.writePart("blind_index", f.index); err != nil {
		return nil, err
	}
	if d.Derive, err = f.writePart("derive", f.derive); err != nil {
		return nil, err
	}
	return json.MarshalIndent(d, "", "  ")
}

// install writes data to path (mode 0600, creating the directory): aside
// first, synced, then linked into place — failing with fs.ErrExist when
// replace is false and the file exists — or renamed over the old file, so no
// reader ever sees half a keyset.
func install(path string, data []byte, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keyset directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".keyset-*")
	if err != nil {
		return fmt.Errorf("create keyset: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("write keyset: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return err
		}
		return fmt.Errorf("install keyset: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
