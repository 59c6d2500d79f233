package examples

import (
	"context"
	"fmt"
	"slices"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// ExampleConfig is ExampleConfigured's per-API configuration: the API
// definition's config_data (Classic) or
// middleware.global.pluginConfig.data.value (OAS), e.g.
//
//	"config_data": {
//	  "set_headers": {"X-Tenant": "classic-tenant"},
//	  "deny_methods": ["DELETE"]
//	}
type ExampleConfig struct {
	// SetHeaders are set on the request on its way upstream.
	SetHeaders map[string]string `json:"set_headers"`
	// DenyMethods are answered 405 by the plugin; the upstream is not
	// called.
	DenyMethods []string `json:"deny_methods"`
}

// exampleConfig caches each API's ExampleConfig.
var exampleConfig tykplugin.APIConfig[ExampleConfig]

// ExampleConfigured (Pre) does what its API's configuration says: one hook,
// wired to several APIs (apis/classic-config.json, apis/oas-config.json),
// behaving differently on each. It sets the configured headers and answers
// a denied method 405. An API without configuration passes unchanged; a
// configuration that does not decode into ExampleConfig fails the call, so
// the gateway answers 500 and the journal says why (apis/classic-config-bad.json).
func ExampleConfigured(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	cfg, ok, err := exampleConfig.Lookup(obj)
	if err != nil || !ok {
		return obj, err
	}
	if m := obj.GetRequest().GetMethod(); slices.Contains(cfg.DenyMethods, m) {
		tykplugin.Respond(obj, 405, map[string]string{"Content-Type": "application/json"},
			fmt.Sprintf(`{"error":"method %s is not allowed on this API (its config_data: deny_methods)"}`, m))
		return obj, nil
	}
	for name, value := range cfg.SetHeaders {
		tykplugin.SetHeader(obj, name, value)
	}
	return obj, nil
}
