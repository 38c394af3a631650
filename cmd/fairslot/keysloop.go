package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/rekey"
)

// keysLoop follows the keyset while serving: every node reads the file
// again every keys.reload_every, and the node that leads the jobs re-seals
// and re-indexes under the new keys every keys.rekey_every (rekey).
func keysLoop(ctx context.Context, c config.Config, svc *app.Service, log *slog.Logger, leading func() bool) {
	job := rekey.Job{Store: svc.Store, Vault: svc.Vault, Batch: c.Keys.RekeyBatch, Log: log}
	reload := time.NewTicker(time.Duration(c.Keys.ReloadEvery))
	defer reload.Stop()
	work := time.NewTicker(time.Duration(c.Keys.RekeyEvery))
	defer work.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload.C:
			if changed, err := svc.Vault.Reload(); err != nil {
				log.Error("keyset reload failed; keeping the keys in use", "err", err)
			} else if changed {
				log.Info("keyset reloaded: new values are sealed under its primary key")
			}
		case <-work.C:
			if !leading() {
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
