package storage

import (
	"context"
	"time"
)

// RefreshToken is a patient's refresh token, stored as its SHA-256 hash.
// Tokens of one login form a family: each refresh spends the family's live
// token and adds the next one. The access token issued with it is named by
// its hash, so that revoking the family can revoke the access tokens too.
type RefreshToken struct {
	ID              int64
	Hash            []byte
	Family          string // random, the same for every token of one login
	AccountID       int64
	AccessHash      []byte    // the access token issued together with it
	AccessExpiresAt time.Time // and its expiry
	ExpiresAt       time.Time
	CreatedAt       time.Time
	SpentAt         time.Time // zero while unspent
	RevokedAt       time.Time // zero while the family is not revoked
}

// RefreshTokens are the storage of refresh-token families. The database
// enforces that a family has at most one live (unspent, unrevoked) token and
// one account, and that a spent or revoked token never becomes live again.
type RefreshTokens interface {
	// CreateRefreshToken stores a token, setting its ID: a Conflict if its
	// family already has a live token or belongs to another account.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RefreshToken returns the token with this hash, spent, revoked or
	// expired as it may be: NotFound if none.
	RefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)
	// SpendRefreshToken marks a live token spent at now, as one conditional
	// write: a Conflict if it was already spent or revoked.
	SpendRefreshToken(ctx context.Context, id int64, now time.Time) error
	// RevokeRefreshFamily revokes every token of a family not yet revoked
	// and returns all of the family's tokens.
	RevokeRefreshFamily(ctx context.Context, family string, now time.Time) ([]RefreshToken, error)
	// RefreshFamilyOf returns the family of the refresh token issued with
	// an access token: NotFound if none (a staff token, or a login made
	// before refresh tokens).
	RefreshFamilyOf(ctx context.Context, accessHash []byte) (string, error)
}
