package backup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DirDestination keeps archives in a directory, on another volume or host.
// Create writes there directly: aside, synced, then linked into place
// (a link never replaces an existing name).
type DirDestination struct {
	Dir string
}

func (d DirDestination) String() string { return d.Dir }

func (d DirDestination) stage() (string, func(), error) { return d.Dir, func() {}, nil }

func (d DirDestination) keep(_ context.Context, res Result, pub ed25519.PublicKey) (string, error) {
	sig, err := os.ReadFile(res.SigPath)
	if err != nil {
		return "", fmt.Errorf("read-back: %w", err)
	}
	f, err := os.Open(res.Path)
	if err != nil {
		return "", fmt.Errorf("read-back: %w", err)
	}
	defer f.Close()
	return res.Path, verifyCopy(f, sig, res, pub, res.Path)
}

func (d DirDestination) list(context.Context) ([]Archived, error) {
	ents, err := os.ReadDir(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Archived
	for _, e := range ents {
		if t, ok := ParseArchiveName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, Archived{Name: e.Name(), Time: t})
		}
	}
	return out, nil
}

// remove deletes an archive, then its signature (an archive without one
// is never restored, so a stray signature is the lesser leftover).
func (d DirDestination) remove(name string) error {
	if err := os.Remove(filepath.Join(d.Dir, name)); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.Dir, name+".sig")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// S3Destination keeps archives in an S3-compatible bucket, under Prefix.
// Its credentials need only put, get and list: it never deletes and never
// overwrites (a key is checked absent first and put with If-None-Match: *,
// which servers that support it enforce). What is kept and for how long is
// the bucket's lifecycle rules' and object lock's to decide.
type S3Destination struct {
	Client *minio.Client
	Bucket string
	Prefix string
	// LockMode (minio.Governance or minio.Compliance) and LockFor put an
	// object lock retention on every object; empty: none.
	LockMode minio.RetentionMode
	LockFor  time.Duration
	// StageIn is the local directory archives are made in before upload
	// (a temporary directory under it, removed after); "" is os.TempDir.
	StageIn string
}

// S3Config is what NewS3Destination connects with.
type S3Config struct {
	Endpoint, Region, AccessKey, SecretKey string
	Insecure                               bool
	MaxRetries                             int // 0: minio-go's default (10)
}

// NewS3Client connects to an S3-compatible server.
func NewS3Client(c S3Config) (*minio.Client, error) {
	return minio.New(c.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:     !c.Insecure,
		Region:     c.Region,
		MaxRetries: c.MaxRetries,
	})
}

func (d S3Destination) String() string { return "s3://" + d.Bucket + "/" + d.Prefix }

func (d S3Destination) stage() (string, func(), error) {
	dir, err := os.MkdirTemp(d.StageIn, ".backup-upload-*")
	if err != nil {
		return "", nil, fmt.Errorf("stage: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func (d S3Destination) key(name string) string { return path.Join(d.Prefix, name) }

func (d S3Destination) keep(ctx context.Context, res Result, pub ed25519.PublicKey) (string, error) {
	sig, err := os.ReadFile(res.SigPath)
	if err != nil {
		return "", err
	}
	archive, sigKey := d.key(filepath.Base(res.Path)), d.key(filepath.Base(res.SigPath))
	if err := d.put(ctx, archive, res.Path); err != nil {
		return "", err
	}
	if err := d.put(ctx, sigKey, res.SigPath); err != nil {
		return "", err
	}
	where := "s3://" + d.Bucket + "/" + archive
	// Read both back: the signature as written, the archive as signed.
	gotSig, err := d.get(ctx, sigKey)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(gotSig, sig) {
		return "", fmt.Errorf("read-back: %s.sig differs from the signature written", where)
	}
	obj, err := d.Client.GetObject(ctx, d.Bucket, archive, minio.GetObjectOptions{})
	if err != nil {
		return "", fmt.Errorf("read-back %s: %w", where, err)
	}
	defer obj.Close()
	return where, verifyCopy(obj, sig, res, pub, where)
}

func (d S3Destination) put(ctx context.Context, key, file string) error {
	// Refuse an existing key even where the server ignores If-None-Match.
	if _, err := d.Client.StatObject(ctx, d.Bucket, key, minio.StatObjectOptions{}); err == nil {
		return fmt.Errorf("s3://%s/%s already exists: refusing to overwrite it", d.Bucket, key)
	} else if minio.ToErrorResponse(err).Code != minio.NoSuchKey && minio.ToErrorResponse(err).StatusCode != 404 {
		return fmt.Errorf("s3://%s/%s: %w", d.Bucket, key, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", SendContentMd5: true}
	opts.SetMatchETagExcept("*") // If-None-Match: *
	if d.LockMode != "" {
		opts.Mode, opts.RetainUntilDate = d.LockMode, time.Now().Add(d.LockFor)
	}
	if _, err := d.Client.PutObject(ctx, d.Bucket, key, f, st.Size(), opts); err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", d.Bucket, key, err)
	}
	return nil
}

func (d S3Destination) get(ctx context.Context, key string) ([]byte, error) {
	obj, err := d.Client.GetObject(ctx, d.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("read-back s3://%s/%s: %w", d.Bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read-back s3://%s/%s: %w", d.Bucket, key, err)
	}
	return b, nil
}

func (d S3Destination) list(ctx context.Context) ([]Archived, error) {
	prefix := d.Prefix
	if prefix != "" && prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	var out []Archived
	for o := range d.Client.ListObjects(ctx, d.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if o.Err != nil {
			return nil, o.Err
		}
		if t, ok := ParseArchiveName(path.Base(o.Key)); ok {
			out = append(out, Archived{Name: o.Key, Time: t})
		}
	}
	return out, nil
}
