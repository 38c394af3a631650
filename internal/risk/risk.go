// Package risk turns what accounts do into signals a scalper's tools give
// away — account farms, bought identities, bots that behave like bots — each
// with a weight and an explanation, and a score into an action (a harder
// challenge, lower limits, held for review, blocked).
//
// It is a rule package: pure functions of the events it is given, which
// carry their own times; no storage, no clock, no randomness. A Tracker
// keeps only small aggregates per account, device, address prefix and payer,
// pruned to each signal's window as events arrive, so an account's score
// follows its events without rescanning its history.
//
// The identities in events are opaque strings the caller derives (the
// patient's blind index, the device cookie's id, the /24 or /56 prefix, the
// payment account's hash): nothing here can be read back into a person.
package risk

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Kind is what an event records.
type Kind int

const (
	Bind    Kind = iota + 1 // Patient bound to Account
	Unbind                  // Patient unbound from Account
	Book                    // a booking of Patient with Doctor, in the release at Release
	Enter                   // a draw entry, like Book
	Cancel                  // Patient's booking with Doctor cancelled; Release: when its slot was (or will be) released
	Pay                     // Payer paid for Patient
	Request                 // a request from Account on Device behind Prefix
)

// Event is one thing an account did. Fields a kind does not use are zero.
type Event struct {
	At      time.Time
	Kind    Kind
	Account int64
	Patient string    // the identity's blind index
	Device  string    // the device cookie's id
	Prefix  string    // the address's /24 or /56
	Doctor  int64     // Book, Enter, Cancel
	Release time.Time // Book, Enter: the release the session's slots came out in; Cancel: the next release of the freed slot
	Payer   string    // Pay: the paying account's hash
}

// Signal names a pattern.
type Signal string

const (
	ManyPatients        Signal = "many_patients"         // more patients bound than a family has
	NightBindings       Signal = "night_bindings"        // identities bound in the small hours
	QuickUnbinds        Signal = "quick_unbinds"         // identities bound and unbound soon after
	BindBookCancel      Signal = "bind_book_cancel"      // bound, booked and cancelled in a short cycle
	SharedDevice        Signal = "shared_device"         // one device behind many accounts
	SharedPrefix        Signal = "shared_prefix"         // one address prefix behind very many accounts
	RegularCadence      Signal = "regular_cadence"       // requests at a machine's even pace
	TargetsDoctor       Signal = "targets_doctor"        // one doctor across releases, for several patients
	SharedPayer         Signal = "shared_payer"          // one payer for many identities
	CancelBeforeRelease Signal = "cancel_before_release" // cancellations timed just before the freed slot is released
	PassedIdentities    Signal = "passed_identities"     // identities that came from an account scoring more
)

// Signals lists every signal, in the order explanations show them.
var Signals = []Signal{ManyPatients, NightBindings, QuickUnbinds, BindBookCancel, SharedDevice, SharedPrefix,
	RegularCadence, TargetsDoctor, SharedPayer, CancelBeforeRelease, PassedIdentities}

// Reason is one signal's part of a score, explainable: Key names the
// message ("risk.signal.<signal>", for the pages to translate once the
// review queue shows them — not yet in the catalogue) and Params fill it;
// String is the English; Evidence is what a reviewer sees, already masked.
type Reason struct {
	Signal   Signal
	Weight   int
	Params   []any
	Evidence []string
}

// Key is the reason's message key.
func (r Reason) Key() string { return "risk.signal." + string(r.Signal) }

// String is the reason in English, for logs and the audit record.
func (r Reason) String() string {
	return fmt.Sprintf(englishReasons[r.Signal], r.Params...) + fmt.Sprintf(" (+%d)", r.Weight)
}

var englishReasons = map[Signal]string{
	ManyPatients:        "%d patients bound to the account within %d days",
	NightBindings:       "identities bound between %d:00 and %d:00 on %d nights in %d days",
	QuickUnbinds:        "%d identities unbound within %s of being bound",
	BindBookCancel:      "%d bind-book-cancel cycles within %s",
	SharedDevice:        "its device is behind %d accounts",
	SharedPrefix:        "its address prefix is behind %d accounts in a day",
	RegularCadence:      "%d requests at an even pace (variation %.0f%%)",
	TargetsDoctor:       "one doctor targeted in %d releases for %d patients",
	SharedPayer:         "its payer paid for %d identities",
	CancelBeforeRelease: "%d cancellations within %s before the slot's release",
	PassedIdentities:    "%d identities came from other accounts, one of which scores %d",
}

// Score is an account's risk with its reasons, heaviest first.
type Score struct {
	Account int64
	Total   int
	Reasons []Reason
}

// Rules are the thresholds and weights; every hospital may set its own.
// Zero values are not defaults: start from DefaultRules.
type Rules struct {
	Location *time.Location // the hospital's time zone, for "night"

	FamilySize   int           // patients an account may bind without the signal
	PerPatient   int           // weight per patient beyond FamilySize
	NightFrom    int           // the night's first hour
	NightTo      int           // the hour the night ends
	NightMin     int           // night bindings before the signal
	NightWeight  int           // weight per night binding from NightMin on
	QuickUnbind  time.Duration // bound for less than this
	QuickWeight  int           // weight per quick unbind
	CycleWithin  time.Duration // bind → book → cancel within this
	CycleWeight  int           // weight per cycle
	DeviceMax    int           // accounts one device may carry
	DeviceWindow time.Duration
	DeviceWeight int
	PrefixMax    int // accounts one prefix may carry in PrefixWindow
	PrefixWindow time.Duration
	PrefixWeight int
	CadenceMin   int     // requests before cadence is judged
	CadenceCV    float64 // coefficient of variation of the gaps below which the pace is a machine's
	CadenceMax   time.Duration
	CadenceWeigh int
	TargetMin    int // distinct releases of one doctor
	TargetPeople int // distinct patients in them
	TargetWeight int
	PayerMax     int // identities one payer may pay for
	PayerWeight  int
	BeforeWithin time.Duration // a cancellation this close before the release
	BeforeWeight int
	MaxPerSignal int           // no one signal weighs more than this
	Memory       time.Duration // how long bindings, cycles, bookings and payments count
	// InheritInFull: an identity that came from an account scoring this
	// much adds that account's score in full; from one scoring less, it
	// only raises the score to it (0: never in full).
	InheritInFull int
}

// DefaultRules are tuned on fairsim's release storm: families of up to four
// on one account, night owls who bind once at 1 a.m., and one hospital's
// patients behind its Wi-Fi raise no more than a harder challenge; I1's
// scalper groups (about 10 phones and 30 accounts each, customers' identities
// bound at 1 a.m., cancel and rebook) pass the hold threshold.
func DefaultRules(loc *time.Location) Rules {
	return Rules{
		Location:   loc,
		FamilySize: 4, PerPatient: 15,
		NightFrom: 0, NightTo: 5, NightMin: 2, NightWeight: 12,
		QuickUnbind: 24 * time.Hour, QuickWeight: 15,
		CycleWithin: 48 * time.Hour, CycleWeight: 25,
		DeviceMax: 3, DeviceWindow: 7 * 24 * time.Hour, DeviceWeight: 20,
		PrefixMax: 30, PrefixWindow: 24 * time.Hour, PrefixWeight: 10,
		CadenceMin: 30, CadenceCV: 0.15, CadenceMax: 10 * time.Second, CadenceWeigh: 30,
		TargetMin: 3, TargetPeople: 3, TargetWeight: 20,
		PayerMax: 5, PayerWeight: 25,
		BeforeWithin: 10 * time.Minute, BeforeWeight: 15,
		MaxPerSignal: 45, Memory: 30 * 24 * time.Hour,
		InheritInFull: 60,
	}
}

// cadence is an exponentially weighted mean and variance of an account's
// request gaps: O(1) per request, recent behaviour weighing most.
type cadence struct {
	last      time.Time
	n         int
	mean, vr2 float64 // seconds, seconds²
}

const cadenceAlpha = 0.1

func (c *cadence) add(at time.Time) {
	if c.last.IsZero() || !at.After(c.last) {
		c.last = at
		return
	}
	gap := at.Sub(c.last).Seconds()
	c.last = at
	c.n++
	if c.n == 1 {
		c.mean = gap
		return
	}
	d := gap - c.mean
	c.mean += cadenceAlpha * d
	c.vr2 = (1 - cadenceAlpha) * (c.vr2 + cadenceAlpha*d*d)
}

func (c *cadence) cv() float64 {
	if c.mean <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt(c.vr2) / c.mean
}

type booking struct {
	at      time.Time
	doctor  int64
	release time.Time
	patient string
}

// account is what the tracker keeps of one account.
type account struct {
	bound map[string]time.Time // patient → when bound
	// patients is each patient bound within Memory → when it was last
	// bound (or unbound): unbinding does not lower the count.
	patients     map[string]time.Time
	booked       map[string]time.Time // patient → last booking
	night        []time.Time
	quick        []time.Time
	cycles       []time.Time
	bookings     []booking
	before       []time.Time
	cadence      cadence
	devices      map[string]bool
	prefixes     map[string]bool
	payers       map[string]bool
	received     []handoff // identities that came from other accounts, oldest first
	lastActivity time.Time
}

// handoff is an identity bound to this account within Memory of being
// bound to another: from is that account, score its score as the identity
// left it (zero while it is still bound there: its live score counts).
type handoff struct {
	at      time.Time
	from    int64
	score   int
	patient string
}

// holder is the account an identity was last bound to, and when it was
// unbound from it with the account's score just before (zero while bound).
type holder struct {
	account int64
	left    time.Time
	score   int
}

// seen is when each member of a group (accounts on a device, identities of
// a payer) was last seen with it.
type seen map[string]time.Time

func (s seen) count(now time.Time, window time.Duration) int {
	n := 0
	for k, at := range s {
		if now.Sub(at) > window {
			delete(s, k)
			continue
		}
		n++
	}
	return n
}

// Tracker keeps the aggregates. It is not safe for concurrent use: one
// goroutine (or a lock) feeds it.
type Tracker struct {
	rules    Rules
	accounts map[int64]*account
	devices  map[string]seen               // device → accounts
	prefixes map[string]seen               // prefix → accounts
	payers   map[string]seen               // payer → patients
	payerAcc map[string]seen               // payer → accounts it paid for
	holders  map[string]holder             // identity → the account it was last bound to
	heirs    map[int64]map[int64]time.Time // account → accounts its identities went to, when
}

// NewTracker returns a tracker applying rules.
func NewTracker(rules Rules) *Tracker {
	if rules.Location == nil {
		rules.Location = time.UTC
	}
	return &Tracker{rules: rules, accounts: map[int64]*account{}, devices: map[string]seen{},
		prefixes: map[string]seen{}, payers: map[string]seen{}, payerAcc: map[string]seen{},
		holders: map[string]holder{}, heirs: map[int64]map[int64]time.Time{}}
}

func (t *Tracker) account(id int64) *account {
	a := t.accounts[id]
	if a == nil {
		a = &account{bound: map[string]time.Time{}, patients: map[string]time.Time{}, booked: map[string]time.Time{},
			devices: map[string]bool{}, prefixes: map[string]bool{}, payers: map[string]bool{}}
		t.accounts[id] = a
	}
	return a
}

func key(id int64) string { return fmt.Sprint(id) }

func note(groups map[string]seen, group, member string, at time.Time) {
	if group == "" {
		return
	}
	g := groups[group]
	if g == nil {
		g = seen{}
		groups[group] = g
	}
	g[member] = at
}

// Apply records e and returns the accounts whose score it may change: the
// event's own, and those sharing the device, prefix or payer it names.
func (t *Tracker) Apply(e Event) []int64 {
	r := t.rules
	a := t.account(e.Account)
	a.lastActivity = e.At
	touched := []int64{e.Account}
	switch e.Kind {
	case Bind:
		a.bound[e.Patient] = e.At
		a.patients[e.Patient] = e.At
		t.handOver(a, e)
		// Nights, not bindings: a family bound at once at 1 a.m. is one
		// night owl; identities bound night after night are a trade.
		if local := e.At.In(r.Location); local.Hour() >= r.NightFrom && local.Hour() < r.NightTo {
			if n := len(a.night); n == 0 || !sameDay(a.night[n-1].In(r.Location), local) {
				a.night = append(a.night, e.At)
			}
		}
	case Unbind:
		if since, ok := a.bound[e.Patient]; ok {
			if h, ok := t.holders[e.Patient]; ok && h.account == e.Account {
				// The identity carries the score it leaves with, counting
				// itself: clearing a held account one identity at a time
				// does not launder the last ones.
				t.holders[e.Patient] = holder{account: e.Account, left: e.At, score: t.score(e.Account, e.At, 0, nil).Total}
			}
			if e.At.Sub(since) < r.QuickUnbind {
				a.quick = append(a.quick, e.At)
			}
			delete(a.bound, e.Patient)
			a.patients[e.Patient] = e.At
		}
	case Book, Enter:
		a.booked[e.Patient] = e.At
		a.bookings = append(a.bookings, booking{e.At, e.Doctor, e.Release, e.Patient})
	case Cancel:
		if bound, ok := a.bound[e.Patient]; ok {
			if booked, ok := a.booked[e.Patient]; ok && !booked.Before(bound) && e.At.Sub(bound) < r.CycleWithin {
				a.cycles = append(a.cycles, e.At)
			}
		}
		if !e.Release.IsZero() && !e.At.After(e.Release) && e.Release.Sub(e.At) <= r.BeforeWithin {
			a.before = append(a.before, e.At)
		}
	case Pay:
		if e.Payer != "" {
			note(t.payers, e.Payer, e.Patient, e.At)
			remember(a.payers, t.payerAcc, e.Payer, key(e.Account), e.At)
			touched = append(touched, members(t.payerAcc[e.Payer])...)
		}
	case Request:
		a.cadence.add(e.At)
	}
	if e.Device != "" {
		remember(a.devices, t.devices, e.Device, key(e.Account), e.At)
		touched = append(touched, members(t.devices[e.Device])...)
	}
	if e.Prefix != "" {
		remember(a.prefixes, t.prefixes, e.Prefix, key(e.Account), e.At)
	}
	// The accounts this one's identities went to inherit its score.
	for heir, at := range t.heirs[e.Account] {
		if e.At.Sub(at) <= r.Memory {
			touched = append(touched, heir)
		}
	}
	slices.Sort(touched)
	return slices.Compact(touched)
}

// handOver records an identity bound to a after being bound to another
// account within Memory: a scalper moving customers' identities from a held
// account to a clean one. A family moving to a new phone's account moves
// them too, from an account that scored nothing, and inherits nothing.
func (t *Tracker) handOver(a *account, e Event) {
	if e.Patient == "" {
		return
	}
	h, ok := t.holders[e.Patient]
	t.holders[e.Patient] = holder{account: e.Account}
	if !ok || h.account == e.Account || !h.left.IsZero() && e.At.Sub(h.left) > t.rules.Memory {
		return
	}
	score := h.score
	if h.left.IsZero() {
		// Still bound there: its score now, which unbinding it there
		// afterwards cannot take back.
		score = t.score(h.account, e.At, 0, nil).Total
	}
	a.received = append(a.received, handoff{at: e.At, from: h.account, score: score, patient: e.Patient})
	if t.heirs[h.account] == nil {
		t.heirs[h.account] = map[int64]time.Time{}
	}
	t.heirs[h.account][e.Account] = e.At
}

// inheritDepth bounds how far back along identities passed on an
// account's live score is followed: the score an identity left with
// already carries what came before, so a chain loses nothing, and a ring of
// accounts passing identities around costs no more than this.
const inheritDepth = 2

// keptPerAccount is how many devices, prefixes and payers an account's
// aggregates keep: a bot shedding its device cookie on every request, or
// rotating through a botnet's addresses, would otherwise grow them (and
// the groups) by one per request for a week.
const keptPerAccount = 64

// remember notes that member (an account) used group id at, in the
// account's set and in the group, keeping the account's most recent
// keptPerAccount ids: the least recently used one is forgotten, in both.
func remember(set map[string]bool, groups map[string]seen, id, member string, at time.Time) {
	if !set[id] && len(set) >= keptPerAccount {
		oldest, when := "", time.Time{}
		for g := range set {
			if w := groups[g][member]; oldest == "" || w.Before(when) {
				oldest, when = g, w
			}
		}
		delete(set, oldest)
		if g := groups[oldest]; g != nil {
			delete(g, member)
			if len(g) == 0 {
				delete(groups, oldest)
			}
		}
	}
	set[id] = true
	note(groups, id, member, at)
}

func members(s seen) []int64 {
	var out []int64
	for k := range s {
		var id int64
		fmt.Sscan(k, &id)
		out = append(out, id)
	}
	return out
}

// within drops the times older than window before now and returns how many
// are left.
func within(ts *[]time.Time, now time.Time, window time.Duration) int {
	i := 0
	for i < len(*ts) && now.Sub((*ts)[i]) > window {
		i++
	}
	*ts = (*ts)[i:]
	return len(*ts)
}

// Score is the account's risk at now, with its reasons, heaviest first.
func (t *Tracker) Score(id int64, now time.Time) Score {
	return t.score(id, now, 0, map[int64]bool{})
}

// score is Score following identities passed on to depth; visiting are the
// accounts whose score is being computed (nil: none followed).
func (t *Tracker) score(id int64, now time.Time, depth int, visiting map[int64]bool) Score {
	r := t.rules
	s := Score{Account: id}
	a := t.accounts[id]
	if a == nil {
		return s
	}
	add := func(sig Signal, weight int, evidence []string, params ...any) {
		if weight <= 0 {
			return
		}
		weight = min(weight, r.MaxPerSignal)
		reason := Reason{Signal: sig, Weight: weight, Params: params, Evidence: evidence}
		// The same signal from two devices or payers counts once, the heavier.
		if i := slices.IndexFunc(s.Reasons, func(r Reason) bool { return r.Signal == sig }); i >= 0 {
			if s.Reasons[i].Weight >= weight {
				return
			}
			s.Total -= s.Reasons[i].Weight
			s.Reasons[i] = reason
		} else {
			s.Reasons = append(s.Reasons, reason)
		}
		s.Total += weight
	}
	// The patients bound within Memory, unbound since or not: a held
	// account unbinding its extra customers does not fall below the hold.
	for p, at := range a.patients {
		if _, bound := a.bound[p]; !bound && now.Sub(at) > r.Memory {
			delete(a.patients, p)
		}
	}
	if n := len(a.patients); n > r.FamilySize {
		add(ManyPatients, (n-r.FamilySize)*r.PerPatient, nil, n, int(r.Memory.Hours()/24))
	}
	if n := within(&a.night, now, r.Memory); n >= r.NightMin {
		add(NightBindings, n*r.NightWeight, nil, r.NightFrom, r.NightTo, n, int(r.Memory.Hours()/24))
	}
	if n := within(&a.quick, now, r.Memory); n > 0 {
		add(QuickUnbinds, n*r.QuickWeight, nil, n, r.QuickUnbind.String())
	}
	if n := within(&a.cycles, now, r.Memory); n > 0 {
		add(BindBookCancel, n*r.CycleWeight, nil, n, r.CycleWithin.String())
	}
	for d := range a.devices {
		if n := t.devices[d].count(now, r.DeviceWindow); n > r.DeviceMax {
			add(SharedDevice, r.DeviceWeight+(n-r.DeviceMax-1)*r.DeviceWeight/4, []string{"device " + mask(d)}, n)
		} else if n == 0 {
			delete(a.devices, d)
		}
	}
	for p := range a.prefixes {
		if n := t.prefixes[p].count(now, r.PrefixWindow); n > r.PrefixMax {
			add(SharedPrefix, r.PrefixWeight, []string{"prefix " + p}, n)
		} else if n == 0 {
			delete(a.prefixes, p)
		}
	}
	if c := a.cadence; c.n >= r.CadenceMin && c.cv() < r.CadenceCV && c.mean < r.CadenceMax.Seconds() {
		add(RegularCadence, r.CadenceWeigh, []string{fmt.Sprintf("mean gap %.2fs", c.mean)}, c.n+1, 100*c.cv())
	}
	add(TargetsDoctor, t.targeting(a, now), nil, t.targetParams(a)...)
	for p := range a.payers {
		if n := t.payers[p].count(now, r.Memory); n > r.PayerMax {
			add(SharedPayer, r.PayerWeight, []string{"payer " + mask(p)}, n)
		} else if n == 0 {
			delete(a.payers, p)
		}
	}
	if n := within(&a.before, now, r.Memory); n > 0 {
		add(CancelBeforeRelease, n*r.BeforeWeight, nil, n, r.BeforeWithin.String())
	}
	t.inherit(&s, a, id, now, depth, visiting)
	slices.SortStableFunc(s.Reasons, func(x, y Reason) int { return y.Weight - x.Weight })
	return s
}

// inherit raises s to the highest score among the accounts a's identities
// came from within Memory — as each identity left, or the account's live
// score while it is still bound there — with a reason weighing the
// difference. It is not capped at MaxPerSignal: it stands for another
// account's whole score, and a hold must travel with the identities. An
// account scoring no less already gains nothing, so a family of six moving
// from one account to another scores what it did (its old account's
// score and its new one's count the same people). From an account scoring
// InheritInFull or more — one the rules hold — the score is added in full:
// otherwise an account a reviewer approved would take in held accounts'
// customers without its score ever growing Regrow past what the reviewer
// saw.
func (t *Tracker) inherit(s *Score, a *account, id int64, now time.Time, depth int, visiting map[int64]bool) {
	i := 0
	for i < len(a.received) && now.Sub(a.received[i].at) > t.rules.Memory {
		i++
	}
	a.received = a.received[i:]
	if len(a.received) == 0 {
		return
	}
	best := 0
	people := map[string]bool{}
	var evidence []string
	if visiting != nil {
		visiting[id] = true
		defer delete(visiting, id)
	}
	for _, h := range a.received {
		people[h.patient] = true
		score := h.score
		if src := t.accounts[h.from]; src != nil && visiting != nil && depth < inheritDepth && !visiting[h.from] {
			if _, bound := src.bound[h.patient]; bound {
				// Still bound there too: the old account's score as it
				// grows, not only as it was when the identity came.
				score = max(score, t.score(h.from, now, depth+1, visiting).Total)
			}
		}
		if e := fmt.Sprintf("account %d", h.from); !slices.Contains(evidence, e) {
			evidence = append(evidence, e)
		}
		best = max(best, score)
	}
	w := best - s.Total
	if full := t.rules.InheritInFull; full > 0 && best >= full {
		w = best
	}
	if w > 0 {
		s.Reasons = append(s.Reasons, Reason{Signal: PassedIdentities, Weight: w, Params: []any{len(people), best}, Evidence: evidence})
		s.Total += w
	}
}

// targeting weighs the doctor the account has booked most often across
// releases, for several patients; the window's older bookings are dropped.
func (t *Tracker) targeting(a *account, now time.Time) int {
	r := t.rules
	i := 0
	for i < len(a.bookings) && now.Sub(a.bookings[i].at) > r.Memory {
		i++
	}
	a.bookings = a.bookings[i:]
	releases, people := t.worstDoctor(a)
	if releases >= r.TargetMin && people >= r.TargetPeople {
		return r.TargetWeight + (releases-r.TargetMin)*r.TargetWeight/4
	}
	return 0
}

func (t *Tracker) targetParams(a *account) []any {
	releases, people := t.worstDoctor(a)
	return []any{releases, people}
}

func (t *Tracker) worstDoctor(a *account) (releases, people int) {
	type set = map[string]bool
	rel, ppl := map[int64]set{}, map[int64]set{}
	for _, b := range a.bookings {
		if rel[b.doctor] == nil {
			rel[b.doctor], ppl[b.doctor] = set{}, set{}
		}
		rel[b.doctor][b.release.UTC().Format(time.RFC3339)] = true
		ppl[b.doctor][b.patient] = true
	}
	for d := range rel {
		if len(rel[d]) > releases || len(rel[d]) == releases && len(ppl[d]) > people {
			releases, people = len(rel[d]), len(ppl[d])
		}
	}
	return releases, people
}

// mask shows the first four characters of an opaque id.
func mask(id string) string {
	if len(id) <= 4 {
		return id
	}
	return id[:4] + "…"
}

// Forget drops what the tracker keeps of accounts with no event within the
// longest window before now, so its memory follows the active accounts.
func (t *Tracker) Forget(now time.Time) {
	keep := max(t.rules.Memory, t.rules.DeviceWindow, t.rules.PrefixWindow)
	for id, a := range t.accounts {
		if now.Sub(a.lastActivity) > keep {
			delete(t.accounts, id)
		}
	}
	for p, h := range t.holders {
		if _, ok := t.accounts[h.account]; !ok || !h.left.IsZero() && now.Sub(h.left) > t.rules.Memory {
			delete(t.holders, p)
		}
	}
	for from, hs := range t.heirs {
		for heir, at := range hs {
			if now.Sub(at) > t.rules.Memory {
				delete(hs, heir)
			}
		}
		if len(hs) == 0 {
			delete(t.heirs, from)
		}
	}
	for _, groups := range []map[string]seen{t.devices, t.prefixes, t.payers, t.payerAcc} {
		for k, g := range groups {
			if g.count(now, keep) == 0 {
				delete(groups, k)
			}
		}
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// Size is how many ids the tracker keeps: accounts, their devices,
// prefixes and payers, and the groups' members.
func (t *Tracker) Size() int {
	n := len(t.accounts) + len(t.holders)
	for _, a := range t.accounts {
		n += len(a.devices) + len(a.prefixes) + len(a.payers) + len(a.bound) + len(a.patients)
	}
	for _, groups := range []map[string]seen{t.devices, t.prefixes, t.payers, t.payerAcc} {
		for _, g := range groups {
			n += len(g)
		}
	}
	return n
}
