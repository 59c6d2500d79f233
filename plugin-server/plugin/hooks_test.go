package plugin_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/plugintest"
)

// Both hooks echo what they get: the request goes upstream, and the
// response reaches the client, as the gateway sent them. Change a hook and
// change its test: plugintest runs it on every object a real gateway sent
// that hook's type (gateways v5.14.0, v5.13.1, v5.8.11; Classic and OAS;
// keyless and keyed) and says what the gateway would do with its answer.
func TestHooksEcho(t *testing.T) {
	for _, c := range plugintest.Captures(t, plugintest.Match{Hook: coprocess.HookType_Pre}) {
		res := c.Run(plugin.MyPreRequestPlugin)
		if res.Err != nil || res.Upstream == nil {
			t.Fatalf("%s: MyPreRequestPlugin: %v, the request did not go upstream", c, res.Err)
		}
		if got, want := string(res.Upstream.Body), string(c.Object.GetRequest().GetRawBody()); got != want {
			t.Errorf("%s: the upstream got the body %q, want %q", c, got, want)
		}
	}
	for _, c := range plugintest.Captures(t, plugintest.Match{Hook: coprocess.HookType_Response}) {
		res := c.Run(plugin.MyResponsePlugin)
		if res.Err != nil || res.Client == nil {
			t.Fatalf("%s: MyResponsePlugin: %v, no answer for the client", c, res.Err)
		}
		if got, want := res.Client.Status, int(c.Object.GetResponse().GetStatusCode()); got != want {
			t.Errorf("%s: the client got %d, want %d", c, got, want)
		}
	}
}

// Every hook in Hooks is served under its name: a call by that name runs
// it (an unknown name would echo the object and log a warning instead).
func TestHooksServedByName(t *testing.T) {
	var logs strings.Builder
	p := tykplugin.New(slog.New(slog.NewTextHandler(&logs, nil)), plugin.Hooks())
	for name := range plugin.Hooks() {
		obj := plugintest.Object(t, plugintest.Match{Hook: coprocess.HookType_Pre})
		obj.HookName = name
		if _, err := p.Dispatch(context.Background(), obj); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if strings.Contains(logs.String(), "no hook for this function name") {
		t.Errorf("a name of Hooks was not routed to its hook:\n%s", logs.String())
	}
}

// Every request `make capture` recorded (testdata/captures) still goes
// through the plugin: no hook fails on it (the gateway would answer 500,
// 403 for CustomKeyCheck). Record a request that matters to you with
// `make capture ID=…` and it is tested here from then on; assert more of
// it in a test of its own with plugintest.Load.
func TestCapturedRequests(t *testing.T) {
	caps := plugintest.Load(t, "testdata/captures", plugintest.Match{})
	if len(caps) == 0 {
		t.Skip("no captures in testdata/captures: `make capture` writes them from the running lab")
	}
	p := tykplugin.New(nil, plugin.Hooks())
	for _, c := range caps {
		res := c.Run(p.Dispatch)
		if res.Err != nil || res.Dropped {
			t.Errorf("%s: the plugin failed: %v", c, res.Err)
		}
	}
	t.Logf("%d captured dispatches replayed", len(caps))
}
