// Package redistest starts a redis-server of a test's own, on a free
// loopback port, that the test may freeze (SIGSTOP), thaw and kill without
// touching the Redis other tests share. Only tests import it; it must never
// signal a process it did not start.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running redis-server owned by one test.
type Server struct {
	URL  string // redis://127.0.0.1:port/0
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	out  *lockedBuffer
}

// hangGuard bounds waiting for the server to answer: generous, since the
// machines running tests are shared and slow at times.
const hangGuard = 30 * time.Second

// Start runs redis-server on a free port of 127.0.0.1, with no persistence
// and the extra arguments given (e.g. "--replicaof", ...), and waits until
// it answers PING. It skips the test when redis-server is not installed.
// The server is thawed and killed when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: skipping a test that freezes a Redis of its own (CI installs it; apt-get install redis-server)")
	}
	var last error
	for range 3 { // another process may take the free port between our look and redis-server's bind
		s, err := start(t, bin, args)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("redis-server did not start: %v", last)
	return nil
}

func start(t testing.TB, bin string, args []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &lockedBuffer{}}
	s.URL = "redis://" + s.Addr + "/0"
	s.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--daemonize", "no", "--logfile", ""}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	stop := func() {
		// Thaw before killing, so a frozen server is never left behind
		// whatever the test did; both signals go to this process only.
		s.cmd.Process.Signal(syscall.SIGCONT)
		s.cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(hangGuard)
	for !s.answers() {
		select {
		case <-exited:
			return nil, fmt.Errorf("redis-server on %s exited: %s", s.Addr, s.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within %v: %s", s.Addr, hangGuard, s.out)
		}
	}
	t.Cleanup(stop)
	return s, nil
}

// Freeze stops the server process (SIGSTOP): connections are still
// accepted by the kernel, but nothing answers — a hung Redis, not a
// refused one.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

// Thaw lets a frozen server run again (SIGCONT).
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

// answers reports whether the server replies +PONG to PING now.
func (s *Server) answers() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer keeps the server's output for error messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
