package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/testlog"
)

// serveInProcess runs 'fairslot serve' with args in this process until ctx
// ends; it returns the server's URL once it listens, and the channel its
// result arrives on.
func serveInProcess(t *testing.T, ctx context.Context, args ...string) (string, <-chan error, *testlog.Buffer) {
	t.Helper()
	var out, logs testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), &out, &logs) }()
	for start := time.Now(); time.Since(start) < 60*time.Second; time.Sleep(10 * time.Millisecond) { // a bound on a hang
		if _, url, ok := strings.Cut(out.String(), "listening on "); ok {
			return strings.Fields(url)[0], done, &logs
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before it listened: %v\n%s", err, logs.String())
		default:
		}
	}
	t.Fatalf("serve did not start:\n%s", logs.String())
	return "", nil, nil
}

// TestShutdownDrains: on SIGTERM the server first answers /readyz with 503
// while it goes on serving, so that a load balancer stops sending it
// requests; clients that stop when they see that lose nothing — no request
// they sent ends in a reset or a cut connection — and the server exits
// cleanly once the drain is over.
func TestShutdownDrains(t *testing.T) {
	dir := t.TempDir()
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	url, done, logs := serveInProcess(t, ctx, "--demo", "--addr", "127.0.0.1:0", "--drain", "1s",
		"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json"))

	// The load balancer: it polls /readyz and, once it is not ready, sends
	// this node nothing new.
	var drained atomic.Bool
	var servedWhileNotReady atomic.Int64
	lb := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	stopPolling := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stopPolling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := lb.Get(url + "/readyz")
			if err != nil {
				continue // refused once the server has stopped listening
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 503 {
				drained.Store(true)
				servedWhileNotReady.Add(1)
			}
		}
	})
	// Clients with keep-alive connections, each its own device (a cookie
	// jar), sending as fast as they are answered until the balancer has
	// drained the node (or, were it never drained, until it has stopped).
	var sent, failed atomic.Int64
	var stopped atomic.Bool
	var firstErr atomic.Value
	for range 8 {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		wg.Go(func() {
			for !drained.Load() && !stopped.Load() {
				resp, err := c.Get(url + "/api/v1/departments")
				if errors.Is(err, syscall.ECONNREFUSED) {
					continue // not sent: nobody listens any more
				}
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for sent.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	sigterm()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	stopped.Store(true)
	close(stopPolling)
	wg.Wait()
	if servedWhileNotReady.Load() == 0 {
		t.Errorf("/readyz never answered 503 while the server drained: a load balancer would have sent requests until the port closed\n%s", logs.String())
	}
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests sent failed in transport (first: %v): a client saw a cut connection", failed.Load(), sent.Load(), firstErr.Load())
	}
	t.Logf("%d requests sent, none failed; /readyz answered 503 %d times while the server still served", sent.Load(), servedWhileNotReady.Load())
}

// TestFailedListenLeavesNothing: when the port is taken, serve fails before
// it creates a data directory or a keyset.
func TestFailedListenLeavesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, extra := range [][]string{
		{"--addr", taken.Addr().String()},
		{"--addr", "127.0.0.1:0", "--staff-addr", taken.Addr().String()},
	} {
		dir := t.TempDir()
		data, keyset := filepath.Join(dir, "data"), filepath.Join(dir, "keyset.json")
		args := append([]string{"serve", "--demo", "--data-dir", data, "--keyset", keyset}, extra...)
		err := run(context.Background(), args, io.Discard, io.Discard)
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("serve %v = %v, want address in use", extra, err)
		}
		for _, p := range []string{data, keyset} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve %v failed to listen but left %s behind (%v)", extra, p, err)
			}
		}
	}
}
