// Package examples holds the lab's example hooks: one per hook type, each
// doing what plugins are for (headers, query, body, custom authentication
// with a session, a short-circuit answer, a response rewrite), one
// configured per API (config_data), and two behind a slow dependency (the
// deadline, fail-open). apis/ wires them; the plugin server serves them
// only with PLUGIN_LAB_HOOKS (the lab sets it); examplecheck says what each
// does, for their unit tests and the e2e suite alike. Copy from them into
// your own package (plugin); `make remove-examples` deletes them.
package examples

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// The examples: one hook per hook type, each doing what plugins are for.
// apis/classic-examples.json and apis/oas-examples.json wire all five in one
// request's life (Pre → CustomKeyCheck → PostKeyAuth → Post → Response); the
// e2e suite asserts their effects through the real gateway, and `make
// smoke` shows them.

// Hooks maps the examples' function names to their hooks.
func Hooks() map[string]tykplugin.Hook {
	return map[string]tykplugin.Hook{
		"ExamplePreRequest":  ExamplePreRequest,
		"ExampleAuthCheck":   ExampleAuthCheck,
		"ExamplePostKeyAuth": ExamplePostKeyAuth,
		"ExamplePost":        ExamplePost,
		"ExampleResponse":    ExampleResponse,
		"ExampleConfigured":  ExampleConfigured,
		"ExampleSlowCheck":   ExampleSlowCheck,
		"ExampleEnrich":      ExampleEnrich,
	}
}

// ExampleTracer names the examples' own spans (the OpenTelemetry
// instrumentation scope).
const ExampleTracer = "github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"

// LabTokenPrefix starts every bearer token ExampleAuthCheck accepts:
// lab-token-<user> stands for the user <user> (letters, digits, dashes),
// e.g. lab-token-alice. LAB ONLY: a real plugin asks an identity provider.
const LabTokenPrefix = "lab-token-"

// LabUser returns the user a lab token stands for.
func LabUser(token string) (user string, ok bool) {
	user, ok = strings.CutPrefix(token, LabTokenPrefix)
	if !ok || user == "" || len(user) > 64 {
		return "", false
	}
	for _, c := range user {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", false
		}
	}
	return user, true
}

// The example session's limits, and how long the gateway may reuse it
// without asking ExampleAuthCheck again (the ID extractor's cache). The
// rate is low enough to exceed by hand: the 11th request within 10 s is
// 429.
const (
	ExampleRate          = 10               // requests
	ExamplePer           = 10 * time.Second // per
	ExampleQuotaMax      = 10000
	ExampleQuotaRenewal  = time.Hour
	ExampleSessionCached = 60 * time.Second
)

// ExamplePreRequest (Pre) changes the request on its way upstream: it adds
// the header X-Example-Pre and removes X-Example-Remove, sets the query
// parameter example=pre and removes example_remove, and adds
// "example_pre": true to a JSON object body.
func ExamplePreRequest(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	tykplugin.SetHeader(obj, "X-Example-Pre", "added")
	tykplugin.DeleteHeader(obj, "X-Example-Remove")
	tykplugin.SetParam(obj, "example", "pre")
	tykplugin.DeleteParam(obj, "example_remove")
	if body, ok := addField(obj.GetRequest().GetRawBody(), "example_pre"); ok {
		tykplugin.SetBody(obj, body)
	}
	return obj, nil
}

// ExampleAuthCheck (CustomKeyCheck) authenticates "Authorization: Bearer
// <token>" with a lab token (LabUser). A known token gets a session
// (tykplugin.Grant): rate and quota limits, the user id in its metadata,
// and a cache of ExampleSessionCached, so that the gateway keeps the
// session (keyed by the Authorization header, the API's id_extractor) and
// skips this hook for that token until then. Anything else is refused
// with 403 and a JSON error.
func ExampleAuthCheck(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	// A span of the plugin's own, under the hook's (when the plugin server
	// traces): where a real plugin would call its identity provider.
	_, span := otel.Tracer(ExampleTracer).Start(ctx, "verify bearer token")
	defer span.End()
	token, ok := strings.CutPrefix(obj.GetRequest().GetHeaders()["Authorization"], "Bearer ")
	user, known := LabUser(token)
	span.SetAttributes(attribute.Bool("token.known", ok && known))
	if !ok || !known {
		tykplugin.Deny(obj, 403, map[string]string{"WWW-Authenticate": `Bearer realm="tyk-grpc-lab"`}, "invalid or missing bearer token")
		return obj, nil
	}
	err := tykplugin.Grant(obj, tykplugin.Session{
		Key:      token,
		CacheFor: ExampleSessionCached,
		Rate:     tykplugin.RateLimit{Requests: ExampleRate, Per: ExamplePer},
		Quota:    tykplugin.Quota{Max: ExampleQuotaMax, Renewal: ExampleQuotaRenewal},
		Metadata: map[string]string{"user_id": user},
	})
	return obj, err
}

// ExamplePostKeyAuth (PostKeyAuth) runs once the request is authenticated,
// with its session: it passes the session's user id upstream as X-User-Id.
func ExamplePostKeyAuth(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	if user := obj.GetSession().GetMetadata()["user_id"]; user != "" {
		tykplugin.SetHeader(obj, "X-User-Id", user)
	}
	return obj, nil
}

// ExamplePost (Post) answers requests for a path ending in /short-circuit
// itself: status 200, its own headers and JSON body; the upstream is never
// called, nor the Response hook. Other requests pass unchanged.
func ExamplePost(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	if u, err := url.Parse(obj.GetRequest().GetUrl()); err == nil && strings.HasSuffix(u.Path, "/short-circuit") {
		tykplugin.Respond(obj, 200, map[string]string{
			"Content-Type":   "application/json",
			"X-Example-Post": "short-circuit",
		}, `{"answered_by":"ExamplePost","upstream_called":false}`)
	}
	return obj, nil
}

// ExampleResponse (Response) changes the upstream's answer: it adds the
// header X-Example-Response and "example_response": true to a JSON object
// body. Every other header is kept as the upstream sent it, each value of a
// repeated one (Set-Cookie) included.
func ExampleResponse(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	tykplugin.SetResponseHeader(obj, "X-Example-Response", "added")
	if body, ok := addField(obj.GetResponse().GetRawBody(), "example_response"); ok {
		tykplugin.SetResponseBody(obj, body)
	}
	return obj, nil
}

// addField adds "name": true to a JSON object; ok is false for anything
// else (the body is left alone).
func addField(body []byte, name string) (out []byte, ok bool) {
	var m map[string]json.RawMessage
	if len(body) == 0 || json.Unmarshal(body, &m) != nil || m == nil {
		return nil, false
	}
	m[name] = json.RawMessage("true")
	out, err := json.Marshal(m)
	return out, err == nil
}
