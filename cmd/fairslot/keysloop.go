package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/rekey"
	"github.com/fairslot/fairslot/internal/storage"
)

// keysLoop follows the keyset while serving: every node reads the file
// again every keys.reload_every, and the node that leads the jobs re-seals
// and re-indexes under the new keys every keys.rekey_every (rekey) through
// st — nil when this node may not (PostgreSQL without keys.rekey_db).
func keysLoop(ctx context.Context, c config.Config, svc *app.Service, st storage.Store, log *slog.Logger, leading func() bool) {
	job := rekey.Job{Store: st, Vault: svc.Vault, Batch: c.Keys.RekeyBatch, Log: log}
	reload := time.NewTicker(time.Duration(c.Keys.ReloadEvery))
	defer reload.Stop()
	work := time.NewTicker(time.Duration(c.Keys.RekeyEvery))
	defer work.Stop()
	// This node says which keys it has loaded — at start, on a change, and
	// every minute to show it is alive — so prune waits for it.
	since, reported := time.Now(), time.Time{}
	report := func() {
		if err := rekey.Report(ctx, svc.Store, c.NodeName(), svc.Vault, since, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("could not record this node's keys; 'fairslot keys prune' will not see it", "err", err)
			return
		}
		reported = time.Now()
	}
	report()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload.C:
			if changed, err := svc.Vault.Reload(); err != nil {
				log.Error("keyset reload failed; keeping the keys in use", "err", err)
			} else if changed {
				log.Info("keyset reloaded: new values are sealed under its primary key")
				since = time.Now()
				report()
			} else if time.Since(reported) >= time.Minute {
				report()
			}
		case <-work.C:
			if st == nil || !leading() {
				continue
			}
			if r, err := job.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("rekey failed; it runs again", "err", err)
			} else if r.Failed > 0 {
				log.Error("ALERT: rekey found sealed values that no key of the keyset opens", "count", r.Failed)
			}
		}
	}
}

// rekeyStore is what this node re-keys through: the embedded store itself,
// or on PostgreSQL a small pool as the rekey role (keys.rekey_db); nil, with
// a warning, when that is not configured. The caller closes it.
func rekeyStore(ctx context.Context, c config.Config, svc *app.Service, log *slog.Logger) (storage.Store, func(), error) {
	if c.DB == "" {
		return svc.Store, func() {}, nil
	}
	if c.Keys.RekeyDB == "" {
		log.Warn("keys.rekey_db is not set: after a key rotation this server does not re-seal or re-index by itself; run 'fairslot keys rekey' with the rekey role's or the owner's URL")
		return nil, func() {}, nil
	}
	loc, _ := c.Location()
	st, err := postgres.Open(ctx, c.Keys.RekeyDB, postgres.Options{Location: loc, AppName: c.NodeName() + "-rekey", MaxConns: 2,
		StatementTimeout: time.Minute})
	if err != nil {
		return nil, nil, fmt.Errorf("keys.rekey_db: %w", err)
	}
	return st, func() { st.Close() }, nil
}
