package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// sinceActions are the actions whose first time a risk_accounts row keeps,
// in column order.
var sinceActions = []string{"challenge", "limit", "hold", "block"}

// The online role has no UPDATE on risk_accounts or draw_entries:
// 0034_risk_accounts.sql's functions.
func (t *tx) PutRiskAccount(ctx context.Context, r storage.RiskAccount) error {
	if storage.RiskLevel(r.Action) < 0 {
		return fmt.Errorf("put risk account %d: unknown action %q", r.AccountID, r.Action)
	}
	since := make([]*int64, len(sinceActions))
	for i, a := range sinceActions {
		if at, ok := r.Since[a]; ok && !at.IsZero() {
			v := ms(at)
			since[i] = &v
		}
	}
	reasons, err := json.Marshal(nonNil(r.Reasons))
	if err != nil {
		return err
	}
	keys, err := json.Marshal(nonNil(r.Keys))
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `SELECT put_risk_account($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.AccountID, r.Action, r.Score, string(reasons), string(keys), r.Reviewed, since[0], since[1], since[2], since[3], ms(r.UpdatedAt)); err != nil {
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
	var reasons, keys []byte
	var since [4]*int64
	var updated int64
	if err := scan(&r.AccountID, &r.Action, &r.Score, &reasons, &keys, &r.Reviewed,
		&since[0], &since[1], &since[2], &since[3], &updated); err != nil {
		return r, err
	}
	r.UpdatedAt = t.at(updated)
	r.Since = map[string]time.Time{}
	for i, a := range sinceActions {
		if since[i] != nil {
			r.Since[a] = t.at(*since[i])
		}
	}
	if err := json.Unmarshal(reasons, &r.Reasons); err != nil {
		return r, err
	}
	return r, json.Unmarshal(keys, &r.Keys)
}

func (t *tx) RiskAccount(ctx context.Context, accountID int64) (storage.RiskAccount, error) {
	r, err := t.scanRiskAccount(t.tx.QueryRow(ctx, `SELECT `+riskAccountColumns+` FROM risk_accounts WHERE account_id = $1`, accountID).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fairslot.Errorf(fairslot.NotFound, "no risk decision for account %d", accountID)
	}
	return r, err
}

func (t *tx) RiskAccounts(ctx context.Context, min string, limit int) ([]storage.RiskAccount, error) {
	level := storage.RiskLevel(min)
	if level < 0 {
		return nil, fairslot.Errorf(fairslot.Invalid, "no risk action %q (one of allow, challenge, limit, hold, block)", min)
	}
	return all(ctx, t, func(r pgx.Rows) (storage.RiskAccount, error) { return t.scanRiskAccount(r.Scan) },
		`SELECT `+riskAccountColumns+` FROM risk_accounts WHERE level >= $1 ORDER BY level DESC, updated_ms DESC, account_id LIMIT $2`, level, limit)
}

func (t *tx) ReleaseHeldEntries(ctx context.Context, accountID int64, now time.Time) (int, error) {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT release_held_entries($1, $2)`, accountID, ms(now)).Scan(&n); err != nil {
		return 0, fmt.Errorf("release held entries of account %d: %w", accountID, err)
	}
	return int(n), nil
}

func (t *tx) RiskEventStart(ctx context.Context, since time.Time) (int64, error) {
	var first *int64
	if err := t.tx.QueryRow(ctx, `SELECT min(id) FROM risk_events WHERE at_ms >= $1`, ms(since)).Scan(&first); err != nil {
		return 0, err
	}
	if first != nil {
		return *first - 1, nil
	}
	var last int64
	return last, t.tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM risk_events`).Scan(&last)
}
