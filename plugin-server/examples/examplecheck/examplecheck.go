// Package examplecheck says what each example hook (package examples) does,
// as checks on what the upstream received and what the client got. The
// plugin's unit tests run them on plugintest's prediction, the e2e suite on
// what the real gateway did: one set of expectations for both. Each check
// returns what is wrong, nothing when all is right.
package examplecheck

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

// PreRequest: ExamplePreRequest's changes reached the upstream. sent is
// the client's JSON object body ("" for none).
func PreRequest(up *gatewaymodel.Upstream, sent string) []string {
	var p problems
	if got := up.Header.Values("X-Example-Pre"); !slices.Equal(got, []string{"added"}) {
		p.add("the upstream got X-Example-Pre %q, want [added] (set_headers)", got)
	}
	if got := up.Header.Values("X-Example-Remove"); got != nil {
		p.add("the upstream got X-Example-Remove %q: delete_headers should have removed it", got)
	}
	q := up.URL.Query()
	if q.Get("example") != "pre" || q.Has("example_remove") {
		p.add("the upstream got the query %v, want example=pre and no example_remove", q)
	}
	if sent != "" {
		var want, got map[string]any
		json.Unmarshal([]byte(sent), &want)
		if err := json.Unmarshal(up.Body, &got); err != nil || got["example_pre"] != true {
			p.add("the upstream got the body %q, want the client's JSON plus \"example_pre\": true", up.Body)
		}
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				p.add("the upstream's body lost the client's %q", k)
			}
		}
	}
	return p
}

// PostKeyAuth: ExamplePostKeyAuth passed the session's user upstream.
func PostKeyAuth(up *gatewaymodel.Upstream, user string) []string {
	var p problems
	if got := up.Header.Values("X-User-Id"); !slices.Equal(got, []string{user}) {
		p.add("the upstream got X-User-Id %q, want [%s] (from the session's metadata.user_id)", got, user)
	}
	return p
}

// AuthRefused: ExampleAuthCheck refused the request.
func AuthRefused(c *gatewaymodel.Client) []string {
	var p problems
	var body struct{ Error string }
	if c.Status != http.StatusForbidden || json.Unmarshal(c.Body, &body) != nil || body.Error != "invalid or missing bearer token" {
		p.add("the client got HTTP %d %q, want 403 and {\"error\": \"invalid or missing bearer token\"}", c.Status, c.Body)
	}
	if got := c.Header.Get("WWW-Authenticate"); got != `Bearer realm="tyk-grpc-lab"` {
		p.add("the client got WWW-Authenticate %q", got)
	}
	return p
}

// ShortCircuit: ExamplePost answered the client itself.
func ShortCircuit(c *gatewaymodel.Client) []string {
	var p problems
	if c.Status != http.StatusOK || c.Header.Get("X-Example-Post") != "short-circuit" ||
		string(c.Body) != `{"answered_by":"ExamplePost","upstream_called":false}` {
		p.add("the client got HTTP %d, X-Example-Post %q, body %q; want ExamplePost's answer", c.Status, c.Header.Get("X-Example-Post"), c.Body)
	}
	return p
}

// Response: ExampleResponse's changes reached the client, and every
// Set-Cookie the upstream sent (cookies) is still there.
func Response(c *gatewaymodel.Client, cookies []string) []string {
	var p problems
	if got := c.Header.Values("X-Example-Response"); !slices.Equal(got, []string{"added"}) {
		p.add("the client got X-Example-Response %q, want [added]", got)
	}
	var body map[string]any
	if err := json.Unmarshal(c.Body, &body); err != nil || body["example_response"] != true {
		p.add("the client got the body %.200q, want the upstream's JSON plus \"example_response\": true", c.Body)
	}
	if got := c.Header.Values("Set-Cookie"); !slices.Equal(got, cookies) {
		p.add("the client got Set-Cookie %q, want the upstream's %q", got, cookies)
	}
	return p
}

// Configured: ExampleConfigured set the headers of its API's
// configuration (set_headers) on the request going upstream, and no other
// header of the examples' (X-Tenant, X-Plan) that it did not name.
func Configured(up *gatewaymodel.Upstream, headers map[string]string) []string {
	var p problems
	if up == nil {
		p.add("the request did not go upstream; want it to, with the headers %v", headers)
		return p
	}
	for _, name := range []string{"X-Tenant", "X-Plan"} {
		if _, named := headers[name]; !named && up.Header.Values(name) != nil {
			p.add("the upstream got %s %q, which the API's configuration does not set", name, up.Header.Values(name))
		}
	}
	for name, want := range headers {
		if got := up.Header.Values(name); !slices.Equal(got, []string{want}) {
			p.add("the upstream got %s %q, want [%s] (the API's config_data: set_headers)", name, got, want)
		}
	}
	return p
}

// ConfigDenied: ExampleConfigured answered a method its API's
// configuration denies (deny_methods) with 405, without the upstream.
func ConfigDenied(c *gatewaymodel.Client, method string) []string {
	var p problems
	var body struct{ Error string }
	if c == nil {
		p.add("the request went upstream; want ExampleConfigured's 405 for %s (deny_methods)", method)
		return p
	}
	if c.Status != http.StatusMethodNotAllowed || json.Unmarshal(c.Body, &body) != nil || !strings.Contains(body.Error, "method "+method+" is not allowed") {
		p.add("the client got HTTP %d %q, want 405 and ExampleConfigured's JSON error for %s", c.Status, c.Body, method)
	}
	if c.Header.Get("X-Upstream") != "" {
		p.add("the answer carries the upstream's X-Upstream: the upstream was called")
	}
	return p
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }
