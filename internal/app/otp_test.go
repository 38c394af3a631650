package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// A stranger who knows the owner's phone asks for its codes and guesses
// them from several devices and networks as fast as they are let: the
// owner's code still logs the owner in, the owner can ask for a new code
// after a wait, and the owner is warned through the outbox. Before issue
// 13 item 5 the stranger's five requests an hour, or five wrong guesses,
// locked the owner out.
func TestStrangerCannotLockOwnerOut(t *testing.T) {
	e := newEnv(t)
	const phone = "13812345678"
	owner := app.Actor{Device: "owner-phone", Addr: "203.0.113.0/24"}
	if err := e.svc.RequestLoginCode(ctx, owner, "+86 138-1234-5678"); err != nil {
		t.Fatal(err)
	}
	code := e.inbox.code(phone)

	refused := 0
	for s := range 3 {
		stranger := app.Actor{Device: fmt.Sprintf("bot-%d", s), Addr: fmt.Sprintf("198.51.%d.0/24", s)}
		for range 10 { // codes, as fast as the limits allow
			err := e.svc.RequestLoginCode(ctx, stranger, "008613812345678")
			if fairslot.ErrorKind(err) == fairslot.Limited {
				refused++
			} else if err != nil {
				t.Fatal(err)
			}
			e.clock.Add(time.Second)
		}
		// Wrong guesses: from the device that asked for codes (using up
		// its own codes), and from others that asked for none.
		for _, a := range []app.Actor{stranger, {Device: fmt.Sprintf("guesser-%d", s), Addr: fmt.Sprintf("192.0.%d.0/24", s)}} {
			for range 20 {
				_, _, err := e.svc.Login(ctx, a, phone, "000000")
				if k := fairslot.ErrorKind(err); k != fairslot.Unauthorized && k != fairslot.Limited {
					t.Fatalf("a stranger's wrong guess: %v", err)
				}
			}
		}
	}
	if refused == 0 {
		t.Error("the strangers were never refused a code")
	}
	// The guesses of those who asked for no code were cut off: even a
	// right code from one of them is refused now, before it is compared.
	stranger := app.Actor{Device: "bot-9", Addr: "198.51.9.0/24"}
	_, _, err := e.svc.Login(ctx, stranger, phone, code)
	wantKind(t, "a stranger's guess after the phone's stranger budget", err, fairslot.Limited)

	// The owner was warned, once.
	var warnings int
	if err := e.svc.Store.View(ctx, func(tx storage.Tx) error {
		due, err := tx.DueOutbox(ctx, e.clock.Now(), 1000)
		for _, m := range due {
			if body, err := e.svc.Vault.Open(vaultField(m.Ref), m.BodySealed); err == nil && strings.Contains(body, `"login_warning"`) {
				warnings++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if warnings != 1 {
		t.Errorf("warnings to the owner in the outbox = %d, want 1", warnings)
	}

	// The owner's code, from the owner's device, still works.
	if _, _, err := e.svc.Login(ctx, owner, phone, code); err != nil {
		t.Fatalf("the owner's login after the stranger's attack: %v", err)
	}
	// And the owner can ask for a new one: at once from a device the
	// strangers' requests did not touch, or after a growing gap.
	var asked bool
	for range 30 {
		if err := e.svc.RequestLoginCode(ctx, owner, phone); err == nil {
			asked = true
			break
		} else if fairslot.ErrorKind(err) != fairslot.Limited {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
	}
	if !asked {
		t.Fatal("the owner could not get a new code within 30 minutes of the attack")
	}
	if _, _, err := e.svc.Login(ctx, owner, phone, e.inbox.code(phone)); err != nil {
		t.Fatalf("the owner's login with a new code: %v", err)
	}
}

// The owner's own wrong guesses still use up the owner's code, and say
// how many tries are left.
func TestOwnWrongGuessesSayTriesLeft(t *testing.T) {
	e := newEnv(t)
	const phone = "13812345678"
	owner := app.Actor{Device: "owner-phone", Addr: "203.0.113.0/24"}
	if err := e.svc.RequestLoginCode(ctx, owner, phone); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.svc.Login(ctx, owner, phone, "000000")
	if err == nil || !strings.Contains(err.Error(), "4 tries left") {
		t.Errorf("a wrong guess: %v, want 4 tries left", err)
	}
}

func vaultField(ref string) vault.Field {
	return vault.Field{Table: "outbox", Row: ref, Column: "body"}
}
