package storage

import (
	"context"
	"time"
)

// RiskAccount is an account's current risk decision, one row per account
// flagged at least once (issue 17). The reasons are the risk package's
// explanations, already masked: no name, no identity number.
type RiskAccount struct {
	AccountID int64
	Action    string   // "allow", "challenge", "limit", "hold", "block" (risk.Action.String())
	Score     int      // never negative
	Reasons   []string // English explanations, heaviest first (risk.Reason.String())
	Keys      []string // message keys of the reasons, same order (risk.Reason.Key())
	Reviewed  bool     // the action is a reviewer's, not the score's
	// Since is when each action was first reached: "challenge", "limit",
	// "hold", "block". A put keeps the earliest time per action.
	Since     map[string]time.Time
	UpdatedAt time.Time
}

// RiskActions are the actions a RiskAccount may carry, mildest first: the
// order RiskAccounts' min compares in.
var RiskActions = []string{"allow", "challenge", "limit", "hold", "block"}

// RiskLevel is an action's place in RiskActions, -1 when it is none.
func RiskLevel(action string) int {
	for i, a := range RiskActions {
		if a == action {
			return i
		}
	}
	return -1
}

// RiskDecisions are the storage of risk decisions and of the draw entries
// they hold for review.
type RiskDecisions interface {
	// PutRiskAccount inserts or replaces an account's decision, keeping the
	// earliest Since of each action across puts (a later put cannot move
	// when an account was first held). An unknown action is an error.
	PutRiskAccount(ctx context.Context, r RiskAccount) error
	// RiskAccount returns an account's decision: NotFound when none.
	RiskAccount(ctx context.Context, accountID int64) (RiskAccount, error)
	// RiskAccounts lists up to limit decisions whose action is min or
	// worse, the worst first, then the most recently updated.
	RiskAccounts(ctx context.Context, min string, limit int) ([]RiskAccount, error)
	// ReleaseHeldEntries un-holds the account's held draw entries whose
	// entry window is still open at now and whose draw has not run, so
	// they take part in the draw; entries of a closed window stay out. It
	// returns how many it released.
	ReleaseHeldEntries(ctx context.Context, accountID int64, now time.Time) (int, error)
	// RiskEventStart is the id to read risk events after (RiskEvents) so
	// as to read every one made at or after since: the monitor's replay
	// starts there rather than at the first event ever recorded.
	RiskEventStart(ctx context.Context, since time.Time) (afterID int64, err error)
}

// The kinds of the risk events the use cases append, one per thing an
// account did (issue 17), besides "rebook_after_cancel". Their Detail
// carries only opaque ids: "patient" (the identity's blind index, hex),
// "device" and "prefix" (keyed hashes of the client's device and address
// prefix, absent when the request came through a FHIR client or a desk),
// "doctor" (an id), "release" (RFC 3339) and "payer" (a keyed hash).
const (
	RiskBind   = "bind"
	RiskUnbind = "unbind"
	RiskBook   = "book"
	RiskEnter  = "enter"
	RiskCancel = "cancel"
	RiskPay    = "pay"
)
