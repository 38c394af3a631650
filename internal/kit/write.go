package kit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/backup"
)

// A kit directory holds generations, each a directory kit-<time>-<random>
// written complete under a temporary name and then renamed into place,
// and CURRENT, a small JSON file naming the newest generation and its
// time, replaced by rename after the generation is in place: a reader who
// follows CURRENT never sees a half-written kit. index.html (replaced the
// same way) links the newest generation's pages for a person at the share.
const (
	// Format names the manifest's format.
	Format = "fairslot-downtime-kit-v1"
	// signContext is the backup-key signature context of a kit manifest.
	signContext    = "fairslot-downtime-kit-v1"
	CurrentFile    = "CURRENT"
	ManifestFile   = "manifest.json"
	SignatureFile  = "manifest.json.sig"
	CheckpointFile = "checkpoint.txt"
	genPrefix      = "kit-"
	tmpPrefix      = ".tmp-kit-"
)

// Manifest describes one generation; manifest.json.sig beside it is its
// signature by the backup key.
type Manifest struct {
	Format string `json:"format"`
	// GeneratedAt is when the kit's data was read: its age is what a
	// clinic working from paper (or a drill measuring it) needs to know.
	GeneratedAt time.Time    `json:"generated_at"`
	Node        string       `json:"node"`
	Lang        string       `json:"lang"`
	Dates       []string     `json:"dates"`
	Departments []Department `json:"departments"`
	// Checkpoint is the newest signed audit checkpoint's file, "" if none.
	Checkpoint string `json:"checkpoint,omitempty"`
	Files      []File `json:"files"`
}

// Department is one department's files in a generation.
type Department struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	HTML     string `json:"html"`
	CSV      string `json:"csv"`
	Bookings int    `json:"bookings"`
	Waitlist int    `json:"waitlist"`
}

// File is one file of a generation with its size and SHA-256.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Current is what CURRENT says: the newest generation and its time.
type Current struct {
	Generation  string    `json:"generation"`
	GeneratedAt time.Time `json:"generated_at"`
}

// ReadCurrent reads a kit directory's CURRENT: which generation is newest
// and when it was made (unverified: Verify checks the signature).
func ReadCurrent(dir string) (Current, error) {
	var c Current
	raw, err := os.ReadFile(filepath.Join(dir, CurrentFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil || !validGeneration(c.Generation) {
		return Current{}, fmt.Errorf("%s: not a kit's CURRENT file", filepath.Join(dir, CurrentFile))
	}
	return c, nil
}

func validGeneration(name string) bool {
	return strings.HasPrefix(name, genPrefix) && !strings.ContainsAny(name, `/\`) && name != "." && name != ".."
}

// Options say what a kit is made from and how it is signed.
type Options struct {
	Source   Source
	Key      ed25519.PrivateKey // the backup signing key
	Node     string
	Lang     string
	Location *time.Location
	// Departments limits the kit to these departments (none: all).
	Departments []int64
	// Keep is how many generations to keep (at least 2; 0 means 6).
	Keep int
	// Date, when set (YYYY-MM-DD), is the first of the two dates instead
	// of today.
	Date string
}

// Write makes one generation at now in dir and makes it CURRENT, then
// prunes old generations. It returns the generation's directory and its
// manifest.
func Write(ctx context.Context, dir string, o Options, now time.Time) (string, Manifest, error) {
	m := Manifest{Format: Format, GeneratedAt: now.UTC().Truncate(time.Second), Node: o.Node, Lang: o.Lang}
	if err := CheckLang(o.Lang); err != nil {
		return "", m, err
	}
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	m.Dates = Dates(now, loc)
	if o.Date != "" {
		d, err := time.ParseInLocation(time.DateOnly, o.Date, loc)
		if err != nil {
			return "", m, fmt.Errorf("kit: the date %q is not YYYY-MM-DD", o.Date)
		}
		m.Dates = Dates(d, loc)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", m, fmt.Errorf("kit: %w", err)
	}
	depts, err := o.Source.Departments(ctx)
	if err != nil {
		return "", m, fmt.Errorf("kit: departments: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, tmpPrefix)
	if err != nil {
		return "", m, fmt.Errorf("kit: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed; cleans up a failure
	var checkpoint []byte
	put := func(name string, data []byte) error {
		sum := sha256.Sum256(data)
		m.Files = append(m.Files, File{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		return writeSynced(filepath.Join(tmp, name), data)
	}
	for _, d := range depts {
		if len(o.Departments) > 0 && !slices.Contains(o.Departments, d.ID) {
			continue
		}
		p, err := o.Source.Page(ctx, d.ID, m.Dates)
		if err != nil {
			return "", m, fmt.Errorf("kit: department %d: %w", d.ID, err)
		}
		p.Department, p.Generated, p.Lang = d, now.In(loc), o.Lang
		html, csvData, err := Render(p)
		if err != nil {
			return "", m, fmt.Errorf("kit: department %d: %w", d.ID, err)
		}
		md := Department{ID: d.ID, Name: d.Name, HTML: fmt.Sprintf("department-%d.html", d.ID), CSV: fmt.Sprintf("department-%d.csv", d.ID)}
		for _, day := range p.Days {
			for _, s := range day.Sessions {
				for _, w := range s.Windows {
					md.Bookings += len(w.Rows)
				}
				md.Waitlist += len(s.Waitlist)
			}
		}
		if err := put(md.HTML, html); err != nil {
			return "", m, err
		}
		if err := put(md.CSV, csvData); err != nil {
			return "", m, err
		}
		m.Departments = append(m.Departments, md)
		if len(p.Checkpoint) > 0 && checkpoint == nil {
			checkpoint = p.Checkpoint
		}
	}
	if checkpoint != nil {
		m.Checkpoint = CheckpointFile
		if err := put(CheckpointFile, checkpoint); err != nil {
			return "", m, err
		}
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", m, err
	}
	raw = append(raw, '\n')
	sig, err := backup.SignBytes(o.Key, signContext, raw)
	if err != nil {
		return "", m, err
	}
	if err := writeSynced(filepath.Join(tmp, ManifestFile), raw); err != nil {
		return "", m, err
	}
	if err := writeSynced(filepath.Join(tmp, SignatureFile), sig); err != nil {
		return "", m, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", m, err
	}
	if err := syncDir(tmp); err != nil {
		return "", m, err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := genPrefix + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix)
	gen := filepath.Join(dir, name)
	if err := os.Rename(tmp, gen); err != nil {
		return "", m, fmt.Errorf("kit: %w", err)
	}
	cur, _ := json.Marshal(Current{Generation: name, GeneratedAt: m.GeneratedAt})
	if err := replace(dir, CurrentFile, append(cur, '\n')); err != nil {
		return gen, m, err
	}
	if err := replace(dir, "index.html", index(name, m)); err != nil {
		return gen, m, err
	}
	if err := prune(dir, name, o.Keep, now); err != nil {
		return gen, m, fmt.Errorf("kit: pruning old generations: %w", err)
	}
	return gen, m, nil
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>fairslot downtime kit {{.Generated}}</title></head>
<body><h1>fairslot downtime kit</h1><p>{{.Generated}} UTC</p><ul>
{{range .Departments}}<li><a href="{{$.Gen}}/{{.HTML}}">{{.Name}}</a> (<a href="{{$.Gen}}/{{.CSV}}">CSV</a>)</li>
{{end}}</ul></body></html>
`))

func index(gen string, m Manifest) []byte {
	var b bytes.Buffer
	indexPage.Execute(&b, struct {
		Manifest
		Gen, Generated string
	}{m, gen, m.GeneratedAt.Format("2006-01-02 15:04:05")})
	return b.Bytes()
}

// replace writes name in dir through a temporary file and a rename.
func replace(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-")
	if err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("kit: writing %s: %w", name, err)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("kit: writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("kit: syncing %s: %w", dir, err)
	}
	return nil
}

// prune removes generations beyond the newest keep (never current), and
// temporary directories a crashed writer left an hour or more ago (a
// younger one may be another writer's, e.g. 'fairslot kit' run by hand).
func prune(dir, current string, keep int, now time.Time) error {
	if keep == 0 {
		keep = 6
	}
	keep = max(keep, 2)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var gens []string
	for _, e := range entries {
		switch {
		case e.IsDir() && validGeneration(e.Name()):
			gens = append(gens, e.Name())
		case strings.HasPrefix(e.Name(), tmpPrefix):
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > time.Hour {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	slices.Sort(gens) // names start with the time
	for len(gens) > keep {
		if gens[0] != current {
			if err := os.RemoveAll(filepath.Join(dir, gens[0])); err != nil {
				return err
			}
		}
		gens = gens[1:]
	}
	return nil
}

// Writer writes a kit every Every while its node leads the jobs.
type Writer struct {
	Dir     string
	Every   time.Duration
	Options Options
	Log     *slog.Logger

	mu       sync.Mutex
	last     time.Time // the last success's time
	failures int64
}

// Stats is the writer's state, for metrics.
type Stats struct {
	LastSuccess time.Time
	Failures    int64
}

// Stats returns the writer's state.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{LastSuccess: w.last, Failures: w.failures}
}

// Run calls Tick at each tick with whether this node leads the jobs now
// (leading()), until ctx ends.
func (w *Writer) Run(ctx context.Context, ticks <-chan time.Time, leading func() bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			w.Tick(ctx, now, leading())
		}
	}
}

// Tick writes a kit at now when this node leads the jobs and one is due
// (none written yet by this node, or Every since the last); a node that
// is not leading writes nothing. A failure is logged as an ALERT and tried
// again at the next tick. It reports whether it wrote one.
func (w *Writer) Tick(ctx context.Context, now time.Time, leading bool) (bool, error) {
	if !leading {
		return false, nil
	}
	w.mu.Lock()
	due := w.last.IsZero() || now.Sub(w.last) >= w.Every
	w.mu.Unlock()
	if !due {
		return false, nil
	}
	gen, m, err := Write(ctx, w.Dir, w.Options, now)
	w.mu.Lock()
	if err != nil {
		w.failures++
	} else {
		w.last = now
	}
	w.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		w.Log.Error("ALERT: downtime kit not written; it is tried again", "dir", w.Dir, "err", err)
	default:
		w.Log.Info("downtime kit written", "generation", gen, "departments", len(m.Departments))
	}
	return err == nil, err
}
