package app_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *faultyTx) MovePayment(ctx context.Context, key string, from, to storage.PaymentStatus, m storage.PaymentMove) error {
	err := t.Tx.MovePayment(ctx, key, from, to, m)
	if err == nil {
		t.ops = append(t.ops, "payment "+string(to))
	}
	return err
}

// netFault is how a call to the provider fails.
type netFault int

const (
	// lostRequest: the call never reaches the provider.
	lostRequest netFault = iota + 1
	// lostAnswer: the provider acts, and its answer is lost (a timeout).
	lostAnswer
)

var errNetwork = errors.New("injected network failure")

// faultyProvider is the sandbox behind a network that fails as planned:
// each planned fault applies to the next call of its method. Hooks run
// inside the next Charge, before it reaches the sandbox (during) or after
// (after), for races and crashes at exactly those points.
type faultyProvider struct {
	*payment.Sandbox
	mu            sync.Mutex
	faults        map[string][]netFault // by method
	dead          bool                  // a crashed process: no call gets out
	during, after func()
}

func (p *faultyProvider) plan(method string, f netFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.faults == nil {
		p.faults = map[string][]netFault{}
	}
	p.faults[method] = append(p.faults[method], f)
}

// crash makes every call from now on fail: the process died.
func (p *faultyProvider) crash() { p.mu.Lock(); p.dead = true; p.mu.Unlock() }

// heal drops every planned fault and hook, and brings the process back.
func (p *faultyProvider) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults, p.dead, p.during, p.after = nil, false, nil, nil
}

// call runs do as method through the faulty network.
func (p *faultyProvider) call(method string, do func() error) error {
	p.mu.Lock()
	var f netFault
	if q := p.faults[method]; len(q) > 0 {
		f, p.faults[method] = q[0], q[1:]
	}
	dead := p.dead
	var during, after func()
	if method == "charge" {
		during, after, p.during, p.after = p.during, p.after, nil, nil
	}
	p.mu.Unlock()
	if dead || f == lostRequest {
		return fmt.Errorf("%s: %w", method, errNetwork)
	}
	if during != nil {
		during()
	}
	if err := do(); err != nil {
		return err
	}
	if after != nil {
		after()
	}
	p.mu.Lock()
	dead = p.dead
	p.mu.Unlock()
	if dead || f == lostAnswer {
		return fmt.Errorf("%s: answer lost: %w", method, errNetwork)
	}
	return nil
}

func (p *faultyProvider) Charge(ctx context.Context, key string, amount int64, ref string) (c payment.Charge, err error) {
	err = p.call("charge", func() (err error) { c, err = p.Sandbox.Charge(ctx, key, amount, ref); return err })
	return c, err
}

// ChargeFor is Charge naming the payer: the same network, the same faults.
func (p *faultyProvider) ChargeFor(ctx context.Context, key string, amount int64, ref, payer string) (c payment.Charge, err error) {
	err = p.call("charge", func() (err error) { c, err = p.Sandbox.ChargeFor(ctx, key, amount, ref, payer); return err })
	return c, err
}

func (p *faultyProvider) Refund(ctx context.Context, key string) error {
	return p.call("refund", func() error { return p.Sandbox.Refund(ctx, key) })
}

func (p *faultyProvider) Status(ctx context.Context, key string) (c payment.Charge, err error) {
	err = p.call("status", func() (err error) { c, err = p.Sandbox.Status(ctx, key); return err })
	return c, err
}

// payEnv is a patient with a held booking tomorrow, over a faulty store
// and a faulty provider.
type payEnv struct {
	*env
	store *faultyStore
	prov  *faultyProvider
	a     app.Actor
	held  app.BookingView
}

const grace = 2 * time.Minute

// newLightEnv is newEnv with commits durable across a process crash only
// (SQLite's synchronous=NORMAL): these tests fail transactions on purpose
// and need no fsync for each of their hundreds of commits.
func newLightEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = openServiceTB(t, e.dir, "NORMAL")
	e.seed(t)
	return e
}

func newPayEnv(t *testing.T, e *env) *payEnv {
	t.Helper()
	pe := &payEnv{env: e, store: &faultyStore{Store: e.svc.Store}, prov: &faultyProvider{Sandbox: e.pay}}
	e.svc.Store, e.svc.Payments, e.svc.PaymentGrace = pe.store, pe.prov, grace
	pe.a = e.login(t, "13812345678")
	p := e.bind(t, pe.a, "张三", 1)
	var err error
	if pe.held, err = e.svc.Hold(ctx, pe.a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID}); err != nil {
		t.Fatal(err)
	}
	return pe
}

// key is an Idempotency-Key as the provider and the database know it.
func (pe *payEnv) key(k string) string { return fmt.Sprintf("%d:%s", pe.a.ID, k) }

func (pe *payEnv) payKey(k string) (app.BookingView, error) {
	return pe.svc.Pay(ctx, pe.a, pe.held.ID, k)
}

func (pe *payEnv) booking(t *testing.T) fairslot.Booking {
	t.Helper()
	var b fairslot.Booking
	if err := pe.store.Store.View(ctx, func(tx storage.Tx) (err error) { b, err = tx.Booking(ctx, pe.held.ID); return err }); err != nil {
		t.Fatal(err)
	}
	return b
}

// paid is whether a booking in status s has been paid for and kept.
func paid(s fairslot.Status) bool {
	switch s {
	case fairslot.Confirmed, fairslot.CheckedIn, fairslot.Called, fairslot.Completed, fairslot.NoShow:
		return true
	}
	return false
}

// checkInvariant checks the payment invariant for the booking and the keys
// used on it, in the database and at the provider: the booking is paid
// exactly when one of its payments is settled; a settled payment's money is
// held by the provider (never refunded); the provider holds money only
// under a key whose payment is live or being refunded. Settled, it also
// requires that nothing is left pending or refunding and that the provider
// holds money only for the settled payment.
func (pe *payEnv) checkInvariant(t *testing.T, keys []string, settledAll bool) {
	t.Helper()
	b := pe.booking(t)
	held := pe.pay.Held()
	var settled []string
	err := pe.store.Store.View(ctx, func(tx storage.Tx) error {
		for _, k := range keys {
			p, err := tx.Payment(ctx, k)
			if fairslot.ErrorKind(err) == fairslot.NotFound {
				if held[k] != 0 {
					t.Errorf("the provider holds %d under %s, which the database has no payment for", held[k], k)
				}
				continue
			} else if err != nil {
				return err
			}
			switch p.Status {
			case storage.PaymentSettled:
				settled = append(settled, k)
				if held[k] != b.FeeCents {
					c, _ := pe.pay.Status(ctx, k)
					t.Errorf("payment %s is settled but the provider holds %d (%s), want the fee %d", k, held[k], c.State, b.FeeCents)
				}
			case storage.PaymentDeclined, storage.PaymentRefunded:
				if held[k] != 0 {
					t.Errorf("payment %s is %s but the provider holds %d under it", k, p.Status, held[k])
				}
			case storage.PaymentPending, storage.PaymentRefunding:
				if settledAll {
					t.Errorf("payment %s is still %s after the sweep", k, p.Status)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(settled) > 1 || paid(b.Status) != (len(settled) == 1) {
		t.Errorf("the booking is %s with settled payments %v; want paid exactly when one is settled", b.Status, settled)
	}
	if settledAll {
		var holding []string
		for _, k := range keys {
			if held[k] != 0 {
				holding = append(holding, k)
			}
		}
		sort.Strings(holding)
		if fmt.Sprint(holding) != fmt.Sprint(settled) {
			t.Errorf("after the sweep the provider holds money under %q; want only under the settled payment %v", holding, settled)
		}
	}
}

// userError checks that err is what a patient may be shown: a fairslot
// error with a message, never an internal one.
func userError(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && (fairslot.ErrorKind(err) == fairslot.Internal || fairslot.ErrorMessage(err) == "") {
		t.Errorf("%s: %v; want an error a patient can act on", what, err)
	}
}

// TestPaymentFailurePoints fails each point of a payment in turn and then
// does each thing that can happen next, checking the payment invariant on
// the database and the provider right after, and again once the sweep has
// reconciled what was left: never a booking confirmed on refunded money,
// never money kept for a booking not confirmed, never two charges kept.
func TestPaymentFailurePoints(t *testing.T) {
	type point struct {
		name  string
		arm   func(t *testing.T, pe *payEnv)
		first fairslot.Kind // what the first Pay returns ("" for success)
		// want is the booking's status once the sweep reconciled, after
		// each next step.
		want map[string]fairslot.Status
	}
	const (
		sameKey = "same-key retry"
		newKey  = "new-key retry"
		cancel  = "cancel"
		sweep   = "sweep after the grace period"
		expiry  = "hold expiry"
	)
	outcome := func(same, other, cancelled, swept, expired fairslot.Status) map[string]fairslot.Status {
		return map[string]fairslot.Status{sameKey: same, newKey: other, cancel: cancelled, sweep: swept, expiry: expired}
	}
	const (
		held      = fairslot.Held
		confirmed = fairslot.Confirmed
		cancelled = fairslot.Cancelled
		expired   = fairslot.Expired
	)
	// A payment cut short with the money taken: the retry or the sweep
	// settles it, a new key waits for it, a cancellation or an expiry
	// refunds it.
	chargedNotSettled := outcome(confirmed, confirmed, cancelled, confirmed, expired)
	// Settled already.
	settled := outcome(confirmed, confirmed, cancelled, confirmed, confirmed)
	// The hold lapsed while charging: the money went back.
	lapsed := outcome(expired, expired, cancelled, expired, expired)
	const downForTheSweep = "the charge's answer is lost and the provider is down for the next sweep"
	points := []point{
		{"the first transaction fails", func(t *testing.T, pe *payEnv) { pe.store.failNext(failBefore) },
			fairslot.Internal, outcome(confirmed, confirmed, cancelled, held, expired)},
		{"the provider declines", func(t *testing.T, pe *payEnv) {
			k := pe.key("k1")
			pe.pay.Decline = func(key string, _ int64) bool { return key == k }
		}, fairslot.Conflict, outcome(held, confirmed, cancelled, held, expired)},
		{"the charge request is lost", func(t *testing.T, pe *payEnv) { pe.prov.plan("charge", lostRequest) },
			fairslot.Conflict, outcome(confirmed, held, cancelled, held, expired)},
		{"the charge's answer is lost", func(t *testing.T, pe *payEnv) { pe.prov.plan("charge", lostAnswer) },
			fairslot.Conflict, chargedNotSettled},
		{downForTheSweep, func(t *testing.T, pe *payEnv) { pe.prov.plan("charge", lostAnswer) },
			fairslot.Conflict, chargedNotSettled},
		{"the charge's answer is lost and the provider refunds it on its own", func(t *testing.T, pe *payEnv) {
			pe.prov.plan("charge", lostAnswer)
			pe.prov.after = func() { pe.pay.Refund(ctx, pe.key("k1")) } // an operator at the provider's console
		}, fairslot.Conflict, outcome(held, held, cancelled, held, expired)},
		{"the commit after the charge fails", func(t *testing.T, pe *payEnv) { pe.store.failWhen(did("booking confirmed"), failCommit) },
			fairslot.Conflict, chargedNotSettled},
		{"the commit after the charge succeeds but its answer is lost", func(t *testing.T, pe *payEnv) {
			pe.store.failWhen(did("booking confirmed"), failAfterCommit)
		}, fairslot.Conflict, settled},
		{"the process dies between the charge and the commit", func(t *testing.T, pe *payEnv) {
			pe.prov.after = func() { pe.store.setDown(true); pe.prov.crash() }
		}, fairslot.Conflict, chargedNotSettled},
		{"the hold expires during the charge", func(t *testing.T, pe *payEnv) { pe.prov.during = func() { pe.clock.Add(16 * time.Minute) } },
			fairslot.Gone, lapsed},
		{"the hold expires during the charge and the refund request is lost", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() { pe.clock.Add(16 * time.Minute) }
			pe.prov.plan("refund", lostRequest)
		}, fairslot.Gone, lapsed},
		{"the hold expires during the charge and the refund's answer is lost", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() { pe.clock.Add(16 * time.Minute) }
			pe.prov.plan("refund", lostAnswer)
		}, fairslot.Gone, lapsed},
		{"the hold expires during the charge and recording the refund fails", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() { pe.clock.Add(16 * time.Minute) }
			pe.store.failWhen(did("payment refunded"), failCommit)
		}, fairslot.Gone, lapsed},
		{"the sweep gives up on the payment before the charge reaches the provider", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() {
				pe.clock.Add(grace + time.Second)
				if err := pe.svc.Sweep(ctx); err != nil {
					t.Errorf("sweep: %v", err)
				}
			}
		}, fairslot.Gone, outcome(held, confirmed, cancelled, held, expired)},
		{"the sweep gives up on the payment before the charge reaches the provider, and the process dies after it", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() {
				pe.clock.Add(grace + time.Second)
				if err := pe.svc.Sweep(ctx); err != nil {
					t.Errorf("sweep: %v", err)
				}
			}
			pe.prov.after = func() { pe.store.setDown(true); pe.prov.crash() }
		}, fairslot.Conflict, outcome(held, confirmed, cancelled, held, expired)},
		{"the sweep finds the charge before the payment settles it", func(t *testing.T, pe *payEnv) {
			pe.prov.after = func() {
				pe.clock.Add(grace + time.Second)
				if err := pe.svc.Sweep(ctx); err != nil {
					t.Errorf("sweep: %v", err)
				}
			}
		}, "", settled},
		{"the patient cancels during the charge", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() {
				if _, err := pe.svc.Cancel(ctx, pe.a, pe.held.ID); err != nil {
					t.Errorf("cancel: %v", err)
				}
			}
		}, fairslot.Gone, outcome(cancelled, cancelled, cancelled, cancelled, cancelled)},
		{"a same-key retry runs during the charge", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() {
				if v, err := pe.payKey("k1"); err != nil || v.Status != confirmed {
					t.Errorf("the concurrent retry = %v, %v; want confirmed", v.Status, err)
				}
			}
		}, "", settled},
		{"a new-key retry runs during the charge", func(t *testing.T, pe *payEnv) {
			pe.prov.during = func() {
				_, err := pe.payKey("k2")
				wantKind(t, "a second key while the first is being charged", err, fairslot.Conflict)
				if fairslot.RetryAfter(err) == 0 {
					t.Errorf("a second key while the first is being charged: %v, want a Retry-After", err)
				}
			}
		}, "", settled},
	}
	next := []struct {
		name string
		do   func(t *testing.T, pe *payEnv) error
	}{
		{sameKey, func(t *testing.T, pe *payEnv) error {
			v, err := pe.payKey("k1")
			if err == nil && (v.Status != confirmed || pe.pay.Refunded(pe.key("k1"))) {
				t.Errorf("the retry returned the booking %s, the provider refunded %v; want it confirmed on a kept charge", v.Status, pe.pay.Refunded(pe.key("k1")))
			}
			return err
		}},
		{newKey, func(t *testing.T, pe *payEnv) error { _, err := pe.payKey("k2"); return err }},
		{cancel, func(t *testing.T, pe *payEnv) error { _, err := pe.svc.Cancel(ctx, pe.a, pe.held.ID); return err }},
		{sweep, func(t *testing.T, pe *payEnv) error { pe.clock.Add(grace + time.Second); return pe.svc.Sweep(ctx) }},
		{expiry, func(t *testing.T, pe *payEnv) error { pe.clock.Add(16 * time.Minute); return pe.svc.Sweep(ctx) }},
	}
	if testing.Short() {
		next = next[:1] // every failure point, followed by the same-key retry only
	}
	for _, pt := range points {
		for _, nx := range next {
			t.Run(pt.name+"/"+nx.name, func(t *testing.T) {
				pe := newPayEnv(t, newLightEnv(t))
				keys := []string{pe.key("k1"), pe.key("k2")}
				pt.arm(t, pe)
				_, err := pe.payKey("k1")
				if (pt.first == "") != (err == nil) || err != nil && fairslot.ErrorKind(err) != pt.first {
					t.Errorf("the first payment: %v; want kind %q", err, pt.first)
				}
				if pt.first != fairslot.Internal {
					userError(t, "the first payment", err)
				}
				pe.checkInvariant(t, keys, false)
				// The process restarts, the network and the database heal.
				pe.store.heal()
				pe.prov.heal()
				pe.pay.Decline = nil
				if pt.name == downForTheSweep {
					pe.prov.plan("status", lostRequest) // still down when the next step sweeps
				}
				err = nx.do(t, pe)
				userError(t, nx.name, err)
				if (nx.name == sweep || nx.name == expiry) && err != nil {
					t.Errorf("%s: %v", nx.name, err)
				}
				pe.checkInvariant(t, keys, false)
				// Whatever was left, the sweep finishes.
				pe.prov.heal()
				pe.clock.Add(grace + time.Second)
				if err := pe.svc.Sweep(ctx); err != nil {
					t.Fatalf("the final sweep: %v", err)
				}
				pe.checkInvariant(t, keys, true)
				if got, want := pe.booking(t).Status, pt.want[nx.name]; got != want {
					t.Errorf("the booking ends %s, want %s", got, want)
				}
			})
		}
	}
}

// TestPaymentAuditTrail: every change of a payment is recorded in the
// transaction that makes it — here a charge whose hold lapsed meanwhile,
// refunded only by the sweep because the first refund failed.
func TestPaymentAuditTrail(t *testing.T) {
	pe := newPayEnv(t, newLightEnv(t))
	pe.prov.during = func() { pe.clock.Add(16 * time.Minute) }
	pe.prov.plan("refund", lostRequest)
	_, err := pe.payKey("k1")
	wantKind(t, "paying while the hold lapses", err, fairslot.Gone)
	if msg := fairslot.ErrorMessage(err); !strings.Contains(msg, "hold expired") || !strings.Contains(msg, "refunded") {
		t.Errorf("the message %q should say the hold expired and the payment is being refunded", msg)
	}
	pe.clock.Add(grace + time.Second)
	if err := pe.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range auditLog(t, pe.env) {
		if strings.HasPrefix(ev.Action, "payment.") || ev.Action == "booking.pay" || ev.Action == "booking.expire" {
			got = append(got, ev.Action+" "+strings.SplitN(ev.Actor, ":", 2)[0]+" "+ev.Detail["was"])
		}
	}
	want := []string{"payment.start account ", "payment.refunding account pending", "booking.expire system ", "payment.refunded system "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("payment audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	pe.checkInvariant(t, []string{pe.key("k1")}, true)
}

// TestRefundAfterCancelIsRetried: a paid booking is cancelled while the
// provider is unreachable; the cancellation stands, and the sweep refunds.
func TestRefundAfterCancelIsRetried(t *testing.T) {
	pe := newPayEnv(t, newLightEnv(t))
	if _, err := pe.payKey("k1"); err != nil {
		t.Fatal(err)
	}
	pe.prov.plan("refund", lostRequest)
	pe.prov.plan("refund", lostAnswer)
	if v, err := pe.svc.Cancel(ctx, pe.a, pe.held.ID); err != nil || v.Status != fairslot.Cancelled {
		t.Fatalf("cancel with the provider down = %v, %v; want cancelled", v.Status, err)
	}
	if pe.pay.Refunded(pe.key("k1")) {
		t.Fatal("the refund went through though the provider was down")
	}
	pe.clock.Add(grace + time.Second)
	if err := pe.svc.Sweep(ctx); err != nil { // the answer is lost: still refunding
		t.Fatal(err)
	}
	pe.checkInvariant(t, []string{pe.key("k1")}, false)
	pe.clock.Add(grace + time.Second)
	if err := pe.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	pe.checkInvariant(t, []string{pe.key("k1")}, true)
	if !pe.pay.Refunded(pe.key("k1")) {
		t.Error("the cancelled booking's payment was not refunded")
	}
}

// backendEnv is a seeded env on SQLite, or on a fresh PostgreSQL database
// as the online role (skipped, saying so, without FAIRSLOT_TEST_POSTGRES).
func backendEnv(t *testing.T, backend string) *env {
	t.Helper()
	if backend == "sqlite" {
		return newLightEnv(t)
	}
	_, online := freshPostgres(t)
	e := &env{dir: t.TempDir()}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, online(), e.dir)
	e.seed(t)
	return e
}

// TestPayAndCancelRace pays and cancels one booking at the same moment,
// again and again, on both backends: whichever wins, the cancellation
// stands (a booking confirmed first is cancelled with its refund), a lost
// race is read again rather than shown, and no money is kept.
func TestPayAndCancelRace(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := backendEnv(t, backend)
			e.svc.PaymentGrace = grace
			for round := range 10 {
				a := e.login(t, fmt.Sprintf("1390000%04d", round))
				p := e.bind(t, a, "王五", 100+round)
				held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
				if err != nil {
					t.Fatal(err)
				}
				start := make(chan struct{})
				var payErr, cancelErr error
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); <-start; _, payErr = e.svc.Pay(ctx, a, held.ID, "k") }()
				go func() { defer wg.Done(); <-start; _, cancelErr = e.svc.Cancel(ctx, a, held.ID) }()
				close(start)
				wg.Wait()
				userError(t, "pay", payErr)
				if cancelErr != nil {
					t.Errorf("round %d: cancel while paying: %v; want it to stand", round, cancelErr)
				}
				pe := &payEnv{env: e, store: &faultyStore{Store: e.svc.Store}, a: a, held: held}
				pe.checkInvariant(t, []string{pe.key("k")}, false)
				e.clock.Add(grace + time.Second)
				if err := e.svc.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
				pe.checkInvariant(t, []string{pe.key("k")}, true)
				if b := pe.booking(t); b.Status != fairslot.Cancelled {
					t.Errorf("round %d: the booking ends %s, want cancelled", round, b.Status)
				}
			}
			if held := e.pay.Held(); len(held) != 0 {
				t.Errorf("the provider keeps %v for cancelled bookings", held)
			}
		})
	}
}

// TestConcurrentPayments has many goroutines pay one booking at once, half
// with one shared key and half each with its own, on both backends: exactly
// one charge is settled and kept, every other request is refused or given
// the confirmed booking, and nothing is kept of the others' money.
func TestConcurrentPayments(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pe := newPayEnv(t, backendEnv(t, backend))
			// The first charge's answer is lost, the sweep runs with a short
			// grace on a clock moving on, and everyone retries once, so that
			// fresh payments, resumed ones and the sweep's reconciliation all
			// interleave.
			pe.prov.plan("charge", lostAnswer)
			pe.svc.PaymentGrace = 500 * time.Millisecond
			const n = 24
			type result struct {
				key string
				v   app.BookingView
				err error
			}
			var results []result
			var mu sync.Mutex
			for wave := 0; wave < 2; wave++ {
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					key := "shared"
					if i%2 == 1 {
						key = fmt.Sprint("own-", i)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						v, err := pe.payKey(key)
						mu.Lock()
						results = append(results, result{key, v, err})
						mu.Unlock()
					}()
				}
				wg.Add(1)
				go func() { // the sweep, as the job leader runs it, meanwhile
					defer wg.Done()
					<-start
					for range 3 {
						pe.clock.Add(time.Second)
						if err := pe.svc.ReconcilePayments(ctx); err != nil {
							t.Errorf("reconcile: %v", err)
						}
					}
				}()
				close(start)
				wg.Wait()
			}
			keys := []string{pe.key("shared")}
			for i := 1; i < n; i += 2 {
				keys = append(keys, pe.key(fmt.Sprint("own-", i)))
			}
			won := ""
			answers := map[string]int{}
			for _, r := range results {
				if r.err == nil {
					answers["ok"]++
				} else {
					answers[fmt.Sprint(fairslot.ErrorKind(r.err), ": ", fairslot.ErrorMessage(r.err))]++
				}
				switch {
				case r.err == nil && r.v.Status != fairslot.Confirmed:
					t.Errorf("%s succeeded with the booking %s", r.key, r.v.Status)
				case r.err == nil && won != "" && won != r.key:
					t.Errorf("two keys paid one booking: %s and %s", won, r.key)
				case r.err == nil:
					won = r.key
				case strings.Contains(fairslot.ErrorMessage(r.err), "no longer"):
					t.Errorf("%s: %v; a lost race should be read again, not shown", r.key, r.err)
				default:
					userError(t, r.key, r.err)
				}
			}
			t.Logf("answers: %v", answers)
			pe.checkInvariant(t, keys, false)
			pe.clock.Add(grace + time.Second)
			if err := pe.svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			pe.checkInvariant(t, keys, true)
			// Every payment may have ended refunded (the sweep closing a key
			// before its charge arrived); then the booking is unpaid, and a
			// new key pays it.
			if b := pe.booking(t); b.Status != fairslot.Confirmed {
				if won != "" || len(pe.pay.Held()) != 0 {
					t.Fatalf("the booking is %s, though %q paid it and the provider keeps %v", b.Status, won, pe.pay.Held())
				}
				t.Logf("no payment of the race settled (%s); paying with a new key", b.Status)
				if _, err := pe.payKey("after"); err != nil {
					t.Fatalf("paying after the race: %v", err)
				}
				keys = append(keys, pe.key("after"))
				pe.checkInvariant(t, keys, true)
			}
			if held := pe.pay.Held(); len(held) != 1 {
				t.Errorf("the provider keeps %v; want one charge", held)
			}
		})
	}
}
