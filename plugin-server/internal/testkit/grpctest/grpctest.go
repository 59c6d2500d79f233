// Package grpctest runs the plugin server's gRPC stack (grpcserver, with
// any DispatcherServer) on a loopback TCP port for tests, and dials it as the
// gateway does. It also has small helpers shared by the tests: a log
// captured as JSON lines, and polling with a deadline.
package grpctest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/logwriter"
)

// ClientMaxBytes is the message limit of connections made by Dial, above
// the server's default so that the server's limits are the ones tested.
const ClientMaxBytes = 64 << 20

// Server is a running grpcserver.Server and a client connected to it.
type Server struct {
	Addr   string
	Conn   *grpc.ClientConn
	Client coprocess.DispatcherClient

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start serves d on 127.0.0.1 with opts until the test ends. Zero sizes and
// timeout in opts get the plugin server's defaults.
func Start(t testing.TB, d coprocess.DispatcherServer, opts grpcserver.Options) *Server {
	t.Helper()
	if opts.MaxRecvBytes == 0 {
		opts.MaxRecvBytes = grpcserver.DefaultMaxMessageBytes
	}
	if opts.MaxSendBytes == 0 {
		opts.MaxSendBytes = grpcserver.DefaultMaxMessageBytes
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, lis, func(ctx context.Context, lis net.Listener) error {
		return grpcserver.New(d, opts).Serve(ctx, lis)
	})
}

// Serve runs serve(ctx, lis) in the background until the test ends (or
// Shutdown), and connects a client to lis.
func Serve(t testing.TB, lis net.Listener, serve func(context.Context, net.Listener) error) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Addr: lis.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = serve(ctx, lis)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("server on %s did not stop within 30s", s.Addr)
		}
	})
	s.Conn = Dial(t, s.Addr)
	s.Client = coprocess.NewDispatcherClient(s.Conn)
	return s
}

// Shutdown starts the server's graceful stop (as SIGTERM does) and returns
// at once; Done tells when Serve returned.
func (s *Server) Shutdown() { s.cancel() }

// Done is closed when Serve has returned.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is what Serve returned; call it after Done.
func (s *Server) Err() error {
	<-s.done
	return s.err
}

// Stop shuts the server down and waits for Serve to return.
func (s *Server) Stop(t testing.TB) error {
	t.Helper()
	s.Shutdown()
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatalf("server on %s did not stop within 30s", s.Addr)
		return nil
	}
}

// Dial connects to addr as the gateway does (plaintext), with message
// limits of ClientMaxBytes; the connection is closed when the test ends.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(ClientMaxBytes),
			grpc.MaxCallSendMsgSize(ClientMaxBytes),
		),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	t.Cleanup(func() {
		if conn != nil {
			_ = conn.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// Context returns a context for one call, cancelled after timeout or at the
// end of the test.
func Context(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// Log is a slog JSON log captured in memory, safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLog returns a logger at level writing into a Log with the plugin
// server's handler (logwriter.NewHandler).
func NewLog(level slog.Level) (*slog.Logger, *Log) {
	l := &Log{}
	return slog.New(logwriter.NewHandler(l, &slog.HandlerOptions{Level: level})), l
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the log lines so far.
func (l *Log) Lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Eventually polls cond every few milliseconds until it is true, failing
// the test with msg after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
