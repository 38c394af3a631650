package kit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/kit"
)

var (
	ctx = context.Background()
	loc = time.FixedZone("CST", 8*3600)
	t0  = time.Date(2026, 12, 10, 7, 30, 0, 0, loc)
)

// fake is a Source of two departments with a booking and a waitlist entry.
type fake struct{ reads atomic.Int64 }

func (f *fake) Departments(context.Context) ([]fairslot.Department, error) {
	return []fairslot.Department{{ID: 1, Name: "内科"}, {ID: 2, Name: "=HYPERLINK(\"x\")"}}, nil
}

func (f *fake) Page(_ context.Context, id int64, dates []string) (kit.Page, error) {
	f.reads.Add(1)
	start := time.Date(2026, 12, 10, 8, 0, 0, 0, loc)
	p := kit.Page{Department: fairslot.Department{ID: id}, Checkpoint: []byte("fairslot audit log\n42\nroot\n\n— key sig\n")}
	for _, d := range dates {
		p.Days = append(p.Days, kit.Day{Date: d, Sessions: []kit.Session{{ID: id*10 + 1, Doctor: "王医生", Period: fairslot.Morning, Start: start, End: start.Add(4 * time.Hour), Room: "3",
			Windows:  []kit.Window{{Start: start, End: start.Add(30 * time.Minute), Rows: []kit.Row{{Slot: 1, Code: "ABCD2345", Name: "张*", Proof: fairslot.IDResident, Status: fairslot.Confirmed}}}},
			Waitlist: []kit.Wait{{Position: 1, Name: "=李*", Proof: fairslot.IDPassport, Since: start.Add(-time.Hour)}}}}})
	}
	return p, nil
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func options(t *testing.T, key ed25519.PrivateKey) kit.Options {
	return kit.Options{Source: &fake{}, Key: key, Node: "node-1", Lang: "zh-CN", Location: loc}
}

func TestWriteAndVerify(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	gen, m, err := kit.Write(ctx, dir, options(t, key), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !m.GeneratedAt.Equal(t0) || len(m.Departments) != 2 || m.Checkpoint != kit.CheckpointFile || !slices.Equal(m.Dates, []string{"2026-12-10", "2026-12-11"}) {
		t.Errorf("manifest = %+v", m)
	}
	cur, err := kit.ReadCurrent(dir)
	if err != nil || filepath.Join(dir, cur.Generation) != gen || !cur.GeneratedAt.Equal(t0) {
		t.Errorf("CURRENT = %+v, %v; want %s at %v", cur, err, gen, t0)
	}
	vgen, vm, err := kit.Verify(dir, key.Public().(ed25519.PublicKey))
	if err != nil || vgen != gen || !vm.GeneratedAt.Equal(t0) {
		t.Fatalf("Verify = %s, %v; want %s", vgen, err, gen)
	}
	html, _ := os.ReadFile(filepath.Join(gen, "department-1.html"))
	for _, want := range []string{`<html lang="zh-CN">`, "停机应急名单 · 内科", "出诊编号 11 ·", "ABCD2345", "张*", "居民身份证（后四位）", "护照（后四位）", "@page{size:A4", "Noto Sans CJK SC", "fairslot audit log"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	csvData, _ := os.ReadFile(filepath.Join(gen, "department-2.csv"))
	if !strings.HasPrefix(string(csvData), strings.Join(kit.CSVHeader, ",")+"\n") || !strings.Contains(string(csvData), ",'=李*,") {
		t.Errorf("the CSV's header or formula guard is wrong:\n%s", csvData)
	}
	index, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(index), cur.Generation+"/department-1.html") {
		t.Errorf("index.html does not link the newest generation:\n%s", index)
	}
	// The other languages.
	for _, lang := range []string{"vi", "en"} {
		o := options(t, key)
		o.Lang = lang
		gen, _, err := kit.Write(ctx, t.TempDir(), o, t0)
		if err != nil {
			t.Fatal(err)
		}
		html, _ := os.ReadFile(filepath.Join(gen, "department-1.html"))
		if !strings.Contains(string(html), `<html lang="`+lang+`">`) || strings.Contains(string(html), "kit.") {
			t.Errorf("%s page: wrong language or an untranslated key", lang)
		}
	}
	o := options(t, key)
	o.Lang = "fr"
	if _, _, err := kit.Write(ctx, t.TempDir(), o, t0); err == nil {
		t.Error("a kit in a language without a catalogue was written")
	}
}

func TestCatalogue(t *testing.T) {
	keys := map[string][]string{}
	for _, l := range kit.Langs {
		raw, err := os.ReadFile("i18n/" + l + ".json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		keys[l] = slices.Sorted(maps.Keys(m))
		for _, k := range keys[l] {
			if !strings.HasPrefix(k, "kit.") || m[k] == "" {
				t.Errorf("%s: key %q is outside kit. or empty", l, k)
			}
		}
		var need []string
		for _, s := range []fairslot.Status{fairslot.Held, fairslot.Confirmed, fairslot.CheckedIn, fairslot.Called, fairslot.Completed, fairslot.Cancelled, fairslot.Expired, fairslot.NoShow} {
			need = append(need, "kit.status."+string(s))
		}
		for _, id := range []fairslot.IDType{fairslot.IDResident, fairslot.IDPassport, fairslot.IDVNCitizen, fairslot.IDHKMacau} {
			need = append(need, "kit.proof."+string(id))
		}
		need = append(need, "kit.period.morning", "kit.period.afternoon")
		for _, k := range need {
			if m[k] == "" {
				t.Errorf("%s lacks %s", l, k)
			}
		}
	}
	if !slices.Equal(keys["zh-CN"], keys["vi"]) || !slices.Equal(keys["zh-CN"], keys["en"]) {
		t.Errorf("the languages have different keys")
	}
}

// Every way of altering a kit after it was written is refused.
func TestVerifyRefusesTampering(t *testing.T) {
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir, gen string)
		want   string
	}{
		{"a flipped byte in a page", func(t *testing.T, dir, gen string) { flip(t, filepath.Join(gen, "department-1.html")) }, "does not match"},
		{"an edited CSV", func(t *testing.T, dir, gen string) {
			appendTo(t, filepath.Join(gen, "department-1.csv"), "booking,x\n")
		}, "does not match"},
		{"an edited manifest", func(t *testing.T, dir, gen string) {
			edit(t, filepath.Join(gen, kit.ManifestFile), "2026-12-09T23:30:00Z", "2026-12-10T00:30:00Z")
		}, "does not match its signature"},
		{"a dropped page", func(t *testing.T, dir, gen string) { rm(t, filepath.Join(gen, "department-2.html")) }, "missing"},
		{"a dropped signature", func(t *testing.T, dir, gen string) { rm(t, filepath.Join(gen, kit.SignatureFile)) }, "no signature"},
		{"an added file", func(t *testing.T, dir, gen string) { appendTo(t, filepath.Join(gen, "department-3.html"), "<p>x</p>") }, "not in the signed manifest"},
		{"a manifest signed by another key", func(t *testing.T, dir, gen string) {
			other := t.TempDir()
			ogen, _, err := kit.Write(ctx, other, options(t, newKey(t)), t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{kit.ManifestFile, kit.SignatureFile} {
				raw, _ := os.ReadFile(filepath.Join(ogen, f))
				os.WriteFile(filepath.Join(gen, f), raw, 0o644)
			}
		}, "another key"},
		{"CURRENT's time altered", func(t *testing.T, dir, gen string) {
			edit(t, filepath.Join(dir, kit.CurrentFile), "2026-12-09T23:30:00Z", "2026-12-10T01:30:00Z")
		}, "CURRENT altered"},
		{"CURRENT pointing outside the kit", func(t *testing.T, dir, gen string) {
			os.WriteFile(filepath.Join(dir, kit.CurrentFile), []byte(`{"generation":"../elsewhere","generated_at":"2026-12-10T00:00:00Z"}`), 0o644)
		}, "not a kit's CURRENT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			gen, _, err := kit.Write(ctx, dir, options(t, key), t0)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := kit.Verify(dir, pub); err != nil {
				t.Fatalf("the untouched kit: %v", err)
			}
			c.tamper(t, dir, gen)
			_, _, err = kit.Verify(dir, pub)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Verify = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

func flip(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	os.WriteFile(path, raw, 0o644)
}

func appendTo(t *testing.T, path, s string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func edit(t *testing.T, path, from, to string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), from) {
		t.Fatalf("%s has no %q:\n%s", path, from, raw)
	}
	os.WriteFile(path, []byte(strings.Replace(string(raw), from, to, 1)), 0o644)
}

func rm(t *testing.T, path string) {
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// Readers following CURRENT while generations are written one after
// another always find a whole, verified kit.
func TestReaderNeverSeesAHalfKit(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	o := options(t, key)
	o.Keep = 1000 // nothing pruned: any missing file would be a half kit
	if _, _, err := kit.Write(ctx, dir, o, t0); err != nil {
		t.Fatal(err)
	}
	var done, failed atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !done.Load() {
				if _, _, err := kit.Verify(dir, pub); err != nil {
					t.Errorf("a reader saw: %v", err)
					failed.Store(true)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := range 40 {
		if _, _, err := kit.Write(ctx, dir, o, t0.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Let each reader finish at least one read after the last write.
	for n := reads.Load(); reads.Load() < n+4 && !failed.Load(); {
		time.Sleep(time.Millisecond)
	}
	done.Store(true)
	wg.Wait()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("a temporary file was left: %s", e.Name())
		}
	}
}

func TestPrune(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	o := options(t, key)
	o.Keep = 3
	var last string
	for i := range 7 {
		gen, _, err := kit.Write(ctx, dir, o, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		last = filepath.Base(gen)
	}
	gens, _ := filepath.Glob(filepath.Join(dir, "kit-*"))
	if len(gens) != 3 || filepath.Base(gens[2]) != last {
		t.Errorf("after 7 kits with keep 3: %v, want the newest 3 ending with %s", gens, last)
	}
}

// Only the leader writes; the interval is kept; a new leader writes at
// once.
func TestWriterLeaderOnly(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	w := &kit.Writer{Dir: dir, Every: 10 * time.Minute, Options: options(t, key), Log: discard()}
	gens := func() int {
		g, _ := filepath.Glob(filepath.Join(dir, "kit-*"))
		return len(g)
	}
	steps := []struct {
		after   time.Duration
		leading bool
		wrote   bool
	}{
		{0, false, false}, {time.Minute, false, false}, {20 * time.Minute, false, false},
		{21 * time.Minute, true, true}, // leading now: at once
		{30 * time.Minute, true, false}, {31 * time.Minute, true, true},
		{50 * time.Minute, false, false}, // lost the lead
	}
	n := 0
	for _, s := range steps {
		wrote, err := w.Tick(ctx, t0.Add(s.after), s.leading)
		if err != nil || wrote != s.wrote {
			t.Errorf("+%v leading=%v: wrote %v, %v; want %v", s.after, s.leading, wrote, err, s.wrote)
		}
		if wrote {
			n++
		}
		if got := gens(); got != n {
			t.Errorf("+%v: %d kits in the directory, want %d", s.after, got, n)
		}
	}
	if s := w.Stats(); !s.LastSuccess.Equal(t0.Add(31*time.Minute)) || s.Failures != 0 {
		t.Errorf("stats = %+v", s)
	}

	// Run asks leading() at every tick: a standby writes nothing.
	for _, lead := range []bool{false, true} {
		dir := t.TempDir()
		w := &kit.Writer{Dir: dir, Every: 10 * time.Minute, Options: options(t, key), Log: discard()}
		ticks := make(chan time.Time)
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.Run(ctx, ticks, func() bool { return lead }); close(done) }()
		for i := range 3 {
			ticks <- t0.Add(time.Duration(i) * time.Minute)
		}
		cancel()
		<-done // every tick received is handled before Run returns
		g, _ := filepath.Glob(filepath.Join(dir, "kit-*"))
		if want := map[bool]int{false: 0, true: 1}[lead]; len(g) != want {
			t.Errorf("Run with leading=%v wrote %d kits, want %d", lead, len(g), want)
		}
	}
}

func TestParseImport(t *testing.T) {
	file := "\ufeffkind,date,code,checked_in_at,id_last4,session,patient_name,id_type,id_number,phone,priority\n" +
		"booking,2026-12-10,abcd2345,08:15,123x,,,,,,\n" +
		"booking,2026-12-10,EFGH2345,,,,,,,,\n" +
		"waitlist,2026-12-10,,,,,,,,,\n" +
		"walk_in,,,2026-12-10 09:05,,7,王五,cn_resident,110105198001010038,13800000000,elderly\n"
	got, err := kit.ParseImport(strings.NewReader(file), loc)
	if err != nil {
		t.Fatal(err)
	}
	want := []kit.Entry{
		{Line: 2, Kind: "check_in", At: time.Date(2026, 12, 10, 8, 15, 0, 0, loc), Code: "ABCD2345", IDLast4: "123X"},
		{Line: 5, Kind: "walk_in", At: time.Date(2026, 12, 10, 9, 5, 0, 0, loc), SessionID: 7, Name: "王五", IDType: "cn_resident",
			IDNumber: "110105198001010038", Phone: "13800000000", Priority: "elderly"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseImport =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseImportBadRows(t *testing.T) {
	file := "kind,date,code,checked_in_at,id_last4,session,patient_name,id_type,id_number\n" +
		"booking,2026-12-10,ABCD2345,08:15,1234,,,,\n" + // good
		"check_in,2026-12-10,ABCD2345,,1234,,,,\n" + // no time
		"check_in,2026-12-10,ABC,08:15,1234,,,,\n" + // short code
		"walk_in,2026-12-10,,08:15,,,王五,cn_resident,110105198001010038\n" + // no session
		"walk_in,2026-12-10,,8.15,,3,王五,cn_resident,110105198001010038\n" + // bad time
		"walk_in,2026-12-10,,08:15,,x,王五,cn_resident,110105198001010038\n" + // bad session
		"refund,2026-12-10,,,,,,,\n" + // unknown kind
		"check_in,12/10/2026,ABCD2345,08:15,1234,,,,\n" // a time of day without a date
	_, err := kit.ParseImport(strings.NewReader(file), loc)
	var bad kit.ImportErrors
	if !errors.As(err, &bad) {
		t.Fatalf("error = %v, want ImportErrors", err)
	}
	var lines []int
	for _, b := range bad {
		lines = append(lines, b.Line)
	}
	if !slices.Equal(lines, []int{3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("bad lines %v, want 3–9:\n%v", lines, err)
	}
	if strings.Contains(err.Error(), "110105198001010038") {
		t.Errorf("the errors repeat an ID number:\n%v", err)
	}
	for _, f := range []string{"", "code,checked_in_at\nABCD2345,08:15\n", "kind,kind\n"} {
		if _, err := kit.ParseImport(strings.NewReader(f), loc); err == nil {
			t.Errorf("ParseImport(%q) accepted it", f)
		}
	}
}

func FuzzParseImport(f *testing.F) {
	f.Add("kind,date,code,checked_in_at,id_last4\nbooking,2026-12-10,ABCD2345,08:15,1234\n")
	f.Add("kind,session,checked_in_at,patient_name,id_type,id_number\nwalk_in,3,2026-12-10 08:00,王五,cn_resident,110105198001010038\n")
	f.Add("kind\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := kit.ParseImport(strings.NewReader(s), loc)
		if err != nil && len(got) > 0 {
			t.Fatalf("entries beside an error")
		}
		for _, e := range got {
			if (e.Kind != "check_in" && e.Kind != "walk_in") || e.Line < 2 || e.At.IsZero() {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

// A file larger than MaxImportBytes is refused whole, never read in part:
// cut at a line's end, its rows after the cut would be silently lost.
func TestParseImportTooLarge(t *testing.T) {
	const width = 1024 // every line, the header's too, this long with its newline
	line := func(s string) string { return s + strings.Repeat(" ", width-1-len(s)) + "\n" }
	var b strings.Builder
	b.WriteString(line("kind,date,code,checked_in_at,id_last4,pad"))
	for b.Len() < kit.MaxImportBytes {
		b.WriteString(line("waitlist,2026-12-10,,,,"))
	}
	b.WriteString("check_in,2026-12-10,ABCD2345,08:15,1234,\n")
	got, err := kit.ParseImport(strings.NewReader(b.String()), loc)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a %d-byte file: %d entries, %v; want it refused as too large", b.Len(), len(got), err)
	}
}
