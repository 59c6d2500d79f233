package tykplugin_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// A name with no hook echoes the object, and is reported once.
func TestUnknownNameEchoes(t *testing.T) {
	var logs strings.Builder
	p := tykplugin.New(slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for _, name := range []string{"NotWired", "NotWired"} {
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

func TestRoutesByName(t *testing.T) {
	p := tykplugin.New(nil, map[string]tykplugin.Hook{
		"AddHeader": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			tykplugin.SetHeader(o, "X-Plugin", "hello")
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
