package app_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/storage/storagetest"
)

// race is what the parent hands its helper processes.
type race struct {
	Dir       string
	SessionID int64
	People    []struct{ Account, Patient int64 }
}

// TestMultiProcessHolds has 4 processes, each with 50 goroutines, race for
// the 10 slots of one session with 50 patients on one data directory: the
// database alone keeps them apart.
func TestMultiProcessHolds(t *testing.T) {
	if os.Getenv("FAIRSLOT_RACE_HELPER") != "" {
		t.Skip("running as a helper")
	}
	e := newEnv(t)
	r := race{Dir: e.dir, SessionID: e.newSession(t, e.other.DepartmentID, "2026-12-12", 10).ID}
	for i := 0; i < 10; i++ {
		a := e.login(t, fmt.Sprintf("1370000%04d", i))
		for j := 0; j < 5; j++ {
			p := e.bind(t, a, fmt.Sprint("P", i, j), 200+i*5+j)
			r.People = append(r.People, struct{ Account, Patient int64 }{a.ID, p.ID})
		}
	}
	spec, _ := json.Marshal(r)
	var wg sync.WaitGroup
	results := make([]string, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestRaceHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "FAIRSLOT_RACE_HELPER="+string(spec), fmt.Sprintf("FAIRSLOT_RACE_SEED=%d", i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("helper %d: %v\n%s", i, err, out)
			}
			results[i] = string(out)
		}()
	}
	wg.Wait()
	total := 0
	for i, out := range results {
		_, after, ok := strings.Cut(out, "HELD ")
		n, err := strconv.Atoi(strings.Fields(after + " x")[0])
		if !ok || err != nil {
			t.Fatalf("helper %d printed no count:\n%s", i, out)
		}
		total += n
	}
	if total != 10 {
		t.Errorf("holds acknowledged across 4 processes = %d, want 10", total)
	}
	storagetest.CheckSession(t, e.svc.Store, r.SessionID, 10)
}

// TestRaceHelper is one helper process of TestMultiProcessHolds.
func TestRaceHelper(t *testing.T) {
	spec := os.Getenv("FAIRSLOT_RACE_HELPER")
	if spec == "" {
		t.Skip("only run by TestMultiProcessHolds")
	}
	var r race
	if err := json.Unmarshal([]byte(spec), &r); err != nil {
		t.Fatal(err)
	}
	seed, _ := strconv.Atoi(os.Getenv("FAIRSLOT_RACE_SEED"))
	svc, _, _, _ := openService(t, r.Dir)
	var mu sync.Mutex
	held := 0
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := r.People[(i+seed*13)%len(r.People)]
			a := app.Actor{Kind: storage.AccountToken, ID: p.Account}
			_, err := svc.Hold(ctx, a, app.HoldInput{SessionID: r.SessionID, PatientID: p.Patient})
			switch fairslot.ErrorKind(err) {
			case fairslot.Conflict, fairslot.Limited:
			default:
				if err != nil {
					t.Errorf("hold: %v", err)
					return
				}
				mu.Lock()
				held++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("HELD %d\n", held)
}
