package storagetest

import (
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
