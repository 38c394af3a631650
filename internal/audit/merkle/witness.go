package merkle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A Witness keeps copies of the checkpoints somewhere the database's owner
// cannot reach: another volume or machine, another service.
type Witness interface {
	Name() string
	Push(ctx context.Context, size int64, msg []byte) error
}

// DirWitness writes each checkpoint as its own file, checkpoint.<size>,
// created once and never rewritten (mode 0444): a copy on a volume the
// server may add to but not change (WORM storage, another host's share, a
// directory only its own user may write). A file of that size already
// holding another checkpoint is an error, not overwritten.
type DirWitness struct{ Dir string }

func (w DirWitness) Name() string { return "witness " + w.Dir }

func (w DirWitness) file(size int64) string {
	return filepath.Join(w.Dir, fmt.Sprintf("checkpoint.%020d", size))
}

// ErrWitnessConflict: a witness holds another checkpoint of the same size.
var ErrWitnessConflict = errors.New("the witness holds another checkpoint of this size: the log was forked or rewritten")

func (w DirWitness) Push(_ context.Context, size int64, msg []byte) error {
	path := w.file(size)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrExist) {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(bytes.TrimSpace(old), bytes.TrimSpace(msg)) {
			return fmt.Errorf("%s: %w", path, ErrWitnessConflict)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("witness %s: %w", w.Dir, err)
	}
	_, err = f.Write(msg)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // half a file would refuse the retry
		return fmt.Errorf("witness %s: %w", w.Dir, err)
	}
	if d, err := os.Open(w.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Read returns every checkpoint the directory holds, by size.
func (w DirWitness) Read() ([]Source, error) {
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Dir, err)
	}
	var out []Source
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "checkpoint.") || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(w.Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Source{Name: w.Name() + "/" + e.Name(), Note: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HTTPWitness POSTs each checkpoint (text/plain, the signed note) to a URL;
// any 2xx answer means kept.
type HTTPWitness struct {
	URL    string
	Client *http.Client
}

func (w HTTPWitness) Name() string { return "witness " + w.URL }

func (w HTTPWitness) Push(ctx context.Context, size int64, msg []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	c := w.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("witness %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("witness %s: %s", w.URL, resp.Status)
	}
	return nil
}
