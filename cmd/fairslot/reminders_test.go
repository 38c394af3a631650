package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
)

// TestDemoSendsPaymentReminder runs the demo with waitlist offers of 2
// minutes and the payment reminder 1m55s before the deadline (config), and
// the simulator's first-come session of one place: one patient holds it
// and cancels, the other, waiting, is offered it and — the sweep finding
// the reminder due five seconds later — reminded to pay, once, through the
// log provider, by masked name.
func TestDemoSendsPaymentReminder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "fairslot.json")
	if err := os.WriteFile(config, []byte(`{"sweep_interval": "1s", "release": {"win_hold": "2m", "offer_hold": "2m"},
		"notify": {"provider": "log", "pay_reminder_before": "1m55s"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, buildBinary(t), dir, []string{"--config", config, "--sim", "--sim-opens-in", "1s", "--sim-slots", "1"})
	m := regexp.MustCompile(`first_come_session=(\d+) opens=(\S+)`).FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no simulation sessions in the log:\n%s", s.log())
	}
	session := m[1]
	opens, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Fatal(err)
	}
	patient := func(phone string, serial int) (token string, id int64) {
		t.Helper()
		token = s.login(t, phone)
		first := fmt.Sprintf("11010519800101%03d", serial)
		code, body, err := s.post("/api/v1/patients", token, "", fmt.Sprintf(`{"name":"周大福","id_type":"cn_resident","id_number":%q}`, first+string(fairslot.ResidentCheckDigit(first))))
		if err != nil || code != 201 {
			t.Fatalf("bind: %d %v %v", code, body, err)
		}
		return token, int64(body["id"].(float64))
	}
	holder, p1 := patient("13700000001", 1)
	waiter, p2 := patient("13700000002", 2)
	time.Sleep(time.Until(opens)) // the release time, not a guess: the log says it
	code, body, err := s.post("/api/v1/bookings", holder, "", fmt.Sprintf(`{"session_id":%s,"patient_id":%d}`, session, p1))
	if err != nil || code != 201 {
		t.Fatalf("hold: %d %v %v", code, body, err)
	}
	booking := int64(body["id"].(float64))
	if code, body, err := s.post("/api/v1/waitlist", waiter, "", fmt.Sprintf(`{"session_id":%s,"patient_id":%d}`, session, p2)); err != nil || code != 201 {
		t.Fatalf("waitlist: %d %v %v", code, body, err)
	}
	if code, body, err := s.post(fmt.Sprintf("/api/v1/bookings/%d/cancel", booking), holder, "", ""); err != nil || code != 200 {
		t.Fatalf("cancel: %d %v %v", code, body, err)
	}
	const prefix = "fairslot reminder: the place held for " // English: an account that never used the pages
	msg := s.Message(t, "13700000002", prefix, "the payment reminder")
	if !strings.Contains(msg, "周*") || strings.Contains(msg, "周大福") || !strings.Contains(msg, "is not paid yet") {
		t.Errorf("the reminder = %q, want the patient masked and the deadline", msg)
	}
	if got := s.Messages("13700000001", prefix); len(got) != 0 {
		t.Errorf("the patient who held and cancelled was reminded: %q", got)
	}
	if got := s.Messages("13700000002", prefix); len(got) != 1 {
		t.Errorf("%d reminders, want 1: %q", len(got), got)
	}
}
