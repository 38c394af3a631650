package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testOutbox: due messages come oldest first and only when due; an attempt
// is taken once (a second sender with the same reading gets a Conflict);
// a message ends once, sent or dead; the backlog counts pending messages.
// On PostgreSQL this runs as the online role, which has no UPDATE on the
// outbox: the attempt and the end go through the migration's functions.
func testOutbox(t *testing.T, s storage.Store) {
	msgs := []storage.OutboxMessage{
		{Ref: "ref-a", Channel: "sms", RecipientSealed: []byte("r1"), BodySealed: []byte("b1"), CreatedAt: base},
		{Ref: "ref-b", Channel: "sms", RecipientSealed: []byte("r2"), BodySealed: []byte("b2"), CreatedAt: base.Add(time.Second)},
		{Ref: "ref-c", Channel: "email", RecipientSealed: []byte("r3"), BodySealed: []byte("b3"), CreatedAt: base.Add(2 * time.Second)},
	}
	update(t, s, func(tx storage.Tx) error {
		for _, m := range msgs {
			if err := tx.AppendOutbox(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	due := func(now time.Time) (refs []string, got []storage.OutboxMessage) {
		t.Helper()
		if err := s.View(ctx, func(tx storage.Tx) (err error) {
			got, err = tx.DueOutbox(ctx, now, 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			refs = append(refs, m.Ref)
		}
		return refs, got
	}
	backlog := func() (n int) {
		t.Helper()
		if err := s.View(ctx, func(tx storage.Tx) (err error) {
			n, err = tx.OutboxBacklog(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if refs, _ := due(base.Add(time.Second)); len(refs) != 2 || refs[0] != "ref-a" || refs[1] != "ref-b" {
		t.Fatalf("due at +1s = %v, want [ref-a ref-b]", refs)
	}
	_, got := due(base.Add(time.Hour))
	if len(got) != 3 || got[2].Channel != "email" || string(got[2].BodySealed) != "b3" || got[0].Status != storage.OutboxPending || got[0].Attempts != 0 {
		t.Fatalf("due at +1h = %+v", got)
	}
	if n := backlog(); n != 3 {
		t.Errorf("backlog = %d, want 3", n)
	}
	a, b, c := got[0], got[1], got[2]

	// The first attempt of a: taken once.
	update(t, s, func(tx storage.Tx) error { return tx.AttemptOutbox(ctx, a.ID, 1, base.Add(time.Minute)) })
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.AttemptOutbox(ctx, a.ID, 1, base.Add(time.Minute)) })
	wantKind(t, "the same attempt again", err, fairslot.Conflict)
	if refs, _ := due(base.Add(30 * time.Second)); len(refs) != 2 || refs[0] != "ref-b" {
		t.Errorf("due at +30s after a's attempt = %v, want [ref-b ref-c]", refs)
	}
	if _, got := due(base.Add(time.Minute)); len(got) != 3 || got[2].Ref != "ref-a" || got[2].Attempts != 1 || !got[2].NextAttempt.Equal(base.Add(time.Minute)) {
		t.Errorf("due at +1m = %+v, want a last with attempt 1 due at +1m", got)
	}

	// a is sent, b is dead; neither ends twice, nor is due again.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.FinishOutbox(ctx, a.ID, storage.OutboxSent, base.Add(2*time.Minute)); err != nil {
			return err
		}
		return tx.FinishOutbox(ctx, b.ID, storage.OutboxDead, base.Add(2*time.Minute))
	})
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.FinishOutbox(ctx, a.ID, storage.OutboxDead, base) })
	wantKind(t, "finishing a sent message", err, fairslot.Conflict)
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.AttemptOutbox(ctx, b.ID, 1, base) })
	wantKind(t, "an attempt at a dead message", err, fairslot.Conflict)
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.FinishOutbox(ctx, c.ID, storage.OutboxPending, base) }); err == nil {
		t.Error("finishing as pending: no error")
	}
	if refs, _ := due(base.Add(time.Hour)); len(refs) != 1 || refs[0] != "ref-c" {
		t.Errorf("due after the ends = %v, want [ref-c]", refs)
	}
	if n := backlog(); n != 1 {
		t.Errorf("backlog = %d, want 1", n)
	}
}

// testLoginCodes: every valid code of a phone is listed, newest first, with
// the requester that asked for it.
func testLoginCodes(t *testing.T, s storage.Store) {
	phone := []byte("phone-index")
	for i, req := range [][]byte{[]byte("owner"), []byte("stranger"), nil} {
		c := storage.LoginCode{PhoneIndex: phone, CodeHash: []byte{byte(i)}, ExpiresAt: base.Add(5 * time.Minute), CreatedAt: base.Add(time.Duration(i) * time.Second), Requester: req}
		update(t, s, func(tx storage.Tx) error { return tx.CreateLoginCode(ctx, &c) })
	}
	var got []storage.LoginCode
	if err := s.View(ctx, func(tx storage.Tx) (err error) {
		got, err = tx.LoginCodes(ctx, phone, base.Add(time.Minute))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Requester != nil || string(got[1].Requester) != "stranger" || string(got[2].Requester) != "owner" {
		t.Fatalf("LoginCodes = %+v, want 3 newest first with their requesters", got)
	}
	if err := s.View(ctx, func(tx storage.Tx) (err error) {
		got, err = tx.LoginCodes(ctx, phone, base.Add(5*time.Minute))
		return err
	}); err != nil || len(got) != 0 {
		t.Errorf("LoginCodes after expiry = %v, %v; want none", got, err)
	}
}

// testOutboxDedupe: a message with a dedupe key already in the outbox is
// not added, and that is no error — whether the first is pending or sent,
// written in the same transaction, a later one, or a concurrent one (two
// nodes' sweeps) — while messages without a key are never deduplicated.
func testOutboxDedupe(t *testing.T, s storage.Store) {
	msg := func(ref, key string) storage.OutboxMessage {
		return storage.OutboxMessage{Ref: ref, Channel: "sms", RecipientSealed: []byte("r"), BodySealed: []byte("b"), CreatedAt: base, DedupeKey: key}
	}
	appendAll := func(ms ...storage.OutboxMessage) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			for _, m := range ms {
				if err := tx.AppendOutbox(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
	}
	pending := func() (refs []string) {
		t.Helper()
		if err := s.View(ctx, func(tx storage.Tx) error {
			due, err := tx.DueOutbox(ctx, base.Add(time.Hour), 100)
			for _, m := range due {
				refs = append(refs, m.Ref)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return refs
	}
	if err := appendAll(msg("pay-1", "reminder:pay:1"), msg("pay-1-again", "reminder:pay:1"), msg("plain-1", ""), msg("plain-2", "")); err != nil {
		t.Fatalf("appending a duplicate key in one transaction: %v", err)
	}
	if err := appendAll(msg("pay-1-later", "reminder:pay:1")); err != nil {
		t.Fatalf("appending a duplicate key later: %v", err)
	}
	if got, want := pending(), []string{"pay-1", "plain-1", "plain-2"}; !slices.Equal(got, want) {
		t.Fatalf("outbox = %v, want %v: a key once, messages without a key all", got, want)
	}
	// Sent, the key still holds: a reminder is never written twice.
	var first int64
	if err := s.View(ctx, func(tx storage.Tx) error {
		due, err := tx.DueOutbox(ctx, base, 1)
		if err == nil {
			first = due[0].ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx storage.Tx) error { return tx.AttemptOutbox(ctx, first, 1, base) })
	update(t, s, func(tx storage.Tx) error { return tx.FinishOutbox(ctx, first, storage.OutboxSent, base) })
	if err := appendAll(msg("pay-1-after-sent", "reminder:pay:1")); err != nil {
		t.Fatal(err)
	}
	// Concurrent sweeps write one key.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = appendAll(msg(fmt.Sprintf("day-2-%d", i), "reminder:day:2"))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent append %d: %v", i, err)
		}
	}
	got := pending()
	days := 0
	for _, ref := range got {
		if strings.HasPrefix(ref, "day-2-") {
			days++
		}
	}
	if days != 1 || slices.Contains(got, "pay-1-after-sent") || len(got) != 3 {
		t.Errorf("outbox after the sent key and 8 concurrent appends = %v, want plain-1, plain-2 and one day-2-*", got)
	}
}
