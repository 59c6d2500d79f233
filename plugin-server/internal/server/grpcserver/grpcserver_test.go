// Tests the gRPC server the gateway talks to, over loopback TCP: reflection
// (v1 and v1alpha) lists and describes coprocess.Dispatcher, health is
// SERVING while up and NOT_SERVING on shutdown while in-flight calls finish,
// the hard-stop timeout cuts off a call that never ends, a panicking handler
// gives codes.Internal without killing the server, and message-size limits
// refuse oversized Objects but let a 3 MiB request body (6 MiB Object)
// through with the defaults.
package grpcserver_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

const service = "coprocess.Dispatcher"

func preObject(t *testing.T) *coprocess.Object {
	t.Helper()
	return captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
}

func TestReflectionV1(t *testing.T) {
	s := grpctest.Start(t, tykplugin.New(nil, nil), grpcserver.Options{})
	ctx := grpctest.Context(t, 10*time.Second)
	stream, err := reflectionv1.NewServerReflectionClient(s.Conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionv1.ServerReflectionRequest) *reflectionv1.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Fatalf("reflection error: %v", e)
		}
		return resp
	}

	resp := ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	for _, want := range []string{service, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}

	// grpcurl needs the descriptors too: the file defining the service and
	// its imports must come back and link.
	resp = ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service}})
	set := &descriptorpb.FileDescriptorSet{}
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			t.Fatal(err)
		}
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatalf("descriptors from reflection do not link: %v", err)
	}
	d, err := files.FindDescriptorByName(service)
	if err != nil {
		t.Fatalf("%s not in the descriptors: %v", service, err)
	}
	if !strings.Contains(string(d.ParentFile().Path()), "coprocess_object.proto") {
		t.Errorf("%s defined in %s", service, d.ParentFile().Path())
	}
}

func TestReflectionV1alpha(t *testing.T) {
	s := grpctest.Start(t, tykplugin.New(nil, nil), grpcserver.Options{})
	ctx := grpctest.Context(t, 10*time.Second)
	stream, err := reflectionv1alpha.NewServerReflectionClient(s.Conn).ServerReflectionInfo(ctx) //nolint:staticcheck // old clients still use v1alpha
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	if !slices.Contains(names, service) {
		t.Errorf("v1alpha reflection lists %v", names)
	}
}

func TestHealthServing(t *testing.T) {
	s := grpctest.Start(t, tykplugin.New(nil, nil), grpcserver.Options{})
	h := healthpb.NewHealthClient(s.Conn)
	for _, svc := range []string{"", service} {
		resp, err := h.Check(grpctest.Context(t, 5*time.Second), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v", svc, resp, err)
		}
	}
	_, err := h.Check(grpctest.Context(t, 5*time.Second), &healthpb.HealthCheckRequest{Service: "no.Such"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Check(unknown) error = %v, want NotFound", err)
	}
}

// gated is a Dispatcher whose Dispatch waits for the test: entered tells a
// call arrived; it then waits for release or, with never, for the call's
// own end.
type gated struct {
	*tykplugin.Plugin
	entered chan struct{}
	release chan struct{}
	never   bool
}

func newGated(never bool) *gated {
	return &gated{
		Plugin:  tykplugin.New(nil, nil),
		entered: make(chan struct{}, 1),
		release: make(chan struct{}),
		never:   never,
	}
}

func (g *gated) Dispatch(ctx context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	g.entered <- struct{}{}
	if g.never {
		<-ctx.Done() // ends only when the server cuts it off
		return nil, ctx.Err()
	}
	<-g.release
	return g.Plugin.Dispatch(ctx, o)
}

type result struct {
	obj *coprocess.Object
	err error
}

func dispatchAsync(c coprocess.DispatcherClient, o *coprocess.Object) <-chan result {
	out := make(chan result, 1)
	go func() {
		got, err := c.Dispatch(context.Background(), o)
		out <- result{got, err}
	}()
	return out
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func TestGracefulShutdown(t *testing.T) {
	g := newGated(false)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(g.release) }) }
	t.Cleanup(release)
	s := grpctest.Start(t, g, grpcserver.Options{ShutdownTimeout: 20 * time.Second})

	// Watch health as a load balancer would.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(s.Conn).Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", st, err)
	}

	o := preObject(t)
	call := dispatchAsync(s.Client, o)
	waitFor(t, g.entered, "the call to reach the handler")

	s.Shutdown()
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after shutdown = %v, %v; want NOT_SERVING", st, err)
	}
	// The server ends the watch itself: an open watcher must not hold the
	// graceful stop until the hard-stop timeout.
	if _, err := watch.Recv(); err == nil {
		t.Fatal("health watch still open after shutdown began")
	}

	select {
	case <-s.Done():
		t.Fatal("server stopped with a call in flight")
	case r := <-call:
		t.Fatalf("in-flight call ended before release: %v", r.err)
	default:
	}
	release()
	r := waitFor(t, call, "the in-flight call")
	if r.err != nil || !proto.Equal(r.obj, o) {
		t.Fatalf("in-flight call: %v (echo equal: %v)", r.err, proto.Equal(r.obj, o))
	}
	waitFor(t, s.Done(), "Serve to return")
	if err := s.Err(); err != nil {
		t.Errorf("Serve = %v, want nil after a requested stop", err)
	}
}

func TestHardStopCutsOffEndlessCall(t *testing.T) {
	const timeout = 300 * time.Millisecond
	g := newGated(true)
	s := grpctest.Start(t, g, grpcserver.Options{ShutdownTimeout: timeout})
	call := dispatchAsync(s.Client, preObject(t))
	waitFor(t, g.entered, "the call to reach the handler")

	begin := time.Now()
	s.Shutdown()
	waitFor(t, s.Done(), "Serve to return")
	took := time.Since(begin)
	if err := s.Err(); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if took < timeout || took > timeout+5*time.Second {
		t.Errorf("hard stop after %v, want about %v", took, timeout)
	}
	r := waitFor(t, call, "the cut-off call")
	if code := status.Code(r.err); code != codes.Unavailable && code != codes.Canceled {
		t.Errorf("cut-off call: %v, want Unavailable", r.err)
	}
}

// panicky panics on Objects named "panic".
type panicky struct{ *tykplugin.Plugin }

func (p panicky) Dispatch(ctx context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	if o.GetHookName() == "panic" {
		panic("test panic")
	}
	return p.Plugin.Dispatch(ctx, o)
}

func TestPanicBecomesInternal(t *testing.T) {
	log, logs := grpctest.NewLog(slog.LevelInfo)
	s := grpctest.Start(t, panicky{tykplugin.New(nil, nil)}, grpcserver.Options{Logger: log})
	ctx := grpctest.Context(t, 10*time.Second)
	for i := 0; i < 2; i++ {
		_, err := s.Client.Dispatch(ctx, &coprocess.Object{HookName: "panic"})
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panic in /coprocess.Dispatcher/Dispatch") {
			t.Fatalf("panicking call: %v, want Internal", err)
		}
		o := preObject(t)
		if got, err := s.Client.Dispatch(ctx, o); err != nil || !proto.Equal(got, o) {
			t.Fatalf("call after a panic: %v", err)
		}
	}
	if out := logs.String(); !strings.Contains(out, `"msg":"panic in handler"`) || !strings.Contains(out, "test panic") {
		t.Errorf("panic not logged: %s", out)
	}
}

// A panic in an interceptor (the lab's own per-call code: instrumentation,
// metrics, the deadline) costs that call, as one in a hook does, not the
// process.
func TestInterceptorPanicBecomesInternal(t *testing.T) {
	log, logs := grpctest.NewLog(slog.LevelInfo)
	boom := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if o, ok := req.(*coprocess.Object); ok && o.GetHookName() == "boom" {
			panic("interceptor panic")
		}
		return handler(ctx, req)
	}
	s := grpctest.Start(t, tykplugin.New(nil, nil), grpcserver.Options{Logger: log, Unary: []grpc.UnaryServerInterceptor{boom}})
	ctx := grpctest.Context(t, 10*time.Second)
	for range 2 {
		_, err := s.Client.Dispatch(ctx, &coprocess.Object{HookName: "boom"})
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "(interceptor): interceptor panic") {
			t.Fatalf("call whose interceptor panics: %v, want Internal", err)
		}
		o := preObject(t)
		if got, err := s.Client.Dispatch(ctx, o); err != nil || !proto.Equal(got, o) {
			t.Fatalf("call after a panic: %v", err)
		}
	}
	if out := logs.String(); !strings.Contains(out, `"msg":"panic in interceptor"`) {
		t.Errorf("panic not logged: %s", out)
	}
}

func bigObject(bodyBytes int) *coprocess.Object {
	body := strings.Repeat("x", bodyBytes)
	return &coprocess.Object{
		HookType: coprocess.HookType_Pre,
		HookName: "MyPreRequestPlugin",
		Request: &coprocess.MiniRequestObject{
			Method:  "POST",
			Headers: map[string]string{"Content-Type": "application/octet-stream"},
			Body:    body,
			RawBody: []byte(body),
		},
	}
}

func TestOversizedObjectRefused(t *testing.T) {
	s := grpctest.Start(t, tykplugin.New(nil, nil), grpcserver.Options{MaxRecvBytes: 1 << 20, MaxSendBytes: 1 << 20})
	ctx := grpctest.Context(t, 10*time.Second)
	_, err := s.Client.Dispatch(ctx, bigObject(600<<10)) // 1.2 MiB Object
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized Object: %v, want ResourceExhausted", err)
	}
	o := preObject(t)
	if got, err := s.Client.Dispatch(ctx, o); err != nil || !proto.Equal(got, o) {
		t.Fatalf("call after an oversized one: %v", err)
	}
}

// The gateway sends a 3 MiB POST body twice (body and raw_body): the default
// limits must let the 6 MiB Object through both ways.
func TestDefaultLimitsFitA3MiBBody(t *testing.T) {
	s := grpctest.Start(t, tykplugin.New(nil, nil), grpcserver.Options{
		MaxRecvBytes: grpcserver.DefaultMaxMessageBytes,
		MaxSendBytes: grpcserver.DefaultMaxMessageBytes,
	})
	o := bigObject(3 << 20)
	if size := proto.Size(o); size < 6<<20 {
		t.Fatalf("Object is %d bytes", size)
	}
	got, err := s.Client.Dispatch(grpctest.Context(t, 30*time.Second), o)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, o) {
		t.Error("6 MiB Object not echoed whole")
	}

	// A client with gRPC's default 4 MiB receive limit could not take the
	// answer: the gateway's own limits must be raised too.
	small := grpctest.Dial(t, s.Addr, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)))
	_, err = coprocess.NewDispatcherClient(small).Dispatch(grpctest.Context(t, 30*time.Second), o)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("client with a 4 MiB limit: %v, want ResourceExhausted", err)
	}
}
