package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// sinceActions are the actions whose first time a risk_accounts row keeps,
// in column order.
var sinceActions = []string{"challenge", "limit", "hold", "block"}

func (t *tx) PutRiskAccount(ctx context.Context, r storage.RiskAccount) error {
	level := storage.RiskLevel(r.Action)
	if level < 0 {
		return fmt.Errorf("put risk account %d: unknown action %q", r.AccountID, r.Action)
	}
	since := make([]any, len(sinceActions))
	for i, a := range sinceActions {
		if at, ok := r.Since[a]; ok && !at.IsZero() {
			since[i] = ms(at)
		}
	}
	// coalesce(min(a, b), a, b): SQLite's min is NULL when either is.
	_, err := t.exec(ctx, `INSERT INTO risk_accounts (account_id, action, level, score, reasons, keys, reviewed,
		since_challenge_ms, since_limit_ms, since_hold_ms, since_block_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET action = excluded.action, level = excluded.level, score = excluded.score,
		reasons = excluded.reasons, keys = excluded.keys, reviewed = excluded.reviewed,
		since_challenge_ms = coalesce(min(since_challenge_ms, excluded.since_challenge_ms), since_challenge_ms, excluded.since_challenge_ms),
		since_limit_ms = coalesce(min(since_limit_ms, excluded.since_limit_ms), since_limit_ms, excluded.since_limit_ms),
		since_hold_ms = coalesce(min(since_hold_ms, excluded.since_hold_ms), since_hold_ms, excluded.since_hold_ms),
		since_block_ms = coalesce(min(since_block_ms, excluded.since_block_ms), since_block_ms, excluded.since_block_ms),
		updated_ms = excluded.updated_ms`,
		r.AccountID, r.Action, level, r.Score, string(mustJSON(nonNil(r.Reasons))), string(mustJSON(nonNil(r.Keys))), r.Reviewed,
		since[0], since[1], since[2], since[3], ms(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put risk account %d: %w", r.AccountID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const riskAccountColumns = `account_id, action, score, reasons, keys, reviewed,
	since_challenge_ms, since_limit_ms, since_hold_ms, since_block_ms, updated_ms`

func (t *tx) scanRiskAccount(scan func(...any) error) (storage.RiskAccount, error) {
	var r storage.RiskAccount
	var reasons, keys string
	var since [4]sql.NullInt64
	var updated int64
	if err := scan(&r.AccountID, &r.Action, &r.Score, &reasons, &keys, &r.Reviewed,
		&since[0], &since[1], &since[2], &since[3], &updated); err != nil {
		return r, err
	}
	r.UpdatedAt = t.at(updated)
	r.Since = map[string]time.Time{}
	for i, a := range sinceActions {
		if since[i].Valid {
			r.Since[a] = t.at(since[i].Int64)
		}
	}
	if err := unmarshalJSON(reasons, &r.Reasons); err != nil {
		return r, err
	}
	return r, unmarshalJSON(keys, &r.Keys)
}

func (t *tx) RiskAccount(ctx context.Context, accountID int64) (storage.RiskAccount, error) {
	r, err := t.scanRiskAccount(t.queryRow(ctx, `SELECT `+riskAccountColumns+` FROM risk_accounts WHERE account_id = ?`, accountID).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fairslot.Errorf(fairslot.NotFound, "no risk decision for account %d", accountID)
	}
	return r, err
}

func (t *tx) RiskAccounts(ctx context.Context, min string, limit int) ([]storage.RiskAccount, error) {
	level := storage.RiskLevel(min)
	if level < 0 {
		return nil, fairslot.Errorf(fairslot.Invalid, "no risk action %q (one of allow, challenge, limit, hold, block)", min)
	}
	return all(ctx, t, func(r *sql.Rows) (storage.RiskAccount, error) { return t.scanRiskAccount(r.Scan) },
		`SELECT `+riskAccountColumns+` FROM risk_accounts WHERE level >= ? ORDER BY level DESC, updated_ms DESC, account_id LIMIT ?`, level, limit)
}

func (t *tx) ReleaseHeldEntries(ctx context.Context, accountID int64, now time.Time) (int, error) {
	// Only under an approval on the reviewers' record (0037).
	res, err := t.exec(ctx, `UPDATE draw_entries SET held = 0 WHERE account_id = ? AND held = 1
		AND session_id IN (SELECT r.session_id FROM releases r WHERE r.entry_closes_ms > ?
			AND NOT EXISTS (SELECT 1 FROM draw_runs d WHERE d.session_id = r.session_id))
		AND (SELECT action FROM risk_reviews WHERE account_id = ? ORDER BY id DESC LIMIT 1) = 'allow'`, accountID, ms(now), accountID)
	if err != nil {
		return 0, fmt.Errorf("release held entries of account %d: %w", accountID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) RiskEventStart(ctx context.Context, since time.Time) (int64, error) {
	var first sql.NullInt64
	if err := t.queryRow(ctx, `SELECT min(id) FROM risk_events WHERE at_ms >= ?`, ms(since)).Scan(&first); err != nil {
		return 0, err
	}
	if first.Valid {
		return first.Int64 - 1, nil
	}
	var last int64
	return last, t.queryRow(ctx, `SELECT coalesce(max(id), 0) FROM risk_events`).Scan(&last)
}
