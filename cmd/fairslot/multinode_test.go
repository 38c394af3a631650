package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/postgres"
	"github.com/fairslot/fairslot/internal/postgres/pgtest"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
	"github.com/fairslot/fairslot/internal/vault"
)

// TestThreeNodes runs three serve processes on one PostgreSQL database as
// the online role, books through all three at once, checks no slot is held
// twice, then kills the job leader and watches another node take over.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	admin, as := pgtest.Fresh(t)
	var out bytes.Buffer
	bin := buildBinary(t)
	dir := t.TempDir()
	if err := run(context.Background(), []string{"migrate", "--db", admin, "--keyset", filepath.Join(dir, "keyset.json")}, &out, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "keyset.json")); err == nil {
		t.Error("migrate created a keyset; it needs none")
	}
	if !strings.Contains(out.String(), "cannot prove itself to the lock watchdog") {
		t.Errorf("migrate without a keyset did not say its migrations go unproven:\n%s", out.String())
	}
	flags := []string{"--db", as(postgres.OnlineRole)}
	nodes := map[string]*server{}
	for _, name := range []string{"node-1", "node-2", "node-3"} { // one by one: the first seeds the demo
		nodes[name] = startServer(t, bin, dir, flags, "FAIRSLOT_NODE="+name, "FAIRSLOT_WATCHDOG_DB="+as(postgres.WatchdogRole),
			"FAIRSLOT_ADMIN_ADDR=127.0.0.1:0")
	}

	// Thirty patients, logged in on node-1 (the codes are in its log);
	// tokens work on every node.
	type patient struct {
		token string
		id    int64
	}
	var people []patient
	for i := 0; i < 6; i++ {
		tok := nodes["node-1"].login(t, fmt.Sprintf("1350000%04d", i))
		for j := 0; j < 5; j++ {
			first := fmt.Sprintf("11010520000101%d%d%d", i, j, 2)
			code, body, err := nodes["node-2"].post("/api/v1/patients", tok, "",
				fmt.Sprintf(`{"name":"病人%d%d","id_type":"cn_resident","id_number":%q}`, i, j, first+string(fairslot.ResidentCheckDigit(first))))
			if err != nil || code != 201 {
				t.Fatalf("bind: %d %v %v", code, body, err)
			}
			people = append(people, patient{tok, int64(body["id"].(float64))})
		}
	}
	// Every patient tries the same few sessions through a different node.
	names := []string{"node-1", "node-2", "node-3"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := 0
	for pi, p := range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 6; k++ {
				n := nodes[names[(pi+k)%3]]
				code, _, err := n.post("/api/v1/bookings", p.token, "", fmt.Sprintf(`{"session_id":%d,"patient_id":%d}`, 1+k%3, p.id))
				if err == nil && code == 201 {
					mu.Lock()
					held++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if held == 0 {
		t.Fatal("no booking succeeded")
	}

	// Only a node holding the keyset (the first node made it) can tell a
	// proven node from an impostor.
	v, err := vault.Open(filepath.Join(dir, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := postgres.Open(context.Background(), admin, postgres.Options{NodeKey: v.Key(postgres.NodeKeyPurpose)})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	ctx := context.Background()
	total := storagetest.CheckNoDoubles(t, pg, 1, 2, 3)
	if total != held {
		t.Errorf("%d holds acknowledged, %d in the database", held, total)
	}

	// The leader says so on its metrics, with the watchdog's counters.
	metricsOf := func(n *server) string {
		m := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(n.log())
		if m == nil {
			t.Fatalf("no admin listener in the log:\n%s", n.log())
		}
		resp, err := http.Get(m[1])
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	// Kill the job leader; another node must take over.
	var leader string
	for i := 0; i < 50 && leader == ""; i++ {
		leader, _ = pg.Leader(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	if nodes[leader] == nil {
		t.Fatalf("leader = %q, want one of the three nodes", leader)
	}
	if m := metricsOf(nodes[leader]); !strings.Contains(m, "fairslot_job_leader 1") ||
		!strings.Contains(m, `fairslot_watchdog_actions_total{action="terminate"} 0`) {
		t.Errorf("leader metrics lack the leader gauge or the watchdog counters:\n%s", m)
	}
	for name, n := range nodes {
		if name != leader && !strings.Contains(metricsOf(n), "fairslot_job_leader 0") {
			t.Errorf("%s reports itself leader too", name)
		}
	}
	killed := time.Now()
	nodes[leader].cmd.Process.Signal(syscall.SIGKILL)
	nodes[leader].cmd.Wait()
	var next string
	for time.Since(killed) < 30*time.Second { // a guard against a hang
		if next, _ = pg.Leader(ctx); next != "" && next != leader {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if next == "" || next == leader || nodes[next] == nil {
		t.Fatalf("after killing %s the leader is %q", leader, next)
	}
	// The database names the leader as soon as its lock is taken; the node
	// logs it a moment later.
	for logged := time.Now(); !strings.Contains(nodes[next].log(), "job leadership taken"); time.Sleep(50 * time.Millisecond) {
		if time.Since(logged) > 30*time.Second { // a guard against a hang
			t.Errorf("%s leads but did not log it", next)
			break
		}
	}
	t.Logf("%d bookings through 3 nodes, none double; leader %s killed, %s took over in %.1f s",
		held, leader, next, time.Since(killed).Seconds())

	// Freeze the new leader: its connection stays open and keeps the job
	// lock, but its heartbeat stops. Once it is no longer live the last
	// node ends its connection and leads; thawed, it does not lead on.
	frozen := time.Now()
	nodes[next].cmd.Process.Signal(syscall.SIGSTOP)
	var last string
	for time.Since(frozen) < time.Minute { // a guard against a hang
		if last, _ = pg.Leader(ctx); last != "" && last != next {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	nodes[next].cmd.Process.Signal(syscall.SIGCONT)
	if last == "" || last == next || nodes[last] == nil {
		t.Fatalf("after freezing %s the leader is %q", next, last)
	}
	t.Logf("leader %s frozen, %s took over in %.1f s (a node counts as live for 15 s after its last heartbeat)",
		next, last, time.Since(frozen).Seconds())
	for i := 0; i < 100 && !strings.Contains(nodes[next].log(), "job leadership released"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(nodes[next].log(), "job leadership released") || !strings.Contains(metricsOf(nodes[next]), "fairslot_job_leader 0") {
		t.Errorf("%s, thawed, still leads:\n%s", next, nodes[next].log())
	}
	if m := metricsOf(nodes[last]); !strings.Contains(m, `fairslot_watchdog_actions_total{action="terminate"} 1`) {
		t.Errorf("%s did not end the frozen leader's connection:\n%s", last, m)
	}

	// With the keyset, a migration proves itself.
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "--db", admin, "--keyset", filepath.Join(dir, "keyset.json")}, &out, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "cannot prove itself") {
		t.Errorf("migrate with a keyset says it is unproven:\n%s", out.String())
	}
}
