package plugin_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugin"
)

// The examples run on objects a real gateway (v5.14.0) sent; the e2e suite
// asserts the same effects through the gateway itself.

func call(t *testing.T, h plugin.Hook, obj *coprocess.Object) *coprocess.Object {
	t.Helper()
	got, err := h(context.Background(), obj)
	if err != nil || got == nil {
		t.Fatalf("hook: %v, %v", got, err)
	}
	return got
}

func captured(t *testing.T, h coprocess.HookType, keyed bool) *coprocess.Object {
	return proto.CloneOf(captures.MustFind(t, captures.Hook(h, keyed)))
}

func TestExamplePreRequest(t *testing.T) {
	obj := captured(t, coprocess.HookType_Pre, false)
	obj.Request.RawBody = []byte(`{"a":1}`)
	obj.Request.Body = `{"a":1}`
	r := call(t, plugin.ExamplePreRequest, obj).GetRequest()
	if r.GetSetHeaders()["X-Example-Pre"] != "added" || !slices.Contains(r.GetDeleteHeaders(), "X-Example-Remove") {
		t.Errorf("headers: set %v, delete %v", r.GetSetHeaders(), r.GetDeleteHeaders())
	}
	if r.GetAddParams()["example"] != "pre" || !slices.Contains(r.GetDeleteParams(), "example_remove") {
		t.Errorf("params: add %v, delete %v", r.GetAddParams(), r.GetDeleteParams())
	}
	var body map[string]any
	if err := json.Unmarshal(r.GetRawBody(), &body); err != nil || body["example_pre"] != true || body["a"] != 1.0 || r.GetBody() != string(r.GetRawBody()) {
		t.Errorf("body: raw_body %s, body %s", r.GetRawBody(), r.GetBody())
	}

	// A body that is not a JSON object is left alone.
	obj = captured(t, coprocess.HookType_Pre, false)
	obj.Request.RawBody = []byte("plain")
	if got := call(t, plugin.ExamplePreRequest, obj).GetRequest().GetRawBody(); string(got) != "plain" {
		t.Errorf("a text body became %q", got)
	}
}

func TestExampleAuthCheck(t *testing.T) {
	for token, user := range map[string]string{"lab-token-alice": "alice", "lab-token-e2e-1f": "e2e-1f"} {
		obj := captured(t, coprocess.HookType_Pre, false)
		obj.HookType, obj.HookName = coprocess.HookType_CustomKeyCheck, "ExampleAuthCheck"
		obj.Request.Headers["Authorization"] = "Bearer " + token
		got := call(t, plugin.ExampleAuthCheck, obj)
		s := got.GetSession()
		if s.GetMetadata()["token"] != token || s.GetMetadata()["user_id"] != user {
			t.Errorf("%s: session metadata %v, want token and user_id %s", token, s.GetMetadata(), user)
		}
		if s.GetRate() != plugin.ExampleRate || s.GetQuotaMax() != plugin.ExampleQuotaMax {
			t.Errorf("%s: rate %v, quota %d", token, s.GetRate(), s.GetQuotaMax())
		}
		if d := time.Until(time.Unix(s.GetIdExtractorDeadline(), 0)); d <= 0 || d > plugin.ExampleSessionCached {
			t.Errorf("%s: id_extractor_deadline in %v, want within %v", token, d, plugin.ExampleSessionCached)
		}
		if got.GetRequest().GetReturnOverrides().GetResponseCode() > 0 { // the gateway sends -1: none
			t.Errorf("%s: refused: %v", token, got.GetRequest().GetReturnOverrides())
		}
	}
	for _, auth := range []string{"", "lab-token-alice", "Bearer nope", "Bearer lab-token-", "Bearer lab-token-a/b", "Basic bGFiOmxhYg=="} {
		obj := captured(t, coprocess.HookType_Pre, false)
		obj.Request.Headers["Authorization"] = auth
		got := call(t, plugin.ExampleAuthCheck, obj)
		ro := got.GetRequest().GetReturnOverrides()
		if ro.GetResponseCode() != 403 || ro.GetResponseError() == "" || ro.GetOverrideError() || got.GetSession() != nil {
			t.Errorf("Authorization %q: overrides %v, session %v; want 403 with a message, no session", auth, ro, got.GetSession())
		}
	}
}

func TestExamplePostKeyAuth(t *testing.T) {
	obj := captured(t, coprocess.HookType_Response, true)
	obj.HookType = coprocess.HookType_PostKeyAuth
	obj.Response = nil
	obj.Session.Metadata = map[string]string{"user_id": "alice"}
	if got := call(t, plugin.ExamplePostKeyAuth, obj).GetRequest().GetSetHeaders()["X-User-Id"]; got != "alice" {
		t.Errorf("X-User-Id = %q", got)
	}
}

func TestExamplePost(t *testing.T) {
	obj := captured(t, coprocess.HookType_Pre, false)
	obj.HookType = coprocess.HookType_Post
	obj.Request.Url = "/examples/short-circuit?x=1"
	ro := call(t, plugin.ExamplePost, obj).GetRequest().GetReturnOverrides()
	if ro.GetResponseCode() != 200 || ro.GetHeaders()["X-Example-Post"] != "short-circuit" || !json.Valid([]byte(ro.GetResponseBody())) {
		t.Errorf("short-circuit: %v", ro)
	}
	obj = captured(t, coprocess.HookType_Pre, false)
	want := proto.Clone(obj)
	if got := call(t, plugin.ExamplePost, obj); !proto.Equal(got, want) {
		t.Errorf("another path: changed to %v", got)
	}
}

func TestExampleResponse(t *testing.T) {
	obj := captured(t, coprocess.HookType_Response, false)
	obj.Response.RawBody = []byte(`{"a":1}`)
	obj.Response.Headers["Set-Cookie"] = "a=1"
	obj.Response.MultivalueHeaders = append(obj.Response.MultivalueHeaders,
		&coprocess.Header{Key: "Set-Cookie", Values: []string{"a=1", "b=2"}})
	r := call(t, plugin.ExampleResponse, obj).GetResponse()
	if r.GetHeaders()["X-Example-Response"] != "added" {
		t.Errorf("headers: %v", r.GetHeaders())
	}
	mv := map[string][]string{}
	for _, h := range r.GetMultivalueHeaders() {
		mv[h.GetKey()] = h.GetValues()
	}
	if !slices.Equal(mv["X-Example-Response"], []string{"added"}) || !slices.Equal(mv["Set-Cookie"], []string{"a=1", "b=2"}) {
		t.Errorf("multivalue_headers: %v", mv)
	}
	var body map[string]any
	if err := json.Unmarshal(r.GetRawBody(), &body); err != nil || body["example_response"] != true || r.GetBody() != string(r.GetRawBody()) {
		t.Errorf("body: raw_body %s, body %s", r.GetRawBody(), r.GetBody())
	}
}
