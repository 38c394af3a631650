package storagetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

func refreshToken(family string, account int64, at time.Time) storage.RefreshToken {
	return storage.RefreshToken{Hash: random(32), Family: family, AccountID: account, AccessHash: random(32),
		AccessExpiresAt: at.Add(time.Hour), ExpiresAt: at.Add(30 * 24 * time.Hour), CreatedAt: at}
}

// testRefreshTokens: a family has one live token; spending is a single
// conditional write; revoking covers the whole family; the database refuses
// a second live token, a token joining another account's or a revoked
// family, and a spent or revoked token made live again.
func testRefreshTokens(t *testing.T, s storage.Store) {
	a, b := newAccount(t, s), newAccount(t, s)
	first := refreshToken("fam-1", a.ID, base)
	update(t, s, func(tx storage.Tx) error { return tx.CreateRefreshToken(ctx, &first) })
	if first.ID == 0 {
		t.Fatal("CreateRefreshToken set no ID")
	}
	second := refreshToken("fam-1", a.ID, base.Add(time.Hour))
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.CreateRefreshToken(ctx, &second) })
	wantKind(t, "a second live token in a family", err, fairslot.Conflict)
	other := refreshToken("fam-1", b.ID, base.Add(time.Hour))
	err = s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.SpendRefreshToken(ctx, first.ID, base.Add(time.Hour)); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx, &other)
	})
	wantKind(t, "a token joining another account's family", err, fairslot.Conflict)

	// Rotation: spend the live one, add the next.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.SpendRefreshToken(ctx, first.ID, base.Add(time.Hour)); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx, &second)
	})
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.SpendRefreshToken(ctx, first.ID, base.Add(2*time.Hour)) })
	wantKind(t, "spending a spent token", err, fairslot.Conflict)
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.RefreshToken(ctx, first.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != first.ID || got.Family != "fam-1" || got.AccountID != a.ID || !bytes.Equal(got.AccessHash, first.AccessHash) ||
			!got.SpentAt.Equal(base.Add(time.Hour)) || !got.RevokedAt.IsZero() || !got.ExpiresAt.Equal(first.ExpiresAt) ||
			!got.AccessExpiresAt.Equal(first.AccessExpiresAt) || !got.CreatedAt.Equal(base) {
			t.Errorf("RefreshToken = %+v, want the first token, spent at %v", got, base.Add(time.Hour))
		}
		_, err = tx.RefreshToken(ctx, random(32))
		wantKind(t, "an unknown token", err, fairslot.NotFound)
		fam, err := tx.RefreshFamilyOf(ctx, second.AccessHash)
		if err != nil || fam != "fam-1" {
			t.Errorf("RefreshFamilyOf(second's access) = %q, %v; want fam-1", fam, err)
		}
		_, err = tx.RefreshFamilyOf(ctx, random(32))
		wantKind(t, "the family of an unknown access token", err, fairslot.NotFound)
		return nil
	})

	// Another family of the same account is untouched by revoking this one.
	keep := refreshToken("fam-2", a.ID, base)
	update(t, s, func(tx storage.Tx) error { return tx.CreateRefreshToken(ctx, &keep) })
	var fam []storage.RefreshToken
	update(t, s, func(tx storage.Tx) (err error) {
		fam, err = tx.RevokeRefreshFamily(ctx, "fam-1", base.Add(3*time.Hour))
		return err
	})
	if len(fam) != 2 || fam[0].ID != first.ID || fam[1].ID != second.ID || !fam[0].RevokedAt.Equal(base.Add(3*time.Hour)) || !fam[1].RevokedAt.Equal(base.Add(3*time.Hour)) {
		t.Errorf("RevokeRefreshFamily = %+v, want both tokens revoked", fam)
	}
	update(t, s, func(tx storage.Tx) (err error) { // again: idempotent, the first revocation's time stays
		fam, err = tx.RevokeRefreshFamily(ctx, "fam-1", base.Add(4*time.Hour))
		return err
	})
	if len(fam) != 2 || !fam[1].RevokedAt.Equal(base.Add(3*time.Hour)) {
		t.Errorf("revoking twice: %+v", fam)
	}
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.SpendRefreshToken(ctx, second.ID, base.Add(4*time.Hour)) })
	wantKind(t, "spending a revoked token", err, fairslot.Conflict)
	third := refreshToken("fam-1", a.ID, base.Add(4*time.Hour))
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.CreateRefreshToken(ctx, &third) })
	wantKind(t, "a token joining a revoked family", err, fairslot.Conflict)
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.SpendRefreshToken(ctx, keep.ID, base.Add(time.Hour)) })
	if err != nil {
		t.Errorf("the other family's token: %v", err)
	}
}

// testConcurrentRefresh: of many transactions spending one token at once,
// exactly one succeeds.
func testConcurrentRefresh(t *testing.T, s storage.Store) {
	a := newAccount(t, s)
	k := refreshToken("fam-c", a.ID, base)
	update(t, s, func(tx storage.Tx) error { return tx.CreateRefreshToken(ctx, &k) })
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for i := range 8 {
		wg.Go(func() {
			next := refreshToken("fam-c", a.ID, base.Add(time.Duration(i+1)*time.Minute))
			err := s.Update(ctx, func(tx storage.Tx) error {
				if err := tx.SpendRefreshToken(ctx, k.ID, base.Add(time.Minute)); err != nil {
					return err
				}
				return tx.CreateRefreshToken(ctx, &next)
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case fairslot.ErrorKind(err) == fairslot.Conflict:
				lost++
			default:
				t.Errorf("a concurrent refresh: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 7 {
		t.Errorf("%d of 8 concurrent refreshes of one token won, %d lost; want 1 and 7", won, lost)
	}
}
