package fhir_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// jsDir is the repository's Node folder (testdata/js), installed by .ci/run
// with npm ci.
var jsDir = filepath.Join("..", "..", "testdata", "js")

// validator collects every FHIR body a test received and, when the test
// ends, sends them all through the independent validator
// (testdata/js/fhir-validate.mjs): any error fails the test. Without
// node_modules it says so and checks nothing — except in CI, where it fails.
type validator struct {
	mu     sync.Mutex
	bodies [][]byte
}

// validatorReady reports whether the validator can run, or why not.
func validatorReady() (bool, string) {
	if _, err := exec.LookPath("node"); err != nil {
		return false, "node is not installed"
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@medplum", "core")); err != nil {
		return false, "testdata/js/node_modules is absent (run: npm ci --prefix testdata/js)"
	}
	return true, ""
}

func newValidator(t *testing.T) *validator {
	t.Helper()
	v := &validator{}
	t.Cleanup(func() {
		if t.Failed() && len(v.bodies) == 0 {
			return
		}
		errs, err := validate(v.bodies)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Errorf("FHIR validation cannot run in CI: %v", err)
			} else {
				t.Logf("FHIR validation of %d responses SKIPPED: %v", len(v.bodies), err)
			}
			return
		}
		for _, e := range errs {
			t.Error(e)
		}
	})
	return v
}

func (v *validator) add(body []byte) {
	v.mu.Lock()
	v.bodies = append(v.bodies, bytes.TrimSpace(body))
	v.mu.Unlock()
}

type skipped struct{ why string }

func (s skipped) Error() string { return s.why }

// validate runs the validator over bodies and returns one message per
// body with errors.
func validate(bodies [][]byte) ([]string, error) {
	if ok, why := validatorReady(); !ok {
		return nil, skipped{why}
	}
	if len(bodies) == 0 {
		return nil, nil
	}
	var in bytes.Buffer
	for _, b := range bodies {
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			return []string{"a response is not JSON: " + string(b)}, nil
		}
		in.Write(compact.Bytes())
		in.WriteByte('\n')
	}
	cmd := exec.Command("node", "--experimental-websocket", "fhir-validate.mjs")
	cmd.Dir = jsDir
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			return nil, &runError{err, stderr.String()}
		}
	}
	var msgs []string
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r struct {
			Input  int      `json:"input"`
			Errors []string `json:"errors"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, &runError{err, sc.Text()}
		}
		seen++
		if len(r.Errors) > 0 {
			body := string(bodies[r.Input])
			if len(body) > 400 {
				body = body[:400] + "…"
			}
			msgs = append(msgs, "FHIR validator: "+strings.Join(r.Errors, "; ")+"\n  in: "+body)
		}
	}
	if seen != len(bodies) {
		return nil, &runError{nil, fmt.Sprintf("the validator answered %d of %d inputs: %s", seen, len(bodies), stderr.String())}
	}
	return msgs, nil
}

type runError struct {
	err    error
	detail string
}

func (e *runError) Error() string {
	if e.err == nil {
		return "the validator failed: " + e.detail
	}
	return "the validator failed: " + e.err.Error() + ": " + e.detail
}

// TestValidatorCatchesBrokenResources shows the check can fail: each broken
// resource is refused, and a good one passes.
func TestValidatorCatchesBrokenResources(t *testing.T) {
	if ok, why := validatorReady(); !ok {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the FHIR validator: %s", why)
		}
		t.Skipf("FHIR validator not installed: %s", why)
	}
	good := `{"resourceType":"Slot","id":"1-1","schedule":{"reference":"Schedule/1"},"status":"free","start":"2026-12-10T08:00:00+08:00","end":"2026-12-10T08:30:00+08:00"}`
	broken := []string{
		// A status outside the required value set (medplum alone misses it).
		`{"resourceType":"Slot","id":"1-1","schedule":{"reference":"Schedule/1"},"status":"open","start":"2026-12-10T08:00:00+08:00","end":"2026-12-10T08:30:00+08:00"}`,
		// A required element missing.
		`{"resourceType":"Slot","id":"1-1","status":"free","start":"2026-12-10T08:00:00+08:00","end":"2026-12-10T08:30:00+08:00"}`,
		// A FHIRPath rule broken: app-3, a booked appointment without start and end.
		`{"resourceType":"Appointment","id":"1","status":"booked","participant":[{"actor":{"reference":"Patient/1"},"status":"accepted"}]}`,
		// Inside a Bundle: a bad issue code of an OperationOutcome entry, and a bad Bundle.type.
		`{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"https://x/fhir/R4/OperationOutcome/1","resource":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"oops"}]}}]}`,
		`{"resourceType":"Bundle","type":"results"}`,
		// A dateTime without its offset.
		`{"resourceType":"Slot","id":"1-1","schedule":{"reference":"Schedule/1"},"status":"free","start":"2026-12-10 08:00","end":"2026-12-10T08:30:00+08:00"}`,
	}
	bodies := [][]byte{[]byte(good)}
	for _, b := range broken {
		bodies = append(bodies, []byte(b))
	}
	msgs, err := validate(bodies)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(broken) {
		t.Fatalf("validator reported %d of %d broken resources (and the good one must pass):\n%s", len(msgs), len(broken), strings.Join(msgs, "\n"))
	}
	for _, m := range msgs {
		if strings.Contains(m, good) {
			t.Errorf("the good resource was refused: %s", m)
		}
	}
}
