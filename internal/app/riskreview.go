package app

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/risk"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// The risk review (issue 17 items 2 and 3). Staff with fairslot.ActRisk —
// the security role and admins, no one else — see the accounts the risk
// rules hold or block (and those that asked for review), each with its
// signals' masked evidence and the accounts linked to it by a device, an
// address prefix or a payer, and decide: approve, restrict or block, with
// a reason, one account or a linked cluster at once. A patient sees their
// own account's action explained, never another account's evidence, and
// may ask for a review once at a time.
//
// These use cases live here rather than in a package of their own because
// a decision is one transaction with what only the Service holds: the
// audit record (record), the vault for the appeal's sealed text, the
// outbox that tells the patient (tellAccount) and the release of held
// entries — all unexported, and all of it must commit or fail together.

// RiskMonitor is what the review needs of the risk monitor
// (internal/riskwatch.Monitor): its live decision of an account, the
// accounts linked to it, and a fresh decision after a review.
type RiskMonitor interface {
	Decision(accountID int64) risk.Decision
	Linked(accountID int64) []risk.Link
	Refresh(ctx context.Context, accountID int64) error
	// Nudge tells it, never waiting, that a use case committed risk
	// events, so that scores follow at once rather than at its next poll.
	Nudge()
	// UsedFrom reports whether the account was seen used from the device
	// of this keyed hash (clientHash "device") within the device window.
	UsedFrom(accountID int64, device string) bool
}

// Review bounds.
const (
	riskReasonMin, riskReasonMax = 2, 500
	// RiskClusterMax is the most accounts one decision takes.
	RiskClusterMax = 100
	// riskQueueMax is the most accounts the queue lists.
	riskQueueMax = 500
	// An appeal's text, in characters.
	riskAppealMin, riskAppealMax = 10, 1000
	// riskAppeals appeals per riskAppealWindow per account at most.
	riskAppeals      = 3
	riskAppealWindow = 30 * 24 * time.Hour
)

// RiskSignal is one reason of an account's score, for a page to show in
// its reader's language: Key and Args make the message (risk.signal.*),
// Text is the English. Args is nil when only the stored English is known
// (the monitor no longer has the account in memory); a page shows Text.
// Evidence, already masked, is for reviewers only.
type RiskSignal struct {
	Key      string   `json:"key"`
	Args     []any    `json:"args,omitempty"`
	Text     string   `json:"text"`
	Weight   int      `json:"weight,omitempty"`
	Evidence []string `json:"evidence,omitempty"`
}

// riskState is an account's decision as the review shows it: the monitor's
// live one where it knows the account, else the stored row's.
type riskState struct {
	Action   string
	Score    int
	Reviewed bool
	Since    map[string]time.Time
	Updated  time.Time
	Signals  []RiskSignal
	stored   bool // a risk_accounts row exists
	row      storage.RiskAccount
}

// riskState reads an account's decision in tx.
func (s *Service) riskState(ctx context.Context, tx storage.Tx, accountID int64) (riskState, error) {
	st := riskState{Action: risk.Allow.String()}
	row, err := tx.RiskAccount(ctx, accountID)
	switch {
	case err == nil:
		st.stored, st.row = true, row
		st.Action, st.Score, st.Reviewed, st.Since, st.Updated = row.Action, row.Score, row.Reviewed, row.Since, row.UpdatedAt
		for i, text := range row.Reasons {
			sig := RiskSignal{Text: text}
			if i < len(row.Keys) {
				sig.Key = row.Keys[i]
			}
			st.Signals = append(st.Signals, sig)
		}
	case fairslot.ErrorKind(err) != fairslot.NotFound:
		return st, err
	}
	if s.Risk != nil {
		d := s.Risk.Decision(accountID)
		if d.Score.Total > 0 || d.Reviewed || d.Action != risk.Allow {
			st.Action, st.Score, st.Reviewed = d.Action.String(), d.Score.Total, d.Reviewed
			st.Signals = st.Signals[:0]
			for _, r := range d.Score.Reasons {
				st.Signals = append(st.Signals, RiskSignal{Key: r.Key(), Args: r.Params, Text: r.String(), Weight: r.Weight, Evidence: r.Evidence})
			}
		}
	}
	if st.Signals == nil {
		st.Signals = []RiskSignal{}
	}
	return st, nil
}

func (st riskState) since() time.Time { return st.Since[st.Action] }

// RiskQueueItem is one account in the review queue: no personal data, the
// account's number only.
type RiskQueueItem struct {
	AccountID int64     `json:"account_id"`
	Action    string    `json:"action"`
	Score     int       `json:"score"`
	Reviewed  bool      `json:"reviewed"`
	Since     time.Time `json:"since,omitzero"` // when the account first reached its action
	Updated   time.Time `json:"updated,omitzero"`
	// Top is the heaviest signal.
	Top RiskSignal `json:"top"`
	// Appeal is when the account asked for review, if it waits for an answer.
	Appeal time.Time `json:"appeal,omitzero"`
	Linked int       `json:"linked"` // accounts linked to it
}

// RiskQueueOptions widen the queue: by default it lists the accounts held
// or blocked and those that asked for review.
type RiskQueueOptions struct {
	Milder bool // also the accounts challenged or limited
}

// RiskQueue lists the accounts to review, worst first: blocked, then held
// (then limited and challenged, with Milder), an open appeal before none,
// then the highest score, then the most recent.
func (s *Service) RiskQueue(ctx context.Context, a Actor, opt RiskQueueOptions) ([]RiskQueueItem, error) {
	if err := s.requireStaff(a, fairslot.ActRisk); err != nil {
		return nil, err
	}
	min := risk.Hold.String()
	if opt.Milder {
		min = risk.Challenge.String()
	}
	out := []RiskQueueItem{}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		rows, err := tx.RiskAccounts(ctx, min, riskQueueMax)
		if err != nil {
			return err
		}
		appeals, err := tx.OpenRiskAppeals(ctx, riskQueueMax)
		if err != nil {
			return err
		}
		waiting := map[int64]time.Time{}
		for _, ap := range appeals {
			waiting[ap.AccountID] = ap.CreatedAt
		}
		seen := map[int64]bool{}
		add := func(id int64) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			st, err := s.riskState(ctx, tx, id)
			if err != nil {
				return err
			}
			it := RiskQueueItem{AccountID: id, Action: st.Action, Score: st.Score, Reviewed: st.Reviewed, Since: st.since(),
				Updated: st.Updated, Appeal: waiting[id]}
			if len(st.Signals) > 0 {
				it.Top = st.Signals[0]
				it.Top.Evidence = nil
			}
			if s.Risk != nil {
				it.Linked = len(clusterOf(id, s.Risk.Linked(id))) - 1
			}
			out = append(out, it)
			return nil
		}
		for _, r := range rows {
			if err := add(r.AccountID); err != nil {
				return err
			}
		}
		for _, ap := range appeals {
			if err := add(ap.AccountID); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortStableFunc(out, func(x, y RiskQueueItem) int {
		return cmp.Or(
			cmp.Compare(storage.RiskLevel(y.Action), storage.RiskLevel(x.Action)),
			cmp.Compare(boolInt(!y.Appeal.IsZero()), boolInt(!x.Appeal.IsZero())),
			cmp.Compare(y.Score, x.Score),
			y.Updated.Compare(x.Updated),
			cmp.Compare(x.AccountID, y.AccountID))
	})
	return out, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clusterOf is an account and the distinct accounts linked to it, the
// account first, then by number.
func clusterOf(id int64, links []risk.Link) []int64 {
	out := []int64{}
	for _, l := range links {
		if l.Account != id && l.Account > 0 {
			out = append(out, l.Account)
		}
	}
	slices.Sort(out)
	return append([]int64{id}, slices.Compact(out)...)
}

// RiskLinkView is an account linked to the one under review, with what it
// shares (masked) and its own action: together they are the cluster a bulk
// decision takes.
type RiskLinkView struct {
	AccountID int64  `json:"account_id"`
	Via       string `json:"via"`    // "device", "prefix", "payer", "identity"
	Masked    string `json:"masked"` // the first four characters of the shared id
	Action    string `json:"action"`
	Score     int    `json:"score"`
	Reviewed  bool   `json:"reviewed"`
}

// RiskReviewView is one past decision.
type RiskReviewView struct {
	Action  string    `json:"action"` // allow, limit, block
	Saw     int       `json:"saw"`
	Reason  string    `json:"reason"`
	StaffID int64     `json:"staff_id"`
	At      time.Time `json:"at"`
}

// RiskAppealView is a request for review. Text is the patient's own words,
// shown to the reviewers it was written to and to the patient.
type RiskAppealView struct {
	ID         int64     `json:"id"`
	Text       string    `json:"text"`
	At         time.Time `json:"at"`
	Status     string    `json:"status"` // open, answered
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// Outcome is the answer's action (allow, limit, block), once answered.
	Outcome string `json:"outcome,omitempty"`
	// Erased: the retention purge erased the text of this answered appeal.
	Erased bool `json:"erased,omitempty"`
}

// RiskDetailView is an account under review: its decision, its signals
// with their masked evidence, the accounts linked to it, its past
// decisions and its appeals. It holds no name, phone or identity number of
// the account or its patients: the review judges behaviour, not people.
type RiskDetailView struct {
	AccountID int64                `json:"account_id"`
	Action    string               `json:"action"`
	Score     int                  `json:"score"`
	Reviewed  bool                 `json:"reviewed"`
	Since     map[string]time.Time `json:"since"`
	Updated   time.Time            `json:"updated,omitzero"`
	Signals   []RiskSignal         `json:"signals"`
	Linked    []RiskLinkView       `json:"linked"`
	Cluster   []int64              `json:"cluster"` // the account and those linked to it
	Reviews   []RiskReviewView     `json:"reviews"`
	Appeals   []RiskAppealView     `json:"appeals"`
}

// RiskAccountDetail is an account for review. Opening it is recorded: the
// appeals' text is a patient's own words.
func (s *Service) RiskAccountDetail(ctx context.Context, a Actor, accountID int64) (RiskDetailView, error) {
	if err := s.requireStaff(a, fairslot.ActRisk); err != nil {
		return RiskDetailView{}, err
	}
	var v RiskDetailView
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		st, err := s.riskState(ctx, tx, accountID)
		if err != nil {
			return err
		}
		appeals, err := tx.RiskAppealsOf(ctx, accountID, 20)
		if err != nil {
			return err
		}
		if !st.stored && len(appeals) == 0 && (s.Risk == nil || st.Score == 0) {
			return errNoRiskAccount(accountID)
		}
		v = RiskDetailView{AccountID: accountID, Action: st.Action, Score: st.Score, Reviewed: st.Reviewed,
			Since: st.Since, Updated: st.Updated, Signals: st.Signals,
			Linked: []RiskLinkView{}, Cluster: []int64{accountID}, Reviews: []RiskReviewView{}}
		if v.Since == nil {
			v.Since = map[string]time.Time{}
		}
		if s.Risk != nil {
			links := s.Risk.Linked(accountID)
			for _, l := range links {
				if l.Account == accountID {
					continue
				}
				ls, err := s.riskState(ctx, tx, l.Account)
				if err != nil {
					return err
				}
				v.Linked = append(v.Linked, RiskLinkView{AccountID: l.Account, Via: l.Via, Masked: strings.TrimSuffix(l.Masked, "…"),
					Action: ls.Action, Score: ls.Score, Reviewed: ls.Reviewed})
			}
			v.Cluster = clusterOf(accountID, links)
		}
		reviews, err := tx.RiskReviewsOf(ctx, accountID, 20)
		if err != nil {
			return err
		}
		for _, r := range reviews {
			v.Reviews = append(v.Reviews, RiskReviewView{Action: r.Action, Saw: r.Saw, Reason: r.Reason, StaffID: r.StaffID, At: r.At})
		}
		if v.Appeals, err = s.appealViews(ctx, tx, appeals); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "risk.view", fmt.Sprintf("account:%d", accountID),
			map[string]string{"appeals": fmt.Sprint(len(appeals))})
	})
	return v, err
}

func errNoRiskAccount(id int64) error {
	return fairslot.E(fairslot.NotFound, "error.risk.no_account", "account %d has no risk decision to review", id)
}

// riskAppealField is where an appeal's text is sealed.
func riskAppealField(ref string) vault.Field {
	return vault.Field{Table: "risk_appeals", Row: ref, Column: "text"}
}

// appealViews opens appeals for their account or its reviewers.
func (s *Service) appealViews(ctx context.Context, tx storage.Tx, appeals []storage.RiskAppeal) ([]RiskAppealView, error) {
	out := []RiskAppealView{}
	for _, ap := range appeals {
		v := RiskAppealView{ID: ap.ID, At: ap.CreatedAt, Status: ap.Status, AnsweredAt: ap.AnsweredAt}
		if len(ap.TextSealed) == 0 {
			v.Erased = true // the retention purge (rights.go)
		} else {
			text, err := s.Vault.Open(riskAppealField(ap.Ref), ap.TextSealed)
			if err != nil {
				return nil, err
			}
			v.Text = text
		}
		if ap.ReviewID != 0 {
			rs, err := tx.RiskReviewsOf(ctx, ap.AccountID, 50)
			if err != nil {
				return nil, err
			}
			if i := slices.IndexFunc(rs, func(r storage.RiskReview) bool { return r.ID == ap.ReviewID }); i >= 0 {
				v.Outcome = rs[i].Action
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// ReviewInput is a reviewer's decision on one account or a cluster.
type ReviewInput struct {
	Accounts []int64 `json:"accounts"`
	Action   string  `json:"action"` // approve, restrict, block
	Reason   string  `json:"reason"`
}

// reviewActions maps a reviewer's choice to the action it sets.
var reviewActions = map[string]risk.Action{"approve": risk.Allow, "restrict": risk.Limit, "block": risk.Block}

// ReviewedAccount is what a decision did to one account.
type ReviewedAccount struct {
	AccountID int64  `json:"account_id"`
	Action    string `json:"action"` // allow, limit, block
	Was       string `json:"was"`
	Saw       int    `json:"saw"`
	Released  int    `json:"released"` // held draw entries given back their chance
	Answered  bool   `json:"answered"` // an open appeal was answered
}

// ReviewResult is what a decision did.
type ReviewResult struct {
	Accounts []ReviewedAccount `json:"accounts"`
}

// ReviewRisk records a reviewer's decision on each account (all or none):
// approve lets it act freely and releases its held entries, restrict
// limits it, block refuses it. The reason is required and audited with
// the decision; the account's open appeal is answered and the patient told.
func (s *Service) ReviewRisk(ctx context.Context, a Actor, in ReviewInput) (ReviewResult, error) {
	if err := s.requireStaff(a, fairslot.ActRisk); err != nil {
		return ReviewResult{}, err
	}
	act, ok := reviewActions[in.Action]
	if !ok {
		return ReviewResult{}, fairslot.E(fairslot.Invalid, "error.risk.action", "choose approve, restrict or block").On("action")
	}
	reason := strings.TrimSpace(in.Reason)
	if n := len([]rune(reason)); n < riskReasonMin || n > riskReasonMax {
		return ReviewResult{}, fairslot.E(fairslot.Invalid, "error.risk.reason", "a decision needs a reason of %d to %d characters",
			riskReasonMin, riskReasonMax).On("reason")
	}
	ids := slices.Clone(in.Accounts)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 || len(ids) > RiskClusterMax || ids[0] <= 0 {
		return ReviewResult{}, fairslot.E(fairslot.Invalid, "error.risk.accounts", "choose 1 to %d accounts", RiskClusterMax).On("accounts")
	}
	now := s.now()
	res := ReviewResult{Accounts: []ReviewedAccount{}}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		res.Accounts = res.Accounts[:0]
		for _, id := range ids {
			if _, err := tx.RiskAccount(ctx, id); fairslot.ErrorKind(err) == fairslot.NotFound {
				return errNoRiskAccount(id)
			} else if err != nil {
				return err
			}
		}
		if !s.oneCluster(ids) {
			return errRiskCluster
		}
		if s.ownDevice(a, ids) {
			return errRiskOwnDevice
		}
		for _, id := range ids {
			st, err := s.riskState(ctx, tx, id)
			if err != nil {
				return err
			}
			if !st.stored {
				return errNoRiskAccount(id)
			}
			rev := storage.RiskReview{AccountID: id, Action: act.String(), Saw: st.Score, Reason: reason, StaffID: a.ID, At: now}
			if err := tx.AppendRiskReview(ctx, &rev); err != nil {
				return err
			}
			row := st.row
			row.Action, row.Reviewed, row.UpdatedAt = act.String(), true, now
			row.Since = maps.Clone(row.Since)
			if row.Since == nil {
				row.Since = map[string]time.Time{}
			}
			if act != risk.Allow {
				if _, ok := row.Since[act.String()]; !ok {
					row.Since[act.String()] = now
				}
			}
			if err := tx.PutRiskAccount(ctx, row); err != nil {
				return err
			}
			done := ReviewedAccount{AccountID: id, Action: act.String(), Was: st.Action, Saw: st.Score}
			if act == risk.Allow {
				if done.Released, err = s.ReleaseHeldEntries(ctx, tx, id); err != nil {
					return err
				}
			}
			if done.Answered, err = tx.AnswerRiskAppeal(ctx, id, rev.ID, now); err != nil {
				return err
			}
			detail := map[string]string{"action": act.String(), "was": st.Action, "saw": fmt.Sprint(st.Score), "reason": reason,
				"released": fmt.Sprint(done.Released), "answered": fmt.Sprint(done.Answered)}
			if len(ids) > 1 {
				detail["cluster"] = fmt.Sprint(len(ids))
			}
			if err := s.record(ctx, tx, a, "risk.review", fmt.Sprintf("account:%d", id), detail); err != nil {
				return err
			}
			if err := s.tellAccount(ctx, tx, id, notify.Body{Key: riskOutcomeKeys[act]}); err != nil {
				return err
			}
			res.Accounts = append(res.Accounts, done)
		}
		return nil
	})
	if err != nil {
		return ReviewResult{}, err
	}
	s.wakeOutbox()
	if s.Risk != nil {
		// The decision is committed; the monitor re-decides from it. A
		// failure here leaves the monitor's memory behind until its next
		// event for the account, never the stored decision.
		for _, id := range ids {
			if err := s.Risk.Refresh(ctx, id); err != nil {
				s.Log.Warn("risk: refresh after a review failed", "account", id, "err", err)
			}
		}
	}
	return res, nil
}

// errRiskCluster refuses a decision on several accounts that are not one
// account's linked cluster.
var errRiskCluster = fairslot.E(fairslot.Invalid, "error.risk.cluster",
	"a decision on several accounts takes only one account's linked cluster; decide the others one by one").On("accounts")

// oneCluster reports whether ids are one account's linked cluster (or
// part of it), as the monitor links them now: a bulk decision is for the
// accounts one farm shares devices, prefixes, payers or identities across,
// not a way to decide a hundred unrelated accounts with one click and one
// reason. Without a monitor no links are known, and only one account at a
// time is decided.
func (s *Service) oneCluster(ids []int64) bool {
	if len(ids) < 2 {
		return true
	}
	if s.Risk == nil {
		return false
	}
	for _, id := range ids {
		cluster := clusterOf(id, s.Risk.Linked(id))
		if !slices.ContainsFunc(ids, func(x int64) bool { return !slices.Contains(cluster, x) }) {
			return true
		}
	}
	return false
}

// errRiskOwnDevice refuses a reviewer a decision on an account used from
// the device they decide from.
var errRiskOwnDevice = fairslot.E(fairslot.Forbidden, "error.risk.own_device",
	"an account used from the device you are reviewing from is decided by another reviewer").On("accounts")

// ownDevice reports whether any of ids was used from the reviewer's own
// device, as the monitor saw it: staff have no patient accounts in
// fairslot, but a reviewer may have one on their own phone (or log a
// friend's in on it), and approving it is not theirs to do.
func (s *Service) ownDevice(a Actor, ids []int64) bool {
	h := s.clientHash("device", a.Device)
	if s.Risk == nil || h == "" {
		return false
	}
	return slices.ContainsFunc(ids, func(id int64) bool { return s.Risk.UsedFrom(id, h) })
}

// riskOutcomeKeys are the messages that tell a patient a reviewer's
// decision on their account.
var riskOutcomeKeys = map[risk.Action]string{risk.Allow: notify.KeyRiskApproved, risk.Limit: notify.KeyRiskRestricted, risk.Block: notify.KeyRiskBlocked}

// MyRiskView is the signed-in account's own risk decision, explained: the
// action's message (risk.action.*) and its own signals' (risk.signal.*),
// without evidence — what is shared with other accounts is not theirs to
// see — and its requests for review.
type MyRiskView struct {
	Action    string           `json:"action"`
	Key       string           `json:"key"`
	Reviewed  bool             `json:"reviewed"`
	Since     time.Time        `json:"since,omitzero"`
	Signals   []RiskSignal     `json:"signals"`
	Appeals   []RiskAppealView `json:"appeals"`
	CanAppeal bool             `json:"can_appeal"`
	// Why is the message key of why the account may not ask for a review
	// now, when it may not.
	Why string `json:"why,omitempty"`
}

// MyRisk is the caller's own account's risk decision.
func (s *Service) MyRisk(ctx context.Context, a Actor) (MyRiskView, error) {
	if err := s.requireAccount(a); err != nil {
		return MyRiskView{}, err
	}
	var v MyRiskView
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		st, err := s.riskState(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		v = MyRiskView{Action: st.Action, Key: "risk.action." + st.Action, Reviewed: st.Reviewed, Since: st.since(), Signals: []RiskSignal{}}
		for _, sig := range st.Signals {
			// Only what can be said in the patient's language: a reason
			// known only as the stored English (the monitor has forgotten
			// the account) is left to the reviewer.
			if sig.Args == nil {
				continue
			}
			sig.Evidence, sig.Weight = nil, 0
			v.Signals = append(v.Signals, sig)
		}
		appeals, err := tx.RiskAppealsOf(ctx, a.ID, riskAppeals)
		if err != nil {
			return err
		}
		if v.Appeals, err = s.appealViews(ctx, tx, appeals); err != nil {
			return err
		}
		if why := s.appealRefusal(st, appeals, s.now()); why != nil {
			v.Why, _ = fairslot.ErrorKey(why)
		} else {
			v.CanAppeal = true
		}
		return nil
	})
	return v, err
}

// appealRefusal is why an account may not ask for a review now, or nil.
func (s *Service) appealRefusal(st riskState, recent []storage.RiskAppeal, now time.Time) error {
	if st.Action == risk.Allow.String() {
		return fairslot.E(fairslot.Conflict, "error.risk.appeal.nothing", "your account is not restricted: there is nothing to review")
	}
	if len(recent) > 0 && recent[0].Status == storage.RiskAppealOpen {
		return fairslot.E(fairslot.Conflict, "error.risk.appeal.open", "your request for review is waiting for an answer")
	}
	n := 0
	for _, ap := range recent {
		if now.Sub(ap.CreatedAt) < riskAppealWindow {
			n++
		}
	}
	if n >= riskAppeals {
		return fairslot.E(fairslot.Limited, "error.risk.appeal.limited", "you may ask for review %d times in %d days", riskAppeals, int(riskAppealWindow.Hours()/24))
	}
	return nil
}

// AskRiskReview asks the reviewers to look at the caller's account again,
// with the patient's own words (sealed; they may name a condition or a
// person). One request waits at a time, and at most a few a month.
func (s *Service) AskRiskReview(ctx context.Context, a Actor, text string) (RiskAppealView, error) {
	if err := s.requireAccount(a); err != nil {
		return RiskAppealView{}, err
	}
	text = strings.TrimSpace(text)
	if n := len([]rune(text)); n < riskAppealMin || n > riskAppealMax {
		return RiskAppealView{}, fairslot.E(fairslot.Invalid, "error.risk.appeal.length", "describe your situation in %d to %d characters",
			riskAppealMin, riskAppealMax).On("text")
	}
	now := s.now()
	ap := storage.RiskAppeal{Ref: newRef(), AccountID: a.ID, CreatedAt: now}
	sealed, err := s.Vault.Seal(riskAppealField(ap.Ref), text)
	if err != nil {
		return RiskAppealView{}, err
	}
	ap.TextSealed = sealed
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		st, err := s.riskState(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		recent, err := tx.RiskAppealsOf(ctx, a.ID, riskAppeals)
		if err != nil {
			return err
		}
		if err := s.appealRefusal(st, recent, now); err != nil {
			return err
		}
		if err := tx.InsertRiskAppeal(ctx, &ap); err != nil {
			if fairslot.ErrorKind(err) == fairslot.Conflict {
				return s.appealRefusal(st, []storage.RiskAppeal{{Status: storage.RiskAppealOpen}}, now)
			}
			return err
		}
		return s.record(ctx, tx, a, "risk.appeal", fmt.Sprintf("account:%d", a.ID),
			map[string]string{"action": st.Action, "text": "sealed"})
	})
	if err != nil {
		return RiskAppealView{}, err
	}
	return RiskAppealView{ID: ap.ID, Text: text, At: ap.CreatedAt, Status: ap.Status}, nil
}

// LatestRiskReview is an account's standing reviewer's decision as the
// risk policy takes it (risk.Policy.Decide), nil when none: the monitor's
// riskwatch.Config.Reviews.
func LatestRiskReview(ctx context.Context, tx storage.Tx, accountID int64) (*risk.Review, error) {
	r, ok, err := tx.LatestRiskReview(ctx, accountID)
	if err != nil || !ok {
		return nil, err
	}
	for a := risk.Allow; a <= risk.Block; a++ {
		if a.String() == r.Action {
			return &risk.Review{Action: a, Saw: r.Saw}, nil
		}
	}
	return nil, fmt.Errorf("risk review %d of account %d: unknown action %q", r.ID, accountID, r.Action)
}
