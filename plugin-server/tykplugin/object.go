package tykplugin

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Helpers that change an Object the way the gateway reads it back (gateway
// v5.14.0, gateway/coprocess.go; pinned by the e2e suite's TestGatewayFacts
// and listed in the lab's docs/gateway.md, "What the gateway does with what you
// return"):
//
//   - a request goes upstream with request.raw_body as its body, the
//     client's headers plus set_headers less delete_headers, and the query
//     plus add_params less delete_params; changes to request.headers,
//     request.params and request.body alone are ignored;
//   - return_overrides with a response_code answers the client instead of
//     the upstream;
//   - the client's response is built from response.status_code,
//     response.raw_body and response.multivalue_headers (response.headers is
//     merged into them when it changed; response.body alone is ignored).
//
// The maps may arrive nil (the gateway omits empty ones): the helpers
// create what they need.

// SetHeader makes the gateway set a request header before the request goes
// upstream (request.set_headers).
func SetHeader(obj *coprocess.Object, name, value string) {
	r := request(obj)
	if r.SetHeaders == nil {
		r.SetHeaders = map[string]string{}
	}
	r.SetHeaders[name] = value
}

// DeleteHeader makes the gateway remove a request header, one the client
// sent included, before the request goes upstream (request.delete_headers).
func DeleteHeader(obj *coprocess.Object, name string) {
	r := request(obj)
	r.DeleteHeaders = append(r.DeleteHeaders, name)
}

// SetParam makes the gateway set a query parameter (request.add_params:
// it replaces a parameter of that name the client sent).
func SetParam(obj *coprocess.Object, name, value string) {
	r := request(obj)
	if r.AddParams == nil {
		r.AddParams = map[string]string{}
	}
	r.AddParams[name] = value
}

// DeleteParam makes the gateway remove a query parameter
// (request.delete_params).
func DeleteParam(obj *coprocess.Object, name string) {
	r := request(obj)
	r.DeleteParams = append(r.DeleteParams, name)
}

// SetBody replaces the request body sent upstream. The gateway sends
// raw_body (and sets Content-Length from it) and ignores body; body is
// kept in step as the gateway fills it (textCopy), so that the journal
// shows the same text and the answer is no larger than it must be.
func SetBody(obj *coprocess.Object, body []byte) {
	r := request(obj)
	r.Body = textCopy(r.Body, r.RawBody, body)
	r.RawBody = body
}

// textCopy is what body holds beside a new raw_body: its text, as the
// gateway fills it, when raw is UTF-8 and the object came with its body
// in both fields; nothing when it came with raw_body only (the hook's
// raw_body_only: a UTF-8 raw_body and no body), so that the answer does
// not carry the body twice either.
func textCopy(oldText string, oldRaw, raw []byte) string {
	if oldText == "" && len(oldRaw) > 0 && utf8.Valid(oldRaw) || !utf8.Valid(raw) {
		return ""
	}
	return string(raw)
}

// Respond makes the gateway answer the client with status, headers and
// body, without calling the upstream (request.return_overrides with
// override_error, so that the body goes out as it is, whatever the
// status). Later hooks do not run, the Response hook included.
func Respond(obj *coprocess.Object, status int, headers map[string]string, body string) {
	request(obj).ReturnOverrides = &coprocess.ReturnOverrides{
		ResponseCode:  int32(status),
		Headers:       headers,
		ResponseBody:  body,
		OverrideError: true,
	}
}

// Deny makes the gateway refuse the request with status (4xx or 5xx) as an
// authentication failure: it fires an AuthFailure event and answers with
// its error template, {"error": message} as JSON, plus headers. Use it in
// a CustomKeyCheck hook; Respond sends a body of your own instead.
func Deny(obj *coprocess.Object, status int, headers map[string]string, message string) {
	request(obj).ReturnOverrides = &coprocess.ReturnOverrides{
		ResponseCode:  int32(status),
		Headers:       headers,
		ResponseError: message,
	}
}

// SetResponseHeader sets a header of the client's response, replacing
// every value it had. It keeps response.headers and
// response.multivalue_headers in step: the gateway builds the response
// from the second, and merges the first into it when it changed.
func SetResponseHeader(obj *coprocess.Object, name, value string) {
	r := response(obj)
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	r.Headers[name] = value
	for _, h := range r.MultivalueHeaders {
		if h.Key == name {
			h.Values = []string{value}
			return
		}
	}
	r.MultivalueHeaders = append(r.MultivalueHeaders, &coprocess.Header{Key: name, Values: []string{value}})
}

// DeleteResponseHeader removes every value of a header (any case) from
// the client's response, from response.headers and
// response.multivalue_headers alike.
func DeleteResponseHeader(obj *coprocess.Object, name string) {
	r := response(obj)
	for k := range r.Headers {
		if strings.EqualFold(k, name) {
			delete(r.Headers, k)
		}
	}
	r.MultivalueHeaders = slices.DeleteFunc(r.MultivalueHeaders, func(h *coprocess.Header) bool {
		return strings.EqualFold(h.GetKey(), name)
	})
}

// SetResponseBody replaces the body of the client's response. The gateway
// sends raw_body (and sets Content-Length from it); body is kept in step
// as for SetBody.
func SetResponseBody(obj *coprocess.Object, body []byte) {
	r := response(obj)
	r.Body = textCopy(r.Body, r.RawBody, body)
	r.RawBody = body
}

func request(obj *coprocess.Object) *coprocess.MiniRequestObject {
	if obj.Request == nil {
		obj.Request = &coprocess.MiniRequestObject{}
	}
	return obj.Request
}

func response(obj *coprocess.Object) *coprocess.ResponseObject {
	if obj.Response == nil {
		obj.Response = &coprocess.ResponseObject{}
	}
	return obj.Response
}
