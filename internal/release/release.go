// Package release holds the fair-release rules as pure functions of values,
// a time and a random source: how a session is released (first come, or a
// draw with an entry window and a jittered start), which slots are reserved
// for on-site quotas, when the waitlist closes and how long an offer stands,
// how long a freed slot stays back when nobody waits, and what a cancel
// followed by a re-booking looks like. It must never touch storage, the
// network or the wall clock.
package release

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fairslot/fairslot"
)

// Rule is the release of the sessions of one doctor, one department, or
// (both empty) every session. The most specific rule wins.
type Rule struct {
	Department string               `json:"department,omitempty"` // department code
	DoctorID   int64                `json:"doctor_id,omitempty"`
	Mode       fairslot.ReleaseMode `json:"mode"`
	// Window is how long a draw's entry window stays open after the release.
	Window fairslot.Duration `json:"window,omitzero"`
	// Jitter delays the release by a random amount up to this, so that bots
	// cannot lock onto the release time.
	Jitter fairslot.Duration `json:"jitter,omitzero"`
	// ReservedPriority and ReservedReferral slots of every session are kept
	// out of the online release for on-site priority patients and referrals.
	ReservedPriority int `json:"reserved_priority,omitzero"`
	ReservedReferral int `json:"reserved_referral,omitzero"`
}

// Policy is the hospital's release configuration.
type Policy struct {
	Rules []Rule `json:"rules"`
	// EntriesPerAccount caps an account's draw entries per release day.
	EntriesPerAccount int `json:"entries_per_account"`
	// WinHold is how long a draw winner has to pay.
	WinHold fairslot.Duration `json:"win_hold"`
	// OfferHold is how long a waitlisted patient has to pay for an offered slot.
	OfferHold fairslot.Duration `json:"offer_hold"`
	// WaitlistClosesAt is the time of day, the day before the session, after
	// which nobody joins the waitlist and no more offers are made.
	WaitlistClosesAt fairslot.TimeOfDay `json:"waitlist_closes_at"`
	// A freed slot nobody waits for reappears for first-come booking after a
	// random delay in [FreedDelayMin, FreedDelayMax].
	FreedDelayMin fairslot.Duration `json:"freed_delay_min"`
	FreedDelayMax fairslot.Duration `json:"freed_delay_max"`
	// CancelCooldown: the account that cancelled a booking of a session may
	// not take a place in that session again for this long.
	CancelCooldown fairslot.Duration `json:"cancel_cooldown"`
	// RiskWindow: a booking or entry of a session within this long of a
	// cancellation in it from the same account, device or address is a risk
	// event.
	RiskWindow fairslot.Duration `json:"risk_window"`
}

// Default returns the design brief's defaults: every session first come,
// waitlist offers of 30 minutes, closing 23:00 the day before, freed slots
// back after 5–30 minutes, a cancel cool-down of a day.
func Default() Policy {
	return Policy{
		Rules:             []Rule{{Mode: fairslot.FirstCome}},
		EntriesPerAccount: 5,
		WinHold:           fairslot.Duration(30 * time.Minute),
		OfferHold:         fairslot.Duration(30 * time.Minute),
		WaitlistClosesAt:  23 * 60,
		FreedDelayMin:     fairslot.Duration(5 * time.Minute),
		FreedDelayMax:     fairslot.Duration(30 * time.Minute),
		CancelCooldown:    fairslot.Duration(24 * time.Hour),
		RiskWindow:        fairslot.Duration(30 * time.Minute),
	}
}

// Validate reports the first setting that makes no sense.
func (p Policy) Validate() error {
	bad := func(name string) error {
		return fairslot.Errorf(fairslot.Invalid, "release policy: %s is out of range", name)
	}
	for _, r := range p.Rules {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	switch {
	case p.EntriesPerAccount < 1:
		return bad("entries_per_account (≥ 1)")
	case p.WinHold < fairslot.Duration(time.Minute), p.OfferHold < fairslot.Duration(time.Minute):
		return bad("win_hold/offer_hold (≥ 1m)")
	case p.WaitlistClosesAt < 0 || p.WaitlistClosesAt >= 24*60:
		return bad("waitlist_closes_at")
	case p.FreedDelayMin < 0 || p.FreedDelayMax < p.FreedDelayMin:
		return bad("freed_delay_min ≤ freed_delay_max")
	case p.CancelCooldown < 0 || p.RiskWindow < 0:
		return bad("cancel_cooldown/risk_window (≥ 0)")
	}
	return nil
}

// Validate reports the first setting of a rule that makes no sense, about
// its field (mode, window, jitter, reserved_priority, reserved_referral):
// the configuration file's rules and those admins store pass the same check.
func (r Rule) Validate() error {
	switch {
	case r.Mode != fairslot.FirstCome && r.Mode != fairslot.Draw:
		return fairslot.E(fairslot.Invalid, "error.rule.mode", "release policy: rule mode (first_come or draw) is out of range").On("mode")
	case r.Mode == fairslot.Draw && (r.Window < fairslot.Duration(time.Minute) || r.Window > fairslot.Duration(24*time.Hour)):
		return fairslot.E(fairslot.Invalid, "error.rule.window", "release policy: draw window (1m to 24h) is out of range").On("window")
	case r.Jitter < 0 || r.Jitter > fairslot.Duration(time.Hour):
		return fairslot.E(fairslot.Invalid, "error.rule.jitter", "release policy: jitter (0 to 1h) is out of range").On("jitter")
	case r.ReservedPriority < 0 || r.ReservedPriority > MaxReserved:
		return fairslot.E(fairslot.Invalid, "error.rule.reserved", "release policy: reserved quotas (0 to %d) are out of range", MaxReserved).On("reserved_priority")
	case r.ReservedReferral < 0 || r.ReservedReferral > MaxReserved:
		return fairslot.E(fairslot.Invalid, "error.rule.reserved", "release policy: reserved quotas (0 to %d) are out of range", MaxReserved).On("reserved_referral")
	}
	return nil
}

// MaxReserved bounds each reserved quota of a session: more than a
// session's slots is a typing error (a session has at most 50 slots a
// window, and the quotas take what there is).
const MaxReserved = 500

// Same reports whether two rules apply to the same sessions: the same
// doctor, or the same department, or both general.
func (r Rule) Same(o Rule) bool { return r.DoctorID == o.DoctorID && r.Department == o.Department }

// Override returns p with rules in place of its rules for the same
// doctor, department or all sessions, and the others added: the rules
// admins store over the configuration file's (p stays unchanged).
func (p Policy) Override(rules []Rule) Policy {
	out := slices.Clone(p.Rules)
	for _, r := range rules {
		if i := slices.IndexFunc(out, r.Same); i >= 0 {
			out[i] = r
		} else {
			out = append(out, r)
		}
	}
	p.Rules = out
	return p
}

// For returns the rule for a session of a doctor in the department with the
// given code: the doctor's rule, else the department's, else the general one,
// else first come.
func (p Policy) For(doctorID int64, department string) Rule {
	best, score := Rule{Mode: fairslot.FirstCome}, -1
	for _, r := range p.Rules {
		s := -1
		switch {
		case r.DoctorID != 0 && r.DoctorID == doctorID:
			s = 2
		case r.DoctorID == 0 && r.Department != "" && r.Department == department:
			s = 1
		case r.DoctorID == 0 && r.Department == "":
			s = 0
		}
		if s > score {
			best, score = r, s
		}
	}
	return best
}

// Plan decides a session's release from its rule and the booking policy's
// release time: the jitter is drawn once, here, and kept.
func (r Rule) Plan(sessionID int64, opens time.Time, rnd *rand.Rand) fairslot.Release {
	if r.Jitter > 0 {
		opens = opens.Add(time.Duration(rnd.Int64N(int64(r.Jitter)))).Truncate(time.Millisecond)
	}
	rel := fairslot.Release{SessionID: sessionID, Mode: r.Mode, Opens: opens}
	if r.Mode == fairslot.Draw {
		rel.EntryCloses = opens.Add(time.Duration(r.Window))
	}
	return rel
}

// Quotas gives the quota of each of n slots: the reserved ones spread evenly
// through the session, so that priority patients arriving at any hour find
// one, and the rest general.
func (r Rule) Quotas(n int) []fairslot.Quota {
	out := make([]fairslot.Quota, n)
	for i := range out {
		out[i] = fairslot.QuotaGeneral
	}
	reserve := func(k int, q fairslot.Quota) {
		for j := 1; j <= k; j++ {
			i := j * n / (k + 1)
			for i < n && out[i] != fairslot.QuotaGeneral {
				i++
			}
			if i < n {
				out[i] = q
			}
		}
	}
	reserve(min(r.ReservedPriority, n), fairslot.QuotaPriority)
	reserve(min(r.ReservedReferral, n), fairslot.QuotaReferral)
	return out
}

// CheckOnline reports whether a patient may take a place in the session
// first-come at now under its release: a draw session only after its draw.
func CheckOnline(now time.Time, rel fairslot.Release) error {
	if rel.Mode == fairslot.Draw && rel.Drawn.IsZero() {
		if now.Before(rel.EntryCloses) {
			return fairslot.E(fairslot.Conflict, "error.draw.enter_instead", "this session is released by a draw: enter it between %s and %s; entering early gives no advantage",
				rel.Opens.Format("2006-01-02 15:04"), rel.EntryCloses.Format("15:04")).With(rel.Opens, rel.EntryCloses)
		}
		return fairslot.E(fairslot.Conflict, "error.draw.running", "this session's draw is being run; what is left after it opens first come")
	}
	if now.Before(rel.Opens) {
		return fairslot.E(fairslot.Conflict, "error.booking.opens", "booking for this session opens at %s", rel.Opens.Format("2006-01-02 15:04:05 MST")).With(rel.Opens)
	}
	return nil
}

// CheckEntry reports whether a draw entry may be made at now.
func CheckEntry(now time.Time, rel fairslot.Release) error {
	switch {
	case rel.Mode != fairslot.Draw:
		return fairslot.E(fairslot.Conflict, "error.draw.none", "this session is not released by a draw; book it instead")
	case now.Before(rel.Opens):
		return fairslot.E(fairslot.Conflict, "error.draw.opens", "the draw's entry window opens at %s", rel.Opens.Format("2006-01-02 15:04 MST")).With(rel.Opens)
	case !now.Before(rel.EntryCloses) || !rel.Drawn.IsZero():
		return fairslot.E(fairslot.Conflict, "error.draw.closed", "the draw's entry window closed at %s", rel.EntryCloses.Format("2006-01-02 15:04 MST")).With(rel.EntryCloses)
	}
	return nil
}

// DrawDue reports whether a session's draw should run at now.
func DrawDue(now time.Time, rel fairslot.Release) bool {
	return rel.Mode == fairslot.Draw && rel.Drawn.IsZero() && !now.Before(rel.EntryCloses)
}

// WaitlistCloses is when the waitlists of a day's sessions close; day is
// any moment of that day in the hospital's zone (a session's Start).
func (p Policy) WaitlistCloses(day time.Time) time.Time {
	return p.WaitlistClosesAt.On(day.AddDate(0, 0, -1), day.Location())
}

// CheckJoin reports whether a patient may join a session's waitlist at now.
func (p Policy) CheckJoin(now time.Time, s fairslot.Session) error {
	if closes := p.WaitlistCloses(s.Start); !now.Before(closes) {
		return fairslot.E(fairslot.Conflict, "error.waitlist.closed", "the waitlist for this session closed at %s", closes.Format("2006-01-02 15:04")).With(closes)
	}
	return nil
}

// OfferDeadline is when a slot offered to a waitlisted patient at now must be
// paid: the offer time, never later than the session's start. ok is false
// when no offer can be made any more.
func (p Policy) OfferDeadline(now time.Time, s fairslot.Session) (time.Time, bool) {
	if !now.Before(p.WaitlistCloses(s.Start)) {
		return time.Time{}, false
	}
	return earliest(now.Add(time.Duration(p.OfferHold)), s.Start), now.Before(s.Start)
}

// WinDeadline is when a draw winner must have paid.
func (p Policy) WinDeadline(now time.Time, s fairslot.Session) time.Time {
	return earliest(now.Add(time.Duration(p.WinHold)), s.End)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// FreedDelay is how long a freed slot nobody waits for stays back before it
// can be booked first come again.
func (p Policy) FreedDelay(rnd *rand.Rand) time.Duration {
	lo, hi := int64(p.FreedDelayMin), int64(p.FreedDelayMax)
	if hi <= lo {
		return time.Duration(lo)
	}
	return time.Duration(lo + rnd.Int64N(hi-lo+1))
}

// Cancellation is a recent cancellation in a session: who cancelled, from
// which device and address (as keyed hashes).
type Cancellation struct {
	AccountID    int64
	Device, Addr string
	At           time.Time
}

// Who is who asks for a place: account, device and address prefix (keyed
// hashes, empty when unknown).
type Who struct {
	AccountID    int64
	Device, Addr string
}

// CheckRebook looks at the session's recent cancellations before a booking
// or entry by who at now. refuse is a Limited error while the same account's
// cool-down runs; risks names each match within the risk window (account,
// device, address) to be recorded as a risk event whether or not refused.
func (p Policy) CheckRebook(now time.Time, cs []Cancellation, who Who) (refuse error, risks []string) {
	seen := map[string]bool{}
	for _, c := range cs {
		age := now.Sub(c.At)
		if age < 0 {
			continue
		}
		if c.AccountID == who.AccountID && age < time.Duration(p.CancelCooldown) && refuse == nil {
			refuse = fairslot.E(fairslot.Limited, "error.booking.cooldown", "this account cancelled a booking of this session at %s; it may not take a place in it again until %s",
				c.At.Format("2006-01-02 15:04"), c.At.Add(time.Duration(p.CancelCooldown)).Format("2006-01-02 15:04")).With(c.At, c.At.Add(time.Duration(p.CancelCooldown)))
		}
		if age >= time.Duration(p.RiskWindow) {
			continue
		}
		for kind, same := range map[string]bool{
			"account": c.AccountID == who.AccountID,
			"device":  c.Device != "" && c.Device == who.Device,
			"address": c.Addr != "" && c.Addr == who.Addr,
		} {
			if same && !seen[kind] {
				seen[kind] = true
				risks = append(risks, kind)
			}
		}
	}
	slices.Sort(risks)
	return refuse, risks
}
