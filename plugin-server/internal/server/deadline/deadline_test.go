// Tests the deadline over real gRPC, behind the instrumentation as the
// plugin server chains them: a hook that hangs, ignoring its context, is cut
// off at the timeout; a fail-open hook that hangs, fails or panics lets the
// object through unchanged, and the journal says which.
package deadline_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/deadline"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/instrument"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// records keeps what the instrumentation journals.
type records struct {
	mu   sync.Mutex
	recs []*journal.Record
}

func (r *records) Append(rec *journal.Record) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return true
}

func (r *records) last() *journal.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recs[len(r.recs)-1]
}

// release ends the hung hooks when the test ends.
var release = make(chan struct{})

func hooks() map[string]tykplugin.Hook {
	// hang changes the object, then hangs, ignoring its context.
	hang := func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
		tykplugin.SetHeader(o, "X-Half-Done", "yes")
		<-release
		return o, nil
	}
	return map[string]tykplugin.Hook{
		"Fast":     func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) { return o, nil },
		"Hang":     hang,
		"HangOpen": hang,
		"Polite": func(ctx context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
		"FailOpen": func(context.Context, *coprocess.Object) (*coprocess.Object, error) {
			return nil, errors.New("the service said no")
		},
		"PanicOpen": func(context.Context, *coprocess.Object) (*coprocess.Object, error) { panic("boom") },
		"PoliteOpen": func(ctx context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
		"Refuse": func(context.Context, *coprocess.Object) (*coprocess.Object, error) { return nil, errors.New("x") },
	}
}

func start(t *testing.T, timeout time.Duration) (coprocess.DispatcherClient, *records) {
	t.Helper()
	recs := &records{}
	in := instrument.New(instrument.Options{Journal: recs, Redact: true})
	srv := grpctest.Start(t, tykplugin.New(nil, hooks()), grpcserver.Options{Unary: []grpc.UnaryServerInterceptor{
		in.UnaryServerInterceptor(),
		deadline.UnaryServerInterceptor(deadline.Options{Timeout: timeout, FailOpen: []string{"HangOpen", "FailOpen", "PanicOpen", "PoliteOpen"}, OnFailOpen: in.FailedOpen}),
	}})
	return coprocess.NewDispatcherClient(grpctest.Dial(t, srv.Addr)), recs
}

func object(hook string) *coprocess.Object {
	return &coprocess.Object{HookType: coprocess.HookType_Pre, HookName: hook,
		Request: &coprocess.MiniRequestObject{Method: "GET", Url: "/x", RequestUri: "/x", Headers: map[string]string{"Accept": "*/*"}}}
}

func TestMain(m *testing.M) {
	m.Run()
	close(release)
}

func TestTimeoutEndsTheCall(t *testing.T) {
	const timeout = 200 * time.Millisecond
	c, recs := start(t, timeout)
	for _, hook := range []string{"Hang", "Polite"} {
		t.Run(hook, func(t *testing.T) {
			start := time.Now()
			_, err := c.Dispatch(grpctest.Context(t, 10*time.Second), object(hook))
			took := time.Since(start)
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("Dispatch: %v, want DeadlineExceeded", err)
			}
			// A bound, not a speed: the call ends at the timeout, not
			// when the hook does (Hang never does).
			if took < timeout || took > timeout+2*time.Second {
				t.Errorf("the call took %v, want the timeout (%v) and a little", took, timeout)
			}
			msg := status.Convert(err).Message()
			rec := recs.last()
			for _, want := range []string{"deadline exceeded", "hook " + hook + " (Pre)", "200ms"} {
				if !strings.Contains(msg, want) || !strings.Contains(rec.Error, want) {
					t.Errorf("error %q, journaled %q: want them to say %q", msg, rec.Error, want)
				}
			}
			if rec.DurationUS < timeout.Microseconds() {
				t.Errorf("journaled duration %d µs, want at least the timeout", rec.DurationUS)
			}
		})
	}
	if _, err := c.Dispatch(grpctest.Context(t, 10*time.Second), object("Fast")); err != nil {
		t.Errorf("a fast hook: %v", err)
	}
}

func TestFailOpenSendsTheObjectBack(t *testing.T) {
	c, recs := start(t, 200*time.Millisecond)
	for hook, why := range map[string]string{
		"HangOpen":   "deadline exceeded",
		"PoliteOpen": "deadline exceeded",
		"FailOpen":   "the service said no",
		"PanicOpen":  "panic",
	} {
		t.Run(hook, func(t *testing.T) {
			sent := object(hook)
			got, err := c.Dispatch(grpctest.Context(t, 10*time.Second), sent)
			if err != nil {
				t.Fatalf("Dispatch: %v, want the object back", err)
			}
			if !proto.Equal(got, sent) {
				t.Errorf("got %v\nwant what was sent, unchanged: %v", got, sent)
			}
			rec := recs.last()
			if rec.Error != "" || !strings.Contains(rec.FailedOpen, why) || len(rec.Changes) != 0 {
				t.Errorf("journaled error %q, failed_open %q, changes %v; want failed_open saying %q, no error, no changes", rec.Error, rec.FailedOpen, rec.Changes, why)
			}
			if !strings.Contains(rec.Text(), "failed open") {
				t.Errorf("text: %s", rec.Text())
			}
		})
	}
	// A hook not listed fails closed.
	if _, err := c.Dispatch(grpctest.Context(t, 10*time.Second), object("Refuse")); status.Code(err) == codes.OK {
		t.Error("a hook not listed in FailOpen: no error")
	}
}

func TestNoTimeout(t *testing.T) {
	c, _ := start(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Dispatch(ctx, object("Polite"))
	// Only the client's own deadline ends it.
	if status.Code(err) != codes.DeadlineExceeded || strings.Contains(status.Convert(err).Message(), "PLUGIN_DISPATCH_TIMEOUT") {
		t.Errorf("without a timeout: %v, want the client's own deadline", err)
	}
}

// Hooks that ignore their context and outlive the timeout are counted
// while they run on, journaled as abandoned, and bounded: past Max the
// health service says NOT_SERVING (so that an orchestrator replaces the
// replica), and SERVING again once they have returned. A polite hook is
// not abandoned.
func TestAbandonedHooksCountedAndBounded(t *testing.T) {
	recs := &records{}
	in := instrument.New(instrument.Options{Journal: recs, Redact: true})
	free := make(chan struct{})
	hooks := map[string]tykplugin.Hook{
		"Stuck": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) { <-free; return o, nil },
		"Polite": func(ctx context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
	var srv *grpcserver.Server
	ab := &deadline.Abandoned{Max: 2, OnOver: func(over bool) { srv.SetServing(!over) }}
	srv = grpcserver.New(tykplugin.New(nil, hooks), grpcserver.Options{ShutdownTimeout: time.Second, Unary: []grpc.UnaryServerInterceptor{
		in.UnaryServerInterceptor(),
		deadline.UnaryServerInterceptor(deadline.Options{Timeout: 50 * time.Millisecond, Abandoned: ab, OnAbandoned: in.Abandoned}),
	}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpctest.Serve(t, lis, srv.Serve)
	c, health := s.Client, healthpb.NewHealthClient(s.Conn)
	serving := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := health.Check(grpctest.Context(t, 5*time.Second), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	if _, err := c.Dispatch(grpctest.Context(t, 5*time.Second), object("Polite")); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Polite: %v", err)
	}
	if recs.last().Abandoned || ab.Running() != 0 {
		t.Errorf("a hook that heeds its context: journaled abandoned %v, %d running; want neither", recs.last().Abandoned, ab.Running())
	}
	for i := 1; i <= 3; i++ {
		if _, err := c.Dispatch(grpctest.Context(t, 5*time.Second), object("Stuck")); status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("Stuck %d: %v", i, err)
		}
		if !recs.last().Abandoned || ab.Running() != int64(i) {
			t.Errorf("Stuck %d: journaled abandoned %v, %d running; want true, %d", i, recs.last().Abandoned, ab.Running(), i)
		}
		want := healthpb.HealthCheckResponse_SERVING
		if i > 2 {
			want = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if got := serving(); got != want {
			t.Errorf("after %d abandoned (max 2): health %s, want %s", i, got, want)
		}
	}
	close(free)
	deadline := time.Now().Add(5 * time.Second)
	for ab.Running() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ab.Running() != 0 || ab.Total() != 3 || serving() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("the stuck hooks returned: %d running, %d in all, health %s; want 0, 3, SERVING", ab.Running(), ab.Total(), serving())
	}
}
