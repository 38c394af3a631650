package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // reads the restored database to count lost writes

	"github.com/fairslot/fairslot/internal/apiclient"
)

// ransomRound is one round of the ransomware scenario (incident I5).
type ransomRound struct {
	Round int `json:"round"`
	// Acknowledged writes before the destruction: bookings made (201) and
	// cancelled (200), each answered to the patient.
	Acked int `json:"acked"`
	// Lost: acknowledged, but not in the restored database.
	Lost int `json:"lost"`
	// A write is timed by the server: the booking's created_at, the
	// cancellation's updated_at, taken in its transaction before the
	// commit, so the answer came after it. The destruction is the SIGKILL:
	// a process acknowledges nothing once it is delivered (reaping it can
	// take a second more on a loaded machine: DestroyedMS). NewestLostAgeMS
	// and OldestLostAgeMS are the newest and oldest lost write's age at the
	// SIGKILL by the server's time (ms; -1: none lost); nothing older than
	// 1 s may be lost.
	NewestLostAgeMS int64 `json:"newest_lost_age_ms"`
	OldestLostAgeMS int64 `json:"oldest_lost_age_ms"`
	// LostReadMS is, for each lost write, when the client read its answer
	// relative to the SIGKILL (a loaded client reads late).
	LostReadMS []int64 `json:"lost_read_ms"`
	// DestroyedMS is when the killed process was reaped and its data
	// deleted, relative to the SIGKILL being sent.
	DestroyedMS int64 `json:"destroyed_ms"`
	// RestoreMS is 'fairslot restore --replica' alone; RecoveryMS is kill →
	// the first booking acknowledged by the restored server; BaselineMS is
	// a plain start of the server on the same (restored) data → its first
	// booking.
	RestoreMS  int64  `json:"restore_ms"`
	RecoveryMS int64  `json:"recovery_ms"`
	BaselineMS int64  `json:"baseline_ms"`
	Audit      string `json:"audit"`
	Verified   bool   `json:"verified"`
	Kit        string `json:"kit"`
}

type ransomReport struct {
	Command          string        `json:"command"`
	Rounds           []ransomRound `json:"rounds"`
	MedianRecoveryMS int64         `json:"median_recovery_ms"`
	MedianBaselineMS int64         `json:"median_baseline_ms"`
	Ratio            float64       `json:"recovery_to_baseline"`
	MaxLost          int           `json:"max_lost"`
	MaxLostAgeMS     int64         `json:"max_lost_age_ms"`
	AllVerified      bool          `json:"all_verified"`
}

// runRansomware: a hospital morning books against 'serve --demo --sim'
// replicating to a directory on another "host"; the server is killed
// (SIGKILL) and its data directory destroyed; the database is restored from
// the replica onto a fresh directory and the server restarted on it. It
// measures recovery time, the acknowledged writes lost and the restore's
// audit verification.
func runRansomware(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ransomware", flag.ContinueOnError)
	bin := fs.String("fairslot", "", "the fairslot binary to run, kill and restore (required)")
	rounds := fs.Int("rounds", 1, "rounds: each a fresh hospital, a morning, a destruction and a recovery")
	accounts := fs.Int("accounts", 40, "patient accounts booking through the morning (2 patients each)")
	morning := fs.Duration("morning", 8*time.Second, "how long the morning runs before the destruction")
	syncEvery := fs.Duration("sync-interval", 0, "the server's replica.sync_interval (default: the server's default)")
	kitDir := fs.String("kit-dir", "", "the downtime kit's directory, to report its age at the destruction (default: none: 'no kit')")
	out := fs.String("out", "", "write the JSON report here (default fairsim-ransomware.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("ransomware needs --fairslot BIN: it kills, destroys and restores the server itself")
	}
	if *rounds < 1 || *rounds > 100 || *accounts < 1 || *accounts > 200 || *morning <= 0 || *morning > 10*time.Minute {
		return errors.New("--rounds 1..100, --accounts 1..200, --morning up to 10m")
	}
	rep := ransomReport{Command: "fairsim ransomware " + strings.Join(args, " "), AllVerified: true}
	for r := 1; r <= *rounds && ctx.Err() == nil; r++ {
		rr, err := ransomOnce(ctx, *bin, *accounts, *morning, *syncEvery, *kitDir)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		rr.Round = r
		rep.Rounds = append(rep.Rounds, rr)
		fmt.Fprintf(stdout, "round %2d: %4d acked, %d lost (newest %s, oldest %s before the SIGKILL, by the server's times); restore %dms, recovery %dms (baseline start %dms); audit: %s; kit: %s\n",
			r, rr.Acked, rr.Lost, ageText(rr.NewestLostAgeMS), ageText(rr.OldestLostAgeMS), rr.RestoreMS, rr.RecoveryMS, rr.BaselineMS, rr.Audit, rr.Kit)
		rep.MaxLost = max(rep.MaxLost, rr.Lost)
		rep.MaxLostAgeMS = max(rep.MaxLostAgeMS, rr.OldestLostAgeMS)
		rep.AllVerified = rep.AllVerified && rr.Verified
	}
	var rec, base []int64
	for _, r := range rep.Rounds {
		rec, base = append(rec, r.RecoveryMS), append(base, r.BaselineMS)
	}
	rep.MedianRecoveryMS, rep.MedianBaselineMS = medianMS(rec), medianMS(base)
	if rep.MedianBaselineMS > 0 {
		rep.Ratio = float64(rep.MedianRecoveryMS) / float64(rep.MedianBaselineMS)
	}
	fmt.Fprintf(stdout, "\n%d rounds: median recovery %dms (median plain start %dms, ratio %.2f); max lost %d, oldest lost %s before the SIGKILL; every restore verified: %v\n",
		len(rep.Rounds), rep.MedianRecoveryMS, rep.MedianBaselineMS, rep.Ratio, rep.MaxLost, ageText(rep.MaxLostAgeMS), rep.AllVerified)
	return writeReport(*out, "ransomware", rep, stdout)
}

func ageText(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return fmt.Sprintf("%dms", ms)
}

func medianMS(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// ransomServer is one 'serve' process of the scenario.
type ransomServer struct {
	cmd           *exec.Cmd
	public, staff string
	logs          *os.File
}

// startRansomServer starts serve --demo --sim on data and keyset,
// replicating to replica, and waits until it is ready.
func startRansomServer(ctx context.Context, bin, dir, data, keyset, replica string) (*ransomServer, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &ransomServer{public: "http://" + ports[0], staff: "http://" + ports[1]}
	if s.logs, err = os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve", "--demo", "--sim", "--addr", ports[0], "--staff-addr", ports[1], "--drain", "0s",
		"--data-dir", data, "--keyset", keyset)
	s.cmd.Env = append(os.Environ(), "FAIRSLOT_REPLICA_DIR="+replica, "FAIRSLOT_LOG_LEVEL=warn", "FAIRSLOT_CONFIG="+filepath.Join(dir, "config.json"))
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second) // a bound on a hang, not a speed target
	for {
		resp, err := http.Get(s.public + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.kill()
			return nil, fmt.Errorf("the server did not become ready; its log is %s", s.logs.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *ransomServer) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	s.logs.Close()
}

func (s *ransomServer) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
	s.logs.Close()
}

// ack is one acknowledged write: booking made (cancel false) or cancelled.
type ack struct {
	booking int64
	cancel  bool
	at      time.Time // the server's time of the write
	read    time.Time // when its answer was read
}

// written is the server's time of a booking's last write, from its answer.
type written struct {
	ID        int64
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// patientBooker is one account with its two patients.
type patientBooker struct {
	c        *apiclient.Client
	patients []int64
}

func ransomOnce(ctx context.Context, bin string, accounts int, morning, syncEvery time.Duration, kitDir string) (rr ransomRound, err error) {
	rr.NewestLostAgeMS, rr.OldestLostAgeMS = -1, -1
	host, err := os.MkdirTemp("", "fairsim-ransom-host-") // the server's disk
	if err != nil {
		return rr, err
	}
	defer os.RemoveAll(host)
	other, err := os.MkdirTemp("", "fairsim-ransom-replica-") // another host
	if err != nil {
		return rr, err
	}
	defer os.RemoveAll(other)
	data, keyset, replica := filepath.Join(host, "data"), filepath.Join(other, "keyset.json"), filepath.Join(other, "replica")
	// The morning books and cancels over and over: the cancellation limits
	// that would pause these accounts are lifted (a write load, not a
	// policy test).
	conf := `{"booking": {"cancel_limit": 1000000, "account_cancel_limit": 1000000}}`
	if syncEvery > 0 {
		conf = fmt.Sprintf(`{"booking": {"cancel_limit": 1000000, "account_cancel_limit": 1000000}, "replica": {"sync_interval": %q}}`, syncEvery)
	}
	if err := os.WriteFile(filepath.Join(host, "config.json"), []byte(conf), 0o600); err != nil {
		return rr, err
	}
	s, err := startRansomServer(ctx, bin, host, data, keyset, replica)
	if err != nil {
		return rr, err
	}
	defer func() {
		if err != nil {
			s.kill()
		}
	}()
	storm, err := simSessions(ctx, &target{Staff: s.staff})
	if err != nil {
		return rr, err
	}
	sessions := storm.FloorSessions
	people := make([]*patientBooker, accounts)
	err = parallel(accounts, 8, func(a int) error {
		p := &patientBooker{c: client(s.public, addr(41+a/256, a%256, 1))}
		if err := login(ctx, p.c, s.staff, fmt.Sprintf("135%08d", a)); err != nil {
			return err
		}
		for j := range 2 {
			id, err := bind(ctx, p.c, 700_000+a*2+j)
			if err != nil {
				return err
			}
			p.patients = append(p.patients, id)
		}
		people[a] = p
		return nil
	})
	if err != nil {
		return rr, err
	}

	// The morning: each patient books a place and cancels it, again and
	// again, every answer recorded with its time.
	var mu sync.Mutex
	var acks []ack
	mctx, stopMorning := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for a, p := range people {
		for j, pid := range p.patients {
			wg.Go(func() {
				for k := 0; mctx.Err() == nil; k++ {
					// The demo's own sessions, over its fortnight (the floor's
					// have started: a booking there cannot be cancelled).
					sess := int64(1 + ((a*2+j)*7+k*43)%(7*3*14))
					resp, err := p.c.Do(mctx, "POST", "/api/v1/bookings", map[string]int64{"session_id": sess, "patient_id": pid}, nil, false)
					if err != nil || resp.Status != 201 {
						pause(mctx, resp)
						continue
					}
					var b written
					read := time.Now()
					resp.Decode(&b)
					mu.Lock()
					acks = append(acks, ack{booking: b.ID, at: b.CreatedAt, read: read})
					mu.Unlock()
					for mctx.Err() == nil {
						resp, err := p.c.Do(mctx, "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", b.ID), nil, nil, false)
						if err == nil && resp.Status == 200 {
							read := time.Now()
							var w written
							resp.Decode(&w)
							mu.Lock()
							acks = append(acks, ack{booking: b.ID, cancel: true, at: w.UpdatedAt, read: read})
							mu.Unlock()
							break
						}
						if err == nil && resp.Status == http.StatusConflict {
							break // started, or otherwise not cancellable: it stays booked
						}
						pause(mctx, resp)
					}
				}
			})
		}
	}
	select {
	case <-time.After(morning):
	case <-ctx.Done():
	}

	// The destruction: the server killed mid-morning, its data gone.
	killed := time.Now()
	s.kill()
	// The destruction's moment: the process is gone (every answer it gave
	// was given before now), and its data with it.
	destroyed := time.Now()
	stopMorning()
	wg.Wait()
	if err := os.RemoveAll(data); err != nil {
		return rr, err
	}
	rr.Kit = kitAge(kitDir, destroyed)

	// The recovery, on a fresh directory.
	fresh := filepath.Join(host, "fresh")
	restoreStart := time.Now()
	out, rerr := exec.CommandContext(ctx, bin, "restore", "--replica", replica, "--data-dir", fresh, "--keyset", keyset).CombinedOutput()
	rr.RestoreMS = time.Since(restoreStart).Milliseconds()
	rr.Audit = auditLine(string(out))
	if rerr != nil {
		return rr, fmt.Errorf("restore: %v\n%s", rerr, out)
	}
	rr.Verified = strings.Contains(rr.Audit, "verified against")
	s2, err := startRansomServer(ctx, bin, host, fresh, keyset, replica)
	if err != nil {
		return rr, err
	}
	if err := firstBooking(ctx, s2, people[0], sessions, 790_000); err != nil {
		s2.kill()
		return rr, err
	}
	rr.RecoveryMS = time.Since(killed).Milliseconds()

	// What was lost: every acknowledged write looked up in what the
	// restored server started on (read-only, beside it).
	rr.Acked = len(acks)
	lost, err := lostWrites(fresh, acks)
	if err != nil {
		s2.kill()
		return rr, err
	}
	rr.Lost = len(lost)
	for _, l := range lost {
		age := killed.Sub(l.at).Milliseconds()
		if rr.NewestLostAgeMS < 0 || age < rr.NewestLostAgeMS {
			rr.NewestLostAgeMS = age
		}
		rr.OldestLostAgeMS = max(rr.OldestLostAgeMS, age)
		rr.LostReadMS = append(rr.LostReadMS, l.read.Sub(killed).Milliseconds())
	}
	rr.DestroyedMS = destroyed.Sub(killed).Milliseconds()

	// The baseline: a plain restart on the same data → its first booking.
	s2.stop()
	baseStart := time.Now()
	s3, err := startRansomServer(ctx, bin, host, fresh, keyset, replica)
	if err != nil {
		return rr, err
	}
	defer s3.stop()
	if err := firstBooking(ctx, s3, people[1%len(people)], sessions, 790_001); err != nil {
		return rr, err
	}
	rr.BaselineMS = time.Since(baseStart).Milliseconds()
	return rr, nil
}

// pause backs off after a refusal: as Retry-After says, else briefly.
func pause(ctx context.Context, resp *apiclient.Response) {
	wait := 50 * time.Millisecond
	if resp != nil && resp.Status == http.StatusTooManyRequests {
		wait = time.Second
	}
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
}

// firstBooking books until the server acknowledges one, for a patient new
// to the hospital (n-th made-up one) bound to p's account, whose token
// is used if it survived, else a new login.
func firstBooking(ctx context.Context, s *ransomServer, p *patientBooker, sessions []int64, n int) error {
	c := client(s.public, addr(60, 0, 1+n%200))
	c.Token = p.c.Token
	deadline := time.Now().Add(60 * time.Second) // a bound on a hang
	last := ""
	var pid int64
	for k := 0; time.Now().Before(deadline) && ctx.Err() == nil; k++ {
		var resp *apiclient.Response
		var err error
		if pid == 0 {
			resp, err = c.Do(ctx, "POST", "/api/v1/patients", map[string]string{
				"name": fmt.Sprintf("模拟%d", n), "id_type": "cn_resident", "id_number": residentID(n)}, nil, false)
			if err == nil && resp.Status == 201 {
				var b struct{ ID int64 }
				resp.Decode(&b)
				pid = b.ID
				continue
			}
		} else {
			resp, err = c.Do(ctx, "POST", "/api/v1/bookings", map[string]int64{"session_id": sessions[k%len(sessions)], "patient_id": pid}, nil, false)
			if err == nil && resp.Status == 201 {
				return nil
			}
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", resp.Status, strings.TrimSpace(string(resp.Body)))
		}
		if err == nil && resp.Status == http.StatusUnauthorized {
			if err := login(ctx, c, s.staff, fmt.Sprintf("134%08d", n)); err != nil {
				return err
			}
			continue
		}
		pause(ctx, resp)
	}
	return fmt.Errorf("the restored server acknowledged no booking within 60s; the last answer: %s", last)
}

// lostWrites returns the acknowledged writes the restored database lacks.
func lostWrites(data string, acks []ack) ([]ack, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "fairslot.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var lost []ack
	for _, a := range acks {
		var status string
		err := db.QueryRow(`SELECT status FROM bookings WHERE id = ?`, a.booking).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			lost = append(lost, a)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the restored database: %w", err)
		}
		if a.cancel && status != "cancelled" {
			lost = append(lost, a)
		}
	}
	return lost, nil
}

// auditLine is the restore report's audit line.
func auditLine(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "audit log") {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, "audit log")), " ")
		}
	}
	return "no audit line in the restore report"
}

// kitAge is the downtime kit's age at the destruction: its newest file's.
func kitAge(dir string, at time.Time) string {
	if dir == "" {
		return "no kit"
	}
	var newest time.Time
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
		return nil
	})
	if newest.IsZero() {
		return "no kit"
	}
	return at.Sub(newest).Round(time.Second).String()
}
