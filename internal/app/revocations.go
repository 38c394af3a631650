package app

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
)

// revocations are the bearer tokens revoked before their expiry, by SHA-256,
// each kept until it would have expired: the front door's check of a token
// is a map look-up, never a database read. Each node fills its set from its
// own logouts at once and from the database (other nodes' logouts) every
// RevocationPoll.
type revocations struct {
	mu     sync.RWMutex
	m      map[[sha256.Size]byte]time.Time // hash → the token's expiry
	read   time.Time                       // the newest revocation read from the store, by its clock
	pruned time.Time
}

func (r *revocations) has(token string) bool {
	sum := sha256.Sum256([]byte(token))
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.m[sum]
	return ok
}

// add puts revocations in the set. Those read from the store move the
// read cursor (the store's clock); this node's own do not — they are read
// again from the store, which is harmless.
func (r *revocations) add(fromStore bool, ks ...storage.RevokedToken) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[[sha256.Size]byte]time.Time{}
	}
	for _, k := range ks {
		r.m[[sha256.Size]byte(k.Hash)] = k.ExpiresAt
		if fromStore && k.RevokedAt.After(r.read) {
			r.read = k.RevokedAt
		}
	}
}

// prunePeriod is how often the set forgets expired revocations: a scan of
// the whole set, so not on every poll.
const prunePeriod = time.Minute

// prune forgets the revocations of tokens that have expired by now, at
// most once a prunePeriod.
func (r *revocations) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.pruned) < prunePeriod {
		return
	}
	r.pruned = now
	for h, exp := range r.m {
		if !now.Before(exp) {
			delete(r.m, h)
		}
	}
}

// revocationOverlap is how far back each poll reads again before the newest
// revocation it has seen (both by the database's clock): a revocation
// committed late, after a later one was read, is still found.
const revocationOverlap = time.Minute

// RevocationPoll is how often FollowRevocations reads other nodes'
// revocations: the longest a token revoked on another node may still be
// laned as valid by this node's front door (its requests are refused behind
// the door, which reads the database, from the moment of the logout).
const RevocationPoll = time.Second

// LoadRevocations reads the revocations made since the last read (all of
// the unexpired ones the first time) into the revocation set.
func (s *Service) LoadRevocations(ctx context.Context) error {
	now := s.now()
	s.revoked.mu.RLock()
	since := s.revoked.read
	s.revoked.mu.RUnlock()
	if !since.IsZero() {
		since = since.Add(-revocationOverlap)
	}
	var ks []storage.RevokedToken
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		ks, err = tx.RevokedTokens(ctx, since, now)
		return err
	})
	if err != nil {
		return err
	}
	s.revoked.add(true, ks...)
	s.revoked.prune(now)
	return nil
}

// FollowRevocations keeps the revocation set current until ctx ends,
// reading it every interval. It owns no other goroutine.
func (s *Service) FollowRevocations(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.LoadRevocations(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			s.Log.Warn("cannot read token revocations; revoked tokens are still refused behind the front door", "err", err)
			failing = true
		case err == nil && failing:
			s.Log.Info("token revocations read again")
			failing = false
		}
	}
}
