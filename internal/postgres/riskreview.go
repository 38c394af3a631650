package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const riskReviewQuery = `SELECT id, account_id, action, saw, reason, staff_id, at_ms FROM risk_reviews`

func (t *tx) scanRiskReview(r pgx.Row) (storage.RiskReview, error) {
	var v storage.RiskReview
	var at int64
	err := r.Scan(&v.ID, &v.AccountID, &v.Action, &v.Saw, &v.Reason, &v.StaffID, &at)
	v.At = t.at(at)
	return v, err
}

func (t *tx) AppendRiskReview(ctx context.Context, r *storage.RiskReview) error {
	r.At = r.At.Truncate(time.Millisecond)
	id, err := t.id(ctx, `INSERT INTO risk_reviews (account_id, action, saw, reason, staff_id, at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		r.AccountID, r.Action, r.Saw, r.Reason, r.StaffID, ms(r.At))
	if err != nil {
		return err
	}
	r.ID = id
	return nil
}

func (t *tx) LatestRiskReview(ctx context.Context, accountID int64) (storage.RiskReview, bool, error) {
	v, err := t.scanRiskReview(t.tx.QueryRow(ctx, riskReviewQuery+` WHERE account_id = $1 ORDER BY id DESC LIMIT 1`, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.RiskReview{}, false, nil
	}
	return v, err == nil, err
}

func (t *tx) RiskReviewsOf(ctx context.Context, accountID int64, limit int) ([]storage.RiskReview, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.RiskReview, error) { return t.scanRiskReview(r) },
		riskReviewQuery+` WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
}

const riskAppealQuery = `SELECT id, ref, account_id, text_sealed, created_ms, status, answered_ms, review_id FROM risk_appeals`

func (t *tx) scanRiskAppeal(r pgx.Row) (storage.RiskAppeal, error) {
	var a storage.RiskAppeal
	var created int64
	var answered, review *int64
	err := r.Scan(&a.ID, &a.Ref, &a.AccountID, &a.TextSealed, &created, &a.Status, &answered, &review)
	a.CreatedAt, a.AnsweredAt = t.at(created), t.atNull(answered)
	if review != nil {
		a.ReviewID = *review
	}
	return a, err
}

func (t *tx) InsertRiskAppeal(ctx context.Context, a *storage.RiskAppeal) error {
	a.CreatedAt = a.CreatedAt.Truncate(time.Millisecond)
	id, err := t.id(ctx, `INSERT INTO risk_appeals (ref, account_id, text_sealed, created_ms) VALUES ($1, $2, $3, $4) RETURNING id`,
		a.Ref, a.AccountID, a.TextSealed, ms(a.CreatedAt))
	if isUnique(err, "risk_appeals_one_open") {
		return fairslot.Errorf(fairslot.Conflict, "the account already has an open appeal")
	}
	if err != nil {
		return err
	}
	a.ID, a.Status, a.AnsweredAt, a.ReviewID = id, storage.RiskAppealOpen, time.Time{}, 0
	return nil
}

func (t *tx) RiskAppealsOf(ctx context.Context, accountID int64, limit int) ([]storage.RiskAppeal, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.RiskAppeal, error) { return t.scanRiskAppeal(r) },
		riskAppealQuery+` WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
}

func (t *tx) OpenRiskAppeals(ctx context.Context, limit int) ([]storage.RiskAppeal, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.RiskAppeal, error) { return t.scanRiskAppeal(r) },
		riskAppealQuery+` WHERE status = 'open' ORDER BY id LIMIT $1`, limit)
}

func (t *tx) AnswerRiskAppeal(ctx context.Context, accountID, reviewID int64, at time.Time) (bool, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT answer_risk_appeal($1, $2, $3)`, accountID, reviewID, ms(at)).Scan(&n)
	return n > 0, err
}

func (t *tx) PurgeRiskAppeals(ctx context.Context, cutoff time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT purge_risk_appeals($1)`, ms(cutoff)).Scan(&n)
	return n, err
}
