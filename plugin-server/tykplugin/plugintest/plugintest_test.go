package plugintest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/plugintest"
)

func echo(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) { return o, nil }

// The lab's captures hold every hook type, keyless and keyed, Classic and
// OAS, from each gateway line.
func TestCapturesCoverEveryHook(t *testing.T) {
	for _, gw := range []string{"v5.14.0", "v5.13.1", "v5.8.11"} {
		for _, h := range []coprocess.HookType{coprocess.HookType_Pre, coprocess.HookType_CustomKeyCheck,
			coprocess.HookType_PostKeyAuth, coprocess.HookType_Post, coprocess.HookType_Response} {
			for _, api := range []string{"classic-examples", "oas-examples"} {
				if len(plugintest.Captures(t, plugintest.Match{Gateway: gw, Hook: h, APIID: api})) == 0 {
					t.Errorf("gateway %s: no %s capture of %s", gw, h, api)
				}
			}
		}
		for _, api := range []string{"classic-keyless", "oas-keyless"} {
			if len(plugintest.Captures(t, plugintest.Match{Gateway: gw, APIID: api, Hook: coprocess.HookType_Response})) == 0 {
				t.Errorf("gateway %s: no keyless Response capture of %s", gw, api)
			}
		}
		if len(plugintest.Captures(t, plugintest.Match{Gateway: gw, APIID: "classic-auth", Hook: coprocess.HookType_Response})) == 0 {
			t.Errorf("gateway %s: no keyed Response capture of classic-auth", gw)
		}
	}
}

// Every captured object, replayed through the echo, goes on as the gateway
// sent it: the request unchanged, the response unchanged; a CustomKeyCheck
// that returns no session is refused.
func TestEchoReplaysEveryCapture(t *testing.T) {
	all := plugintest.Captures(t, plugintest.Match{})
	if len(all) == 0 {
		t.Fatal("no captures")
	}
	for _, c := range all {
		obj := c.Object.CloneVT()
		res := plugintest.Run(echo, obj)
		switch h := c.Object.GetHookType(); h {
		case coprocess.HookType_Response:
			r := c.Object.GetResponse()
			if res.Client == nil || res.Client.Status != int(r.GetStatusCode()) || !bytes.Equal(res.Client.Body, r.GetRawBody()) {
				t.Errorf("%s: the client would get %+v, want the upstream's answer", c, res.Client)
				continue
			}
			for _, mv := range r.GetMultivalueHeaders() {
				if got := res.Client.Header.Values(mv.GetKey()); mv.GetKey() != "Content-Length" && !slices.Equal(got, mv.GetValues()) {
					t.Errorf("%s: header %s would be %q, want %q", c, mv.GetKey(), got, mv.GetValues())
				}
			}
		case coprocess.HookType_CustomKeyCheck:
			if res.Client == nil || res.Client.Status != http.StatusForbidden || !res.AuthFailure {
				t.Errorf("%s: an echoed CustomKeyCheck (no session) should be refused with 403, got %+v", c, res.Client)
			}
		default:
			rq := c.Object.GetRequest()
			if res.Upstream == nil || res.Client != nil {
				t.Errorf("%s: the request should go on; client %+v", c, res.Client)
				continue
			}
			if res.Upstream.Method != rq.GetMethod() || res.Upstream.URL.String() != rq.GetUrl() || !bytes.Equal(res.Upstream.Body, rq.GetRawBody()) {
				t.Errorf("%s: the request would go on as %s %s (%d bytes), want %s %s (%d bytes)", c,
					res.Upstream.Method, res.Upstream.URL, len(res.Upstream.Body), rq.GetMethod(), rq.GetUrl(), len(rq.GetRawBody()))
			}
			for k, v := range rq.GetHeaders() {
				if got := res.Upstream.Header.Get(k); got != v {
					t.Errorf("%s: header %s would be %q, want %q", c, k, got, v)
				}
			}
		}
	}
}

// The model knows what differs by version: a failed Response hook gets a
// 500 from 5.13.1 on, a dropped connection from 5.8.11.
func TestFailedResponseHookByVersion(t *testing.T) {
	fail := func(context.Context, *coprocess.Object) (*coprocess.Object, error) { return nil, errors.New("boom") }
	for gw, dropped := range map[string]bool{"v5.14.0": false, "v5.13.1": false, "v5.8.11": true} {
		cs := plugintest.Captures(t, plugintest.Match{Gateway: gw, Hook: coprocess.HookType_Response})
		if len(cs) == 0 {
			t.Fatalf("no %s Response capture", gw)
		}
		res := cs[0].Run(fail)
		if res.Dropped != dropped || !dropped && (res.Client == nil || res.Client.Status != http.StatusInternalServerError) {
			t.Errorf("%s: %+v; want dropped=%v, else 500", gw, res, dropped)
		}
	}
}

// A body changed in body alone is a warning, the upstream getting raw_body
// as it was; under raw_body_only (RawBodyOnly) a hook setting raw_body is
// seen by the upstream, and the object it got has no body.
func TestBodyWarningsAndRawBodyOnly(t *testing.T) {
	obj := plugintest.Object(t, plugintest.Match{Hook: coprocess.HookType_Pre})
	obj.Request.Body, obj.Request.RawBody = "original", []byte("original")
	raw := plugintest.RawBodyOnly(obj)
	res := plugintest.Run(func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
		o.Request.Body = "changed"
		return o, nil
	}, obj)
	if res.Upstream == nil || string(res.Upstream.Body) != "original" || len(res.Warnings) != 1 || !bytes.Contains([]byte(res.Warnings[0]), []byte("ignores request.body")) {
		t.Errorf("body changed alone: upstream %+v, warnings %q", res.Upstream, res.Warnings)
	}
	if raw.Request.Body != "" || string(raw.Request.RawBody) != "original" {
		t.Fatalf("RawBodyOnly: body %q, raw_body %q", raw.Request.Body, raw.Request.RawBody)
	}
	res = plugintest.Run(func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
		o.Request.RawBody = []byte("changed")
		return o, nil
	}, raw)
	if res.Upstream == nil || string(res.Upstream.Body) != "changed" || len(res.Warnings) != 0 {
		t.Errorf("raw_body changed under raw_body_only: upstream %+v, warnings %q", res.Upstream, res.Warnings)
	}
}
