package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const riskReviewQuery = `SELECT id, account_id, action, saw, reason, staff_id, at_ms FROM risk_reviews`

func (t *tx) scanRiskReview(r interface{ Scan(...any) error }) (storage.RiskReview, error) {
	var v storage.RiskReview
	var at int64
	err := r.Scan(&v.ID, &v.AccountID, &v.Action, &v.Saw, &v.Reason, &v.StaffID, &at)
	v.At = t.at(at)
	return v, err
}

func (t *tx) AppendRiskReview(ctx context.Context, r *storage.RiskReview) error {
	r.At = r.At.Truncate(time.Millisecond)
	id, err := t.insert(ctx, `INSERT INTO risk_reviews (account_id, action, saw, reason, staff_id, at_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		r.AccountID, r.Action, r.Saw, r.Reason, r.StaffID, ms(r.At))
	if err != nil {
		return err
	}
	r.ID = id
	return nil
}

func (t *tx) LatestRiskReview(ctx context.Context, accountID int64) (storage.RiskReview, bool, error) {
	v, err := t.scanRiskReview(t.queryRow(ctx, riskReviewQuery+` WHERE account_id = ? ORDER BY id DESC LIMIT 1`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.RiskReview{}, false, nil
	}
	return v, err == nil, err
}

func (t *tx) RiskReviewsOf(ctx context.Context, accountID int64, limit int) ([]storage.RiskReview, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.RiskReview, error) { return t.scanRiskReview(r) },
		riskReviewQuery+` WHERE account_id = ? ORDER BY id DESC LIMIT ?`, accountID, limit)
}

const riskAppealQuery = `SELECT id, ref, account_id, text_sealed, created_ms, status, answered_ms, review_id FROM risk_appeals`

func (t *tx) scanRiskAppeal(r interface{ Scan(...any) error }) (storage.RiskAppeal, error) {
	var a storage.RiskAppeal
	var created int64
	var answered, review sql.NullInt64
	err := r.Scan(&a.ID, &a.Ref, &a.AccountID, &a.TextSealed, &created, &a.Status, &answered, &review)
	a.CreatedAt, a.AnsweredAt, a.ReviewID = t.at(created), t.atNull(answered), review.Int64
	return a, err
}

func (t *tx) InsertRiskAppeal(ctx context.Context, a *storage.RiskAppeal) error {
	a.CreatedAt = a.CreatedAt.Truncate(time.Millisecond)
	id, err := t.insert(ctx, `INSERT INTO risk_appeals (ref, account_id, text_sealed, created_ms) VALUES (?, ?, ?, ?)`,
		a.Ref, a.AccountID, a.TextSealed, ms(a.CreatedAt))
	if isUnique(err, "risk_appeals.account_id") {
		return fairslot.Errorf(fairslot.Conflict, "the account already has an open appeal")
	}
	if err != nil {
		return err
	}
	a.ID, a.Status, a.AnsweredAt, a.ReviewID = id, storage.RiskAppealOpen, time.Time{}, 0
	return nil
}

func (t *tx) RiskAppealsOf(ctx context.Context, accountID int64, limit int) ([]storage.RiskAppeal, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.RiskAppeal, error) { return t.scanRiskAppeal(r) },
		riskAppealQuery+` WHERE account_id = ? ORDER BY id DESC LIMIT ?`, accountID, limit)
}

func (t *tx) OpenRiskAppeals(ctx context.Context, limit int) ([]storage.RiskAppeal, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.RiskAppeal, error) { return t.scanRiskAppeal(r) },
		riskAppealQuery+` WHERE status = 'open' ORDER BY id LIMIT ?`, limit)
}

func (t *tx) AnswerRiskAppeal(ctx context.Context, accountID, reviewID int64, at time.Time) (bool, error) {
	res, err := t.exec(ctx, `UPDATE risk_appeals SET status = 'answered', answered_ms = ?, review_id = ?
		WHERE account_id = ? AND status = 'open'
		AND EXISTS (SELECT 1 FROM risk_reviews r WHERE r.id = ? AND r.account_id = ?)`, ms(at), reviewID, accountID, reviewID, accountID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (t *tx) PurgeRiskAppeals(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := t.exec(ctx, `UPDATE risk_appeals SET text_sealed = x''
		WHERE status = 'answered' AND answered_ms < ? AND length(text_sealed) > 0`, ms(cutoff))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
