// Package tykplugin is the SDK for writing a Tyk Gateway gRPC plugin in Go:
// a Hook per function name, a Plugin that routes the gateway's Dispatch
// calls to them (a coprocess.DispatcherServer, ready for any gRPC server),
// helpers that change an Object the way the gateway reads it back
// (SetHeader, Respond, SetResponseBody, ...), and APIConfig, an API's
// config_data decoded into your type.
//
// It depends on nothing but the coprocess protocol, gRPC and the standard
// library: no Redis, Docker, Prometheus or OpenTelemetry. Its companions are
// gatewaymodel (what the gateway does with the object a hook returns) and
// plugintest (run a hook on a captured object in a go test).
package tykplugin

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Hook handles calls for one function name. It returns the object to the
// gateway, changed or not. Return the whole object: the gateway rebuilds
// the upstream request body from request.raw_body and the client's
// response from response, so an object returned without them empties the
// body or the response. An error makes the gateway answer the client 500
// "Middleware error" (403 for CustomKeyCheck).
type Hook func(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error)

// Plugin routes each Dispatch to the Hook named by its hook_name.
type Plugin struct {
	coprocess.UnimplementedDispatcherServer

	log   *slog.Logger
	hooks map[string]Hook
	// warned holds the unknown hook names already logged.
	warned sync.Map
}

var _ coprocess.DispatcherServer = (*Plugin)(nil)

// New returns a plugin that serves hooks, by function name (the name in
// the API definition). log, which may be nil, gets one warning per name
// the gateway calls that has no hook.
func New(log *slog.Logger, hooks map[string]Hook) *Plugin {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Plugin{log: log, hooks: hooks}
}

// Dispatch runs the hook named obj.HookName. A name with no hook echoes
// the object (so a new API definition works before its hook is written)
// and logs a warning, once per name.
func (p *Plugin) Dispatch(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	if h, ok := p.hooks[obj.GetHookName()]; ok {
		return h(ctx, obj)
	}
	if _, seen := p.warned.LoadOrStore(obj.GetHookName(), true); !seen {
		p.log.Warn("no hook for this function name: echoing the object unchanged (add it to the plugin's hooks)",
			"hook_name", obj.GetHookName(), "hook_type", obj.GetHookType().String())
	}
	return obj, nil
}

// DispatchEvent receives the gateway's events (event_handlers with
// cp_dynamic_handler) and does nothing with them; the gateway ignores the
// reply. (The lab's plugin server logs and journals them.)
func (p *Plugin) DispatchEvent(ctx context.Context, ev *coprocess.Event) (*coprocess.EventReply, error) {
	return &coprocess.EventReply{}, nil
}
