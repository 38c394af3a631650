package redislimit_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/redislimit"
	"github.com/fairslot/fairslot/internal/redislimit/redistest"
)

// silent is a server that accepts connections and then reads what they
// send but never answers — a hung Redis, as the kernel keeps accepting for
// a stopped one — or, hanging up, closes them at once.
type silent struct {
	ln      net.Listener
	mu      sync.Mutex
	peers   []string        // remote addresses of the connections accepted, in order
	markers map[string]bool // those of them that connections dialled as markers, not the client
}

func silentServer(t *testing.T, hangUp bool) *silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silent{ln: ln, markers: map[string]bool{}}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.peers = append(s.peers, c.RemoteAddr().String())
			s.mu.Unlock()
			if hangUp {
				c.Close()
				continue
			}
			conns = append(conns, c)
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

func (s *silent) url() string { return "redis://" + s.ln.Addr().String() + "/0" }

// connections returns how many connections the client has made to the
// server so far: it dials a marker and waits until the server accepts it,
// which the listen queue's order makes happen after every earlier
// connection.
func (s *silent) connections(t *testing.T) int {
	t.Helper()
	m, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	marker := m.LocalAddr().String()
	s.mu.Lock()
	s.markers[marker] = true
	s.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) { // a hang guard only
		s.mu.Lock()
		n, found := 0, false
		for _, p := range s.peers {
			if p == marker {
				found = true
				break
			}
			if !s.markers[p] {
				n++
			}
		}
		s.mu.Unlock()
		if found {
			return n
		}
	}
	t.Fatal("the silent server did not accept a connection for 30s")
	return 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// TestNewClientGivesUpAtOnce: against a server that takes the connection
// but never answers, every call fails with a timeout, whether the client's
// timeout or a shorter context deadline ends it; against one that hangs up,
// it fails at once. Either way on one connection: no retries, which
// go-redis's defaults make (three, with back-off) on a broken connection.
func TestNewClientGivesUpAtOnce(t *testing.T) {
	for _, hangUp := range []bool{false, true} {
		giveUp(t, hangUp)
	}
}

func giveUp(t *testing.T, hangUp bool) {
	srv := silentServer(t, hangUp)
	c, err := redislimit.NewClient(srv.url(), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := &redislimit.Limiter{Client: c, Limit: gate.Limit{Rate: 1, Per: time.Second, Burst: 1}, Prefix: "t:"}
	spent := &redislimit.Spent{Client: c, Prefix: "t:"}
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"limit", func(ctx context.Context) error { _, _, err := l.Allow(ctx, "k"); return err }},
		{"spend", func(ctx context.Context) error {
			_, err := spent.Spend(ctx, []byte("n"), time.Now().Add(time.Minute))
			return err
		}},
		{"probe", func(ctx context.Context) error { return redislimit.Probe(ctx, c, "t:") }},
		{"limit, shorter context deadline", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			defer cancel()
			_, _, err := l.Allow(ctx, "k")
			return err
		}},
	}
	for _, tt := range calls {
		before := srv.connections(t)
		err := tt.call(context.Background())
		if err == nil || !hangUp && !isTimeout(err) {
			t.Errorf("%s against a server (hanging up %v): %v; want an error, a timeout if it does not hang up", tt.name, hangUp, err)
		}
		if n := srv.connections(t) - before; n != 1 {
			t.Errorf("%s against a server (hanging up %v) opened %d connections; want 1 (no retries)", tt.name, hangUp, n)
		}
	}
}

// TestNewClientParsesOnly: a bad URL is refused at once; a good one makes
// no connection until the first call, so a down Redis cannot stop a start.
func TestNewClientParsesOnly(t *testing.T) {
	if _, err := redislimit.NewClient("localhost:6379", time.Second); err == nil || !strings.Contains(err.Error(), "redis url") {
		t.Errorf("a URL without a scheme: %v; want a redis url error", err)
	}
	srv := silentServer(t, false)
	c, err := redislimit.NewClient(srv.url(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := srv.connections(t); n != 0 {
		t.Errorf("NewClient opened %d connections before any call", n)
	}
}

// TestProbeNeedsWrites: the probe passes on a Redis that can limit, and
// fails on a read-only replica, which answers PING but can decide nothing.
func TestProbeNeedsWrites(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"primary", nil, true},
		{"read-only replica", []string{"--replicaof", "127.0.0.1", "1"}, false},
	} {
		s := redistest.Start(t, tt.args...)
		c, err := redislimit.NewClient(s.URL, 5*time.Second) // generous: the machine is shared
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("%s: PING: %v", tt.name, err)
		}
		err = redislimit.Probe(context.Background(), c, "fairslot:")
		if (err == nil) != tt.ok {
			t.Errorf("%s: probe = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}
