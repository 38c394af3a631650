package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/queue"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// fixture is a serving installation's files: a seeded SQLite store with
// audit records under a signed checkpoint (and some after it), its keyset
// and key files, one age identity, an archive and a keyset export.
type fixture struct {
	dir, data, keyset string
	st                *sqlite.Store
	key               ed25519.PrivateKey
	id                *age.X25519Identity
	archive, keys     string
	counts            map[string]int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	f.data, f.keyset = filepath.Join(f.dir, "data"), filepath.Join(f.dir, "keys", "keyset.json")
	st, err := sqlite.Open(f.data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(f.keyset)
	if err != nil {
		t.Fatal(err)
	}
	svc := &app.Service{Store: st, Vault: v, Policy: booking.Default(), Calling: queue.Default(), Payments: payment.NewSandbox(),
		Now: time.Now, Location: time.UTC, Display: app.NewBroker(), DemoMode: true}
	if err := demo.Seed(ctx, svc); err != nil {
		t.Fatal(err)
	}
	skey, err := vault.AuditSigningKey(f.keyset)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	addAudit := func(n int) {
		for i := 0; i < n; i++ {
			if err := st.Update(ctx, func(tx storage.Tx) error {
				return tx.AppendAudit(ctx, &audit.Event{At: time.Now(), Actor: "system", Action: "test.event", Subject: fmt.Sprint("n:", i)})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	addAudit(20)
	if _, err := (&merkle.Log{Store: st, Signer: signer}).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	addAudit(3) // not yet under a checkpoint
	if f.key, err = vault.BackupSigningKey(f.keyset); err != nil {
		t.Fatal(err)
	}
	if f.id, err = age.GenerateX25519Identity(); err != nil {
		t.Fatal(err)
	}
	res, err := Create(ctx, Options{Store: st, DataDir: f.data, Dir: filepath.Join(f.dir, "backups"), Recipients: []age.Recipient{f.id.Recipient()},
		Key: f.key, Node: "node-1", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.archive = res.Path
	f.keys = filepath.Join(f.dir, "keys.age")
	if err := ExportKeys(f.keyset, []age.Recipient{f.id.Recipient()}, f.key, f.keys, time.Now()); err != nil {
		t.Fatal(err)
	}
	if f.counts, err = st.TableCounts(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) pub() ed25519.PublicKey { return f.key.Public().(ed25519.PublicKey) }

// target is a clean machine's paths, under root: none exists yet.
func target(t *testing.T) (root, data, keyset string) {
	root = t.TempDir()
	return root, filepath.Join(root, "srv", "data"), filepath.Join(root, "keys", "keyset.json")
}

func (f *fixture) restore(archive, data, keyset string, force bool, witnessed ...merkle.Source) (Manifest, string, error) {
	var rep strings.Builder
	m, err := Restore(context.Background(), RestoreOptions{Archive: archive, KeysExport: f.keys, Identities: []age.Identity{f.id},
		VerifyKey: f.pub(), DataDir: data, Keyset: keyset, Force: force, Report: &rep, Witnessed: witnessed})
	return m, rep.String(), err
}

func TestRoundTripSQLite(t *testing.T) {
	f := newFixture(t)
	_, data, keyset := target(t)
	m, rep, err := f.restore(f.archive, data, keyset, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep)
	if m.Backend != "sqlite" || m.Audit.Size == 0 || m.Tables["audit_events"] != m.Audit.Size+3 || m.Audit.Checkpoint == "" || m.Tables["departments"] == 0 {
		t.Errorf("manifest %+v: want sqlite, the seeded hospital, 3 audit records after the numbered ones and a checkpoint", m)
	}
	st, err := sqlite.Open(data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.TableCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range f.counts {
		if got[table] != n {
			t.Errorf("%s: %d rows restored, want %d", table, got[table], n)
		}
	}
	for _, p := range []string{"", ".audit-key", ".backup-key"} {
		want, _ := os.ReadFile(f.keyset + p)
		have, err := os.ReadFile(keyset + p)
		if err != nil || !bytes.Equal(have, want) {
			t.Errorf("keyset%s restored %v: differs from the original", p, err)
		}
		if fi, err := os.Stat(keyset + p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("keyset%s: %v, %v; want mode 0600", p, fi, err)
		}
	}
	if !strings.Contains(rep, "every count matches") || !strings.Contains(rep, "verified against") {
		t.Errorf("report lacks the checks:\n%s", rep)
	}
}

// repack decrypts an archive with id, lets edit change each file (nil
// drops it), and encrypts the result again to id's recipient: what an
// attacker who knows the recipient's public key can do.
func repack(t *testing.T, archive string, id *age.X25519Identity, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	in, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(in), id)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	aw, _ := age.Encrypt(&out, id.Recipient())
	tr, tw := tar.NewReader(r), tar.NewWriter(aw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if data = edit(h.Name, data); data == nil {
			continue
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	aw.Close()
	return out.Bytes()
}

// reencrypt decrypts data with id and encrypts it to r.
func reencrypt(t *testing.T, data []byte, id age.Identity, r age.Recipient) []byte {
	t.Helper()
	pr, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, _ := age.Encrypt(&out, r)
	io.Copy(w, pr)
	w.Close()
	return out.Bytes()
}

func TestRestoreRefusesTamperedArchives(t *testing.T) {
	f := newFixture(t)
	orig, _ := os.ReadFile(f.archive)
	origSig, _ := os.ReadFile(f.archive + ".sig")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherID, _ := age.GenerateX25519Identity()
	resign := func(data []byte, key ed25519.PrivateKey) []byte {
		size, sum, _ := digest(bytes.NewReader(data))
		return sign(key, archiveContext, size, sum)
	}
	editedManifest := repack(t, f.archive, f.id, func(name string, data []byte) []byte {
		if name != manifestName {
			return data
		}
		var m Manifest
		json.Unmarshal(data, &m)
		m.Tables["bookings"] ^= 1                 // another count of the same length, written as the archive writes it:
		out, _ := json.MarshalIndent(m, "", "  ") // the archive keeps its signed size, so the signature must catch it
		return out
	})
	dropped := repack(t, f.archive, f.id, func(name string, data []byte) []byte {
		if name == sqliteSnapshot {
			return nil
		}
		return data
	})
	// Encrypted to someone else, signed by the right key: a backup made
	// for other recipients, restored with an identity that opens only the
	// keyset export.
	forOthers := repack(t, f.archive, f.id, func(_ string, data []byte) []byte { return data })
	forOthers = reencrypt(t, forOthers, f.id, otherID.Recipient())
	flipped := bytes.Clone(orig)
	flipped[len(flipped)/2] ^= 0x01
	// The archive's hash is checked as it is decrypted, not before: an
	// alteration that breaks the decryption first (the header, the last
	// chunk's tag) must still be refused as altered, by the signature.
	flippedHeader, flippedLast := bytes.Clone(orig), bytes.Clone(orig)
	flippedHeader[20] ^= 0x01
	flippedLast[len(flippedLast)-1] ^= 0x01
	tests := []struct {
		name      string
		data, sig []byte // nil sig: no signature file
		ids       []age.Identity
		want      string
	}{
		{"a flipped byte", flipped, origSig, nil, "does not match its signature"},
		{"a flipped byte in the age header", flippedHeader, origSig, nil, "does not match its signature"},
		{"a flipped byte in the last chunk's tag", flippedLast, origSig, nil, "does not match its signature"},
		{"a truncated archive", orig[:len(orig)/2], origSig, nil, "truncated"},
		{"an extended archive", append(bytes.Clone(orig), "more"...), origSig, nil, "were signed"},
		{"an edited manifest, re-encrypted to the recipient", editedManifest, origSig, nil, "does not match its signature"},
		{"an edited manifest, re-encrypted and signed by another key", editedManifest, resign(editedManifest, other), nil, "signed by another key"},
		{"a dropped file, re-encrypted", dropped, origSig, nil, "were signed: refusing it"},
		{"a signature from another key", orig, resign(orig, other), nil, "signed by another key"},
		{"no signature", orig, nil, nil, "no signature"},
		{"an edited signature file", orig, bytes.Replace(origSig, []byte("size "), []byte("size 1"), 1), nil, "does not verify"},
		{"the wrong recipient identity", orig, origSig, []age.Identity{otherID}, "not encrypted to the identity"},
		{"an archive for other recipients", forOthers, resign(forOthers, f.key), nil, "the archive is not encrypted to the identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "a.tar.age")
			os.WriteFile(archive, tt.data, 0o600)
			if tt.sig != nil {
				os.WriteFile(archive+".sig", tt.sig, 0o600)
			}
			root, data, keyset := target(t)
			ids := tt.ids
			if ids == nil {
				ids = []age.Identity{f.id}
			}
			_, err := Restore(context.Background(), RestoreOptions{Archive: archive, KeysExport: f.keys, Identities: ids,
				VerifyKey: f.pub(), DataDir: data, Keyset: keyset})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore = %v, want an error saying %q", err, tt.want)
			}
			t.Log(err)
			if left, _ := os.ReadDir(root); len(left) != 0 {
				t.Errorf("a refused restore left %v in %s", left, root)
			}
		})
	}
}

func TestRestoreRefusesNonEmptyTargets(t *testing.T) {
	f := newFixture(t)
	root, data, keyset := target(t)
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "precious"), []byte("x"), 0o600)
	if _, _, err := f.restore(f.archive, data, keyset, false); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore over a non-empty directory = %v, want refused", err)
	}
	if left, _ := os.ReadDir(root); len(left) != 1 {
		t.Errorf("the refused restore wrote %v", left)
	}
	if left, _ := os.ReadDir(data); len(left) != 1 {
		t.Errorf("the refused restore changed the data directory: %v", left)
	}
	// Another installation's keyset is not overwritten either.
	os.Remove(filepath.Join(data, "precious"))
	os.MkdirAll(filepath.Dir(keyset), 0o700)
	os.WriteFile(keyset, []byte("another keyset"), 0o600)
	if _, _, err := f.restore(f.archive, data, keyset, false); err == nil || !strings.Contains(err.Error(), "differs from the keyset export") {
		t.Fatalf("restore over another keyset = %v, want refused", err)
	}
	if b, _ := os.ReadFile(keyset); string(b) != "another keyset" {
		t.Error("the refused restore overwrote the keyset")
	}
	// --force restores, keeping the old data directory aside.
	os.WriteFile(filepath.Join(data, "precious"), []byte("x"), 0o600)
	_, rep, err := f.restore(f.archive, data, keyset, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep, "moved aside") {
		t.Errorf("report does not say the old directory was moved aside:\n%s", rep)
	}
	if _, err := os.Stat(filepath.Join(data, sqliteSnapshot)); err != nil {
		t.Errorf("no database restored: %v", err)
	}
}

func TestKeysExportIsSignedAndEncrypted(t *testing.T) {
	f := newFixture(t)
	data, _ := os.ReadFile(f.keys)
	keyset, _ := os.ReadFile(f.keyset)
	if bytes.Contains(data, keyset[:min(len(keyset), 32)]) {
		t.Fatal("the keyset export holds the keyset in the clear")
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := openKeys(f.keys, []age.Identity{f.id}, other.Public().(ed25519.PublicKey)); err == nil || !strings.Contains(err.Error(), "signed by another key") {
		t.Errorf("a keyset export checked against another key: %v", err)
	}
	keys, err := openKeys(f.keys, []age.Identity{f.id}, f.pub())
	if err != nil || !bytes.Equal(keys[keysetName], keyset) {
		t.Errorf("openKeys = %v; want the keyset back", err)
	}
}

// FuzzVerify: a signature file is untrusted input; no input may panic the
// parser or pass for the pinned key's signature.
func FuzzVerify(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	data := []byte("the archive")
	size, sum, _ := digest(bytes.NewReader(data))
	good := sign(key, archiveContext, size, sum)
	f.Add(good)
	f.Add([]byte(sigHeader + "\n"))
	f.Fuzz(func(t *testing.T, sig []byte) {
		err := verify(key.Public().(ed25519.PublicKey), archiveContext, sig, bytes.NewReader(data), "archive")
		if err == nil && !bytes.Equal(sig, good) && !bytes.Equal(append(bytes.Clone(sig), '\n'), good) {
			t.Errorf("accepted a signature file other than the one made: %q", sig)
		}
	})
}

// TestUnsealReadsNoMoreThanSigned: an archive that never ends (a pipe, a
// device) is refused after the signed size, not read forever.
func TestUnsealReadsNoMoreThanSigned(t *testing.T) {
	f := newFixture(t)
	orig, _ := os.ReadFile(f.archive)
	sig, _ := os.ReadFile(f.archive + ".sig")
	s, err := openSignature(f.pub(), archiveContext, sig, "the archive")
	if err != nil {
		t.Fatal(err)
	}
	endless := &countingReader{r: io.MultiReader(bytes.NewReader(orig), zeros{})}
	_, err = unsealSigned(endless, s, []age.Identity{f.id}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "were signed") {
		t.Fatalf("unsealSigned of an endless archive = %v, want a refusal saying the size differs from the signed one", err)
	}
	if endless.n > s.size+1 {
		t.Errorf("read %d bytes of an archive signed at %d", endless.n, s.size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestHashAside: the hash made on the side is SHA-256 of all that was
// written, whatever the sizes of the writes around its 1 MiB buffers.
func TestHashAside(t *testing.T) {
	data := make([]byte, 5<<20+7)
	rand.Read(data)
	for _, step := range []int{1 << 20, 1<<20 - 1, 1<<20 + 1, 64 << 10, 3<<20 + 5, len(data)} {
		for _, size := range []int{0, 1, 1 << 20, len(data)} {
			h := newHashAside()
			for p := data[:size]; len(p) > 0; {
				k := min(step, len(p))
				h.Write(p[:k])
				p = p[k:]
			}
			n, sum := h.Sum()
			if n != int64(size) || sum != sha256.Sum256(data[:size]) {
				t.Errorf("writes of %d over %d bytes: %d bytes hashed to %x, want %x", step, size, n, sum, sha256.Sum256(data[:size]))
			}
		}
	}
}

// TestRestoreVerifiesWitnessedCheckpoints: an archive restore verifies the
// log against the witnesses' copies of checkpoints it covers, not only
// against the ones the archive carries — a log rewritten before the backup,
// with its checkpoints re-signed by a thief of the audit key, is refused by
// the witness that saw the true one — and reports the ones it cannot cover.
func TestRestoreVerifiesWitnessedCheckpoints(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	skey, err := vault.AuditSigningKey(f.keyset)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	vkey, _ := merkle.VerifierKey(skey)
	verifier, _ := note.NewVerifier(vkey)
	var size int64
	var root tlog.Hash
	var origin string
	f.st.View(ctx, func(tx storage.Tx) error {
		size, _ = tx.AuditTreeSize(ctx)
		root, _ = tlog.TreeHash(size, merkle.StoredHashes(ctx, tx))
		cps, _ := tx.AuditCheckpoints(ctx)
		c, err := merkle.Open(cps[len(cps)-1].Note, verifier)
		if err != nil {
			t.Fatal(err)
		}
		origin = c.Origin
		return nil
	})
	witness := func(t *testing.T, cps ...merkle.Checkpoint) []merkle.Source {
		var out []merkle.Source
		for _, c := range cps {
			c.Origin = origin
			msg, err := merkle.Sign(c, signer)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, merkle.Source{Name: fmt.Sprint("witness/", c.Size), Note: msg})
		}
		return out
	}
	restore := func(t *testing.T, witnessed []merkle.Source) (string, string, error) {
		root, data, keyset := target(t)
		_, rep, err := f.restore(f.archive, data, keyset, false, witnessed...)
		return root, rep, err
	}
	t.Run("covered and beyond", func(t *testing.T) {
		_, rep, err := restore(t, witness(t, merkle.Checkpoint{Size: size, Hash: root}, merkle.Checkpoint{Size: size + 5, Hash: root}))
		if err != nil {
			t.Fatalf("restore with a true witness: %v\n%s", err, rep)
		}
		for _, want := range []string{fmt.Sprintf("newest covers %d; 1 witnessed copies read, 1 newer than the archive", size),
			fmt.Sprintf("1 checkpoints cover more records than were restored (up to %d, restored %d)", size+5, size)} {
			if !strings.Contains(rep, want) {
				t.Errorf("the report lacks %q:\n%s", want, rep)
			}
		}
	})
	t.Run("a witness that saw another log", func(t *testing.T) {
		var other tlog.Hash
		other[0] = 1
		dir, rep, err := restore(t, witness(t, merkle.Checkpoint{Size: size, Hash: other}))
		if err == nil || !strings.Contains(err.Error(), "does NOT verify") {
			t.Fatalf("restore against a witness of another log = %v, want a refusal\n%s", err, rep)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("a refused restore left %v in %s", left, dir)
		}
	})
}
