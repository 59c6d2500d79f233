// Package gatewaymodel says what Tyk Gateway does with the object a gRPC
// plugin's hook returns: the request that goes on upstream, the client's
// answer, the session a CustomKeyCheck made, per gateway version where
// versions differ. plugintest predicts a hook's effect with it in unit
// tests, the inspector shows its prediction beside each journaled call, and
// the e2e suite compares it with what the real gateway did, so a divergence
// fails a test there. It imports no testing package.
package gatewaymodel

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// The model of what the gateway does with a returned Object, read from
// gateway v5.14.0 (gateway/coprocess.go: CoProcessMiddleware.ProcessRequest,
// CoProcessor.ObjectPostProcess, CustomMiddlewareResponseHook.
// HandleResponse) and proved against the real gateway by the e2e suite
// (TestGatewayFacts, TestExamples compare Apply's prediction with what the
// upstream and the client really got).

// Upstream is the request as the gateway carries it on after a request
// hook: to the next hook, then to the upstream. Its URL still holds the
// listen path, which the gateway strips when it proxies (strip_listen_path).
type Upstream struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   []byte
}

// Client is the answer the client gets.
type Client struct {
	Status int
	Header http.Header
	Body   []byte
}

// Result is what came of one hook call.
type Result struct {
	// Returned is the object the hook returned, Err its error.
	Returned *coprocess.Object
	Err      error
	// Upstream is the request going on, for a request hook that let it
	// through; nil when the hook answered the client itself.
	Upstream *Upstream
	// Client is the client's answer when the hook gave one: an error,
	// return_overrides, a refused CustomKeyCheck, or a Response hook.
	Client *Client
	// Session is the session a CustomKeyCheck hook authenticated the
	// request with (its metadata with the object's merged in).
	Session *coprocess.SessionState
	// SessionReused is when the gateway stops reusing Session for the same
	// credential without calling the hook again, on an API with an ID
	// extractor: its id_extractor_deadline, in Unix seconds; zero when the
	// hook is called on every request.
	SessionReused time.Time
	// Warnings are what the gateway does quietly that the hook likely did
	// not mean: a session changed by a hook other than CustomKeyCheck
	// (dropped), a deadline in milliseconds (reused ~1,000× as long).
	Warnings []string
	// AuthFailure is true when the gateway fires an AuthFailure event.
	AuthFailure bool
	// Dropped is true when the client gets no answer at all: a failed
	// Response hook on gateways before 5.13.1 (seen on 5.8.11) panics in
	// the gateway, which closes the connection.
	Dropped bool
}

// ignoredBody warns of a body changed in body alone: the gateway reads
// raw_body (with raw_body_only or not) and ignores body.
func ignoredBody(received, returned *coprocess.Object) string {
	rq, rs := received.GetRequest(), returned.GetRequest()
	if rs.GetBody() != rq.GetBody() && bytes.Equal(rs.GetRawBody(), rq.GetRawBody()) {
		return "the gateway ignores request.body, changed while raw_body was not: the upstream gets raw_body (tykplugin.SetBody sets both)"
	}
	if received.GetHookType() == coprocess.HookType_Response {
		pq, ps := received.GetResponse(), returned.GetResponse()
		if ps.GetBody() != pq.GetBody() && bytes.Equal(ps.GetRawBody(), pq.GetRawBody()) {
			return "the gateway ignores response.body, changed while raw_body was not: the client gets raw_body (tykplugin.SetResponseBody sets both)"
		}
	}
	return ""
}

// MillisecondDeadline: an id_extractor_deadline above it (the year 5138
// in Unix seconds, 1973 in milliseconds) is taken for milliseconds.
const MillisecondDeadline = 100_000_000_000

// ResponseFailureAnswered is the oldest gateway seen answering a failed
// Response hook with 500; older ones (5.8.11) drop the connection. The e2e
// suite's facts table asserts it from this constant.
const ResponseFailureAnswered = "5.13.1"

// Apply works out what the newest gateway does with returned (and err),
// the answer to received. returned may be received itself, changed in
// place.
func Apply(received, returned *coprocess.Object, err error) *Result {
	return ApplyFor("", received, returned, err)
}

// ApplyFor is Apply for a gateway version ("v5.8.11" or "5.8.11"; "" for
// the newest), where versions differ.
func ApplyFor(gateway string, received, returned *coprocess.Object, err error) *Result {
	res := &Result{Returned: returned, Err: err}
	hook := received.GetHookType()
	if hook == coprocess.HookType_Response && (err != nil || returned.GetResponse() == nil) &&
		gateway != "" && CompareVersions(gateway, ResponseFailureAnswered) < 0 {
		res.Dropped = true
		return res
	}
	if err != nil || returned == nil {
		if hook == coprocess.HookType_CustomKeyCheck {
			res.Client = errorReply(http.StatusForbidden, "Key not authorised", nil)
		} else {
			res.Client = errorReply(http.StatusInternalServerError, "Middleware error", nil)
		}
		return res
	}
	if hook != coprocess.HookType_CustomKeyCheck && returned.GetSession() != nil &&
		!received.GetSession().EqualVT(returned.GetSession()) {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"the gateway drops the session a %s hook changed: only CustomKeyCheck's session is stored", hook))
	}
	if w := ignoredBody(received, returned); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	if hook == coprocess.HookType_Response {
		res.Client = response(received, returned)
		return res
	}

	rq := returned.GetRequest()
	up, perr := request(received, rq)
	if perr != nil {
		res.Client = errorReply(http.StatusInternalServerError, "Middleware error", nil)
		return res
	}
	ro := rq.GetReturnOverrides()
	body := ro.GetResponseBody()
	if ro.GetResponseError() != "" {
		body = ro.GetResponseError()
	}
	code := int(ro.GetResponseCode())
	switch {
	case code >= http.StatusBadRequest && !ro.GetOverrideError():
		// An authentication failure: the gateway's error template.
		if body == "" {
			body = "Key not authorised"
		}
		res.Client = errorReply(code, body, ro.GetHeaders())
		res.AuthFailure = true
		return res
	case code > 0:
		h := http.Header{}
		for k, v := range ro.GetHeaders() {
			h.Set(k, v)
		}
		res.Client = &Client{Status: code, Header: h, Body: []byte(body)}
		return res
	}

	if hook == coprocess.HookType_CustomKeyCheck {
		s := returned.GetSession()
		if s == nil {
			res.Client = errorReply(http.StatusForbidden, http.StatusText(http.StatusForbidden), nil)
			res.AuthFailure = true
			return res
		}
		s = s.CloneVT()
		if s.Metadata == nil {
			s.Metadata = map[string]string{}
		}
		maps.Copy(s.Metadata, returned.GetMetadata())
		if s.Metadata["token"] == "" {
			// The gateway keys the session by metadata["token"].
			res.Client = errorReply(http.StatusForbidden, http.StatusText(http.StatusForbidden), nil)
			res.AuthFailure = true
			return res
		}
		res.Session = s
		if d := s.GetIdExtractorDeadline(); d > 0 {
			res.SessionReused = time.Unix(d, 0)
			if d > MillisecondDeadline {
				res.Warnings = append(res.Warnings, fmt.Sprintf(
					"id_extractor_deadline %d looks like Unix milliseconds: the gateway reads seconds, so it reuses the session ~1,000× as long (until the session leaves its store)", d))
			}
		}
	}
	res.Upstream = up
	return res
}

// request is ObjectPostProcess: the body from raw_body, the client's
// headers less delete_headers plus set_headers, the URL and method
// returned, and the query the client sent less delete_params plus
// add_params.
func request(received *coprocess.Object, rq *coprocess.MiniRequestObject) (*Upstream, error) {
	h := http.Header{}
	for k, v := range received.GetRequest().GetHeaders() {
		h[k] = []string{v}
	}
	for _, k := range rq.GetDeleteHeaders() {
		h.Del(k)
	}
	for k, v := range rq.GetSetHeaders() {
		h.Set(k, v)
	}
	orig, err := url.ParseRequestURI(received.GetRequest().GetUrl())
	if err != nil {
		return nil, fmt.Errorf("received url: %w", err)
	}
	q := orig.Query()
	for _, k := range rq.GetDeleteParams() {
		q.Del(k)
	}
	for k, v := range rq.GetAddParams() {
		q.Set(k, v)
	}
	u, err := url.ParseRequestURI(rq.GetUrl())
	if err != nil {
		return nil, fmt.Errorf("returned url: %w", err)
	}
	if !maps.EqualFunc(u.Query(), q, slices.Equal) {
		u.RawQuery = q.Encode()
	}
	return &Upstream{Method: rq.GetMethod(), URL: u, Header: h, Body: rq.GetRawBody()}, nil
}

// response is HandleResponse: headers from multivalue_headers (with
// headers merged in when it changed), the body from raw_body, the status.
func response(received, returned *coprocess.Object) *Client {
	r := returned.GetResponse()
	if r == nil {
		return errorReply(http.StatusInternalServerError, "Middleware error", nil)
	}
	mv := r.GetMultivalueHeaders()
	if !maps.Equal(received.GetResponse().GetHeaders(), r.GetHeaders()) {
		mv = syncHeaders(r.GetHeaders(), mv)
	}
	h := http.Header{}
	for _, x := range mv {
		h[http.CanonicalHeaderKey(x.GetKey())] = slices.Clone(x.GetValues())
	}
	h.Set("Content-Length", strconv.Itoa(len(r.GetRawBody())))
	return &Client{Status: int(r.GetStatusCode()), Header: h, Body: r.GetRawBody()}
}

// syncHeaders is the gateway's syncHeadersAndMultiValueHeaders, on copies:
// each key of headers replaces the first value of its multi-value header
// (or is added), and multi-value headers missing from headers are dropped.
func syncHeaders(headers map[string]string, mv []*coprocess.Header) []*coprocess.Header {
	var out []*coprocess.Header
	for k, v := range headers {
		if !slices.ContainsFunc(mv, func(h *coprocess.Header) bool { return h.GetKey() == k }) {
			out = append(out, &coprocess.Header{Key: k, Values: []string{v}})
		}
	}
	for _, h := range mv {
		v, ok := headers[h.GetKey()]
		if !ok {
			continue
		}
		values := slices.Clone(h.GetValues())
		if len(values) > 0 {
			values[0] = v
		}
		out = append(out, &coprocess.Header{Key: h.GetKey(), Values: values})
	}
	return out
}

// errorReply is the gateway's error template (templates/error.json) for
// msg, with headers.
func errorReply(status int, msg string, headers map[string]string) *Client {
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	return &Client{Status: status, Header: h, Body: []byte("{\n    \"error\": \"" + msg + "\"\n}")}
}

// CompareVersions compares gateway versions ("v5.8.11" or "5.8.11"), as
// slices.Compare does: -1 when a is older than b.
func CompareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	return slices.Compare(pa[:], pb[:])
}

func versionParts(v string) [3]int {
	var p [3]int
	fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d.%d", &p[0], &p[1], &p[2])
	return p
}
