package app_test

import (
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/localdate"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/sqlite"
	"github.com/fairslot/fairslot/internal/storage"
)

// reminderEnv is a seeded env on backend (PostgreSQL as the online role,
// skipped without FAIRSLOT_TEST_POSTGRES) with the release defaults, and
// reopen: another service on the same database and keyset with the same
// clock and policies — the server restarted, or a second node.
func reminderEnv(t *testing.T, backend string) (*env, func() *app.Service) {
	t.Helper()
	e := &env{dir: t.TempDir()}
	open := func() storage.Store {
		st, err := sqlite.Open(filepath.Join(e.dir, "data"), sqlite.Options{Location: loc, BusyTimeout: 30 * time.Second, Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if backend == "postgres" {
		_, open = freshPostgres(t)
	}
	e.svc, e.clock, e.inbox, e.pay = serviceOn(t, open(), e.dir)
	e.seed(t)
	e.svc.Release = release.Default()
	return e, func() *app.Service {
		svc, _, _, _ := serviceOn(t, open(), e.dir)
		svc.Now, svc.Release, svc.Location, svc.Reminders = e.clock.Now, e.svc.Release, e.svc.Location, e.svc.Reminders
		return svc
	}
}

// sweepAt sets the clock to at and sweeps with svc.
func (e *env) sweepAt(t *testing.T, svc *app.Service, at time.Time) {
	t.Helper()
	e.clock.mu.Lock()
	e.clock.now = at
	e.clock.mu.Unlock()
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
}

// wantReminders checks the outbox holds n messages of key, each naming the
// patient masked and none holding a secret.
func (e *env) wantReminders(t *testing.T, when, key string, n int, secrets ...string) []string {
	t.Helper()
	_, texts := e.outboxed(t, key)
	if len(texts) != n {
		t.Fatalf("%s: %d %s messages, want %d: %q", when, len(texts), key, n, texts)
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s: the %s message holds %q: %q", when, key, s, text)
			}
		}
	}
	return texts
}

// The payment reminder of a waitlist offer goes out once, PayBefore (10
// minutes) before its deadline: not a second earlier, not again on the
// next sweep nor after a restart; not when the offer was paid or
// cancelled first; never for the patient's own on-screen hold.
func TestPayReminder(t *testing.T) {
	pay := func(t *testing.T, e *env, a app.Actor, id int64) {
		if _, err := e.svc.Pay(ctx, a, id, "pay-offer"); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func(t *testing.T, e *env, a app.Actor, id int64) {
		if _, err := e.svc.Cancel(ctx, a, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, tt := range []struct {
			name string
			act  func(t *testing.T, e *env, a app.Actor, id int64) // 5 minutes into the offer
			want int
		}{
			{"unpaid", nil, 1},
			{"paid first", pay, 0},
			{"cancelled first", cancel, 0},
		} {
			t.Run(backend+"/"+tt.name, func(t *testing.T) {
				e, reopen := reminderEnv(t, backend)
				sess := e.newSession(t, e.session.DepartmentID, "2026-12-11", 1)
				a := e.login(t, "13800000001")
				pa := e.bind(t, a, "张三丰", 1)
				b := e.login(t, "13800000002")
				pb := e.bind(t, b, "李四光", 2)
				if err := e.svc.SetLanguage(ctx, b, "vi"); err != nil {
					t.Fatal(err)
				}
				held, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: sess.ID, PatientID: pa.ID})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.JoinWaitlist(ctx, b, app.WaitInput{SessionID: sess.ID, PatientID: pb.ID}); err != nil {
					t.Fatal(err)
				}
				// a's own hold, 6 minutes before it lapses: no reminder.
				e.sweepAt(t, e.svc, held.HeldUntil.Add(-6*time.Minute))
				e.wantReminders(t, "a's own hold", notify.KeyPayReminder, 0)
				// It lapses: the place is offered to b.
				e.sweepAt(t, e.svc, held.HeldUntil.Add(time.Second))
				bs, err := e.svc.Bookings(ctx, b)
				if err != nil || len(bs) != 1 || bs[0].Status != fairslot.Held {
					t.Fatalf("b's offer: %+v, %v", bs, err)
				}
				offer := bs[0]
				deadline := offer.HeldUntil
				if tt.act != nil {
					e.clock.Add(5 * time.Minute)
					tt.act(t, e, b, offer.ID)
				}
				e.sweepAt(t, e.svc, deadline.Add(-10*time.Minute-time.Second))
				e.wantReminders(t, "10m1s before the deadline", notify.KeyPayReminder, 0)
				secrets := []string{"张三丰", "李四光", "四光", residentID(2), residentID(2)[14:], "13800000002", offer.Code}
				e.sweepAt(t, e.svc, deadline.Add(-10*time.Minute))
				texts := e.wantReminders(t, "10m before the deadline", notify.KeyPayReminder, tt.want, secrets...)
				e.sweepAt(t, e.svc, deadline.Add(-9*time.Minute))
				e.wantReminders(t, "the next sweep", notify.KeyPayReminder, tt.want)
				e.sweepAt(t, reopen(), deadline.Add(-5*time.Minute))
				e.wantReminders(t, "after a restart", notify.KeyPayReminder, tt.want)
				if tt.want == 0 {
					return
				}
				for _, want := range []string{"李*", "vẫn chưa được thanh toán", localdate.Stamp("vi", deadline.In(loc)), "Dr Extra", "08:00–08:30"} {
					if !strings.Contains(texts[0], want) {
						t.Errorf("the reminder lacks %q: %q", want, texts[0])
					}
				}
			})
		}
	}
}

// A draw's winner is reminded to pay too, once; a missed window (no sweep
// ran in the last 10 minutes) sends nothing after the deadline.
func TestPayReminderForADrawWin(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sweepAt time.Duration // before the deadline
		want    int
	}{
		{"in the window", 10 * time.Minute, 1},
		{"window missed", -time.Minute, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc, c, _, _ := openService(t, t.TempDir())
			w := newWorld(t, svc, c, "CARD", drawRule("CARD"))
			sess := w.session(t, day, fairslot.Morning, 1)
			c.now = releaseAt.Add(time.Minute)
			a, ps := w.account(t, "13300000001", 1)
			if _, err := svc.EnterDraw(ctx, a, app.EntryInput{SessionID: sess.ID, PatientID: ps[0]}); err != nil {
				t.Fatal(err)
			}
			c.now = releaseAt.Add(30 * time.Minute)
			if n, err := svc.RunDueDraws(ctx); n != 1 || err != nil {
				t.Fatalf("draws run: %d, %v", n, err)
			}
			bs, err := svc.Bookings(ctx, a)
			if err != nil || len(bs) != 1 || bs[0].Status != fairslot.Held {
				t.Fatalf("the winner's booking: %+v, %v", bs, err)
			}
			e := &env{svc: svc, clock: c}
			e.sweepAt(t, svc, bs[0].HeldUntil.Add(-tt.sweepAt))
			e.sweepAt(t, svc, bs[0].HeldUntil.Add(-tt.sweepAt+time.Second))
			e.wantReminders(t, tt.name, notify.KeyPayReminder, tt.want)
		})
	}
}

// The day-before reminder goes out once per confirmed booking of
// tomorrow's sessions, from 18:00 in the hospital's zone (Asia/Shanghai)
// whatever the host's zone: not at 17:59, not again on the next sweep or
// after a restart, not for a booking confirmed after 18:00 (its
// confirmation says it all), nor for one cancelled, held or the day after.
func TestDayBeforeReminder(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	host, err := time.LoadLocation("America/Los_Angeles") // 16 hours behind: another date at 07:30 in Shanghai
	if err != nil {
		t.Fatal(err)
	}
	was := time.Local
	time.Local = host
	t.Cleanup(func() { time.Local = was })
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e, reopen := reminderEnv(t, backend)
			e.svc.Location = shanghai
			dayAfter := e.newSession(t, e.session.DepartmentID, "2026-12-12", 4)
			book := func(phone string, serial int, sess fairslot.Session, paid bool) (app.Actor, app.BookingView) {
				t.Helper()
				a := e.login(t, phone)
				if err := e.svc.SetLanguage(ctx, a, "zh-CN"); err != nil {
					t.Fatal(err)
				}
				p := e.bind(t, a, "王小明", serial)
				b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: sess.ID, PatientID: p.ID})
				if err != nil {
					t.Fatal(err)
				}
				if paid {
					if b, err = e.svc.Pay(ctx, a, b.ID, fmt.Sprint("pay-", serial)); err != nil {
						t.Fatal(err)
					}
				}
				return a, b
			}
			evening := time.Date(2026, 12, 10, 18, 0, 0, 0, shanghai)
			_, tomorrow := book("13900000001", 1, e.later, true)
			cancelled, c := book("13900000002", 2, e.later, true)
			if _, err := e.svc.Cancel(ctx, cancelled, c.ID); err != nil {
				t.Fatal(err)
			}
			book("13900000003", 3, dayAfter, true)
			e.clock.Add(time.Hour)
			book("13900000004", 4, e.later, false) // held, never paid (it lapses)

			e.sweepAt(t, e.svc, evening.Add(-time.Minute))
			e.wantReminders(t, "17:59", notify.KeyDayReminder, 0)
			e.sweepAt(t, e.svc, evening)
			texts := e.wantReminders(t, "18:00", notify.KeyDayReminder, 1, "王小明", "小明", residentID(1), residentID(1)[14:], "13900000001", tomorrow.Code)
			for _, want := range []string{"王*", "明天", localdate.Day("zh-CN", time.Date(2026, 12, 11, 0, 0, 0, 0, shanghai)), "Dr A", "Dept A", "08:00–08:30", "签到"} {
				if !strings.Contains(texts[0], want) {
					t.Errorf("the reminder lacks %q: %q", want, texts[0])
				}
			}
			// Confirmed after 18:00 for tomorrow: its confirmation is the
			// reminder.
			e.clock.Add(30 * time.Minute)
			book("13900000005", 5, e.later, true)
			e.sweepAt(t, e.svc, evening.Add(time.Hour))
			e.wantReminders(t, "the next sweep", notify.KeyDayReminder, 1)
			e.sweepAt(t, reopen(), evening.Add(2*time.Hour))
			e.wantReminders(t, "after a restart", notify.KeyDayReminder, 1)
			// The next evening, the day after's booking; nothing more for
			// the first.
			e.sweepAt(t, e.svc, evening.AddDate(0, 0, 1))
			e.wantReminders(t, "the next evening", notify.KeyDayReminder, 2)
		})
	}
}

// A booking whose reminder cannot be written (here its account's phone no
// longer opens) is logged and left, and holds back no one else's.
func TestReminderThatCannotBeWrittenHoldsBackNoOther(t *testing.T) {
	e, _ := reminderEnv(t, "sqlite")
	var logged strings.Builder
	e.svc.Log = slog.New(slog.NewTextHandler(&logged, nil))
	var ids []int64
	for i, phone := range []string{"13900000011", "13900000012"} {
		a := e.login(t, phone)
		p := e.bind(t, a, "赵六", 20+i)
		b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Pay(ctx, a, b.ID, fmt.Sprint("pay-", i)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	db, err := sql.Open("sqlite", filepath.Join(e.dir, "data", sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE accounts SET phone_sealed = x'00' WHERE id = ?`, ids[0]); err != nil {
		t.Fatal(err)
	}
	e.sweepAt(t, e.svc, time.Date(2026, 12, 10, 18, 0, 0, 0, loc))
	texts := e.wantReminders(t, "18:00", notify.KeyDayReminder, 1)
	if !strings.Contains(logged.String(), "a reminder cannot be written") {
		t.Errorf("the failed reminder was not logged:\n%s\n(sent: %q)", logged.String(), texts)
	}
}

// Three nodes sweeping at the same moment (on PostgreSQL three
// connections' transactions, on SQLite three stores on one file) write
// each reminder once, and none of them fails.
func TestRemindersOnceFromConcurrentSweeps(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e, reopen := reminderEnv(t, backend)
			for i := range 6 {
				a := e.login(t, fmt.Sprintf("1390000002%d", i))
				p := e.bind(t, a, "钱七", 30+i)
				b, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: e.later.ID, PatientID: p.ID})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.Pay(ctx, a, b.ID, fmt.Sprint("pay-", i)); err != nil {
					t.Fatal(err)
				}
			}
			nodes := []*app.Service{e.svc, reopen(), reopen()}
			e.clock.mu.Lock()
			e.clock.now = time.Date(2026, 12, 10, 18, 0, 0, 0, loc)
			e.clock.mu.Unlock()
			for round := range 3 {
				var wg sync.WaitGroup
				errs := make([]error, len(nodes))
				for i, n := range nodes {
					wg.Go(func() { errs[i] = n.Sweep(ctx) })
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("round %d, node %d: %v", round, i, err)
					}
				}
				e.wantReminders(t, fmt.Sprintf("round %d", round), notify.KeyDayReminder, 6)
			}
		})
	}
}
