package plugin_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugintest"
)

// The default plugin echoes both of the lab's hooks, and any unknown name,
// which it reports once.
func TestDefaultHooksEcho(t *testing.T) {
	var logs strings.Builder
	p := plugin.New(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, name := range []string{"MyPreRequestPlugin", "MyResponsePlugin", "NotWired", "NotWired"} {
		in := &coprocess.Object{HookName: name, Request: &coprocess.MiniRequestObject{Method: "GET", Headers: map[string]string{"A": "1"}}}
		want := proto.Clone(in)
		got, err := p.Dispatch(context.Background(), in)
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("%s: got %v, %v; want the object unchanged", name, got, err)
		}
	}
	if n := strings.Count(logs.String(), "no hook for this function name"); n != 1 {
		t.Errorf("%d warnings for an unknown name, want 1:\n%s", n, logs.String())
	}
}

func TestWithHooksRoutesByName(t *testing.T) {
	p := plugin.WithHooks(nil, map[string]plugin.Hook{
		"AddHeader": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			plugin.SetHeader(o, "X-Plugin", "hello")
			return o, nil
		},
	})
	got, err := p.Dispatch(context.Background(), &coprocess.Object{HookName: "AddHeader"}) // no request: SetHeader makes one
	if err != nil || got.GetRequest().GetSetHeaders()["X-Plugin"] != "hello" {
		t.Errorf("AddHeader: %v, %v", got, err)
	}
	if reply, err := p.DispatchEvent(context.Background(), &coprocess.Event{Payload: "{}"}); err != nil || reply == nil {
		t.Errorf("DispatchEvent: %v, %v", reply, err)
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
	p := plugin.New(nil)
	for _, c := range caps {
		res := c.Run(p.Dispatch)
		if res.Err != nil || res.Dropped {
			t.Errorf("%s: the plugin failed: %v", c, res.Err)
		}
	}
	t.Logf("%d captured dispatches replayed", len(caps))
}
