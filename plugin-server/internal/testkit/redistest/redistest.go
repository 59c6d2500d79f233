// Package redistest runs a throwaway redis-server for tests: one child
// process per test, on a free loopback port, with no persistence, stopped
// when the test ends.
//
// When redis-server is not on PATH the test is skipped, unless
// PLUGIN_TEST_REQUIRE_REDIS=1 (as in CI), where it fails instead.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvRequire, set to 1, turns a missing redis-server into a test failure.
const EnvRequire = "PLUGIN_TEST_REQUIRE_REDIS"

// Server is a running redis-server.
type Server struct {
	// Client is connected to the server; it is closed at the end of the
	// test.
	Client *redis.Client
	// Addr is host:port, URL is redis://host:port/0.
	Addr string
	URL  string

	cmd      *exec.Cmd
	out      *syncBuffer
	exited   chan struct{}
	stopOnce sync.Once
}

// startTimeout bounds how long redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Start runs redis-server for the duration of t.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("redis-server not found on PATH and %s=1: %v", EnvRequire, err)
		}
		t.Skipf("redis-server not found on PATH (install redis-server, or set %s=1 to make this a failure): %v", EnvRequire, err)
	}
	// A port found free may be taken before redis-server binds it; try a
	// few times.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startOn(t, bin, port)
}

// Restart stops the server and starts a new, empty one on the same port
// (the lab's Redis keeps nothing on disk either), as a restarted
// container would be.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	s.Stop()
	_, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	n, err := startOn(t, s.cmd.Path, p)
	if err != nil {
		t.Fatalf("restarting redis-server: %v", err)
	}
	return n
}

func startOn(t testing.TB, bin string, port int) (*Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{
		Addr:   addr,
		URL:    "redis://" + addr + "/0",
		out:    &syncBuffer{},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", t.TempDir(),
	)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.Client = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = s.Client.Close() })
	t.Cleanup(s.Stop)
	if err := s.cmd.Start(); err != nil {
		close(s.exited) // nothing to wait for
		return nil, err
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()

	// Wait for the port with plain dials (go-redis would log every refused
	// dial), then for PING.
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.ping()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited: %s", addr, bytes.TrimSpace(s.out.Bytes()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within %v: %v\n%s", addr, startTimeout, err, s.out.Bytes())
		}
	}
}

func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	return s.Client.Ping(ctx).Err()
}

// Stop kills the server and waits until it has exited; the port then
// refuses connections. It may be called more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
		}
		<-s.exited // closed at once if the process never started
	})
}

// Log returns what redis-server printed so far.
func (s *Server) Log() string { return s.out.String() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address: " + l.Addr().String())
	}
	return addr.Port, nil
}

// syncBuffer collects the child's output safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }
