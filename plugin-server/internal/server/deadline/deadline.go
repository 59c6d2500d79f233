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
	Logger     *slog.Logger
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
			return call(ctx, o.Timeout, handler, req, func() string { return "event handler" })
		case coprocess.Dispatcher_Dispatch_FullMethodName:
		default:
			return handler(ctx, req)
		}
		obj, _ := req.(*coprocess.Object)
		what := func() string { return fmt.Sprintf("hook %s (%s)", obj.GetHookName(), obj.GetHookType()) }
		if !failOpen[obj.GetHookName()] {
			return call(ctx, o.Timeout, handler, req, what)
		}
		// The hook may change obj before it fails, and keep changing it
		// after a timeout: the gateway gets a copy of what it sent.
		sent := obj.CloneVT()
		resp, err := call(ctx, o.Timeout, handler, req, what)
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
// hook that ignores it runs on, alone, until it returns.
func call(ctx context.Context, timeout time.Duration, handler grpc.UnaryHandler, req any, what func() string) (any, error) {
	if timeout <= 0 {
		return handler(ctx, req)
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		resp any
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := handler(hctx, req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			// The hook gave up on its cancelled context: still the timeout.
			return nil, exceeded(what(), timeout)
		}
		return r.resp, r.err
	case <-hctx.Done():
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, exceeded(what(), timeout)
	}
}

func exceeded(what string, timeout time.Duration) error {
	return status.Errorf(codes.DeadlineExceeded, "deadline exceeded: %s took longer than %s (PLUGIN_DISPATCH_TIMEOUT)", what, timeout)
}
