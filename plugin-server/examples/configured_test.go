package examples_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples/examplecheck"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/plugintest"
)

// ExampleConfigured on every captured Pre object, with the configurations
// of apis/classic-config.json and apis/oas-config.json, none, and a bad
// one (apis/classic-config-bad.json).
func TestExampleConfigured(t *testing.T) {
	classic := `{"set_headers": {"X-Tenant": "classic-tenant"}, "deny_methods": ["DELETE"]}`
	oas := map[string]any{"set_headers": map[string]string{"X-Tenant": "oas-tenant", "X-Plan": "gold"}, "deny_methods": []string{}}
	cs := plugintest.Captures(t, plugintest.Match{Hook: coprocess.HookType_Pre})
	if len(cs) == 0 {
		t.Fatal("no Pre captures")
	}
	for _, c := range cs {
		t.Run(c.Gateway+"/"+c.Record.APIID, func(t *testing.T) {
			obj := plugintest.WithConfig(t, c.Object.CloneVT(), classic)
			obj.Request.Method = http.MethodGet
			expect(t, examplecheck.Configured(plugintest.Run(examples.ExampleConfigured, obj).Upstream, map[string]string{"X-Tenant": "classic-tenant"}))

			obj = plugintest.WithConfig(t, c.Object.CloneVT(), classic)
			obj.Request.Method = http.MethodDelete
			expect(t, examplecheck.ConfigDenied(plugintest.Run(examples.ExampleConfigured, obj).Client, http.MethodDelete))

			obj = plugintest.WithConfig(t, c.Object.CloneVT(), oas)
			obj.Request.Method = http.MethodDelete
			expect(t, examplecheck.Configured(plugintest.Run(examples.ExampleConfigured, obj).Upstream, map[string]string{"X-Tenant": "oas-tenant", "X-Plan": "gold"}))

			for name, config := range map[string]any{"none": nil, "empty": `{}`} {
				obj = plugintest.WithConfig(t, c.Object.CloneVT(), config)
				res := plugintest.Run(examples.ExampleConfigured, obj)
				if res.Err != nil || len(res.Upstream.Header.Values("X-Tenant")) != 0 {
					t.Errorf("%s configuration: %v, X-Tenant %q; want the request unchanged", name, res.Err, res.Upstream.Header.Values("X-Tenant"))
				}
			}

			obj = plugintest.WithConfig(t, c.Object.CloneVT(), `{"set_header": {"X-Tenant": "typo"}}`)
			res := plugintest.Run(examples.ExampleConfigured, obj)
			if res.Err == nil || !strings.Contains(res.Err.Error(), `unknown field "set_header"`) || res.Client == nil || res.Client.Status != http.StatusInternalServerError {
				t.Errorf("a bad configuration: %v, client %+v; want the decode error and 500", res.Err, res.Client)
			}
		})
	}
}

// WithConfig sends what the gateway sends: its own encoding of the
// configuration, and nothing for an empty one.
func TestWithConfigEncodesAsTheGateway(t *testing.T) {
	obj := plugintest.WithConfig(t, &coprocess.Object{}, `{"zeta": 1, "alpha": "<a & b>", "big": 12345678901234567890}`)
	if got, want := obj.Spec[tykplugin.SpecConfigData], `{"alpha":"\u003ca \u0026 b\u003e","big":12345678901234567000,"zeta":1}`; got != want {
		t.Errorf("config_data %s, want %s", got, want)
	}
	if _, ok := plugintest.WithConfig(t, obj, `{}`).Spec[tykplugin.SpecConfigData]; ok {
		t.Error("an empty configuration is sent; the gateway sends none")
	}
}

// The lab's captures keep the configuration the gateway sent: replayed,
// ExampleConfigured does what it did on the real gateway, on every line.
func TestExampleConfiguredOnCaptures(t *testing.T) {
	seen := map[string]int{}
	for _, c := range plugintest.Captures(t, plugintest.Match{HookName: "ExampleConfigured"}) {
		t.Run(c.Gateway+"/"+c.Record.APIID+"/"+c.Record.Method, func(t *testing.T) {
			seen[c.Gateway]++
			res := c.Run(examples.ExampleConfigured)
			switch api, m := c.Record.APIID, c.Record.Method; {
			case api == "classic-config" && m == http.MethodDelete:
				expect(t, examplecheck.ConfigDenied(res.Client, m))
			case api == "classic-config":
				expect(t, examplecheck.Configured(res.Upstream, map[string]string{"X-Tenant": "classic-tenant"}))
			case api == "oas-config":
				expect(t, examplecheck.Configured(res.Upstream, map[string]string{"X-Tenant": "oas-tenant", "X-Plan": "gold"}))
			case api == "classic-config-bad":
				if res.Err == nil || !strings.Contains(res.Err.Error(), `unknown field "set_header"`) {
					t.Errorf("error %v; want the decode error", res.Err)
				}
			default:
				t.Errorf("a capture of ExampleConfigured on API %s", api)
			}
		})
	}
	for _, gw := range []string{"v5.14.0", "v5.13.1", "v5.8.11"} {
		if seen[gw] < 4 {
			t.Errorf("gateway %s: %d captures of ExampleConfigured, want the 4 of make smoke", gw, seen[gw])
		}
	}
}
