package plugin_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugintest"
)

// The examples, unit-tested with plugintest on what real gateways sent
// (the lab's captures of apis/classic-examples.json and oas-examples.json,
// from every supported gateway line): what the upstream would receive, what
// the client would get. The e2e suite checks the same effects, and
// plugintest's model, against the real gateway.

// each runs f on the captured objects of hook, from every gateway line and
// both example APIs.
func each(t *testing.T, hook coprocess.HookType, f func(t *testing.T, obj *coprocess.Object)) {
	t.Helper()
	n := 0
	for _, api := range []string{"classic-examples", "oas-examples"} {
		for _, c := range plugintest.Captures(t, plugintest.Match{APIID: api, Hook: hook}) {
			t.Run(c.Gateway+"/"+api, func(t *testing.T) { f(t, c.Object.CloneVT()) })
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no %s captures", hook)
	}
}

func TestExamplePreRequest(t *testing.T) {
	each(t, coprocess.HookType_Pre, func(t *testing.T, obj *coprocess.Object) {
		obj.Request.Headers["X-Example-Remove"] = "client"
		plugin.SetBody(obj, []byte(`{"a":1}`))
		up := plugintest.Run(plugin.ExamplePreRequest, obj).Upstream
		if up.Header.Get("X-Example-Pre") != "added" || up.Header.Get("X-Example-Remove") != "" {
			t.Errorf("upstream headers: %v", up.Header)
		}
		if q := up.URL.Query(); q.Get("example") != "pre" || q.Has("example_remove") {
			t.Errorf("upstream query: %v", q)
		}
		var body map[string]any
		if err := json.Unmarshal(up.Body, &body); err != nil || body["example_pre"] != true || body["a"] != 1.0 {
			t.Errorf("upstream body: %s", up.Body)
		}
	})
}

func TestExampleAuthCheck(t *testing.T) {
	each(t, coprocess.HookType_CustomKeyCheck, func(t *testing.T, obj *coprocess.Object) {
		obj.Request.Headers["Authorization"] = "Bearer lab-token-alice" // the capture's is redacted
		res := plugintest.Run(plugin.ExampleAuthCheck, obj)
		s := res.Session
		if s == nil || res.Client != nil {
			t.Fatalf("refused: %+v", res.Client)
		}
		if s.GetMetadata()["user_id"] != "alice" || s.GetRate() != plugin.ExampleRate || s.GetQuotaMax() != plugin.ExampleQuotaMax {
			t.Errorf("session: %v", s)
		}
		if d := time.Until(time.Unix(s.GetIdExtractorDeadline(), 0)); d <= 0 || d > plugin.ExampleSessionCached {
			t.Errorf("id_extractor_deadline in %v, want within %v", d, plugin.ExampleSessionCached)
		}
	})
	each(t, coprocess.HookType_CustomKeyCheck, func(t *testing.T, obj *coprocess.Object) {
		for _, auth := range []string{"", "lab-token-alice", "Bearer nope", "Bearer lab-token-", "Bearer lab-token-a/b"} {
			o := obj.CloneVT()
			o.Request.Headers["Authorization"] = auth
			res := plugintest.Run(plugin.ExampleAuthCheck, o)
			var body struct{ Error string }
			if c := res.Client; c == nil || c.Status != http.StatusForbidden || json.Unmarshal(c.Body, &body) != nil ||
				body.Error != "invalid or missing bearer token" || !res.AuthFailure || res.Upstream != nil {
				t.Errorf("Authorization %q: %+v; want 403 with the JSON error, an AuthFailure event, no upstream call", auth, res)
			}
		}
	})
}

func TestExamplePostKeyAuth(t *testing.T) {
	each(t, coprocess.HookType_PostKeyAuth, func(t *testing.T, obj *coprocess.Object) {
		obj.Session.Metadata = map[string]string{"user_id": "alice"}
		if got := plugintest.Run(plugin.ExamplePostKeyAuth, obj).Upstream.Header.Get("X-User-Id"); got != "alice" {
			t.Errorf("X-User-Id = %q", got)
		}
	})
}

func TestExamplePost(t *testing.T) {
	each(t, coprocess.HookType_Post, func(t *testing.T, obj *coprocess.Object) {
		if res := plugintest.Run(plugin.ExamplePost, obj.CloneVT()); !strings.Contains(obj.GetRequest().GetUrl(), "/short-circuit") &&
			(res.Upstream == nil || res.Client != nil) {
			t.Errorf("%s: answered %+v; want it passed on", obj.GetRequest().GetUrl(), res.Client)
		}
		obj.Request.Url = "/examples/short-circuit?x=1"
		c := plugintest.Run(plugin.ExamplePost, obj).Client
		if c == nil || c.Status != 200 || c.Header.Get("X-Example-Post") != "short-circuit" || !json.Valid(c.Body) {
			t.Errorf("short-circuit: %+v", c)
		}
	})
}

func TestExampleResponse(t *testing.T) {
	each(t, coprocess.HookType_Response, func(t *testing.T, obj *coprocess.Object) {
		obj.Response.Headers["Set-Cookie"] = "a=1"
		obj.Response.MultivalueHeaders = append(obj.Response.MultivalueHeaders,
			&coprocess.Header{Key: "Set-Cookie", Values: []string{"a=1", "b=2"}})
		c := plugintest.Run(plugin.ExampleResponse, obj).Client
		if c.Header.Get("X-Example-Response") != "added" || !slices.Equal(c.Header.Values("Set-Cookie"), []string{"a=1", "b=2"}) {
			t.Errorf("client headers: %v", c.Header)
		}
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil || body["example_response"] != true || body["method"] == nil {
			t.Errorf("client body: %s", c.Body)
		}
	})
}
