// Tests the deadline over real gRPC, behind the instrumentation as the
// plugin server chains them: a hook that hangs, ignoring its context, is cut
// off at the timeout; a fail-open hook that hangs, fails or panics lets the
// object through unchanged, and the journal says which.
package deadline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
