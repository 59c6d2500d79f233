package examples_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples/examplecheck"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/plugintest"
)

// The examples, unit-tested with plugintest on what real gateways sent
// (the lab's captures of apis/classic-examples.json and oas-examples.json,
// from every supported gateway line): what the upstream would receive, what
// the client would get, checked by examplecheck, whose checks the e2e suite
// runs on what the real gateway did (and there compares plugintest's model
// with the gateway).

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

// expect fails t with each problem.
func expect(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func TestExamplePreRequest(t *testing.T) {
	each(t, coprocess.HookType_Pre, func(t *testing.T, obj *coprocess.Object) {
		obj.Request.Headers["X-Example-Remove"] = "client"
		sent := `{"a":1}`
		tykplugin.SetBody(obj, []byte(sent))
		expect(t, examplecheck.PreRequest(plugintest.Run(examples.ExamplePreRequest, obj).Upstream, sent))
	})
}

func TestExampleAuthCheck(t *testing.T) {
	each(t, coprocess.HookType_CustomKeyCheck, func(t *testing.T, obj *coprocess.Object) {
		obj.Request.Headers["Authorization"] = "Bearer lab-token-alice" // the capture's is redacted
		res := plugintest.Run(examples.ExampleAuthCheck, obj)
		s := res.Session
		if s == nil || res.Client != nil {
			t.Fatalf("refused: %+v", res.Client)
		}
		if s.GetMetadata()["user_id"] != "alice" || s.GetMetadata()["token"] != "lab-token-alice" ||
			s.GetRate() != examples.ExampleRate || s.GetPer() != examples.ExamplePer.Seconds() || s.GetQuotaMax() != examples.ExampleQuotaMax {
			t.Errorf("session: %v", s)
		}
		if len(res.Warnings) > 0 {
			t.Errorf("the gateway model warns: %q", res.Warnings)
		}
		if d := time.Until(time.Unix(s.GetIdExtractorDeadline(), 0)); d <= 0 || d > examples.ExampleSessionCached {
			t.Errorf("id_extractor_deadline in %v, want within %v", d, examples.ExampleSessionCached)
		}
	})
	each(t, coprocess.HookType_CustomKeyCheck, func(t *testing.T, obj *coprocess.Object) {
		for _, auth := range []string{"", "lab-token-alice", "Bearer nope", "Bearer lab-token-", "Bearer lab-token-a/b"} {
			o := obj.CloneVT()
			o.Request.Headers["Authorization"] = auth
			res := plugintest.Run(examples.ExampleAuthCheck, o)
			if res.Client == nil || !res.AuthFailure || res.Upstream != nil {
				t.Errorf("Authorization %q: %+v; want a refusal, an AuthFailure event, no upstream call", auth, res)
				continue
			}
			expect(t, examplecheck.AuthRefused(res.Client))
		}
	})
}

func TestExamplePostKeyAuth(t *testing.T) {
	each(t, coprocess.HookType_PostKeyAuth, func(t *testing.T, obj *coprocess.Object) {
		obj.Session.Metadata = map[string]string{"user_id": "alice"}
		expect(t, examplecheck.PostKeyAuth(plugintest.Run(examples.ExamplePostKeyAuth, obj).Upstream, "alice"))
	})
}

func TestExamplePost(t *testing.T) {
	each(t, coprocess.HookType_Post, func(t *testing.T, obj *coprocess.Object) {
		if res := plugintest.Run(examples.ExamplePost, obj.CloneVT()); !strings.Contains(obj.GetRequest().GetUrl(), "/short-circuit") &&
			(res.Upstream == nil || res.Client != nil) {
			t.Errorf("%s: answered %+v; want it passed on", obj.GetRequest().GetUrl(), res.Client)
		}
		obj.Request.Url = "/examples/short-circuit?x=1"
		c := plugintest.Run(examples.ExamplePost, obj).Client
		if c == nil {
			t.Fatal("short-circuit: the request went on")
		}
		expect(t, examplecheck.ShortCircuit(c))
	})
}

func TestExampleResponse(t *testing.T) {
	each(t, coprocess.HookType_Response, func(t *testing.T, obj *coprocess.Object) {
		obj.Response.Headers["Set-Cookie"] = "a=1"
		obj.Response.MultivalueHeaders = append(obj.Response.MultivalueHeaders,
			&coprocess.Header{Key: "Set-Cookie", Values: []string{"a=1", "b=2"}})
		expect(t, examplecheck.Response(plugintest.Run(examples.ExampleResponse, obj).Client, []string{"a=1", "b=2"}))
	})
}
