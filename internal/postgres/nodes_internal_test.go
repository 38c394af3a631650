package postgres

import (
	"testing"
	"time"
)

// Only a row written by a holder of the key, from the session it names,
// recently (a serve node), counts as a live node.
func TestNodeRowProven(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 12, 10, 7, 0, 0, 0, time.UTC)
	b := backend{PID: 4242, Start: now.Add(-time.Hour).Add(123 * time.Microsecond)}
	row := func(kind string, at time.Time) nodeRow {
		return nodeRow{Backend: b, Name: "node-1", Kind: kind, AtMs: at.UnixMilli(), MAC: nodeMAC(key, b, "node-1", kind, at.UnixMilli())}
	}
	tests := []struct {
		name   string
		change func(*nodeRow)
		key    []byte
		kind   string
		at     time.Time
		want   bool
	}{
		{"a fresh serve node", nil, key, kindServe, now.Add(-time.Second), true},
		{"a serve node 15 s ahead of the database", nil, key, kindServe, now.Add(liveFor), true},
		{"a stale serve node", nil, key, kindServe, now.Add(-liveFor - time.Millisecond), false},
		{"a serve node too far ahead", nil, key, kindServe, now.Add(liveFor + time.Millisecond), false},
		{"a migration, however old", nil, key, kindMigrate, now.Add(-24 * time.Hour), true},
		{"another key", nil, []byte("another key, not the keyset's..."), kindServe, now, false},
		{"no key", nil, nil, kindServe, now, false},
		{"the MAC copied to another session", func(r *nodeRow) { r.Backend.PID = 4243 }, key, kindServe, now, false},
		{"a later session given the same pid", func(r *nodeRow) { r.Backend.Start = r.Backend.Start.Add(time.Microsecond) }, key, kindServe, now, false},
		{"a session whose start the reader cannot see", func(r *nodeRow) { r.Backend.Start = time.Time{} }, key, kindServe, now, false},
		{"another name", func(r *nodeRow) { r.Name = "node-2" }, key, kindServe, now, false},
		{"a serve MAC relabelled a migration", func(r *nodeRow) { r.Kind = kindMigrate }, key, kindServe, now.Add(-time.Hour), false},
		{"a refreshed clock under an old MAC", func(r *nodeRow) { r.AtMs = now.UnixMilli() }, key, kindServe, now.Add(-time.Minute), false},
		{"a made-up MAC", func(r *nodeRow) { r.MAC = make([]byte, 32) }, key, kindServe, now, false},
		{"an unknown kind", nil, key, "admin", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := row(tt.kind, tt.at)
			if tt.change != nil {
				tt.change(&r)
			}
			if got := r.proven(tt.key, now); got != tt.want {
				t.Errorf("proven = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	const cancelAfter, terminateAfter = 5 * time.Second, 10 * time.Second
	active := Blocker{State: "active", BackendType: "client backend"}
	idleTx := Blocker{State: "idle in transaction", BackendType: "client backend"}
	idle := Blocker{State: "idle", BackendType: "client backend"}
	aborted := Blocker{State: "idle in transaction (aborted)", BackendType: "client backend"}
	super := Blocker{State: "idle in transaction", BackendType: "client backend", Superuser: true}
	autovacuum := Blocker{State: "active", BackendType: "autovacuum worker"}
	tests := []struct {
		name    string
		b       Blocker
		t       tracked
		blocked time.Duration
		want    verdict
	}{
		{"active, briefly", active, tracked{}, 4 * time.Second, wait},
		{"active, at the cancel threshold", active, tracked{}, cancelAfter, cancel},
		{"active, cancelled, still blocking", active, tracked{cancelled: true}, 7 * time.Second, wait},
		{"active, at the terminate threshold", active, tracked{cancelled: true}, terminateAfter, terminate},
		{"idle in a transaction: a cancel does nothing", idleTx, tracked{}, cancelAfter, terminate},
		{"idle with a session lock", idle, tracked{}, cancelAfter, terminate},
		{"aborted by a cancel, still holding", aborted, tracked{cancelled: true}, 6 * time.Second, terminate},
		{"idle, briefly", idleTx, tracked{}, time.Second, wait},
		{"a superuser's session", super, tracked{}, cancelAfter, alert},
		{"a superuser's session, alerted about", super, tracked{done: true}, time.Hour, wait},
		{"a background process", autovacuum, tracked{}, terminateAfter, alert},
		{"reported already", active, tracked{cancelled: true, done: true}, terminateAfter, wait},
	}
	for _, tt := range tests {
		if got := decide(tt.b, tt.t, tt.blocked, cancelAfter, terminateAfter); got != tt.want {
			t.Errorf("%s: decide = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A pool connection of the online role that blocks others in one short
// transaction after another is a new blocker each time; a session of
// another role is one blocker across its transactions.
func TestTrackKey(t *testing.T) {
	start := time.Now()
	b := func(user string, xact time.Time) Blocker {
		return Blocker{PID: 7, User: user, BackendStart: start, XactStart: xact}
	}
	x1, x2 := start.Add(time.Second), start.Add(2*time.Second)
	if trackKey(b(OnlineRole, x1), OnlineRole) == trackKey(b(OnlineRole, x2), OnlineRole) {
		t.Error("two transactions of an online session share a key")
	}
	if trackKey(b(OwnerRole, x1), OnlineRole) != trackKey(b(OwnerRole, time.Time{}), OnlineRole) {
		t.Error("an owner session's key changes with its transactions")
	}
	later := b(OwnerRole, x1)
	later.BackendStart = start.Add(time.Minute)
	if trackKey(b(OwnerRole, x1), OnlineRole) == trackKey(later, OnlineRole) {
		t.Error("a later session given the same pid shares a key")
	}
}
