// What the gateway does with the object a hook returns: each fact of
// plugin-server/returned (docs/gateway.md's table "What the gateway does with
// what you return") proved against the real gateway, through
// apis/classic-facts.json, whose hooks apply the fact a request names in
// X-Lab-Fact.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

const (
	factBody   = `{"sent":"by the client"}`
	factEcho   = "/facts/anything/e2e/fact"                                  // the upstream's echo
	factCookie = "/facts/response-headers?Set-Cookie=a%3D1&Set-Cookie=b%3D2" // two Set-Cookie values
)

// factCheck sends the fact's request and checks what came of it.
type factCheck struct {
	path  string
	check func(t *testing.T, l *Lab, id, mark string, r reply)
}

var factChecks = map[string]factCheck{
	"body-only": {factEcho, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if e, ok := decodeEcho(t, id, r); ok && e.Data != factBody {
			t.Errorf("the upstream got %q, want the client's body %q", e.Data, factBody)
		}
	}},
	"body-and-raw-body": {factEcho, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if e, ok := decodeEcho(t, id, r); ok && (e.Data != `{"from":"raw_body"}` || !slices.Equal(e.Headers["Content-Length"], []string{"19"})) {
			t.Errorf("the upstream got %q with Content-Length %q, want raw_body's {\"from\":\"raw_body\"} with 19", e.Data, e.Headers["Content-Length"])
		}
	}},
	"headers-map": {factEcho, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if e, ok := decodeEcho(t, id, r); ok && e.Headers["X-Fact"] != nil {
			t.Errorf("the upstream got X-Fact %q: a header added to request.headers was applied", e.Headers["X-Fact"])
		}
	}},
	"delete-client-header": {factEcho, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if e, ok := decodeEcho(t, id, r); ok && e.Headers["X-Client-Header"] != nil {
			t.Errorf("the upstream got X-Client-Header %q despite delete_headers", e.Headers["X-Client-Header"])
		}
	}},
	"overrides-4xx": {factEcho, func(t *testing.T, l *Lab, id, mark string, r reply) {
		var body struct{ Error string }
		if json.Unmarshal(r.Body, &body) != nil || body.Error != "refused by FactPre" {
			t.Errorf("the client got %q, want the gateway's JSON error template with error \"refused by FactPre\"", r.Body)
		}
		expectOverride(t, r, "")
		l.waitJournal(t, mark, "an AuthFailure event for "+id, func(recs []journal.Record) bool {
			return slices.ContainsFunc(byID(recs, id), func(r journal.Record) bool { return r.EventType == "AuthFailure" })
		})
	}},
	"overrides-4xx-override-error": {factEcho, func(t *testing.T, l *Lab, id, mark string, r reply) {
		expectOverride(t, r, "refused by FactPre")
		// Events are asynchronous: give one time to arrive.
		time.Sleep(time.Second)
		for _, rec := range byID(l.after(t, mark), id) {
			if rec.Kind == journal.KindEvent {
				t.Errorf("an event fired: %s", line(rec))
			}
		}
	}},
	"response-status": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if r.Status != http.StatusAccepted {
			t.Errorf("HTTP %d, want the hook's 202", r.Status)
		}
	}},
	"response-body-only": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if string(r.Body) == "from body" || !strings.Contains(string(r.Body), "Set-Cookie") {
			t.Errorf("the client got %q, want the upstream's body", r.Body)
		}
	}},
	"response-raw-body": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if string(r.Body) != "from raw_body" || r.Header.Get("Content-Length") != "13" {
			t.Errorf("the client got %q with Content-Length %q, want \"from raw_body\" with 13", r.Body, r.Header.Get("Content-Length"))
		}
	}},
	"response-headers-map": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if got := r.Header.Values("X-Fact"); !slices.Equal(got, []string{"from headers"}) {
			t.Errorf("the client got X-Fact %q, want [from headers]", got)
		}
	}},
	"response-multivalue-only": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if got := r.Header.Values("X-Fact"); !slices.Equal(got, []string{"one", "two"}) {
			t.Errorf("the client got X-Fact %q, want [one two]", got)
		}
	}},
	"response-set-cookie-map": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if got := r.Header.Values("Set-Cookie"); !slices.Equal(got, []string{"fact=map", "b=2"}) {
			t.Errorf("the client got Set-Cookie %q, want [fact=map b=2]", got)
		}
	}},
	"response-header-removed": {factCookie, func(t *testing.T, l *Lab, id, _ string, r reply) {
		if got := r.Header.Values("X-Upstream"); got != nil {
			t.Errorf("the client got X-Upstream %q, want none", got)
		}
		if got := r.Header.Values("Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
			t.Errorf("the client got Set-Cookie %q, want the upstream's two", got)
		}
	}},
}

// expectOverride checks a Pre hook's 403 return_overrides reached the
// client (with body, unless it is ""), and the upstream did not.
func expectOverride(t *testing.T, r reply, body string) {
	t.Helper()
	if r.Status != http.StatusForbidden || body != "" && string(r.Body) != body || r.Header.Get("X-Fact") != "overrides" {
		t.Errorf("HTTP %d, X-Fact %q, body %q; want 403, X-Fact overrides and %q", r.Status, r.Header.Get("X-Fact"), r.Body, body)
	}
	if r.Header.Get("X-Upstream") != "" {
		t.Errorf("the upstream answered")
	}
}

func TestGatewayFacts(t *testing.T) {
	l := getLab(t)
	for _, f := range returned.Facts {
		c, ok := factChecks[f.Name]
		if !ok {
			t.Errorf("fact %s has no check here", f.Name)
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			t.Logf("%s hook returns %s: %s", f.Hook, f.Returns, f.Then)
			id := newID(t)
			mark := l.mark(t)
			r := l.send(t, http.MethodPost, c.path, id, factBody, map[string]string{
				returned.Header: f.Name, "Content-Type": "application/json", "X-Client-Header": "from the client"})
			c.check(t, l, id, mark, r)
			// plugintest's model agrees with the real gateway.
			expectModel(t, l, id, l.recordsFor(t, mark, id), f.Hook.String(), r)
			if t.Failed() {
				t.Logf("X-Request-Id %s: HTTP %d, headers %v, body %.300s", id, r.Status, r.Header, r.Body)
			}
		})
	}
}

// expectModel checks that plugintest's model of the gateway predicts what
// the real gateway did with the object the hook of type hook returned (as
// the journal holds it): the client's status, body and headers (those the
// journal does not redact), or the request the upstream received.
func expectModel(t *testing.T, l *Lab, id string, recs []journal.Record, hook string, r reply) {
	t.Helper()
	i := slices.IndexFunc(recs, func(rec journal.Record) bool { return rec.Kind == journal.KindDispatch && rec.HookType == hook })
	if i < 0 {
		t.Errorf("X-Request-Id %s: no %s dispatch in the journal to model:\n%s", id, hook, describe(recs))
		return
	}
	rec := recs[i]
	ret := rec.Returned
	if ret == nil { // unchanged
		ret = rec.Received
	}
	var err error
	if rec.Error != "" {
		err = errors.New(rec.Error)
	}
	res := gatewaymodel.Apply(rec.Received, ret, err)
	// A request that went on was answered by the upstream (or a later hook).
	if res.Client == nil {
		if res.Upstream == nil {
			t.Errorf("X-Request-Id %s: the model predicts neither a client answer nor an upstream request", id)
			return
		}
		e, ok := decodeEcho(t, id, r)
		if !ok {
			return
		}
		if e.Data != string(res.Upstream.Body) {
			t.Errorf("X-Request-Id %s: plugintest predicts the upstream body %q, the real gateway sent %q", id, res.Upstream.Body, e.Data)
		}
		for _, k := range []string{"X-Fact", "X-Client-Header", "Content-Type"} {
			want := res.Upstream.Header.Values(k)
			if got := e.Headers[k]; !slices.Equal(got, want) {
				t.Errorf("X-Request-Id %s: plugintest predicts upstream header %s %q, the real gateway sent %q", id, k, want, got)
			}
		}
		if want := res.Upstream.URL.Query(); !maps.EqualFunc(e.Args, want, slices.Equal) {
			t.Errorf("X-Request-Id %s: plugintest predicts the query %v, the upstream got %v", id, want, e.Args)
		}
		return
	}
	c := res.Client
	if c.Status != r.Status || !bytes.Equal(c.Body, r.Body) {
		t.Errorf("X-Request-Id %s: plugintest predicts HTTP %d %q, the real gateway answered HTTP %d %q", id, c.Status, c.Body, r.Status, r.Body)
	}
	for _, k := range []string{"X-Fact", "X-Upstream", "Content-Length", "X-Example-Response", "X-Example-Post", "WWW-Authenticate"} {
		if redact.IsSensitiveName(k) {
			continue // the journal holds its fingerprint, not its value
		}
		if want, got := c.Header.Values(k), r.Header.Values(k); !slices.Equal(want, got) && !(k == "Content-Length" && want == nil) {
			t.Errorf("X-Request-Id %s: plugintest predicts the header %s %q, the real gateway sent %q", id, k, want, got)
		}
	}
}
