package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // reads the restored database to count lost writes

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/kit"
	"github.com/fairslot/fairslot/internal/vault"
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
	// The restored audit log: records in it (AuditEvents), numbered into
	// the Merkle tree (AuditNumbered, the leader numbers them every
	// second) and covered by the newest signed checkpoint (AuditSigned);
	// -1 when the restore report did not say.
	AuditEvents   int64 `json:"audit_events"`
	AuditNumbered int64 `json:"audit_numbered"`
	AuditSigned   int64 `json:"audit_signed"`
	// ServedMS is the first server's start → the SIGKILL: no kit of this
	// round can be older than that (and its signed time is whole seconds).
	ServedMS int64  `json:"served_ms"`
	Kit      string `json:"kit"`
	// The downtime kit at the destruction: the newest complete generation
	// (its CURRENT), its age at the SIGKILL by its signed manifest's time
	// (whole seconds, so up to 1 s more than the data's true age; -1: no
	// kit), and whether it survived the destruction and its manifest
	// verified against the backup key pinned before it.
	KitAgeMS       int64  `json:"kit_age_ms"`
	KitVerified    bool   `json:"kit_verified"`
	KitGeneration  string `json:"kit_generation,omitempty"`
	KitDepartments int    `json:"kit_departments"`
	KitBookings    int    `json:"kit_bookings"`
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
	// The downtime kit: its interval, its median and oldest age at the
	// SIGKILL, and whether every round's kit survived and verified.
	KitEveryMS        int64 `json:"kit_every_ms"`
	MedianKitAgeMS    int64 `json:"median_kit_age_ms"`
	MaxKitAgeMS       int64 `json:"max_kit_age_ms"`
	AllKitsVerified   bool  `json:"all_kits_verified"`
	CheckpointEveryMS int64 `json:"checkpoint_every_ms"`
}

// ransomOptions are one run's knobs, the same for every round.
type ransomOptions struct {
	bin             string
	accounts        int
	morning         time.Duration
	syncEvery       time.Duration // replica.sync_interval; 0: the server's default
	kitEvery        time.Duration // kit.every; 0: no kit
	kitDir          string        // where the rounds' kits are kept; "": a temporary share per round
	checkpointEvery time.Duration // audit.checkpoint_every; 0: the server's default
}

// runRansomware: a hospital morning books against 'serve --demo --sim'
// replicating to a directory on another "host" and writing the downtime
// kit to a third (a clinic's share); the server is killed (SIGKILL) and its
// data directory destroyed; the database is restored from the replica onto
// a fresh directory and the server restarted on it. It measures recovery
// time, the acknowledged writes lost, the restore's audit verification and
// the kit's age at the destruction (and that it survived and verifies).
func runRansomware(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ransomware", flag.ContinueOnError)
	var o ransomOptions
	fs.StringVar(&o.bin, "fairslot", "", "the fairslot binary to run, kill and restore (required)")
	rounds := fs.Int("rounds", 1, "rounds: each a fresh hospital, a morning, a destruction and a recovery")
	fs.IntVar(&o.accounts, "accounts", 40, "patient accounts booking through the morning (2 patients each)")
	fs.DurationVar(&o.morning, "morning", 8*time.Second, "how long the morning runs before the destruction")
	fs.DurationVar(&o.syncEvery, "sync-interval", 0, "the server's replica.sync_interval (default: the server's default)")
	fs.DurationVar(&o.kitEvery, "kit-every", 2*time.Second,
		"the server's kit.every: the downtime kit is written at start and then this often, outside the data directory (0: no kit; a hospital's default is 10m)")
	fs.StringVar(&o.kitDir, "kit-dir", "",
		"keep each round's downtime kit in DIR/round-N (default: a temporary directory per round, apart from the data directory and the replica, removed after it)")
	fs.DurationVar(&o.checkpointEvery, "checkpoint-every", 2*time.Second,
		"the server's audit.checkpoint_every, so the restore verifies most of the morning's records against a signed checkpoint (0: the server's default, a minute)")
	out := fs.String("out", "", "write the JSON report here (default fairsim-ransomware.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.bin == "" {
		return errors.New("ransomware needs --fairslot BIN: it kills, destroys and restores the server itself")
	}
	if *rounds < 1 || *rounds > 100 || o.accounts < 1 || o.accounts > 200 || o.morning <= 0 || o.morning > 10*time.Minute {
		return errors.New("--rounds 1..100, --accounts 1..200, --morning up to 10m")
	}
	if (o.kitEvery != 0 && o.kitEvery < time.Second) || (o.checkpointEvery != 0 && o.checkpointEvery < time.Second) {
		return errors.New("--kit-every and --checkpoint-every: 0 or at least 1s (the server's minimum)")
	}
	if o.kitDir != "" && o.kitEvery == 0 {
		return errors.New("--kit-dir keeps the kits that --kit-every writes: not with --kit-every 0")
	}
	rep := ransomReport{Command: "fairsim ransomware " + strings.Join(args, " "), AllVerified: true, AllKitsVerified: o.kitEvery > 0, MaxLostAgeMS: -1, MaxKitAgeMS: -1,
		KitEveryMS: o.kitEvery.Milliseconds(), CheckpointEveryMS: o.checkpointEvery.Milliseconds()}
	for r := 1; r <= *rounds && ctx.Err() == nil; r++ {
		rr, err := ransomOnce(ctx, o, r)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		rr.Round = r
		rep.Rounds = append(rep.Rounds, rr)
		fmt.Fprintf(stdout, "round %2d: %4d acked, %d lost (newest %s, oldest %s before the SIGKILL, by the server's times); restore %dms, recovery %dms (baseline start %dms); audit: %s (%d records in the database); kit: %s\n",
			r, rr.Acked, rr.Lost, ageText(rr.NewestLostAgeMS), ageText(rr.OldestLostAgeMS), rr.RestoreMS, rr.RecoveryMS, rr.BaselineMS, rr.Audit, rr.AuditEvents, rr.Kit)
		rep.MaxLost = max(rep.MaxLost, rr.Lost)
		rep.MaxLostAgeMS = max(rep.MaxLostAgeMS, rr.OldestLostAgeMS)
		rep.AllVerified = rep.AllVerified && rr.Verified
		rep.AllKitsVerified = rep.AllKitsVerified && rr.KitVerified
		rep.MaxKitAgeMS = max(rep.MaxKitAgeMS, rr.KitAgeMS)
	}
	var rec, base, kitAges []int64
	for _, r := range rep.Rounds {
		rec, base = append(rec, r.RecoveryMS), append(base, r.BaselineMS)
		kitAges = append(kitAges, r.KitAgeMS)
	}
	rep.MedianRecoveryMS, rep.MedianBaselineMS, rep.MedianKitAgeMS = medianMS(rec), medianMS(base), medianMS(kitAges)
	if rep.MedianBaselineMS > 0 {
		rep.Ratio = float64(rep.MedianRecoveryMS) / float64(rep.MedianBaselineMS)
	}
	fmt.Fprintf(stdout, "\n%d rounds: median recovery %dms (median plain start %dms, ratio %.2f); max lost %d, oldest lost %s before the SIGKILL; every restore verified: %v\n",
		len(rep.Rounds), rep.MedianRecoveryMS, rep.MedianBaselineMS, rep.Ratio, rep.MaxLost, ageText(rep.MaxLostAgeMS), rep.AllVerified)
	if o.kitEvery > 0 {
		fmt.Fprintf(stdout, "downtime kit every %s: age at the SIGKILL median %s, oldest %s (signed times, whole seconds); every kit survived and verified: %v\n",
			o.kitEvery, ageText(rep.MedianKitAgeMS), ageText(rep.MaxKitAgeMS), rep.AllKitsVerified)
	}
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

func ransomOnce(ctx context.Context, o ransomOptions, round int) (rr ransomRound, err error) {
	rr.NewestLostAgeMS, rr.OldestLostAgeMS, rr.KitAgeMS, rr.Kit = -1, -1, -1, "off"
	rr.AuditEvents, rr.AuditNumbered, rr.AuditSigned = -1, -1, -1
	bin, accounts, morning := o.bin, o.accounts, o.morning
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
	conf := map[string]any{"booking": map[string]any{"cancel_limit": 1000000, "account_cancel_limit": 1000000}}
	if o.syncEvery > 0 {
		conf["replica"] = map[string]any{"sync_interval": o.syncEvery.String()}
	}
	// Signed checkpoints every few seconds, not every minute, so that the
	// restore verifies most of a morning of seconds, not only its seeding.
	// Each checkpoint is also copied to a witness apart from the server (as
	// on another host), and the restore verifies the log against those
	// copies too.
	witness, err := os.MkdirTemp("", "fairsim-ransom-witness-")
	if err != nil {
		return rr, err
	}
	defer os.RemoveAll(witness)
	auditConf := map[string]any{"witness_dirs": []string{witness}}
	if o.checkpointEvery > 0 {
		auditConf["checkpoint_every"] = o.checkpointEvery.String()
	}
	conf["audit"] = auditConf
	// The downtime kit, on a clinic's share: not on the server's disk.
	var share string
	if o.kitEvery > 0 {
		if o.kitDir != "" {
			share = filepath.Join(o.kitDir, fmt.Sprintf("round-%d", round))
			if err := os.MkdirAll(share, 0o755); err != nil {
				return rr, err
			}
		} else {
			if share, err = os.MkdirTemp("", "fairsim-ransom-share-"); err != nil {
				return rr, err
			}
			defer os.RemoveAll(share)
		}
		conf["kit"] = map[string]any{"dir": share, "every": o.kitEvery.String()}
	}
	raw, err := json.Marshal(conf)
	if err != nil {
		return rr, err
	}
	if err := os.WriteFile(filepath.Join(host, "config.json"), raw, 0o600); err != nil {
		return rr, err
	}
	started := time.Now()
	s, err := startRansomServer(ctx, bin, host, data, keyset, replica)
	if err != nil {
		return rr, err
	}
	// The kit's verification key, pinned while the hospital runs (the
	// keyset's backup key is kept on the other host, with the keyset).
	var kitKey ed25519.PublicKey
	if share != "" {
		if kitKey, err = backupVerifyKey(keyset); err != nil {
			s.kill()
			return rr, err
		}
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
	rr.ServedMS = killed.Sub(started).Milliseconds()
	if share != "" {
		kitAt(&rr, share, kitKey, killed)
	}

	// The recovery, on a fresh directory.
	fresh := filepath.Join(host, "fresh")
	restoreStart := time.Now()
	restore := exec.CommandContext(ctx, bin, "restore", "--replica", replica, "--data-dir", fresh, "--keyset", keyset)
	restore.Env = append(os.Environ(), "FAIRSLOT_CONFIG="+filepath.Join(host, "config.json")) // the witnesses
	out, rerr := restore.CombinedOutput()
	rr.RestoreMS = time.Since(restoreStart).Milliseconds()
	rr.Audit = auditLine(string(out))
	if rerr != nil {
		return rr, fmt.Errorf("restore: %v\n%s", rerr, out)
	}
	rr.Verified = strings.Contains(rr.Audit, "verified against")
	rr.AuditNumbered, rr.AuditSigned = auditCounts(rr.Audit)
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
	lost, events, err := lostWrites(fresh, acks)
	if err != nil {
		s2.kill()
		return rr, err
	}
	rr.AuditEvents = events
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

// lostWrites returns the acknowledged writes the restored database lacks,
// and how many audit records it holds.
func lostWrites(data string, acks []ack) ([]ack, int64, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "fairslot.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	var events int64
	if err := db.QueryRow(`SELECT count(*) FROM audit_events`).Scan(&events); err != nil {
		return nil, 0, fmt.Errorf("read the restored database: %w", err)
	}
	var lost []ack
	for _, a := range acks {
		var status string
		err := db.QueryRow(`SELECT status FROM bookings WHERE id = ?`, a.booking).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			lost = append(lost, a)
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read the restored database: %w", err)
		}
		if a.cancel && status != "cancelled" {
			lost = append(lost, a)
		}
	}
	return lost, events, nil
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

// auditRE reads the restore report's audit line: "N records; verified
// against K signed checkpoints (… newest covers M, …)".
var auditRE = regexp.MustCompile(`^(\d+) records.*newest covers (\d+)`)

// auditCounts returns the restored log's numbered records and those the
// newest signed checkpoint covers, -1 each when the line does not say.
func auditCounts(line string) (numbered, signed int64) {
	m := auditRE.FindStringSubmatch(line)
	if m == nil {
		return -1, -1
	}
	numbered, _ = strconv.ParseInt(m[1], 10, 64)
	signed, _ = strconv.ParseInt(m[2], 10, 64)
	return numbered, signed
}

// backupVerifyKey is the public half of the keyset's backup key, which
// signs the kit's manifests; read, never made (serve made it when it
// started writing the kit).
func backupVerifyKey(keyset string) (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(vault.BackupKeyPath(keyset))
	if err != nil {
		return nil, fmt.Errorf("the kit's signing key (serve makes it when the kit is on): %w", err)
	}
	k, err := vault.ParseBackupSigningKey(raw)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

// kitAt records the downtime kit as found after the destruction: the
// newest complete generation (CURRENT) verified as 'fairslot kit verify'
// does (signature against the pinned key, every file's size and SHA-256,
// none missing or added, CURRENT's time the signed one), and its age at
// the SIGKILL by the signed manifest's time.
func kitAt(rr *ransomRound, share string, pub ed25519.PublicKey, killed time.Time) {
	gen, m, err := kit.Verify(share, pub)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !exists(filepath.Join(share, kit.CurrentFile)):
		rr.Kit = "no kit written before the destruction"
		return
	case err != nil:
		rr.Kit = "DOES NOT VERIFY: " + err.Error()
		return
	}
	rr.KitVerified, rr.KitGeneration = true, filepath.Base(gen)
	rr.KitAgeMS = killed.Sub(m.GeneratedAt).Milliseconds()
	rr.KitDepartments = len(m.Departments)
	for _, d := range m.Departments {
		rr.KitBookings += d.Bookings
	}
	rr.Kit = fmt.Sprintf("%s old, verified (%d departments, %d bookings)", time.Duration(rr.KitAgeMS)*time.Millisecond, rr.KitDepartments, rr.KitBookings)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
