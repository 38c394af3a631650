package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

func (t *tx) AccountLanguage(ctx context.Context, accountID int64) (string, error) {
	var lang string
	err := t.queryRow(ctx, `SELECT lang FROM account_languages WHERE account_id = ? ORDER BY id DESC LIMIT 1`, accountID).Scan(&lang)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return lang, err
}

func (t *tx) SetAccountLanguage(ctx context.Context, accountID int64, lang string, at time.Time) error {
	if cur, err := t.AccountLanguage(ctx, accountID); err != nil || cur == lang {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO account_languages (account_id, lang, created_ms) VALUES (?, ?, ?)`, accountID, lang, ms(at))
	return err
}
