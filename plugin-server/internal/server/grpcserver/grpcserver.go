// Package grpcserver builds the gRPC server the gateway talks to: the
// Dispatcher, the standard health service and reflection (so grpcurl and
// container health checks work) on one port, panic recovery, message-size
// limits, and a graceful stop.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// MaxRecvBytes and MaxSendBytes bound message sizes (see
	// DefaultMaxMessageBytes for what an Object's size is).
	MaxRecvBytes int
	MaxSendBytes int
	// ShutdownTimeout is how long a graceful stop may wait for in-flight
	// calls before the server stops hard.
	ShutdownTimeout time.Duration
	// Unary are interceptors around every unary call, outermost first;
	// panic recovery always runs inside them, so they see a panic of the
	// handler as the codes.Internal error the client gets, and outside
	// them too, so that a panic in one of them costs that call, not the
	// process.
	Unary []grpc.UnaryServerInterceptor
	// Stream are interceptors around every stream, outermost first.
	Stream []grpc.StreamServerInterceptor
	// ServerOptions are more options for the server, e.g. a stats handler.
	ServerOptions []grpc.ServerOption
}

// Defaults for zero Options.
const (
	// DefaultMaxMessageBytes is the largest gRPC message either way, the
	// same on the gateway (coprocess_options.grpc_recv_max_size and
	// grpc_send_max_size; compose.yaml sets both from .env). The largest
	// Object is a Response hook's: the request body and the response body,
	// each twice (body and raw_body). With an upstream that echoes the
	// request, 4 × the body plus headers must fit: 32 MiB passes a 7 MiB
	// body through both hooks, not 8 MiB (docs/gateway.md, "Message sizes").
	DefaultMaxMessageBytes = 32 << 20
	// DefaultAddr is the plugin server's listen address.
	DefaultAddr            = ":50051"
	DefaultShutdownTimeout = 10 * time.Second
)

// Server is a gRPC server carrying a Dispatcher.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	log    *slog.Logger
	opts   Options
	// stopping is closed when shutdown starts; it ends open streams (a
	// health Watch, say), which would otherwise hold the graceful stop
	// until the hard-stop timeout.
	stopping chan struct{}
}

// streamWorkers is how many calls run on reused goroutines at once; more
// run on goroutines of their own.
const streamWorkers = 64

// New registers d, health and reflection on a new gRPC server.

func New(d coprocess.DispatcherServer, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRecvBytes <= 0 {
		opts.MaxRecvBytes = DefaultMaxMessageBytes
	}
	if opts.MaxSendBytes <= 0 {
		opts.MaxSendBytes = DefaultMaxMessageBytes
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	stopping := make(chan struct{})
	gs := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxRecvBytes),
		grpc.MaxSendMsgSize(opts.MaxSendBytes),
		grpc.ChainUnaryInterceptor(slices.Concat(
			[]grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(recovered(log, "interceptor"))},
			opts.Unary,
			[]grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(recovered(log, "handler"))})...),
		grpc.ChainStreamInterceptor(slices.Concat(
			[]grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(recovered(log, "interceptor"))},
			opts.Stream,
			[]grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(recovered(log, "handler")), endOnStop(stopping)})...),
		// The gateway keeps one long-lived connection; let clients ping it
		// without being cut off.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
		// Calls run on long-lived workers rather than a new goroutine each:
		// the instrumentation's call depth (logging, redaction, encoding)
		// would otherwise grow every new goroutine's stack, a copy per call.
		grpc.NumStreamWorkers(streamWorkers),
	}, opts.ServerOptions...)...)
	coprocess.RegisterDispatcherServer(gs, d)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs) // v1 and v1alpha
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(coprocess.Dispatcher_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return &Server{grpc: gs, health: hs, log: log, opts: opts, stopping: stopping}
}

// SetServing sets what the health service says of the server and its
// Dispatcher: SERVING or NOT_SERVING. After the shutdown began it stays
// NOT_SERVING.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(coprocess.Dispatcher_ServiceDesc.ServiceName, st)
}

// GRPC returns the underlying server, e.g. to register more services.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve serves on lis until ctx ends, then stops gracefully: health turns
// NOT_SERVING, in-flight calls finish, and after ShutdownTimeout whatever is
// left is cut off. It returns nil after a stop asked for by ctx.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	s.log.Info("plugin server listening", "addr", lis.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve: %w", err)
	case <-ctx.Done():
	}

	s.log.Info("shutting down: health NOT_SERVING, waiting for in-flight calls",
		"timeout", s.opts.ShutdownTimeout.String())
	s.health.Shutdown()
	close(s.stopping)
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
		s.log.Info("stopped gracefully")
	case <-timer.C:
		s.log.Warn("graceful stop timed out: stopping hard")
		s.grpc.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpc serve: %w", err)
	}
	return nil
}

// endOnStop cancels a stream's context when stopping closes, so that
// long-lived streams end with the graceful stop instead of holding it.
func endOnStop(stopping <-chan struct{}) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		go func() {
			select {
			case <-stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		return handler(srv, stoppableStream{ServerStream: ss, ctx: ctx})
	}
}

type stoppableStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stoppableStream) Context() context.Context { return s.ctx }

// recovered turns a panic in a handler (where is "handler") or in the
// interceptors around it ("interceptor": the lab's own per-call code) into
// codes.Internal, logged with its stack, so that one bad call does not take
// the plugin server (and every API using it) down.
func recovered(log *slog.Logger, where string) recovery.Option {
	return recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		log.Error("panic in "+where, "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "plugin server: panic in %s (%s): %v", method, where, p)
	})
}
