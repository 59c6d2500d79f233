// Package plugin is the plugin: the one package a plugin author changes.
// Plugin is a plain coprocess.DispatcherServer that routes each Dispatch
// by its hook name (the function name in the API definition) to a Hook;
// the hooks themselves live in hooks.go. The lab serves it with its
// instrumentation around it (every call logged and journaled with what
// the hook changed), but nothing here depends on that: replace Plugin by
// any DispatcherServer and the lab serves that instead.
package plugin

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

// New returns the plugin with the hooks of Hooks (hooks.go). log may be nil.
func New(log *slog.Logger) *Plugin {
	return WithHooks(log, Hooks())
}

// WithHooks returns a plugin that serves the given hooks, by function name.
func WithHooks(log *slog.Logger, hooks map[string]Hook) *Plugin {
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
		p.log.Warn("no hook for this function name: echoing the object unchanged (add it to plugin.Hooks)",
			"hook_name", obj.GetHookName(), "hook_type", obj.GetHookType().String())
	}
	return obj, nil
}

// DispatchEvent receives the gateway's events (event_handlers with
// cp_dynamic_handler); the lab logs and journals them. The gateway ignores
// the reply.
func (p *Plugin) DispatchEvent(ctx context.Context, ev *coprocess.Event) (*coprocess.EventReply, error) {
	return &coprocess.EventReply{}, nil
}
