package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/e2e"
	"github.com/fairslot/fairslot/internal/kit"
)

// TestKitServeAndCommands: serve (leading the jobs on SQLite) writes the
// kit to kit.dir with a paid booking in it, masked; 'kit verify' accepts
// it and refuses it altered; 'kit' writes one on demand; 'kit import'
// enters the desk's check-in once, and refuses a bad file by its line.
func TestKitServeAndCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir, share := t.TempDir(), t.TempDir()
	kitDir := filepath.Join(share, "kit")
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"kit": {"dir": %q, "every": "1s", "lang": "zh-CN"}}`, kitDir)), 0o600)
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json")}
	s := startServer(t, bin, dir, []string{"--config", cfg, "--drain", "0s"})

	// A paid booking in today's first session of the fever clinic that has
	// not ended.
	const phone = "13712340000"
	first := "11010519800101123"
	id := first + string(fairslot.ResidentCheckDigit(first))
	// (The hospital's today: this test skipped itself whenever the host's
	// date was not Shanghai's, and always, reading the list as an array.)
	tok, bookingID, bookingCode := e2e.HeldBooking(t, s.Server, phone, id)
	if code, body, err := s.post(fmt.Sprintf("/api/v1/bookings/%d/pay", bookingID), tok, "pay-kit", ""); err != nil || code != 200 {
		t.Fatalf("pay: %d %v %v", code, body, err)
	}
	paid := time.Now()

	// The leader writes a kit with it within a few seconds.
	guard := time.Now().Add(60 * time.Second) // a deadline on a hang, not a speed target
	for {
		if cur, err := kit.ReadCurrent(kitDir); err == nil && cur.GeneratedAt.After(paid.Add(time.Second)) {
			break
		}
		if time.Now().After(guard) {
			t.Fatalf("no kit written after the booking:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	for _, want := range []string{"downtime kit on", "downtime kit written"} {
		if !strings.Contains(s.log(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if strings.Contains(s.log(), "ALERT") {
		t.Errorf("an ALERT:\n%s", s.log())
	}
	verifyKey := strings.TrimSpace(fairslotCmd(t, bin, false, append([]string{"backup", "key"}, flags...)...))
	out := fairslotCmd(t, bin, false, "kit", "verify", "--verify-key", verifyKey, kitDir)
	if !strings.HasPrefix(out, "OK ") {
		t.Errorf("kit verify:\n%s", out)
	}
	cur, _ := kit.ReadCurrent(kitDir)
	gen := filepath.Join(kitDir, cur.Generation)
	csvData, _ := os.ReadFile(filepath.Join(gen, "department-1.csv"))
	if !strings.Contains(string(csvData), bookingCode+",欧*,cn_resident,confirmed") {
		t.Errorf("the fever clinic's CSV lacks the booking:\n%s", csvData)
	}
	filepath.WalkDir(share, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, _ := os.ReadFile(path)
		for _, secret := range []string{id, phone, "欧阳娜娜", "19800101"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("%s carries %q", path, secret)
			}
		}
		return nil
	})

	// On demand, verified with the installation's own key; then altered.
	other := filepath.Join(share, "on-demand")
	out = fairslotCmd(t, bin, false, append([]string{"kit", "--out", other, "--department", "1"}, flags...)...)
	if !strings.Contains(out, "1 bookings") {
		t.Errorf("kit --department 1:\n%s", out)
	}
	fairslotCmd(t, bin, false, append(append([]string{"kit", "verify"}, flags...), other)...)
	ocur, _ := kit.ReadCurrent(other)
	page := filepath.Join(other, ocur.Generation, "department-1.html")
	raw, _ := os.ReadFile(page)
	os.WriteFile(page, []byte(strings.Replace(string(raw), "已预约", "已取消", 1)), 0o644)
	if out := fairslotCmd(t, bin, true, append(append([]string{"kit", "verify"}, flags...), other)...); !strings.Contains(out, "does not match the signed manifest") {
		t.Errorf("kit verify of an altered page:\n%s", out)
	}
	fairslotCmd(t, bin, true, append([]string{"kit", "--out", filepath.Join(dir, "data", "kit")}, flags...)...) // inside the data directory

	// The desk's paper: the kit's own CSV with the desk's columns filled.
	// Written down in the hospital's zone (the demo's), in the booking's
	// minute or after it, never in the host's.
	hospital, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().In(hospital).Format("2006-01-02 15:04")
	filled := strings.Replace(string(csvData), bookingCode+",欧*,cn_resident,confirmed,,,", bookingCode+",欧*,cn_resident,confirmed,,"+at+","+id[14:], 1)
	desk := filepath.Join(share, "desk.csv")
	os.WriteFile(desk, []byte(filled), 0o600)
	importArgs := append(append([]string{"kit", "import", "--staff", "desk"}, flags...), desk)
	if out := fairslotCmd(t, bin, false, importArgs...); !strings.Contains(out, "1 entered, 0 already entered before") {
		t.Errorf("kit import:\n%s", out)
	}
	if out := fairslotCmd(t, bin, false, importArgs...); !strings.Contains(out, "0 entered, 1 already entered before") {
		t.Errorf("kit import again:\n%s", out)
	}
	bad := filepath.Join(share, "bad.csv")
	os.WriteFile(bad, []byte("kind,code,checked_in_at,id_last4\ncheck_in,"+bookingCode+",not a time,1234\n"), 0o600)
	if out := fairslotCmd(t, bin, true, append(append([]string{"kit", "import", "--staff", "desk"}, flags...), bad)...); !strings.Contains(out, "line 2:") {
		t.Errorf("kit import of a bad file:\n%s", out)
	}
	if out := fairslotCmd(t, bin, true, append(append([]string{"kit", "import", "--staff", "doctor"}, flags...), desk)...); !strings.Contains(out, "may not") {
		t.Errorf("kit import as a doctor:\n%s", out)
	}
}
