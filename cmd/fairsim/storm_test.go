package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
)

func TestCastBehavesAsI1(t *testing.T) {
	o := castOptions{People: 2000, Families: 0.10, NightOwls: 0.05, SharedWiFi: 0.30, WiFis: 4, Cancellers: 0.03,
		Groups: 4, Phones: 10, Accounts: 30, Customers: 3, Seed: 1}
	actors := cast(o)
	if len(actors) != o.People+o.Groups*o.Accounts {
		t.Fatalf("%d actors, want %d", len(actors), o.People+o.Groups*o.Accounts)
	}
	var families, owls, wifi, cancels int
	perWiFi := map[int]int{}
	prefixes := map[string]map[string]bool{} // /24 → classes on it
	perPhone := map[[2]int]int{}
	for i, a := range actors {
		if a.Index != i {
			t.Fatalf("actor %d has index %d", i, a.Index)
		}
		p := fmt.Sprintf("127.%d.%d", a.Net[0], a.Net[1])
		if prefixes[p] == nil {
			prefixes[p] = map[string]bool{}
		}
		prefixes[p][a.Class] = true
		if a.Scalper() {
			if a.Patients != o.Customers || !a.Night || a.WiFi != -1 || a.Cancels || a.Phone < 0 || a.Phone >= o.Phones {
				t.Errorf("scalper account %+v: want %d customers bound at night, on one of the group's phones", a, o.Customers)
			}
			if want := fmt.Sprintf("group %d", a.Group+1); a.Class != want {
				t.Errorf("scalper account of group %d has class %q", a.Group, a.Class)
			}
			perPhone[[2]int{a.Group, a.Phone}]++
			continue
		}
		if a.Class != "people" || a.Group != -1 || a.Patients < 1 || a.Patients > 4 {
			t.Errorf("person %+v: want class people, 1 to 4 patients", a)
		}
		if a.Patients > 1 {
			families++
		}
		if a.Night {
			owls++
		}
		if a.WiFi >= 0 {
			wifi++
			perWiFi[a.WiFi]++
		}
		if a.Cancels {
			cancels++
		}
	}
	// Shares within a few standard deviations of the options'.
	for _, c := range []struct {
		name  string
		got   int
		share float64
	}{{"families", families, o.Families}, {"night owls", owls, o.NightOwls}, {"shared Wi-Fi", wifi, o.SharedWiFi}, {"cancellers", cancels, o.Cancellers}} {
		want := c.share * float64(o.People)
		if d := float64(c.got) - want; d*d > 25*want {
			t.Errorf("%s: %d of %d people, want about %.0f", c.name, c.got, o.People, want)
		}
	}
	if len(perWiFi) != o.WiFis {
		t.Errorf("people behind %d shared prefixes, want %d: %v", len(perWiFi), o.WiFis, perWiFi)
	}
	for k, n := range perWiFi {
		if n < wifi/o.WiFis-1 || n > wifi/o.WiFis+1 {
			t.Errorf("Wi-Fi %d has %d people, want the %d evenly shared", k, n, wifi)
		}
	}
	// About 10 phones and 30 accounts a group: each phone carries 3.
	if len(perPhone) != o.Groups*o.Phones {
		t.Errorf("%d phones in use, want %d", len(perPhone), o.Groups*o.Phones)
	}
	for ph, n := range perPhone {
		if n != o.Accounts/o.Phones {
			t.Errorf("group %d's phone %d carries %d accounts, want %d", ph[0]+1, ph[1], n, o.Accounts/o.Phones)
		}
	}
	// Every group on its own prefix; no prefix mixes people and scalpers.
	for p, classes := range prefixes {
		if len(classes) > 1 {
			t.Errorf("prefix %s carries %v", p, classes)
		}
	}
	if again := cast(o); fmt.Sprint(again) != fmt.Sprint(actors) {
		t.Error("the same seed cast different people")
	}
	// Each group pays from one wallet for all its accounts; each person
	// from their own, which no one else pays from.
	payers := map[string]map[string]int{} // payer → class → accounts
	for _, a := range actors {
		if a.Payer == "" {
			t.Fatalf("actor %+v pays from no wallet", a)
		}
		if payers[a.Payer] == nil {
			payers[a.Payer] = map[string]int{}
		}
		payers[a.Payer][a.Class]++
	}
	if len(payers) != o.People+o.Groups {
		t.Errorf("%d wallets, want one per person and one per group (%d)", len(payers), o.People+o.Groups)
	}
	for payer, classes := range payers {
		for class, n := range classes {
			if len(classes) != 1 || class == "people" && n != 1 || class != "people" && n != o.Accounts {
				t.Errorf("wallet %s pays for %v; want one person, or one group's %d accounts", payer, classes, o.Accounts)
			}
		}
	}
}

// TestPayNamesTheWallet: a payment asks the server with the actor's wallet
// account as the payer, and its idempotency key; an actor with no wallet
// sends no body, as before.
func TestPayNamesTheWallet(t *testing.T) {
	type got struct{ path, contentType, key, body string }
	var asked []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		asked = append(asked, got{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), b.String()})
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":7,"status":"confirmed"}`))
	}))
	defer srv.Close()
	actors := cast(castOptions{People: 1, Groups: 1, Phones: 1, Accounts: 2, Customers: 1, Seed: 1})
	rec := newRecorder()
	for _, a := range actors {
		payBooking(context.Background(), rec, "pay", &stormPerson{actor: a, c: &apiclient.Client{Base: srv.URL}}, 7)
	}
	payBooking(context.Background(), rec, "pay", &stormPerson{actor: actor{Group: -1}, c: &apiclient.Client{Base: srv.URL}}, 8)
	want := []got{
		{"/api/v1/bookings/7/pay", "application/json", "pay-7", `{"payer":"sim-wallet-person-0"}`},
		{"/api/v1/bookings/7/pay", "application/json", "pay-7", `{"payer":"sim-wallet-group-1"}`},
		{"/api/v1/bookings/7/pay", "application/json", "pay-7", `{"payer":"sim-wallet-group-1"}`},
		{"/api/v1/bookings/8/pay", "", "pay-8", ""},
	}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Errorf("asked\n%q\nwant\n%q", asked, want)
	}
}

func TestIdentitiesDoNotCollide(t *testing.T) {
	actors := cast(castOptions{People: 40_000, WiFis: 1, Groups: 200, Phones: 10, Accounts: 30, Customers: 5, Seed: 2})
	seen := map[int]string{}
	for _, a := range actors {
		n := 5
		if a.Scalper() {
			n = 200 // customers over two nights and their buyers
		}
		for k := range n {
			id := identity(a, k)
			if who, ok := seen[id]; ok {
				t.Fatalf("identity %d is both %s and account %d's", id, who, a.Index)
			}
			seen[id] = fmt.Sprint("account ", a.Index, "'s")
		}
	}
}

func TestInBatches(t *testing.T) {
	var got []string
	err := inBatches(7, 3, func(k int) error { got = append(got, fmt.Sprint("batch ", k)); return nil },
		func(i int) error { return nil })
	if err != nil || fmt.Sprint(got) != "[batch 0 batch 1 batch 2]" {
		t.Errorf("inBatches(7, 3): %v %v, want three batches", got, err)
	}
	seen := make([]int, 7)
	inBatches(7, 3, func(int) error { return nil }, func(i int) error { seen[i]++; return nil })
	if fmt.Sprint(seen) != "[1 1 1 1 1 1 1]" {
		t.Errorf("each index once: %v", seen)
	}
}

func TestNightAndReleaseTimes(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     time.Duration
	}{{"21:00", "07:00", 10 * time.Hour}, {"01:00", "07:00", 6 * time.Hour}, {"07:00", "07:00", 24 * time.Hour}, {"23:30", "00:15", 45 * time.Minute}} {
		if got, err := hhmmGap(c.from, c.to); err != nil || got != c.want {
			t.Errorf("hhmmGap(%s, %s) = %v, %v; want %v", c.from, c.to, got, err, c.want)
		}
	}
	if _, err := hhmmGap("7am", "07:00"); err == nil {
		t.Error("hhmmGap(7am): no error")
	}
	// The night's bindings fall between the evening and the release.
	err := run(context.Background(), []string{"release-storm", "--clock", "02:00", "--night", "01:00", "--url", "http://127.0.0.1:1"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--night") {
		t.Errorf("a night before the evening: %v, want it refused", err)
	}
}

// riskAnswer is a canned answer of the staff endpoint, in the contract's
// JSON.
const riskAnswer = `{"accounts":[
 {"account_id":101,"action":"hold","score":75,"reviewed":false,"since":{"challenge":"2026-12-02T01:00:05+08:00","limit":"2026-12-02T01:00:09+08:00","hold":"2026-12-02T07:03:00+08:00"},"reasons":["identities bound between 0:00 and 5:00 on 2 nights in 30 days (+24)","its device is behind 6 accounts (+30)"]},
 {"account_id":102,"action":"limit","score":45,"reviewed":false,"since":{"challenge":"2026-12-03T01:00:00+08:00","limit":"2026-12-03T01:00:30+08:00"},"reasons":["its device is behind 6 accounts (+30)"]},
 {"account_id":103,"action":"limit","score":41,"reviewed":false,"since":{"challenge":"2026-12-03T07:10:00+08:00","limit":"2026-12-03T07:20:00+08:00"},"reasons":["its payer paid for 60 identities (+25)","x"]},
 {"account_id":104,"action":"challenge","score":20,"reviewed":false,"since":{"challenge":"2026-12-02T02:00:00+08:00"},"reasons":["y"]},
 {"account_id":1,"action":"challenge","score":25,"reviewed":false,"since":{"challenge":"2026-12-02T02:00:00+08:00"},"reasons":["z"]},
 {"account_id":7,"action":"block","score":0,"reviewed":true,"since":{},"reasons":[]},
 {"account_id":999,"action":"hold","score":90,"reviewed":false,"since":{"hold":"2026-12-02T01:00:00+08:00"},"reasons":[]}
]}`

func TestRiskTallyFromTheEndpoint(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.Method+" "+r.URL.String()+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(riskAnswer))
	}))
	defer srv.Close()
	answer, err := fetchRisk(context.Background(), &apiclient.Client{Base: srv.URL, Token: "staff-token"})
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "GET /api/v1/staff/risk/accounts?min=challenge Bearer staff-token" {
		t.Errorf("asked %q", asked)
	}
	// Ten people (accounts 1–10), two groups of two (101–104).
	var actors []actor
	var ids []int64
	for i := range 10 {
		a := actor{Class: "people", Group: -1, Index: i, Patients: 1, WiFi: -1}
		if i == 0 {
			a.Night, a.WiFi = true, 2
		}
		if i == 6 {
			a.Patients = 3
		}
		actors, ids = append(actors, a), append(ids, int64(i+1))
	}
	for i := range 4 {
		actors = append(actors, actor{Class: fmt.Sprintf("group %d", i/2+1), Group: i / 2, Index: 10 + i, Patients: 3, Night: true})
		ids = append(ids, int64(101+i))
	}
	sh := time.FixedZone("CST", 8*3600)
	releases := []time.Time{time.Date(2026, 12, 2, 7, 0, 0, 0, sh), time.Date(2026, 12, 3, 7, 0, 0, 0, sh)}
	r := tallyRisk(actors, ids, answer, releases, "limit")
	if r.Unknown != 1 {
		t.Errorf("unknown accounts %d, want 1 (999)", r.Unknown)
	}
	byClass := map[string]RiskClass{}
	for _, c := range r.Classes {
		byClass[c.Class] = c
	}
	people, g1, g2 := byClass["people"], byClass["group 1"], byClass["group 2"]
	for _, c := range []struct {
		name string
		got  any
		want any
	}{
		{"classes", len(r.Classes), 3},
		{"people accounts", people.Accounts, 10},
		{"people now", fmt.Sprint(people.Now), "map[block:1 challenge:1]"},
		// Account 7 was blocked by a reviewer: no times, still flagged and blocked.
		{"people flagged", people.Flagged, 1},
		{"people held or blocked", people.HeldOrBlocked, 1},
		{"people flagged before release 2", people.FlaggedBefore[1], 0},
		{"people traits", fmt.Sprint(people.Traits), "map[family:[1 1 1] night owl:[1 0 0] one patient:[9 0 0] shared Wi-Fi:[1 0 0]]"},
		{"group 1 now", fmt.Sprint(g1.Now), "map[hold:1 limit:1]"},
		{"group 1 reached", fmt.Sprint(g1.Reached), "map[challenge:2 hold:1 limit:2]"},
		{"group 1 flagged", g1.Flagged, 2},
		{"group 1 flagged before release 1", g1.FlaggedBefore[0], 1},
		{"group 1 flagged before release 2", g1.FlaggedBefore[1], 2},
		{"group 1 held", g1.HeldOrBlocked, 1},
		// 101 reached limit at 01:00:09 on the 2nd, 102 at 01:00:30 on the 3rd.
		{"group 1 first flag", fmt.Sprint(g1.First), fmt.Sprint([]float64{-(5*3600 + 59*60 + 51), -(29*3600 + 59*60 + 51)})},
		{"group 1 last flag", fmt.Sprint(g1.Last), fmt.Sprint([]float64{18*3600 + 30, -(5*3600 + 59*60 + 30)})},
		{"group 1 reasons", g1.Reasons["its device is behind N accounts (+N)"], 2},
		// 103 reached limit after release 2; 104 only a challenge.
		{"group 2 flagged", g2.Flagged, 1},
		{"group 2 reasons", fmt.Sprint(g2.Reasons), "map[its payer paid for N identities (+N):1 x:1]"},
		{"group 2 flagged before release 2", g2.FlaggedBefore[1], 0},
		{"group 2 now", fmt.Sprint(g2.Now), "map[challenge:1 limit:1]"},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Targets: 2 of 4 scalper accounts before release 2 (50 %, not met);
	// 1 of 10 people flagged (10 %) and blocked (10 %): not met.
	want := []struct {
		measured float64
		met      bool
	}{{0.5, false}, {0.1, false}, {0.1, false}}
	for i, tg := range r.Targets {
		if tg.Measured != want[i].measured || tg.Met != want[i].met {
			t.Errorf("target %q: measured %v met %v, want %v %v", tg.What, tg.Measured, tg.Met, want[i].measured, want[i].met)
		}
	}
	// Flagged at challenge: person 1 too, and every scalper account.
	r = tallyRisk(actors, ids, answer, releases, "challenge")
	if got := r.Targets[0]; got.Measured != 0.75 { // 104's challenge came before release 2, 103's after
		t.Errorf("flagged at challenge: scalpers before release 2 %v (%s), want 0.75", got.Measured, got.Of)
	}
	if got := r.Targets[1]; got.Of != "2 of 10" {
		t.Errorf("flagged at challenge: people %s, want 2 of 10", got.Of)
	}
	r = tallyRiskAll(actors, ids, answer, releases, "limit")
	if got := fmt.Sprint(r.ByLevel["challenge"][0].Measured, r.ByLevel["limit"][0].Measured, r.ByLevel["hold"][0].Measured); got != "0.75 0.5 0.25" {
		t.Errorf("scalpers flagged before release 2 at challenge, limit, hold: %s, want 0.75 0.5 0.25 (101 held after release 1)", got)
	}
	var out bytes.Buffer
	printRisk(&out, r)
	for _, want := range []string{"people", "group 1", "group 2", "not met", "night owl 1/", "before 2nd", "with flagged = hold:", "its payer paid for N identities"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the printed risk lacks %q:\n%s", want, out.String())
		}
	}
	if b, err := json.Marshal(r); err != nil || !strings.Contains(string(b), `"flagged_before_release":[`) {
		t.Errorf("JSON: %v\n%s", err, b)
	}
}

func TestRiskTargetsMet(t *testing.T) {
	r := RiskReport{Releases: make([]time.Time, 2), Classes: []RiskClass{
		{Class: "people", Accounts: 1000, Flagged: 10, HeldOrBlocked: 1},
		{Class: "group 1", Accounts: 30, FlaggedBefore: []int{20, 27}},
		{Class: "group 2", Accounts: 30, FlaggedBefore: []int{0, 27}},
	}}
	for i, tg := range targets(r) {
		if !tg.Met {
			t.Errorf("target %d %q: %v (%s) not met; want met at the bound", i, tg.What, tg.Measured, tg.Of)
		}
	}
	r.Classes[0].Flagged, r.Classes[0].HeldOrBlocked, r.Classes[2].FlaggedBefore[1] = 11, 2, 26
	for i, tg := range targets(r) {
		if tg.Met {
			t.Errorf("target %d %q: %v (%s) met; want not met past the bound", i, tg.What, tg.Measured, tg.Of)
		}
	}
}
