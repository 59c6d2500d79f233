// Package plugin is your plugin: the hooks the gateway calls, by the
// function names your API definitions give them. It is the one package of
// this repository you change; the plugin server (package main beside it)
// serves Hooks with the SDK (package tykplugin) and the lab's
// instrumentation around them. Test the hooks with plugintest on objects a
// real gateway sent (hooks_test.go); `make capture` adds your own under
// testdata/captures.
package plugin

import (
	"context"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// Hooks maps each function name used in your API definitions to its Hook.
// Add a name here when you wire a new one in an API definition (Classic:
// custom_middleware.pre / post_key_auth / post / response / auth_check;
// OAS: prePlugins, postAuthenticationPlugins, postPlugins, responsePlugins,
// authentication.custom).
func Hooks() map[string]tykplugin.Hook {
	return map[string]tykplugin.Hook{
		"MyPreRequestPlugin": MyPreRequestPlugin,
		"MyResponsePlugin":   MyResponsePlugin,
	}
}

// MyPreRequestPlugin runs before authentication (hook type Pre): no
// session yet. It returns the request unchanged. To add a header on the
// way upstream:
//
//	tykplugin.SetHeader(obj, "X-Plugin", "hello")
//
// To answer the client without calling the upstream:
//
//	tykplugin.Respond(obj, 403, map[string]string{"Content-Type": "application/json"}, `{"error":"no"}`)
//
// The SDK (go doc ./plugin-server/tykplugin) has the other helpers; the
// examples (plugin-server/examples) show each hook type at work.
func MyPreRequestPlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	return obj, nil
}

// MyResponsePlugin runs after the upstream answered (hook type Response),
// with the request, the session and obj.Response. It returns the response
// unchanged; to change it, set obj.Response.StatusCode, or use
// tykplugin.SetResponseHeader and tykplugin.SetResponseBody.
func MyResponsePlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	return obj, nil
}
