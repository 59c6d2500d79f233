// What the gateway does with the object a hook returns: each fact of
// plugin-server/returned (the README's table "What the gateway does with
// what you return") proved against the real gateway, through
// apis/classic-facts.json, whose hooks apply the fact a request names in
// X-Lab-Fact.
package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
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
		if e, ok := decodeEcho(t, id, r); ok && (e.Data != "from raw_body" || !slices.Equal(e.Headers["Content-Length"], []string{"13"})) {
			t.Errorf("the upstream got %q with Content-Length %q, want raw_body's \"from raw_body\" with 13", e.Data, e.Headers["Content-Length"])
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
			if t.Failed() {
				t.Logf("X-Request-Id %s: HTTP %d, headers %v, body %.300s", id, r.Status, r.Header, r.Body)
			}
		})
	}
}
