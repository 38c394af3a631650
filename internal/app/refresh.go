package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// A patient's access token is short-lived (PatientTokenTTL, an hour by
// default): a token copied from a phone or a log is worth an hour, not a
// month. A refresh token (PatientRefreshTTL, 30 days by default, renewed
// on every use) gets the next access token. It is rotated on every use —
// the old one is spent — and stored only as its SHA-256. The tokens of one
// login are a family: a spent token presented again means two parties hold
// it (the patient and a thief), so the whole family is revoked, its access
// tokens with it, and the event is audited; both parties must log in again.
// The front door still lanes a request by its signed access token alone,
// without a database read: nothing about refresh tokens is on that path.

// Default token lifetimes of patients.
const (
	DefaultPatientTokenTTL   = time.Hour
	DefaultPatientRefreshTTL = 30 * 24 * time.Hour
)

// Tokens are a patient's login: the access token (a bearer token) and the
// refresh token that gets the next one, with their expiries.
type Tokens struct {
	Access         string    `json:"token"`
	AccessExpires  time.Time `json:"expires_at"`
	Refresh        string    `json:"refresh_token"`
	RefreshExpires time.Time `json:"refresh_expires_at"`
}

// lifetime is how long a new bearer token of kind lives.
func (s *Service) lifetime(kind storage.TokenKind) time.Duration {
	if kind == storage.AccountToken && s.PatientTokenTTL > 0 {
		return s.PatientTokenTTL
	}
	if kind == storage.StaffToken {
		return s.staffPolicy().SessionMax
	}
	return tokenTTL[kind]
}

func (s *Service) refreshLifetime() time.Duration {
	if s.PatientRefreshTTL > 0 {
		return s.PatientRefreshTTL
	}
	return DefaultPatientRefreshTTL
}

// refreshPrefix marks a refresh token, so that one sent as a bearer token
// (or a bearer token sent to refresh) is told apart at a glance.
const refreshPrefix = "fsr_"

func newRefresh() (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	token = refreshPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

// PatientLogin exchanges a phone's one-time code for a patient's tokens:
// the access token Login issues and the first refresh token of a new
// family, bound to it.
func (s *Service) PatientLogin(ctx context.Context, a Actor, phone, code string) (Tokens, fairslot.Account, error) {
	access, acct, err := s.Login(ctx, a, phone, code)
	if err != nil {
		return Tokens{}, acct, err
	}
	c, ok := s.tokenClaims(access)
	if !ok {
		return Tokens{}, acct, fmt.Errorf("login issued a token it cannot read")
	}
	now := s.now()
	refresh, hash := newRefresh()
	sum := sha256.Sum256([]byte(access))
	k := storage.RefreshToken{Hash: hash, Family: newRef(), AccountID: acct.ID, AccessHash: sum[:], AccessExpiresAt: c.expires,
		ExpiresAt: now.Add(s.refreshLifetime()), CreatedAt: now}
	who := Actor{Kind: storage.AccountToken, ID: acct.ID, RequestID: a.RequestID, Device: a.Device, Addr: a.Addr}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.CreateRefreshToken(ctx, &k); err != nil {
			return err
		}
		return s.record(ctx, tx, who, "account.refresh_issued", who.ref(), map[string]string{"refresh_token": strconv.FormatInt(k.ID, 10)})
	})
	if err != nil {
		return Tokens{}, fairslot.Account{}, err
	}
	return Tokens{Access: access, AccessExpires: c.expires, Refresh: refresh, RefreshExpires: k.ExpiresAt}, acct, nil
}

var errRefresh = fairslot.Errorf(fairslot.Unauthorized, "invalid or expired refresh token; log in again")

// ErrRefreshRaced refuses a refresh token spent moments ago
// (refreshReuseGrace): most likely the same browser, two of whose requests
// found the access token expired at once; the first one's new tokens are
// on their way to it, so the family is left alone. The pages keep their
// cookies on it.
var ErrRefreshRaced = fairslot.Errorf(fairslot.Unauthorized, "this login was refreshed a moment ago; reload the page")

// refreshReuseGrace is how long after its spending a refresh token presented
// again is taken for a race of one client's own requests rather than reuse.
const refreshReuseGrace = 10 * time.Second

// Refresh spends a refresh token for a new access token and the next
// refresh token of its family. A token that was already spent (or whose
// family was revoked) revokes the whole family and its access tokens, and
// is recorded as account.refresh_reused.
func (s *Service) Refresh(ctx context.Context, a Actor, refresh string) (Tokens, error) {
	if !strings.HasPrefix(refresh, refreshPrefix) || len(refresh) > 128 {
		return Tokens{}, errRefresh
	}
	sum := sha256.Sum256([]byte(refresh))
	now := s.now()
	var out Tokens
	var revoked []storage.RevokedToken
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		revoked = nil
		k, err := tx.RefreshToken(ctx, sum[:])
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return errRefresh, nil
		}
		if err != nil {
			return nil, err
		}
		who := Actor{Kind: storage.AccountToken, ID: k.AccountID, RequestID: a.RequestID, Device: a.Device, Addr: a.Addr}
		reused := func() (error, error) {
			if revoked, err = s.revokeFamily(ctx, tx, k.Family, now); err != nil {
				return nil, err
			}
			return errRefresh, s.record(ctx, tx, who, "account.refresh_reused", who.ref(), map[string]string{
				"refresh_token": strconv.FormatInt(k.ID, 10), "access_tokens_revoked": strconv.Itoa(len(revoked))})
		}
		if k.RevokedAt.IsZero() && !k.SpentAt.IsZero() && now.Sub(k.SpentAt) < refreshReuseGrace {
			return ErrRefreshRaced, nil
		}
		if !k.SpentAt.IsZero() || !k.RevokedAt.IsZero() {
			return reused()
		}
		if !now.Before(k.ExpiresAt) {
			return errRefresh, nil
		}
		if err := tx.SpendRefreshToken(ctx, k.ID, now); fairslot.ErrorKind(err) == fairslot.Conflict {
			return reused() // spent by a refresh that committed while this one read it
		} else if err != nil {
			return nil, err
		}
		access, rec := s.newToken(storage.AccountToken, k.AccountID, now)
		if err := tx.CreateToken(ctx, rec); err != nil {
			return nil, err
		}
		next, hash := newRefresh()
		n := storage.RefreshToken{Hash: hash, Family: k.Family, AccountID: k.AccountID, AccessHash: rec.Hash,
			AccessExpiresAt: rec.ExpiresAt, ExpiresAt: now.Add(s.refreshLifetime()), CreatedAt: now}
		if err := tx.CreateRefreshToken(ctx, &n); err != nil {
			return nil, err
		}
		out = Tokens{Access: access, AccessExpires: rec.ExpiresAt, Refresh: next, RefreshExpires: n.ExpiresAt}
		return nil, s.record(ctx, tx, who, "account.refreshed", who.ref(), map[string]string{
			"refresh_token": strconv.FormatInt(n.ID, 10), "spent": strconv.FormatInt(k.ID, 10)})
	})
	if len(revoked) > 0 && (err == nil || err == errRefresh) {
		s.revoked.add(false, revoked...)
	}
	if err != nil {
		return Tokens{}, err
	}
	return out, nil
}

// revokeFamily revokes a refresh family and every access token issued with
// it that has not expired; it returns those revocations, for this node's
// revocation set once the transaction commits.
func (s *Service) revokeFamily(ctx context.Context, tx storage.Tx, family string, now time.Time) ([]storage.RevokedToken, error) {
	fam, err := tx.RevokeRefreshFamily(ctx, family, now)
	if err != nil {
		return nil, err
	}
	var out []storage.RevokedToken
	for _, k := range fam {
		if !now.Before(k.AccessExpiresAt) {
			continue
		}
		r := storage.RevokedToken{Hash: k.AccessHash, ExpiresAt: k.AccessExpiresAt}
		if err := tx.RevokeToken(ctx, r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// PatientLogout ends a patient's login: the family of refresh tokens issued
// with this access token is revoked, with all its access tokens, then the
// access token itself (Logout). A staff token is only logged out.
func (s *Service) PatientLogout(ctx context.Context, a Actor, access string) error {
	if a.Kind == storage.AccountToken {
		sum := sha256.Sum256([]byte(access))
		var revoked []storage.RevokedToken
		err := s.Store.Update(ctx, func(tx storage.Tx) error {
			family, err := tx.RefreshFamilyOf(ctx, sum[:])
			if fairslot.ErrorKind(err) == fairslot.NotFound {
				return nil // a login from before refresh tokens
			}
			if err != nil {
				return err
			}
			if revoked, err = s.revokeFamily(ctx, tx, family, s.now()); err != nil {
				return err
			}
			return s.record(ctx, tx, a, "account.refresh_revoked", a.ref(), map[string]string{"access_tokens_revoked": strconv.Itoa(len(revoked))})
		})
		if err != nil {
			return err
		}
		s.revoked.add(false, revoked...)
	}
	return s.Logout(ctx, a, access)
}
