package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const refreshColumns = `id, hash, family, account_id, access_hash, access_expires_ms, expires_ms, created_ms, spent_ms, revoked_ms`

func (t *tx) scanRefresh(r interface{ Scan(...any) error }) (storage.RefreshToken, error) {
	var k storage.RefreshToken
	var accessExp, exp, created int64
	var spent, revoked sql.NullInt64
	err := r.Scan(&k.ID, &k.Hash, &k.Family, &k.AccountID, &k.AccessHash, &accessExp, &exp, &created, &spent, &revoked)
	if err == sql.ErrNoRows {
		return k, fairslot.Errorf(fairslot.NotFound, "refresh token not found")
	}
	k.AccessExpiresAt, k.ExpiresAt, k.CreatedAt = t.at(accessExp), t.at(exp), t.at(created)
	k.SpentAt, k.RevokedAt = t.atNull(spent), t.atNull(revoked)
	return k, err
}

func (t *tx) CreateRefreshToken(ctx context.Context, k *storage.RefreshToken) (err error) {
	k.ID, err = t.insert(ctx, `INSERT INTO refresh_tokens (hash, family, account_id, access_hash, access_expires_ms, expires_ms, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, k.Hash, k.Family, k.AccountID, k.AccessHash, ms(k.AccessExpiresAt), ms(k.ExpiresAt), ms(k.CreatedAt))
	switch {
	case isUnique(err, "refresh_tokens.family"):
		return fairslot.Errorf(fairslot.Conflict, "this login already has a live refresh token")
	case isUnique(err, "refresh_tokens.hash"):
		return fairslot.Errorf(fairslot.Conflict, "refresh token exists")
	case isTrigger(err):
		return fairslot.Errorf(fairslot.Conflict, "a refresh token joins only a live family of its own account")
	}
	return err
}

func (t *tx) RefreshToken(ctx context.Context, hash []byte) (storage.RefreshToken, error) {
	return t.scanRefresh(t.queryRow(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens WHERE hash = ?`, hash))
}

func (t *tx) SpendRefreshToken(ctx context.Context, id int64, now time.Time) error {
	res, err := t.exec(ctx, `UPDATE refresh_tokens SET spent_ms = ? WHERE id = ? AND spent_ms IS NULL AND revoked_ms IS NULL`, ms(now), id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the refresh token was already used")
	}
	return nil
}

func (t *tx) RevokeRefreshFamily(ctx context.Context, family string, now time.Time) ([]storage.RefreshToken, error) {
	if _, err := t.exec(ctx, `UPDATE refresh_tokens SET revoked_ms = ? WHERE family = ? AND revoked_ms IS NULL`, ms(now), family); err != nil {
		return nil, err
	}
	return all(ctx, t, func(r *sql.Rows) (storage.RefreshToken, error) { return t.scanRefresh(r) },
		`SELECT `+refreshColumns+` FROM refresh_tokens WHERE family = ? ORDER BY id`, family)
}

func (t *tx) RefreshFamilyOf(ctx context.Context, accessHash []byte) (string, error) {
	var family string
	err := one(t.queryRow(ctx, `SELECT family FROM refresh_tokens WHERE access_hash = ? ORDER BY id DESC LIMIT 1`, accessHash),
		"refresh token", &family)
	return family, err
}
