package postgres

import (
	"context"
	"io/fs"
	"testing/fstest"
)

// MigrateWith runs Migrate with one more migration after the embedded
// ones, as a later release would.
func MigrateWith(ctx context.Context, s *Store, name, sql string) error {
	fsys := fstest.MapFS{"migrations/" + name: &fstest.MapFile{Data: []byte(sql)}}
	err := fs.WalkDir(migrations, "migrations", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := migrations.ReadFile(path)
		fsys[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		return err
	}
	return s.migrate(ctx, fsys)
}

// SessionLockKey is the advisory lock key bookings of a session take.
func SessionLockKey(sessionID int64) int64 { return lockKey(lockSession, sessionID) }

// JobLockKey is the sweep job's lock key; MigrateLockKey the migrations'.
var JobLockKey, MigrateLockKey = jobKey(JobSweep), lockKey(lockMigrate, 0)
