package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/e2e"
)

// TestSimClock: 'serve --sim --sim-clock 01:00' starts the server's clock
// at 1 a.m. hospital time, whatever the real time, and POST /demo/clock
// moves it forward (never back); the release, the hold's expiry, the
// draw and the sweeps all follow it.
func TestSimClock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	s, draw, firstCome := e2e.SimServer(t, `{"notify": {"provider": "log"}}`,
		"--sim-clock", "01:00", "--sim-opens-in", "30m", "--sim-window", "1m", "--sim-reopens-in", "24h")
	loc := e2e.Hospital(t)
	ctx := context.Background()
	get := func(path, token string, v any) {
		t.Helper()
		for {
			resp, err := (&apiclient.Client{Base: s.URL, Token: token}).Do(ctx, "GET", path, nil, nil, false)
			if err == nil && resp.Status == 429 { // the account's rate: as asked
				time.Sleep(time.Second)
				continue
			}
			if err != nil || resp.Status != 200 {
				t.Fatalf("GET %s: %v %v", path, resp, err)
			}
			if err := resp.Decode(v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			return
		}
	}
	advance := func(to time.Time) demo.ClockState {
		t.Helper()
		resp, err := (&apiclient.Client{Base: s.URL}).Do(ctx, "POST", "/demo/clock", map[string]time.Time{"to": to}, nil, false)
		var st demo.ClockState
		if err != nil || resp.Status != 200 || resp.Decode(&st) != nil {
			t.Fatalf("POST /demo/clock: %v %v", resp, err)
		}
		return st
	}
	var clock demo.ClockState
	get("/demo/clock", "", &clock)
	if local := clock.Now.In(loc); local.Hour() != 1 || local.Minute() > 5 || clock.Speed != 1 {
		t.Fatalf("the clock reads %v at speed %v, want about 01:00 hospital time at 1", local, clock.Speed)
	}
	var storm demo.Storm
	get("/demo/storm", "", &storm)
	if got := storm.Opens.In(loc).Format("15:04"); got != "01:30" || fmt.Sprint(storm.DrawSession) != draw || fmt.Sprint(storm.FirstComeSession) != firstCome {
		t.Fatalf("the storm opens at %s with sessions %d, %d; want 01:30, %s, %s", got, storm.DrawSession, storm.FirstComeSession, draw, firstCome)
	}
	if storm.Later == nil || !storm.Later.Opens.Equal(storm.Opens.Add(24*time.Hour)) || storm.Later.DrawSession == 0 || storm.Later.FirstComeSession == 0 {
		t.Fatalf("the next release: %+v, want the doctor's two sessions a day after %v", storm.Later, storm.Opens)
	}

	// At 1 a.m. on the server's clock: sign in and bind; at the release,
	// hold a place and enter the draw.
	tok, patient := e2e.Bound(t, s, "13700000031", e2e.ResidentID(31))
	if st := advance(storm.Opens.Add(time.Second)); st.Now.Before(storm.Opens) {
		t.Fatalf("advanced to %v, the clock reads %v", storm.Opens, st.Now)
	}
	code, held, err := s.Post("/api/v1/bookings", tok, "", fmt.Sprintf(`{"session_id":%s,"patient_id":%d}`, firstCome, patient))
	if err != nil || code != 201 {
		t.Fatalf("hold at the release: %d %v %v", code, held, err)
	}
	until, _ := time.Parse(time.RFC3339, held["held_until"].(string))
	if d := until.Sub(storm.Opens); d < 15*time.Minute || d > 16*time.Minute {
		t.Errorf("held until %v, %v after the release; want 15 minutes on the server's clock", until.In(loc), d)
	}
	if code, body, err := s.Post(fmt.Sprintf("/api/v1/sessions/%s/draw/entries", draw), tok, "", fmt.Sprintf(`{"patient_id":%d}`, patient)); err != nil || code != 201 {
		t.Fatalf("enter the draw: %d %v %v", code, body, err)
	}
	// Never back.
	if st := advance(storm.Opens.Add(-time.Hour)); st.Now.Before(storm.Opens) {
		t.Fatalf("the clock went back to %v", st.Now)
	}
	// Past the window and the hold: the sweep draws (the one entrant wins)
	// and expires the unpaid hold.
	advance(until.Add(time.Minute))
	booking := int64(held["id"].(float64))
	for deadline := e2e.HangGuard(t); ; time.Sleep(500 * time.Millisecond) {
		var rel struct{ Drawn time.Time }
		get(fmt.Sprintf("/api/v1/sessions/%s/release", draw), "", &rel)
		var b struct{ Status string }
		get(fmt.Sprintf("/api/v1/bookings/%d", booking), tok, &b)
		var es struct {
			Entries []struct {
				BookingID int64 `json:"booking_id"`
			}
		}
		get("/api/v1/entries", tok, &es)
		if !rel.Drawn.IsZero() && b.Status == "expired" && len(es.Entries) == 1 && es.Entries[0].BookingID != 0 {
			if rel.Drawn.Before(storm.EntryCloses) {
				t.Errorf("drawn at %v, before the window closed at %v", rel.Drawn, storm.EntryCloses)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited until the test's deadline: drawn %v, hold %s, entries %+v", rel.Drawn, b.Status, es.Entries)
		}
	}
}
