package storage

import (
	"context"
	"time"
)

// RiskReview is a reviewer's decision on a flagged account (issue 17 item
// 3): the action they chose, the score they saw and why. Rows are only
// added; the latest for an account is its standing decision.
type RiskReview struct {
	ID        int64
	AccountID int64
	Action    string // "allow" (approve), "limit" (restrict), "block"
	Saw       int    // the score the reviewer saw
	Reason    string // the reviewer's, about the account's behaviour
	StaffID   int64
	At        time.Time
}

// RiskReviewActions are the actions a reviewer may choose, as the
// database's CHECK spells them.
var RiskReviewActions = []string{"allow", "limit", "block"}

// RiskAppeal is a patient's request that their account's risk decision be
// reviewed. The text is the patient's own words and may name a condition
// or a person: it crosses this boundary sealed (SealedColumns), and is
// empty once the retention purge erased it.
type RiskAppeal struct {
	ID         int64
	Ref        string // the sealed text's row in its associated data
	AccountID  int64
	TextSealed []byte
	CreatedAt  time.Time
	Status     string    // RiskAppealOpen or RiskAppealAnswered
	AnsweredAt time.Time // zero while open
	ReviewID   int64     // the review that answered it; 0 while open
}

// Where an appeal stands.
const (
	RiskAppealOpen     = "open"
	RiskAppealAnswered = "answered"
)

// RiskReviews are the reviewers' decisions and the patients' appeals. The
// database keeps both: reviews are append-only, an account has at most one
// open appeal (InsertRiskAppeal: Conflict), and an appeal only moves from
// open to answered.
type RiskReviews interface {
	// AppendRiskReview stores r and sets its ID.
	AppendRiskReview(ctx context.Context, r *RiskReview) error
	// LatestRiskReview is the account's latest review; false when none.
	LatestRiskReview(ctx context.Context, accountID int64) (RiskReview, bool, error)
	// RiskReviewsOf lists up to limit of an account's reviews, newest first.
	RiskReviewsOf(ctx context.Context, accountID int64, limit int) ([]RiskReview, error)
	// InsertRiskAppeal stores an open appeal and sets its ID: a Conflict
	// when the account already has an open one.
	InsertRiskAppeal(ctx context.Context, a *RiskAppeal) error
	// RiskAppealsOf lists up to limit of an account's appeals, newest first.
	RiskAppealsOf(ctx context.Context, accountID int64, limit int) ([]RiskAppeal, error)
	// OpenRiskAppeals lists up to limit open appeals, oldest first.
	OpenRiskAppeals(ctx context.Context, limit int) ([]RiskAppeal, error)
	// AnswerRiskAppeal marks the account's open appeal answered by review
	// reviewID at at, and reports whether there was one.
	AnswerRiskAppeal(ctx context.Context, accountID, reviewID int64, at time.Time) (bool, error)
	// PurgeRiskAppeals erases the sealed text of the appeals answered
	// before cutoff (the retention purge) and returns how many: the
	// appeal, its times and its answer stay. On PostgreSQL only the owner
	// and the rekey role may, as with the other purges.
	PurgeRiskAppeals(ctx context.Context, cutoff time.Time) (int, error)
}
