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
