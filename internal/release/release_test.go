package release_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
)

func TestFor(t *testing.T) {
	p := release.Policy{Rules: []release.Rule{
		{Mode: fairslot.FirstCome},
		{Department: "CARD", Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute)},
		{DoctorID: 7, Mode: fairslot.FirstCome, ReservedPriority: 2},
	}}
	tests := []struct {
		doctor int64
		dept   string
		want   fairslot.ReleaseMode
		prio   int
	}{
		{1, "PED", fairslot.FirstCome, 0},
		{1, "CARD", fairslot.Draw, 0},
		{7, "CARD", fairslot.FirstCome, 2},
	}
	for _, tt := range tests {
		got := p.For(tt.doctor, tt.dept)
		if got.Mode != tt.want || got.ReservedPriority != tt.prio {
			t.Errorf("For(%d, %s) = %+v, want mode %s reserved %d", tt.doctor, tt.dept, got, tt.want, tt.prio)
		}
	}
	if got := (release.Policy{}).For(1, "X"); got.Mode != fairslot.FirstCome {
		t.Errorf("no rules: mode %s, want first_come", got.Mode)
	}
}

func TestOverride(t *testing.T) {
	file := release.Policy{Rules: []release.Rule{
		{Mode: fairslot.FirstCome},
		{Department: "CARD", Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute)},
	}}
	p := file.Override([]release.Rule{
		{Department: "CARD", Mode: fairslot.FirstCome, ReservedPriority: 3},
		{DoctorID: 7, Mode: fairslot.Draw, Window: fairslot.Duration(time.Hour)},
	})
	tests := []struct {
		doctor int64
		dept   string
		want   fairslot.ReleaseMode
		prio   int
	}{
		{1, "PED", fairslot.FirstCome, 0},
		{1, "CARD", fairslot.FirstCome, 3}, // the stored rule replaces the file's
		{7, "PED", fairslot.Draw, 0},       // a stored doctor's rule is added
	}
	for _, tt := range tests {
		if got := p.For(tt.doctor, tt.dept); got.Mode != tt.want || got.ReservedPriority != tt.prio {
			t.Errorf("For(%d, %s) = %+v, want mode %s reserved %d", tt.doctor, tt.dept, got, tt.want, tt.prio)
		}
	}
	if len(p.Rules) != 3 {
		t.Errorf("overridden rules = %+v, want 3", p.Rules)
	}
	if got := file.For(1, "CARD"); got.Mode != fairslot.Draw {
		t.Errorf("Override changed the file's policy: CARD is %s", got.Mode)
	}
}

func TestPlanJitter(t *testing.T) {
	base := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	r := release.Rule{Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute), Jitter: fairslot.Duration(10 * time.Minute)}
	rnd := mrand.New(mrand.NewPCG(1, 2))
	distinct := map[time.Time]bool{}
	for range 50 {
		rel := r.Plan(9, base, rnd)
		if rel.Opens.Before(base) || !rel.Opens.Before(base.Add(10*time.Minute)) {
			t.Fatalf("opens %v outside [07:00, 07:10)", rel.Opens)
		}
		if got := rel.EntryCloses.Sub(rel.Opens); got != 30*time.Minute {
			t.Fatalf("entry window %v, want 30m", got)
		}
		distinct[rel.Opens] = true
	}
	if len(distinct) < 40 {
		t.Errorf("jitter gave only %d distinct release times in 50", len(distinct))
	}
	if rel := (release.Rule{Mode: fairslot.FirstCome}).Plan(9, base, rnd); !rel.Opens.Equal(base) || !rel.EntryCloses.IsZero() {
		t.Errorf("no jitter, first come: %+v", rel)
	}
}

func TestQuotas(t *testing.T) {
	q := release.Rule{ReservedPriority: 3, ReservedReferral: 2}.Quotas(24)
	count := map[fairslot.Quota]int{}
	for _, x := range q {
		count[x]++
	}
	if count[fairslot.QuotaPriority] != 3 || count[fairslot.QuotaReferral] != 2 || count[fairslot.QuotaGeneral] != 19 {
		t.Errorf("quotas %v", count)
	}
	if q[0] != fairslot.QuotaGeneral || q[23] != fairslot.QuotaGeneral {
		t.Errorf("reserved slots not spread: %v", q)
	}
	all := release.Rule{ReservedPriority: 5}.Quotas(3)
	if !slices.Equal(all, []fairslot.Quota{"priority", "priority", "priority"}) {
		t.Errorf("more reserved than slots: %v", all)
	}
}

func TestCheckOnlineAndEntry(t *testing.T) {
	opens := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	draw := fairslot.Release{Mode: fairslot.Draw, Opens: opens, EntryCloses: opens.Add(30 * time.Minute)}
	fc := fairslot.Release{Mode: fairslot.FirstCome, Opens: opens}
	at := func(m int) time.Time { return opens.Add(time.Duration(m) * time.Minute) }
	drawn := draw
	drawn.Drawn = at(31)
	tests := []struct {
		name          string
		rel           fairslot.Release
		now           time.Time
		online, entry bool
	}{
		{"first come before release", fc, at(-1), false, false},
		{"first come after release", fc, at(0), true, false},
		{"draw before window", draw, at(-1), false, false},
		{"draw in window", draw, at(0), false, true},
		{"draw at 07:29", draw, at(29), false, true},
		{"draw window closed, not drawn", draw, at(30), false, false},
		{"after the draw", drawn, at(32), true, false},
	}
	for _, tt := range tests {
		if got := release.CheckOnline(tt.now, tt.rel) == nil; got != tt.online {
			t.Errorf("%s: CheckOnline ok = %v, want %v", tt.name, got, tt.online)
		}
		if got := release.CheckEntry(tt.now, tt.rel) == nil; got != tt.entry {
			t.Errorf("%s: CheckEntry ok = %v, want %v", tt.name, got, tt.entry)
		}
	}
	if !release.DrawDue(at(30), draw) || release.DrawDue(at(29), draw) || release.DrawDue(at(40), drawn) {
		t.Error("DrawDue wrong")
	}
}

func TestWaitlistTimes(t *testing.T) {
	p := release.Default()
	s := fairslot.Session{Start: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	closes := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	if got := p.WaitlistCloses(s.Start); !got.Equal(closes) {
		t.Errorf("closes %v, want %v", got, closes)
	}
	if p.CheckJoin(closes.Add(-time.Second), s) != nil || p.CheckJoin(closes, s) == nil {
		t.Error("CheckJoin around the close")
	}
	if d, ok := p.OfferDeadline(closes.Add(-10*time.Minute), s); !ok || !d.Equal(closes.Add(20*time.Minute)) {
		t.Errorf("offer deadline %v %v", d, ok)
	}
	if _, ok := p.OfferDeadline(closes, s); ok {
		t.Error("offer after the waitlist closed")
	}
	late := release.Policy{OfferHold: fairslot.Duration(time.Hour), WaitlistClosesAt: 23*60 + 59}
	s2 := fairslot.Session{Start: time.Date(2026, 11, 25, 0, 10, 0, 0, time.UTC)}
	if d, ok := late.OfferDeadline(time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC), s2); !ok || !d.Equal(s2.Start) {
		t.Errorf("deadline past session start: %v", d)
	}
	rnd := mrand.New(mrand.NewPCG(3, 4))
	for range 100 {
		if d := p.FreedDelay(rnd); d < 5*time.Minute || d > 30*time.Minute {
			t.Fatalf("freed delay %v outside 5–30m", d)
		}
	}
}

func TestCheckRebook(t *testing.T) {
	p := release.Default()
	now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	cs := []release.Cancellation{{AccountID: 1, Device: "d1", Addr: "a1", At: now.Add(-time.Minute)}}
	tests := []struct {
		name   string
		who    release.Who
		refuse bool
		risks  []string
	}{
		{"same account", release.Who{AccountID: 1, Device: "d9", Addr: "a9"}, true, []string{"account"}},
		{"buyer's account, same device", release.Who{AccountID: 2, Device: "d1", Addr: "a9"}, false, []string{"device"}},
		{"buyer's account, same address and device", release.Who{AccountID: 2, Device: "d1", Addr: "a1"}, false, []string{"address", "device"}},
		{"stranger", release.Who{AccountID: 3, Device: "d3", Addr: "a3"}, false, nil},
	}
	for _, tt := range tests {
		refuse, risks := p.CheckRebook(now, cs, tt.who)
		if (refuse != nil) != tt.refuse || !slices.Equal(risks, tt.risks) {
			t.Errorf("%s: refuse %v, risks %v; want refuse %v, risks %v", tt.name, refuse, risks, tt.refuse, tt.risks)
		}
		if refuse != nil && fairslot.ErrorKind(refuse) != fairslot.Limited {
			t.Errorf("%s: refusal kind %s", tt.name, fairslot.ErrorKind(refuse))
		}
	}
	// After the risk window only the cool-down remains; after it, nothing.
	refuse, risks := p.CheckRebook(now.Add(2*time.Hour), cs, release.Who{AccountID: 1})
	if refuse == nil || risks != nil {
		t.Errorf("2h later: refuse %v risks %v", refuse, risks)
	}
	if refuse, _ := p.CheckRebook(now.Add(25*time.Hour), cs, release.Who{AccountID: 1}); refuse != nil {
		t.Errorf("after the cool-down: %v", refuse)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := release.Default().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := []func(*release.Policy){
		func(p *release.Policy) { p.Rules = []release.Rule{{Mode: "lottery"}} },
		func(p *release.Policy) { p.Rules = []release.Rule{{Mode: fairslot.Draw}} },
		func(p *release.Policy) { p.Rules = []release.Rule{{Mode: fairslot.FirstCome, ReservedReferral: -1}} },
		func(p *release.Policy) {
			p.Rules = []release.Rule{{Mode: fairslot.FirstCome, ReservedPriority: release.MaxReserved + 1}}
		},
		func(p *release.Policy) {
			p.Rules = []release.Rule{{Mode: fairslot.FirstCome, Jitter: fairslot.Duration(2 * time.Hour)}}
		},
		func(p *release.Policy) { p.EntriesPerAccount = 0 },
		func(p *release.Policy) { p.FreedDelayMax = 0 },
		func(p *release.Policy) { p.WaitlistClosesAt = 24 * 60 },
	}
	for i, f := range bad {
		p := release.Default()
		f(&p)
		if p.Validate() == nil {
			t.Errorf("bad policy %d accepted", i)
		}
	}
}

// draw builds a real record the way the service does: n entries, k open
// slots, every skipEvery-th entry in draw order skipped.
func draw(t testing.TB, n, k, skipEvery int) release.Record {
	seed := make([]byte, release.SeedSize)
	rand.Read(seed)
	rec := release.Record{Version: 1, SessionID: 5, DrawnAt: time.Unix(0, 0).UTC(), Commitment: release.Commit(seed), Seed: seed}
	for i := range k {
		rec.Slots = append(rec.Slots, 10+i)
	}
	hashes := make([][]byte, n)
	for i := range hashes {
		salt := make([]byte, 16)
		rand.Read(salt)
		hashes[i] = release.EntryHash(5, salt, "patient-ref")
	}
	slices.SortFunc(hashes, bytes.Compare)
	for _, h := range hashes {
		rec.Entries = append(rec.Entries, h)
	}
	next := 0
	for rank, i := range release.Order(seed, hashes) {
		res := release.Result{Entry: hashes[i], Rank: rank + 1}
		switch {
		case skipEvery > 0 && rank%skipEvery == skipEvery-1:
			res.Outcome, res.Reason = fairslot.Skipped, "a booking limit"
		case next < len(rec.Slots):
			res.Outcome, res.Slot = fairslot.Won, rec.Slots[next]
			next++
		default:
			res.Outcome = fairslot.Lost
		}
		rec.Allocation = append(rec.Allocation, res)
	}
	return rec
}

// clone copies a record deeply through its JSON form, as a verifier gets it.
func clone(t *testing.T, r release.Record) release.Record {
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out release.Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyAcceptsRealDraws(t *testing.T) {
	for _, c := range []struct{ n, k, skip int }{{0, 3, 0}, {1, 3, 0}, {50, 10, 0}, {50, 10, 4}, {5, 10, 2}, {200, 0, 0}} {
		if err := release.Verify(clone(t, draw(t, c.n, c.k, c.skip))); err != nil {
			t.Errorf("n=%d k=%d skip=%d: %v", c.n, c.k, c.skip, err)
		}
	}
}

// TestVerifyRejectsTampering changes each part of a real record in turn and
// expects verification to fail every time.
func TestVerifyRejectsTampering(t *testing.T) {
	real := draw(t, 40, 10, 7)
	tampers := map[string]func(r *release.Record){
		"seed":       func(r *release.Record) { r.Seed[0] ^= 1 },
		"commitment": func(r *release.Record) { r.Commitment[5] ^= 1 },
		"seed and commitment": func(r *release.Record) {
			r.Seed[0] ^= 1
			r.Commitment = release.Commit(r.Seed)
		},
		"an entry hash": func(r *release.Record) { r.Entries[3][0] ^= 1 },
		"entry added":   func(r *release.Record) { r.Entries = append(r.Entries, bytes.Repeat([]byte{0xff}, 32)) },
		"entry removed": func(r *release.Record) { r.Entries = r.Entries[1:] },
		"two ranks swapped": func(r *release.Record) {
			r.Allocation[0].Entry, r.Allocation[1].Entry = r.Allocation[1].Entry, r.Allocation[0].Entry
		},
		"a rank number":       func(r *release.Record) { r.Allocation[2].Rank = 9 },
		"a loser made winner": func(r *release.Record) { r.Allocation[len(r.Allocation)-1].Outcome = fairslot.Won },
		"a winner made loser": func(r *release.Record) { r.Allocation[0].Outcome = fairslot.Lost; r.Allocation[0].Slot = 0 },
		"a winner skipped": func(r *release.Record) {
			r.Allocation[0].Outcome, r.Allocation[0].Slot, r.Allocation[0].Reason = fairslot.Skipped, 0, "made up"
		},
		"a slot changed":      func(r *release.Record) { r.Allocation[0].Slot = 99 },
		"slots reordered":     func(r *release.Record) { r.Slots[0], r.Slots[1] = r.Slots[1], r.Slots[0] },
		"a slot added":        func(r *release.Record) { r.Slots = append(r.Slots, 77) },
		"a slot listed twice": func(r *release.Record) { r.Slots[1] = r.Slots[0] },
		"skip without reason": func(r *release.Record) {
			for i := range r.Allocation {
				if r.Allocation[i].Outcome == fairslot.Skipped {
					r.Allocation[i].Reason = ""
					return
				}
			}
		},
		"version": func(r *release.Record) { r.Version = 2 },
	}
	if err := release.Verify(clone(t, real)); err != nil {
		t.Fatalf("the untampered record: %v", err)
	}
	for name, tamper := range tampers {
		r := clone(t, real)
		tamper(&r)
		if err := release.Verify(r); err == nil {
			t.Errorf("tampered %s: verification passed", name)
		}
	}
}

// TestOrderIgnoresEntryTime: the draw order depends on the seed and the
// hashes only, not on the order entries arrived in.
func TestOrderIgnoresEntryTime(t *testing.T) {
	rec := draw(t, 30, 5, 0)
	hashes := make([][]byte, len(rec.Entries))
	for i, e := range rec.Entries {
		hashes[i] = e
	}
	want := func(hs [][]byte) [][]byte {
		var out [][]byte
		for _, i := range release.Order(rec.Seed, hs) {
			out = append(out, hs[i])
		}
		return out
	}
	a := want(hashes)
	shuffled := slices.Clone(hashes)
	mrand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if b := want(shuffled); !slices.EqualFunc(a, b, bytes.Equal) {
		t.Error("the draw order changed with the arrival order")
	}
}

// BenchmarkDraw orders 1,000,000 entries over 1,000 sessions;
// BenchmarkSortHashes sorts the same number of bare hashes, the baseline.
func BenchmarkDraw(b *testing.B) {
	const sessions, per = 1000, 1000
	hashes := benchHashes(sessions * per)
	seeds := make([][]byte, sessions)
	for i := range seeds {
		seeds[i] = make([]byte, release.SeedSize)
		rand.Read(seeds[i])
	}
	b.ReportAllocs()
	for b.Loop() {
		for s := range sessions {
			release.Order(seeds[s], hashes[s*per:(s+1)*per])
		}
	}
}

func BenchmarkSortHashes(b *testing.B) {
	hashes := benchHashes(1000 * 1000)
	work := make([][]byte, len(hashes))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, hashes)
		slices.SortFunc(work, bytes.Compare)
	}
}

func benchHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		out[i] = h[:]
	}
	return out
}

// TestOrderIsUniform: over many seeds, an entry's rank among 100 falls in
// each tenth of the order equally often. Chi-square with 9 degrees of
// freedom against 33.7, the 1e-4 critical value: a fair order fails once in
// 10,000 runs; an order that favoured early or late entries fails always.
func TestOrderIsUniform(t *testing.T) {
	const entries, seeds, bins = 100, 20000, 10
	rec := draw(t, entries, 0, 0)
	hashes := make([][]byte, entries)
	for i, e := range rec.Entries {
		hashes[i] = e
	}
	var count [bins]int
	seed := make([]byte, release.SeedSize)
	for range seeds {
		rand.Read(seed)
		for rank, i := range release.Order(seed, hashes) {
			if i == 0 {
				count[rank*bins/entries]++
			}
		}
	}
	chi2, want := 0.0, float64(seeds)/bins
	for _, c := range count {
		chi2 += (float64(c) - want) * (float64(c) - want) / want
	}
	if chi2 > 33.7 {
		t.Errorf("rank of one entry by tenth over %d seeds: %v; chi-square %.1f > 33.7", seeds, count, chi2)
	}
}
