package backup

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"

	"github.com/fairslot/fairslot/internal/testlog"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func names(as []Archived) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func TestPrune(t *testing.T) {
	arch := func(ts ...string) []Archived {
		var out []Archived
		for _, s := range ts {
			out = append(out, Archived{Name: s, Time: at(s)})
		}
		return out
	}
	hourly48 := KeepRule{Every: time.Hour, KeepFor: 48 * time.Hour}
	daily30 := KeepRule{Every: 24 * time.Hour, KeepFor: 30 * 24 * time.Hour}
	now := at("2026-12-10T12:00:00Z")
	tests := []struct {
		name     string
		archives []Archived
		rules    []KeepRule
		want     []string
	}{
		{"no rules keep everything", arch("2020-01-01T00:00:00Z", "2026-12-10T11:00:00Z"), nil, nil},
		{"nothing to prune", nil, []KeepRule{hourly48}, nil},
		{"the newest is kept however old", arch("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), []KeepRule{hourly48},
			[]string{"2026-01-01T00:00:00Z"}},
		{"hourly: the first of each hour, younger than 48 h", arch(
			"2026-12-10T10:00:05Z", "2026-12-10T10:30:00Z", // same hour: the first is kept
			"2026-12-10T11:00:00Z",
			"2026-12-08T11:59:00Z", // 48 h 1 min old
			"2026-12-08T12:00:01Z", // just under 48 h
		), []KeepRule{hourly48},
			[]string{"2026-12-08T11:59:00Z", "2026-12-10T10:30:00Z"}},
		{"daily keeps one a day beyond the hourly window", arch(
			"2026-11-05T00:10:00Z",                         // 35 days: gone
			"2026-11-20T00:10:00Z", "2026-11-20T01:10:00Z", // one kept for the day
			"2026-12-01T23:00:00Z",
			"2026-12-10T09:00:00Z", "2026-12-10T10:00:00Z", "2026-12-10T11:00:00Z",
		), []KeepRule{hourly48, daily30},
			[]string{"2026-11-05T00:10:00Z", "2026-11-20T01:10:00Z"}},
		{"the same time twice: one kept per period, by name", []Archived{
			{Name: "b", Time: at("2026-12-10T11:00:00Z")}, {Name: "a", Time: at("2026-12-10T11:00:00Z")}, {Name: "c", Time: at("2026-12-10T11:30:00Z")},
		}, []KeepRule{hourly48}, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(Prune(tt.archives, tt.rules, now)); !slices.Equal(got, tt.want) {
				t.Errorf("Prune = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseArchiveName(t *testing.T) {
	tests := []struct {
		name string
		want time.Time
		ok   bool
	}{
		{"fairslot-node-1-20261201T031500Z.tar.age", at("2026-12-01T03:15:00Z"), true},
		{"fairslot-a-b-c-20261201T031500Z.tar.age", at("2026-12-01T03:15:00Z"), true},
		{"fairslot-node-1-20261201T031500Z.tar.age.sig", time.Time{}, false},
		{".fairslot-node-1-20261201T031500Z.tar.age-123", time.Time{}, false},
		{"fairslot-20261301T031500Z.tar.age", time.Time{}, false},
		{"other-20261201T031500Z.tar.age", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseArchiveName(tt.name)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseArchiveName(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func (f *fixture) scheduler(dest Destination, every time.Duration, keep []KeepRule) (*Scheduler, *testlog.Buffer) {
	logs := &testlog.Buffer{}
	return &Scheduler{
		Options: Options{Store: f.st, DataDir: f.data, Recipients: []age.Recipient{f.id.Recipient()}, Key: f.key, Node: "node-1", Version: "test"},
		Dest:    dest, Every: every, Keep: keep, Log: slog.New(slog.NewTextHandler(logs, nil)),
	}, logs
}

func TestScheduleDir(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "scheduled")
	s, logs := f.scheduler(DirDestination{Dir: dir}, time.Hour, []KeepRule{{Every: 2 * time.Hour, KeepFor: 6 * time.Hour}})
	t0 := at("2026-12-01T00:00:10Z")
	list := func() []string {
		got, _ := filepath.Glob(filepath.Join(dir, "*.tar.age"))
		for i := range got {
			got[i] = filepath.Base(got[i])
		}
		return got
	}
	// One tick a quarter of an hour for ten hours of a fake clock: a
	// backup every hour, then only the first of every two hours within six.
	for i := 0; i <= 40; i++ {
		if err := s.Tick(ctx, t0.Add(time.Duration(i)*15*time.Minute)); err != nil {
			t.Fatalf("tick %d: %v", i, err)
		}
	}
	// (04:00:10 is pruned at 10:00:10: six hours old is no longer within six.)
	want := []string{
		"fairslot-node-1-20261201T060010Z.tar.age", "fairslot-node-1-20261201T080010Z.tar.age", "fairslot-node-1-20261201T100010Z.tar.age",
	}
	if got := list(); !slices.Equal(got, want) {
		t.Errorf("archives after 10 h %v, want %v\n%s", got, want, logs)
	}
	for _, a := range want {
		if _, err := os.Stat(filepath.Join(dir, a+".sig")); err != nil {
			t.Errorf("signature of %s: %v", a, err)
		}
	}
	if st := s.Stats(); !st.LastSuccess.Equal(t0.Add(10*time.Hour)) || st.Failures != 0 || st.Late || st.LastArchive != filepath.Join(dir, want[2]) {
		t.Errorf("stats %+v", st)
	}
	if leftover, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftover) != 0 {
		t.Errorf("temporary files left: %v", leftover)
	}
	// A new leader carries on from the newest archive there, and the
	// archive restores.
	s2, logs := f.scheduler(DirDestination{Dir: dir}, time.Hour, nil)
	if err := s2.Tick(ctx, t0.Add(10*time.Hour+30*time.Minute)); err != nil || len(list()) != 3 {
		t.Errorf("a new leader half an hour after the last backup: %v, archives %v; want no new one", err, list())
	}
	_, data, keyset := target(t)
	if _, rep, err := f.restore(filepath.Join(dir, want[2]), data, keyset, false); err != nil {
		t.Fatalf("restore of a scheduled archive: %v\n%s", err, rep)
	}
	// Shutdown cutting a backup short is neither a failure nor an ALERT.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s2.Tick(cancelled, t0.Add(11*time.Hour)); err == nil || s2.Stats().Failures != 0 || strings.Contains(logs.String(), "ALERT") {
		t.Errorf("a backup at shutdown: %v, stats %+v, log:\n%s", err, s2.Stats(), logs)
	}
}

// flakyS3 is an in-process S3-compatible server that can be down, and can
// corrupt what it serves back.
type flakyS3 struct {
	h             http.Handler
	down, corrupt atomic.Bool
	srv           *httptest.Server
	mu            sync.Mutex
	puts          []http.Header // every PUT's headers
	bucket        string
	client        *minio.Client
}

func newFlakyS3(t *testing.T) *flakyS3 {
	t.Helper()
	back := s3mem.New()
	fs := &flakyS3{h: gofakes3.New(back).Server(), bucket: "backups"}
	if err := back.CreateBucket(fs.bucket); err != nil {
		t.Fatal(err)
	}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			fs.mu.Lock()
			fs.puts = append(fs.puts, r.Header.Clone())
			fs.mu.Unlock()
		}
		if fs.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if fs.corrupt.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".tar.age") {
			rec := httptest.NewRecorder()
			fs.h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			body[len(body)/2] ^= 1
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		fs.h.ServeHTTP(w, r)
	}))
	t.Cleanup(fs.srv.Close)
	var err error
	fs.client, err = NewS3Client(S3Config{Endpoint: strings.TrimPrefix(fs.srv.URL, "http://"), AccessKey: "put-only", SecretKey: "secret", Insecure: true, Region: "us-east-1",
		MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func (fs *flakyS3) download(t *testing.T, key, to string) {
	t.Helper()
	if err := fs.client.FGetObject(context.Background(), fs.bucket, key, to, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestScheduleS3(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fs := newFlakyS3(t)
	dest := S3Destination{Client: fs.client, Bucket: fs.bucket, Prefix: "hospital-a", StageIn: t.TempDir()}
	s, logs := f.scheduler(dest, time.Hour, []KeepRule{{Every: time.Hour, KeepFor: time.Hour}})
	t0 := at("2026-12-01T00:00:10Z")
	if err := s.Tick(ctx, t0); err != nil {
		t.Fatalf("first backup: %v\n%s", err, logs)
	}
	key := "hospital-a/fairslot-node-1-20261201T000010Z.tar.age"
	if got := s.Stats().LastArchive; got != "s3://backups/"+key {
		t.Errorf("last archive %q", got)
	}
	// Restore what is in the bucket.
	local := t.TempDir()
	fs.download(t, key, filepath.Join(local, "a.tar.age"))
	fs.download(t, key+".sig", filepath.Join(local, "a.tar.age.sig"))
	_, data, keyset := target(t)
	if _, rep, err := f.restore(filepath.Join(local, "a.tar.age"), data, keyset, false); err != nil {
		t.Fatalf("restore from the bucket: %v\n%s", err, rep)
	}

	// The same key is never written twice: refused before the upload, and
	// by the server's conditional put too.
	res := Result{Path: filepath.Join(local, "a.tar.age"), SigPath: filepath.Join(local, "a.tar.age.sig")}
	if err := dest.put(ctx, key, res.Path); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("put over an existing key = %v, want a refusal", err)
	}
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	if _, err := fs.client.PutObject(ctx, fs.bucket, key, strings.NewReader("ransom"), 6, opts); err == nil {
		t.Error("the server took a conditional put over an existing key")
	}

	// Down: the backup fails, with an ALERT and the failure counted; the
	// next attempt, a minute later, succeeds.
	fs.down.Store(true)
	if err := s.Tick(ctx, t0.Add(time.Hour)); err == nil {
		t.Fatal("a backup to a server that is down succeeded")
	}
	if st := s.Stats(); st.Failures != 1 || !strings.Contains(logs.String(), "ALERT: scheduled backup failed") {
		t.Errorf("after a failed upload: stats %+v, log:\n%s", st, logs)
	}
	if got, _ := filepath.Glob(filepath.Join(dest.StageIn, "*")); len(got) != 0 {
		t.Errorf("a failed upload left %v staged", got)
	}
	fs.down.Store(false)
	if err := s.Tick(ctx, t0.Add(time.Hour+30*time.Second)); err != nil {
		t.Fatalf("tick before the retry is due: %v", err)
	}
	if err := s.Tick(ctx, t0.Add(time.Hour+time.Minute)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if st := s.Stats(); st.Failures != 1 || !st.LastSuccess.Equal(t0.Add(time.Hour+time.Minute)) {
		t.Errorf("after the retry: stats %+v", st)
	}

	// A copy that does not read back as written is a failure.
	fs.corrupt.Store(true)
	err := s.Tick(ctx, t0.Add(2*time.Hour+time.Minute))
	if err == nil || !strings.Contains(err.Error(), "read-back") {
		t.Errorf("a corrupted read-back = %v, want a read-back failure", err)
	}
	fs.corrupt.Store(false)

	// The server deletes nothing from the bucket, whatever the rules say.
	objects, err := dest.list(ctx)
	if err != nil || len(objects) != 3 {
		t.Errorf("objects in the bucket %v (%v), want all three archives", names(objects), err)
	}

	// Down for more than twice the interval: late, with an ALERT.
	fs.down.Store(true)
	for m := time.Duration(0); m <= 3*time.Hour; m += 10 * time.Minute {
		s.Tick(ctx, t0.Add(2*time.Hour+2*time.Minute+m))
	}
	if st := s.Stats(); !st.Late || !strings.Contains(logs.String(), "ALERT: scheduled backup is late") {
		t.Errorf("after 3 h down: stats %+v, log:\n%s", st, logs)
	}
	fs.down.Store(false)
	if err := s.Tick(ctx, t0.Add(6*time.Hour)); err != nil || s.Stats().Late {
		t.Errorf("back up: %v, stats %+v", err, s.Stats())
	}
}

// TestS3ObjectLock: with a lock mode, every object is put with that
// retention until now plus the lock period, and with If-None-Match: *.
func TestS3ObjectLock(t *testing.T) {
	f := newFixture(t)
	fs := newFlakyS3(t)
	dest := S3Destination{Client: fs.client, Bucket: fs.bucket, LockMode: minio.Compliance, LockFor: 30 * 24 * time.Hour, StageIn: t.TempDir()}
	s, logs := f.scheduler(dest, time.Hour, nil)
	before := time.Now()
	if err := s.Tick(context.Background(), at("2026-12-01T00:00:10Z")); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.puts) != 2 {
		t.Fatalf("%d puts, want the archive and its signature", len(fs.puts))
	}
	for _, h := range fs.puts {
		until, err := time.Parse(time.RFC3339, h.Get("X-Amz-Object-Lock-Retain-Until-Date"))
		if h.Get("X-Amz-Object-Lock-Mode") != "COMPLIANCE" || err != nil || until.Before(before.Add(30*24*time.Hour-time.Second)) ||
			h.Get("If-None-Match") != "*" {
			t.Errorf("put headers %v: want COMPLIANCE until 30 days from now, If-None-Match: *", h)
		}
	}
}
