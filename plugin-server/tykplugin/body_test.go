package tykplugin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/plugintest"
)

type order struct {
	Item  string `json:"item"`
	Count int    `json:"count"`
}

// On what real gateways sent (every line's Pre and Response captures): a
// JSON body read and rewritten in one call each, raw_body and body in step,
// the upstream and the client getting the new body with a Content-Length
// to match.
func TestJSONBodiesOnCaptures(t *testing.T) {
	pres := plugintest.Captures(t, plugintest.Match{Hook: coprocess.HookType_Pre})
	responses := plugintest.Captures(t, plugintest.Match{Hook: coprocess.HookType_Response})
	if len(pres) < 3 || len(responses) < 3 {
		t.Fatalf("%d Pre and %d Response captures, want each gateway line's", len(pres), len(responses))
	}
	for _, c := range pres {
		obj := c.Object.CloneVT()
		tykplugin.SetHeader(obj, "Content-Type", "application/json")
		obj.Request.Headers["Content-Type"] = "application/json"
		tykplugin.SetBody(obj, []byte(`{"item":"tea","count":1}`))
		res := plugintest.Run(func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			var v order
			if err := tykplugin.RequestJSON(o, &v); err != nil {
				return nil, err
			}
			v.Count++
			return o, tykplugin.SetRequestJSON(o, v)
		}, obj)
		if res.Err != nil || res.Upstream == nil || string(res.Upstream.Body) != `{"item":"tea","count":2}` ||
			res.Returned.GetRequest().GetBody() != string(res.Returned.GetRequest().GetRawBody()) {
			t.Errorf("%s: %v; upstream %+v", c, res.Err, res.Upstream)
		}
	}
	for _, c := range responses {
		obj := c.Object.CloneVT()
		if obj.Response == nil {
			continue
		}
		obj.Response.Headers = map[string]string{"Content-Type": "application/json; charset=utf-8"}
		tykplugin.SetResponseBody(obj, []byte(`{"item":"tea","count":1}`))
		res := plugintest.Run(func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			var v order
			if err := tykplugin.ResponseJSON(o, &v); err != nil {
				return nil, err
			}
			v.Item = "coffee"
			return o, tykplugin.SetResponseJSON(o, v)
		}, obj)
		if res.Err != nil || res.Client == nil || string(res.Client.Body) != `{"item":"coffee","count":1}` || res.Client.Header.Get("Content-Length") != "27" {
			t.Errorf("%s: %v; client %+v", c, res.Err, res.Client)
		}
	}
}

// What is not a JSON body is an error naming why, and the object is left
// alone.
func TestJSONBodyRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		want    string
		noJSON  bool
	}{
		{"empty", nil, "  ", "request body is empty", true},
		{"gzip", map[string]string{"Content-Encoding": "gzip"}, "\x1f\x8b", "gzip-encoded", true},
		{"form", map[string]string{"content-type": "application/x-www-form-urlencoded"}, "a=1", "application/x-www-form-urlencoded", true},
		{"bad media type", map[string]string{"Content-Type": ";;"}, "{}", `";;"`, true},
		{"not JSON", map[string]string{"Content-Type": "application/json"}, "{", "unexpected EOF", false},
		{"unknown field", map[string]string{"Content-Type": "application/problem+json"}, `{"itme":"x"}`, `unknown field "itme"`, false},
		{"two values", nil, `{} {}`, "more than one JSON value", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &coprocess.Object{Request: &coprocess.MiniRequestObject{Headers: tc.headers, RawBody: []byte(tc.body)}}
			before := obj.CloneVT()
			var v order
			err := tykplugin.RequestJSON(obj, &v)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, tykplugin.ErrNoJSONBody) != tc.noJSON {
				t.Errorf("error %v, want one naming %q (ErrNoJSONBody: %v)", err, tc.want, tc.noJSON)
			}
			if !obj.EqualVT(before) {
				t.Error("the object changed")
			}
		})
	}
	if err := tykplugin.SetRequestJSON(&coprocess.Object{}, func() {}); err == nil {
		t.Error("SetRequestJSON of a func: no error")
	}
}

// Under raw_body_only (no body, only raw_body), on what real gateways sent:
// the helpers read raw_body and write raw_body alone, so that the answer
// carries the body once too, and the upstream and the client get it with
// a Content-Length to match.
func TestJSONBodiesRawBodyOnly(t *testing.T) {
	for _, c := range plugintest.Captures(t, plugintest.Match{Hook: coprocess.HookType_Response}) {
		obj := c.Object.CloneVT()
		if obj.Response == nil {
			continue
		}
		obj.Request.Headers["Content-Type"] = "application/json"
		obj.Request.Body, obj.Request.RawBody = `{"item":"tea","count":1}`, []byte(`{"item":"tea","count":1}`)
		obj.Response.Headers = map[string]string{"Content-Type": "application/json"}
		obj.Response.Body, obj.Response.RawBody = `{"item":"cake","count":3}`, []byte(`{"item":"cake","count":3}`)
		obj = plugintest.RawBodyOnly(obj)
		res := plugintest.Run(func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			var req, resp order
			if err := errors.Join(tykplugin.RequestJSON(o, &req), tykplugin.ResponseJSON(o, &resp)); err != nil {
				return nil, err
			}
			resp.Count += req.Count
			return o, tykplugin.SetResponseJSON(o, resp)
		}, obj)
		if res.Err != nil || res.Client == nil || string(res.Client.Body) != `{"item":"cake","count":4}` ||
			res.Client.Header.Get("Content-Length") != "25" || res.Returned.GetResponse().GetBody() != "" {
			t.Errorf("%s: %v; client %+v; returned body %q", c, res.Err, res.Client, res.Returned.GetResponse().GetBody())
		}
	}
}

// The body the setters write is plain JSON: a Content-Encoding the message
// had goes, from the request's headers (delete_headers) and from both of
// the response's header maps; body follows the gateway's rule (UTF-8 only).
func TestJSONSettersDropContentEncoding(t *testing.T) {
	obj := &coprocess.Object{
		Request: &coprocess.MiniRequestObject{
			Headers: map[string]string{"Content-Encoding": "gzip"},
			RawBody: []byte("\x1f\x8b\x08\x00"),
		},
		Response: &coprocess.ResponseObject{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Encoding": "gzip", "X-Other": "kept"},
			MultivalueHeaders: []*coprocess.Header{
				{Key: "Content-Encoding", Values: []string{"gzip"}},
				{Key: "X-Other", Values: []string{"kept"}},
			},
			RawBody: []byte("\x1f\x8b\x08\x00"),
		},
	}
	if err := errors.Join(tykplugin.SetRequestJSON(obj, order{Item: "tea"}), tykplugin.SetResponseJSON(obj, order{Item: "cake"})); err != nil {
		t.Fatal(err)
	}
	r := obj.Request
	if string(r.RawBody) != `{"item":"tea","count":0}` || r.Body != string(r.RawBody) || len(r.DeleteHeaders) != 1 || r.DeleteHeaders[0] != "Content-Encoding" {
		t.Errorf("request: raw_body %q, body %q, delete_headers %q", r.RawBody, r.Body, r.DeleteHeaders)
	}
	p := obj.Response
	if string(p.RawBody) != `{"item":"cake","count":0}` || p.Headers["Content-Encoding"] != "" || p.Headers["X-Other"] != "kept" ||
		len(p.MultivalueHeaders) != 1 || p.MultivalueHeaders[0].Key != "X-Other" {
		t.Errorf("response: raw_body %q, headers %v, multivalue %v", p.RawBody, p.Headers, p.MultivalueHeaders)
	}
	// A binary body is never copied into body, as the gateway never does.
	tykplugin.SetBody(obj, []byte{0xff, 0xfe})
	if obj.Request.Body != "" {
		t.Errorf("body %q after a binary SetBody, want none", obj.Request.Body)
	}
}
