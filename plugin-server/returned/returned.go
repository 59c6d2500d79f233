// Package returned probes what the gateway does with the object a hook
// returns, for the table "What the gateway does with what you return" in
// docs/gateway.md: for each fact, a hook that returns one particular change, and
// the sentences the e2e suite's TestGatewayFacts proves against the real
// gateway. apis/classic-facts.json wires FactPre
// and FactResponse; a request picks its fact with the header X-Lab-Fact.
// The plugin server serves them beside the plugin's own hooks when
// PLUGIN_LAB_HOOKS is on, as in the lab.
package returned

import (
	"context"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// Header names the fact a request to /facts/ probes.
const Header = "X-Lab-Fact"

// Fact is one thing the gateway does with a returned object.
type Fact struct {
	// Name is the X-Lab-Fact value that selects it.
	Name string
	// Hook is the hook type whose returned object it is about.
	Hook coprocess.HookType
	// Returns is what the hook returns, Then what the gateway does, as the
	// table in docs/gateway.md says them.
	Returns, Then string
	apply         func(*coprocess.Object)
}

// Facts are the facts, in the order of the table in docs/gateway.md.
var Facts = []Fact{
	{Name: "body-only", Hook: coprocess.HookType_Pre,
		Returns: "`request.body` changed, `raw_body` not",
		Then:    "the upstream gets the original body: `body` is ignored",
		apply:   func(o *coprocess.Object) { o.Request.Body = `{"changed":"body"}` }},
	{Name: "body-and-raw-body", Hook: coprocess.HookType_Pre,
		Returns: "`request.body` and `raw_body` both changed, differently",
		Then:    "the upstream gets `raw_body`, with a Content-Length to match",
		apply: func(o *coprocess.Object) {
			o.Request.Body = `{"from":"body"}`
			o.Request.RawBody = []byte(`{"from":"raw_body"}`)
		}},
	{Name: "headers-map", Hook: coprocess.HookType_Pre,
		Returns: "a header added to `request.headers`",
		Then:    "ignored: only `set_headers` and `delete_headers` change the upstream request",
		apply:   func(o *coprocess.Object) { o.Request.Headers["X-Fact"] = "from headers" }},
	{Name: "delete-client-header", Hook: coprocess.HookType_Pre,
		Returns: "a header the client sent, in `delete_headers`",
		Then:    "the upstream does not get it",
		apply:   func(o *coprocess.Object) { tykplugin.DeleteHeader(o, "X-Client-Header") }},
	{Name: "overrides-4xx", Hook: coprocess.HookType_Pre,
		Returns: "`return_overrides` with a 4xx `response_code`, `headers` and `response_body`",
		Then:    "the client gets that status, the headers, and the gateway's error template `{\"error\": \"<response_body>\"}`; an AuthFailure event fires; the upstream is not called",
		apply: func(o *coprocess.Object) {
			o.Request.ReturnOverrides = &coprocess.ReturnOverrides{ResponseCode: 403,
				Headers: map[string]string{"X-Fact": "overrides"}, ResponseBody: "refused by FactPre"}
		}},
	{Name: "overrides-4xx-override-error", Hook: coprocess.HookType_Pre,
		Returns: "the same with `override_error: true`",
		Then:    "the client gets `response_body` as it is, no event fires",
		apply: func(o *coprocess.Object) {
			o.Request.ReturnOverrides = &coprocess.ReturnOverrides{ResponseCode: 403, OverrideError: true,
				Headers: map[string]string{"X-Fact": "overrides"}, ResponseBody: "refused by FactPre"}
		}},
	{Name: "response-status", Hook: coprocess.HookType_Response,
		Returns: "`response.status_code` changed",
		Then:    "the client gets the new status",
		apply:   func(o *coprocess.Object) { o.Response.StatusCode = 202 }},
	{Name: "response-body-only", Hook: coprocess.HookType_Response,
		Returns: "`response.body` changed, `raw_body` not",
		Then:    "the client gets the upstream's body: `body` is ignored",
		apply:   func(o *coprocess.Object) { o.Response.Body = "from body" }},
	{Name: "response-raw-body", Hook: coprocess.HookType_Response,
		Returns: "`response.raw_body` changed",
		Then:    "the client gets it, with a Content-Length to match",
		apply:   func(o *coprocess.Object) { o.Response.RawBody = []byte("from raw_body") }},
	{Name: "response-headers-map", Hook: coprocess.HookType_Response,
		Returns: "a header added to `response.headers` only",
		Then:    "the client gets it (the gateway merges a changed `headers` into `multivalue_headers`)",
		apply:   func(o *coprocess.Object) { o.Response.Headers["X-Fact"] = "from headers" }},
	{Name: "response-multivalue-only", Hook: coprocess.HookType_Response,
		Returns: "a header added to `response.multivalue_headers` only",
		Then:    "the client gets it",
		apply: func(o *coprocess.Object) {
			o.Response.MultivalueHeaders = append(o.Response.MultivalueHeaders,
				&coprocess.Header{Key: "X-Fact", Values: []string{"one", "two"}})
		}},
	{Name: "response-set-cookie-map", Hook: coprocess.HookType_Response,
		Returns: "`response.headers[\"Set-Cookie\"]` changed, the upstream having sent two",
		Then:    "only the first `Set-Cookie` is replaced; the second is kept",
		apply:   func(o *coprocess.Object) { o.Response.Headers["Set-Cookie"] = "fact=map" }},
	{Name: "response-header-removed", Hook: coprocess.HookType_Response,
		Returns: "a header deleted from `response.headers`",
		Then:    "the client does not get it (its `multivalue_headers` entry goes too)",
		apply:   func(o *coprocess.Object) { delete(o.Response.Headers, "X-Upstream") }},
}

// Hooks are FactPre and FactResponse: each applies the fact its request
// names in X-Lab-Fact, when it is one of its hook type, and otherwise
// returns the object unchanged.
func Hooks() map[string]tykplugin.Hook {
	return map[string]tykplugin.Hook{
		"FactPre":      hook(coprocess.HookType_Pre),
		"FactResponse": hook(coprocess.HookType_Response),
	}
}

func hook(t coprocess.HookType) tykplugin.Hook {
	return func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
		name := o.GetRequest().GetHeaders()[Header]
		if name == "" || t == coprocess.HookType_Response && o.GetResponse() == nil {
			return o, nil
		}
		for _, f := range Facts {
			if f.Name == name && f.Hook == t {
				if o.Request.Headers == nil {
					o.Request.Headers = map[string]string{}
				}
				if t == coprocess.HookType_Response && o.Response.Headers == nil {
					o.Response.Headers = map[string]string{}
				}
				f.apply(o)
			}
		}
		return o, nil
	}
}
