package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const refreshColumns = `id, hash, family, account_id, access_hash, access_expires_ms, expires_ms, created_ms, spent_ms, revoked_ms`

func (t *tx) scanRefresh(r pgx.Row) (storage.RefreshToken, error) {
	var k storage.RefreshToken
	var accessExp, exp, created int64
	var spent, revoked *int64
	err := r.Scan(&k.ID, &k.Hash, &k.Family, &k.AccountID, &k.AccessHash, &accessExp, &exp, &created, &spent, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fairslot.Errorf(fairslot.NotFound, "refresh token not found")
	}
	k.AccessExpiresAt, k.ExpiresAt, k.CreatedAt = t.at(accessExp), t.at(exp), t.at(created)
	k.SpentAt, k.RevokedAt = t.atNull(spent), t.atNull(revoked)
	return k, err
}

// refreshRefused reports an error raised by the refresh_tokens_guard trigger.
func refreshRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "FSR01"
}

func (t *tx) CreateRefreshToken(ctx context.Context, k *storage.RefreshToken) (err error) {
	k.ID, err = t.id(ctx, `INSERT INTO refresh_tokens (hash, family, account_id, access_hash, access_expires_ms, expires_ms, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		k.Hash, k.Family, k.AccountID, k.AccessHash, ms(k.AccessExpiresAt), ms(k.ExpiresAt), ms(k.CreatedAt))
	switch {
	case isUnique(err, "refresh_tokens_live"):
		return fairslot.Errorf(fairslot.Conflict, "this login already has a live refresh token")
	case isUnique(err, "refresh_tokens_hash_key"):
		return fairslot.Errorf(fairslot.Conflict, "refresh token exists")
	case refreshRefused(err):
		return fairslot.Errorf(fairslot.Conflict, "a refresh token joins only a live family of its own account")
	}
	return err
}

func (t *tx) RefreshToken(ctx context.Context, hash []byte) (storage.RefreshToken, error) {
	return t.scanRefresh(t.tx.QueryRow(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens WHERE hash = $1`, hash))
}

func (t *tx) SpendRefreshToken(ctx context.Context, id int64, now time.Time) error {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT spend_refresh_token($1, $2)`, id, ms(now)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the refresh token was already used")
	}
	return nil
}

func (t *tx) RevokeRefreshFamily(ctx context.Context, family string, now time.Time) ([]storage.RefreshToken, error) {
	if _, err := t.exec(ctx, `SELECT revoke_refresh_family($1, $2)`, family, ms(now)); err != nil {
		return nil, err
	}
	return all(ctx, t, func(r pgx.Rows) (storage.RefreshToken, error) { return t.scanRefresh(r) },
		`SELECT `+refreshColumns+` FROM refresh_tokens WHERE family = $1 ORDER BY id`, family)
}

func (t *tx) RefreshFamilyOf(ctx context.Context, accessHash []byte) (string, error) {
	var family string
	err := one(t.tx.QueryRow(ctx, `SELECT family FROM refresh_tokens WHERE access_hash = $1 ORDER BY id DESC LIMIT 1`, accessHash),
		"refresh token", &family)
	return family, err
}
