package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
)

// Sweep expires lapsed holds (their slots going to the waitlists) and marks
// no-shows for sessions that ended, each with its audit record, in one
// transaction; then it runs the draws that are due, one transaction each,
// reconciles the payments left unfinished (ReconcilePayments) and writes
// the reminders due (SendReminders). Tests call it directly with a fake
// clock; Run calls it on a ticker, on the one node that holds the job lock.
func (s *Service) Sweep(ctx context.Context) error {
	if err := s.sweep(ctx); err != nil {
		return err
	}
	// A draw that fails must not hold back the refunds.
	_, err := s.RunDueDraws(ctx)
	err = errors.Join(err, s.ReconcilePayments(ctx), s.SendReminders(ctx))
	_, xerr := s.ExpireReferrals(ctx) // referral.go
	_, serr := s.ScreenReferrals(ctx) // last: a network call, however bounded
	return errors.Join(err, xerr, serr)
}

func (s *Service) sweep(ctx context.Context) error {
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := s.expire(ctx, tx, 0, now); err != nil {
			return err
		}
		ids, err := tx.MarkNoShows(ctx, now.Add(-time.Duration(s.Policy.NoShowGrace)), now)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.record(ctx, tx, System, "booking.no_show", fmt.Sprintf("booking:%d", id), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Run sweeps every interval until ctx is done. It owns no other goroutine.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RecordConfig appends a config.change audit record when the effective
// configuration (given redacted) differs from the one last started with.
func (s *Service) RecordConfig(ctx context.Context, redacted []byte) error {
	sum := sha256.Sum256(redacted)
	h := hex.EncodeToString(sum[:])
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		old, err := tx.Setting(ctx, "config_sha256")
		if err == nil && old == h {
			return nil
		}
		if err := tx.PutSetting(ctx, "config_sha256", h); err != nil {
			return err
		}
		return s.record(ctx, tx, System, "config.change", "config:1", map[string]string{"sha256": h, "previous": old})
	})
}
