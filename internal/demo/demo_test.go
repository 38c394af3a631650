package demo_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/demo/demotest"
	"github.com/fairslot/fairslot/internal/storage"
)

type nobody struct{}

func (nobody) Notify(context.Context, string, string) error { return nil }

// TestFloorSessionsAtAnyHour: the simulator's floor (fairsim flood and
// floor) books, pays and checks in patients in sessions the simulation
// makes for itself, so it works at any hour. It used to book into the
// demo's fever clinic of the day, which has a handful of places left by the
// evening (logged below): 'fairsim flood' failed at set-up with "no free
// place".
func TestFloorSessionsAtAnyHour(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	ctx := context.Background()
	for _, hhmm := range []string{"00:00:30", "00:05:00", "07:00:00", "12:30:00", "22:30:00", "23:40:00"} {
		t.Run(hhmm, func(t *testing.T) {
			hm, _ := time.Parse(time.TimeOnly, hhmm)
			now := time.Date(2026, 12, 10, hm.Hour(), hm.Minute(), hm.Second(), 0, loc)
			svc, _ := demotest.Service(t, loc, func() time.Time { return now }, nobody{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			svc.Policy.SameDayUntilEnd = true // as serve --demo
			// What the demo's own fever clinic has left today.
			demoLeft := 0
			fever, err := svc.Sessions(ctx, storage.SessionFilter{DepartmentID: 1, From: "2026-12-10", To: "2026-12-10"})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range fever {
				demoLeft += s.Remaining
			}
			storm, err := demo.SeedStorm(ctx, svc, now.Add(30*time.Second), time.Minute, 40)
			if err != nil {
				t.Fatal(err)
			}
			if len(storm.FloorSessions) != demo.FloorDoctors {
				t.Fatalf("floor sessions: %v", storm.FloorSessions)
			}
			left := 0
			for _, id := range storm.FloorSessions {
				v, err := svc.Session(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if v.Date != "2026-12-10" || !v.Release.Bookable || !now.Before(v.End) {
					t.Errorf("floor session %d: date %s, bookable %v, ends %v; want today, bookable now, not ended", id, v.Date, v.Release.Bookable, v.End)
				}
				left += v.Remaining
			}
			// fairsim flood books 2 × check-ins/s × phase + 30 (120 with its
			// defaults) and registers a walk-in a second.
			if left < 150 {
				t.Errorf("%d places in the floor sessions at %s; the flood needs 150", left, hhmm)
			}
			// A patient books, pays and is checked in at the desk.
			acct, err := svc.OpenAccount(ctx, app.System, "13700137000")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Consent(ctx, acct, svc.Privacy.Version(), "zh-CN"); err != nil {
				t.Fatal(err)
			}
			const first = "11010519800101123"
			number := first + string(fairslot.ResidentCheckDigit(first))
			p, err := svc.BindPatient(ctx, acct, app.PatientInput{Name: "夜班", IDType: fairslot.IDResident, IDNumber: number})
			if err != nil {
				t.Fatal(err)
			}
			b, err := svc.Hold(ctx, acct, app.HoldInput{SessionID: storm.FloorSessions[0], PatientID: p.ID})
			if err != nil {
				t.Fatalf("hold at %s: %v", hhmm, err)
			}
			if b, err = svc.Pay(ctx, acct, b.ID, "pay-1"); err != nil {
				t.Fatalf("pay at %s: %v", hhmm, err)
			}
			desk := app.Actor{Kind: storage.StaffToken, ID: 1, Role: fairslot.Registrar}
			if _, err := svc.CheckIn(ctx, desk, b.Code, number[len(number)-4:]); err != nil {
				t.Fatalf("check-in at %s: %v", hhmm, err)
			}
			t.Logf("%s: %d places in the floor sessions; the demo's fever clinic has %d left today", hhmm, left, demoLeft)
		})
	}
}
