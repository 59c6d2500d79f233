// Tests what the instrumentation records of a plugin that changes things,
// fails or panics, through real gRPC and a real Redis journal.
package instrument_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/instrument"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/redistest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

func TestChanges(t *testing.T) {
	base := captures.MustFind(t, captures.Hook(coprocess.HookType_Response, true))
	tests := []struct {
		name   string
		change func(o *coprocess.Object)
		want   []string
	}{
		{"unchanged", func(o *coprocess.Object) {}, nil},
		{"set header", func(o *coprocess.Object) { tykplugin.SetHeader(o, "X-Plugin", "hello") }, []string{"set_headers X-Plugin"}},
		{"delete header and params", func(o *coprocess.Object) {
			o.Request.DeleteHeaders = append(o.Request.DeleteHeaders, "X-A", "X-B")
			o.Request.AddParams = map[string]string{"p": "1"}
			o.Request.DeleteParams = []string{"a"}
		}, []string{"delete_headers X-A,X-B", "add_params p", "delete_params a"}},
		{"return overrides", func(o *coprocess.Object) {
			o.Request.ReturnOverrides = &coprocess.ReturnOverrides{ResponseCode: 403, ResponseError: "no"}
		}, []string{"return_overrides 403"}},
		{"bodies", func(o *coprocess.Object) {
			o.Request.RawBody = []byte(`{"x":1}`)
			o.Request.Body = `{"x":1}`
		}, []string{"raw_body changed", "body changed"}},
		{"response", func(o *coprocess.Object) {
			o.Response.StatusCode = 201
			o.Response.Headers = map[string]string{"X-New": "1"}
			o.Response.MultivalueHeaders = append(o.Response.MultivalueHeaders, &coprocess.Header{Key: "Set-Cookie", Values: []string{"a=1", "b=2"}})
			o.Response.RawBody = []byte("new")
		}, []string{"response status 201", "response headers -Content-Length,-Content-Type,-Date,-X-Upstream,X-New", "response multivalue_headers Set-Cookie", "response raw_body changed"}},
		{"session and metadata", func(o *coprocess.Object) {
			o.Session.Rate = 5
			o.Metadata = map[string]string{"token": "t"}
		}, []string{"metadata -tier,-user,token", "session changed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			returned := proto.CloneOf(base)
			tt.change(returned)
			if got := instrument.Changes(base, returned); !slices.Equal(got, tt.want) {
				t.Errorf("Changes = %q, want %q", got, tt.want)
			}
		})
	}
}

// changer is a plugin that changes the request in place, as plugin authors
// do, or fails in one of the ways a plugin can.
func changer(t *testing.T, log *slog.Logger) *tykplugin.Plugin {
	t.Helper()
	return tykplugin.New(log, map[string]tykplugin.Hook{
		"AddHeader": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			tykplugin.SetHeader(o, "X-Plugin", "hello")
			o.Request.Headers["Authorization"] = "changed-in-place"
			return o, nil
		},
		"Deny": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			o.Request.ReturnOverrides = &coprocess.ReturnOverrides{ResponseCode: 403, ResponseError: "denied"}
			return o, nil
		},
		"Fail": func(context.Context, *coprocess.Object) (*coprocess.Object, error) {
			return nil, errors.New("backend unreachable")
		},
		"Panic": func(context.Context, *coprocess.Object) (*coprocess.Object, error) { panic("boom") },
		"Nil":   func(context.Context, *coprocess.Object) (*coprocess.Object, error) { return nil, nil },
	})
}

func TestJournalRecordsWhatThePluginDid(t *testing.T) {
	r := redistest.Start(t)
	jw := journal.NewWriter(journalClient(t, r.Addr), journal.Options{Stream: stream, MaxLen: 1000})
	t.Cleanup(func() { _ = jw.Close(context.Background()) })
	log, logs := grpctest.NewLog(slog.LevelInfo)
	c := startPlugin(t, changer(t, log), instrument.Options{Logger: log, Journal: jw, Redact: true, MaxBody: -1})

	keyed := captures.MustFind(t, func(o *coprocess.Object) bool {
		return o.GetHookType() == coprocess.HookType_Pre && o.GetRequest().GetHeaders()["Authorization"] != ""
	})
	auth := keyed.GetRequest().GetHeaders()["Authorization"]
	call := func(name string) (*coprocess.Object, error) {
		o := proto.CloneOf(keyed)
		o.HookName = name
		return c.Dispatch(grpctest.Context(t, 10*time.Second), o)
	}
	got, err := call("AddHeader")
	if err != nil || got.GetRequest().GetSetHeaders()["X-Plugin"] != "hello" {
		t.Fatalf("AddHeader: %v, %v", got.GetRequest().GetSetHeaders(), err)
	}
	if _, err := call("Deny"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]codes.Code{"Fail": codes.Unknown, "Panic": codes.Internal, "Nil": codes.Internal} {
		if _, err := call(name); status.Code(err) != want {
			t.Errorf("%s: error %v, want code %v", name, err, want)
		}
	}
	if _, err := call("NoSuchHook"); err != nil {
		t.Fatal(err)
	}
	if _, err := call("NoSuchHook"); err != nil {
		t.Fatal(err)
	}
	const total = 7
	grpctest.Eventually(t, 10*time.Second, func() bool { return jw.Stats().Written == total }, "journal wrote %+v", jw.Stats())
	msgs, err := r.Client.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]journal.Record{}
	for _, m := range msgs {
		rec, err := journal.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		recs[rec.HookName] = rec
	}

	add := recs["AddHeader"]
	if !slices.Equal(add.Changes, []string{"set_headers X-Plugin", "headers Authorization"}) {
		t.Errorf("AddHeader changes = %q", add.Changes)
	}
	// The received object is what the gateway sent, although the plugin
	// changed it in place; the returned one is what the plugin returned.
	if got := add.Received.GetRequest().GetHeaders()["Authorization"]; got != redact.Fingerprint(auth) {
		t.Errorf("received Authorization = %q, want the fingerprint of the sent key", got)
	}
	if add.Received.GetRequest().GetSetHeaders() != nil {
		t.Errorf("received set_headers = %v, want none", add.Received.GetRequest().GetSetHeaders())
	}
	if add.Returned.GetRequest().GetSetHeaders()["X-Plugin"] != "hello" ||
		add.Returned.GetRequest().GetHeaders()["Authorization"] != redact.Fingerprint("changed-in-place") {
		t.Errorf("returned request = %v", add.Returned.GetRequest())
	}
	if deny := recs["Deny"]; !slices.Equal(deny.Changes, []string{"return_overrides 403"}) || !strings.Contains(deny.Text(), "→ return_overrides 403") {
		t.Errorf("Deny: %s", deny.Text())
	}
	if fail := recs["Fail"]; fail.Error != "backend unreachable" || fail.Returned != nil || fail.Received == nil {
		t.Errorf("Fail: %+v", fail)
	}
	if p := recs["Panic"]; !strings.Contains(p.Error, "panic") || !strings.Contains(p.Error, "boom") {
		t.Errorf("Panic: error %q", p.Error)
	}
	if n := recs["Nil"]; !strings.Contains(n.Error, "returned no object") {
		t.Errorf("Nil: error %q", n.Error)
	}
	if u := recs["NoSuchHook"]; u.Outcome() != "unchanged" || u.Returned != nil {
		t.Errorf("unknown hook: %s", u.Text())
	}
	out := logs.String()
	if n := strings.Count(out, "no hook for this function name"); n != 1 {
		t.Errorf("%d warnings for an unknown hook name, want 1 (once per name):\n%s", n, out)
	}
	if !strings.Contains(out, `"msg":"panic in handler"`) || !strings.Contains(out, `"error":"backend unreachable"`) {
		t.Errorf("log lacks the panic or the plugin's error:\n%s", out)
	}
	if strings.Contains(out, auth) || strings.Contains(out, "changed-in-place") {
		t.Error("raw secret in the log")
	}
}
