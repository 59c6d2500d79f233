// Package deadline bounds every call of the gateway, which sets no
// deadline of its own: a hook that hangs would hold the client's request
// for ever. Past the timeout the hook's context is cancelled and the call
// ends with DeadlineExceeded (the gateway answers 500 "Middleware error",
// 403 for CustomKeyCheck), whether or not the hook returns.
//
// A hook named in FailOpen fails open instead, as Envoy's ext_proc does
// with failure_mode_allow: when it fails (an error, a panic, the timeout)
// the gateway gets the object it sent, unchanged, and the request goes on.
package deadline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Options configure the interceptor.
type Options struct {
	// Timeout bounds each Dispatch and DispatchEvent; 0 for no bound.
	Timeout time.Duration
	// FailOpen names the hooks whose failure lets the request go on.
	FailOpen []string
	// OnFailOpen, when set, is called with the call's context and the
	// reason when a hook fails open, before the interceptor returns: the
	// plugin server journals it (instrument.Instrument.FailedOpen).
	OnFailOpen func(ctx context.Context, reason string)
	// Abandoned, when set, counts the hooks the timeout left running (they
	// ignored their context) and bounds them.
	Abandoned *Abandoned
	// OnAbandoned, when set, is called with the call's context when the
	// timeout leaves its hook running: the plugin server journals it
	// (instrument.Instrument.Abandoned).
	OnAbandoned func(ctx context.Context)
	Logger      *slog.Logger
}

// Abandoned counts the hooks the timeout ended a call of while they ran
// on, ignoring their cancelled context: each holds a goroutine, and
// whatever the hook holds, until it returns. Past Max of them at once the
// replica is unwell (a stuck dependency, a deadlock): OnOver(true) is
// called, and OnOver(false) once they are back at Max or fewer.
type Abandoned struct {
	Max    int64
	OnOver func(over bool)

	running atomic.Int64
	total   atomic.Uint64
	mu      sync.Mutex
	over    bool
}

// Running is how many abandoned hooks run now.
func (a *Abandoned) Running() int64 { return a.running.Load() }

// Total is how many hooks were abandoned since the start.
func (a *Abandoned) Total() uint64 { return a.total.Load() }

func (a *Abandoned) add(d int64) {
	if a == nil {
		return
	}
	if d > 0 {
		a.total.Add(uint64(d))
	}
	n := a.running.Add(d)
	a.mu.Lock()
	defer a.mu.Unlock()
	if over := a.Max > 0 && n > a.Max; over != a.over {
		a.over = over
		if a.OnOver != nil {
			a.OnOver(over)
		}
	}
}

// UnaryServerInterceptor bounds the Dispatcher's calls and fails the
// FailOpen hooks open. It goes after the instrumentation, which then
// journals what became of the call.
func UnaryServerInterceptor(o Options) grpc.UnaryServerInterceptor {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	failOpen := map[string]bool{}
	for _, name := range o.FailOpen {
		failOpen[name] = true
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		switch info.FullMethod {
		case coprocess.Dispatcher_DispatchEvent_FullMethodName:
			return o.call(ctx, handler, req, func() string { return "event handler" })
		case coprocess.Dispatcher_Dispatch_FullMethodName:
		default:
			return handler(ctx, req)
		}
		obj, _ := req.(*coprocess.Object)
		what := func() string { return fmt.Sprintf("hook %s (%s)", obj.GetHookName(), obj.GetHookType()) }
		if !failOpen[obj.GetHookName()] {
			return o.call(ctx, handler, req, what)
		}
		// The hook may change obj before it fails, and keep changing it
		// after a timeout: the gateway gets a copy of what it sent.
		sent := obj.CloneVT()
		resp, err := o.call(ctx, handler, req, what)
		if err == nil || ctx.Err() != nil { // the gateway gave up: nothing to answer
			return resp, err
		}
		reason := status.Convert(err).Message()
		if o.OnFailOpen != nil {
			o.OnFailOpen(ctx, reason)
		}
		log.LogAttrs(ctx, slog.LevelWarn, "hook failed open: the gateway gets the object it sent, unchanged",
			slog.String("hook_name", obj.GetHookName()), slog.String("hook_type", obj.GetHookType().String()),
			slog.String("error", reason))
		return sent, nil
	}
}

// call runs the handler under the timeout. Past it, the call ends even if
// the handler has not returned; the handler's context is cancelled, and a
// hook that ignores it runs on, alone, until it returns: abandoned,
// counted in o.Abandoned until then.
func (o Options) call(ctx context.Context, handler grpc.UnaryHandler, req any, what func() string) (any, error) {
	if o.Timeout <= 0 {
		return handler(ctx, req)
	}
	hctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	type result struct {
		resp any
		err  error
	}
	done := make(chan result, 1)
	// state: running, then returned (by the handler) or abandoned (by the
	// timeout), whichever comes first.
	const running, returned, abandoned = 0, 1, 2
	var state atomic.Int32
	go func() {
		resp, err := handler(hctx, req)
		done <- result{resp, err}
		if !state.CompareAndSwap(running, returned) {
			o.Abandoned.add(-1)
		}
	}()
	var r result
	select {
	case r = <-done:
	case <-hctx.Done():
		// A hook that heeds its context returns at once: give it that
		// moment before counting it abandoned.
		grace := time.NewTimer(abandonGrace)
		defer grace.Stop()
		select {
		case r = <-done:
		case <-grace.C:
			if !state.CompareAndSwap(running, abandoned) {
				r = <-done // it returned just now
			}
		}
		if state.Load() != abandoned {
			break
		}
		o.Abandoned.add(1)
		if o.OnAbandoned != nil {
			o.OnAbandoned(ctx)
		}
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, exceeded(what(), o.Timeout)
	}
	if r.err != nil && errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		// The hook gave up on its cancelled context: still the timeout.
		return nil, exceeded(what(), o.Timeout)
	}
	return r.resp, r.err
}

// abandonGrace is how long a hook has to return once its context is
// cancelled before it counts as abandoned.
const abandonGrace = 10 * time.Millisecond

func exceeded(what string, timeout time.Duration) error {
	return status.Errorf(codes.DeadlineExceeded, "deadline exceeded: %s took longer than %s (PLUGIN_DISPATCH_TIMEOUT)", what, timeout)
}
