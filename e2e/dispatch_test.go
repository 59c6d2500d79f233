// Both dispatches arrive: a GET and a POST (JSON body) through each plugin
// API (Classic keyless, OAS keyless, Classic auth-token with the demo key)
// reach Dispatch exactly as Pre/MyPreRequestPlugin then
// Response/MyResponsePlugin, with the right API, session, key fingerprint,
// status and Object, the hooks succeeding (whatever they change: they are
// the template's, yours), while the client gets the upstream's answer;
// the API without plugins dispatches nothing.
package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
)

// pluginAPI is one API of apis/ with gRPC plugins.
type pluginAPI struct {
	apiID      string
	listenPath string            // without its trailing slash
	header     map[string]string // credentials
	session    string            // the Response hook's session
	key        string            // the journal's key field on Response
	// sameBody: the Response hook's (journaled) copy of the upstream body
	// equals the client's byte for byte; false when redaction rewrites it
	// (the echo repeats the Authorization header).
	sameBody bool
}

func TestClassicKeyless(t *testing.T) {
	l := getLab(t)
	roundTrips(t, l, pluginAPI{apiID: "classic-keyless", listenPath: "/classic", session: journal.SessionEmpty, sameBody: true})
}

func TestOASKeyless(t *testing.T) {
	l := getLab(t)
	roundTrips(t, l, pluginAPI{apiID: "oas-keyless", listenPath: "/oas", session: journal.SessionEmpty, sameBody: true})
}

func TestClassicAuthWithDemoKey(t *testing.T) {
	l := getLab(t)
	key := "" // before 5.9.0 the session has no key_id
	if l.has(t, facts.KeyID) {
		key = redact.Fingerprint(demoKeyID)
	}
	roundTrips(t, l, pluginAPI{
		apiID:      "classic-auth",
		listenPath: "/auth",
		header:     map[string]string{"Authorization": demoKey},
		session:    journal.SessionPresent,
		key:        key,
	})
}

// roundTrips sends a GET and a POST with a JSON body through api to the
// upstream's echo, and a POST to a status of its own.
func roundTrips(t *testing.T, l *Lab, api pluginAPI) {
	t.Helper()
	t.Run("GET", func(t *testing.T) {
		roundTrip(t, l, api, http.MethodGet, "/anything/e2e/get?q=1", http.StatusOK)
	})
	t.Run("POST", func(t *testing.T) {
		roundTrip(t, l, api, http.MethodPost, "/anything/e2e/post?q=1", http.StatusOK)
	})
	t.Run("status", func(t *testing.T) {
		roundTrip(t, l, api, http.MethodPost, "/status/201", http.StatusCreated)
	})
}

func roundTrip(t *testing.T, l *Lab, api pluginAPI, method, upstreamURI string, status int) {
	id := newID(t)
	path := api.listenPath + upstreamURI
	header := map[string]string{}
	for k, v := range api.header {
		header[k] = v
	}
	body := ""
	if method == http.MethodPost {
		body = fmt.Sprintf(`{"request":%q,"text":"héllo \"wörld\" \\ / ☃","list":[1,2.5,null,true,{"nested":[]}]}`, id)
		header["Content-Type"] = "application/json"
	}

	mark := l.mark(t)
	r := l.send(t, method, path, id, body, header)
	expectProxied(t, r, id, method, upstreamURI, body, status)

	recs := l.recordsFor(t, mark, id)
	if !expectDispatches(t, id, recs,
		pre(api.apiID, method, path),
		response(api.apiID, method, path, status, api.session, api.key),
	) {
		return
	}
	preObj, respObj := recs[0].Received, recs[1].Received
	if body != "" {
		// The gateway sends the body twice; both reached the plugin intact.
		if got := preObj.GetRequest().GetBody(); got != body {
			t.Errorf("X-Request-Id %s: the Pre hook's request.body is %q, expected the body sent, %q", id, got, body)
		}
		if got := string(preObj.GetRequest().GetRawBody()); got != body {
			t.Errorf("X-Request-Id %s: the Pre hook's request.raw_body is %q, expected the body sent, %q", id, got, body)
		}
	}
	// The journal keeps the first KiB of a body (the echo's grows with the
	// client's headers: traceparent, the network's addresses).
	hookBody := respObj.GetResponse().GetBody()
	same := hookBody == string(r.Body)
	if kept, cut := strings.CutSuffix(hookBody, redact.TruncatedMark); cut {
		same = strings.HasPrefix(string(r.Body), kept)
	}
	if api.sameBody && !same {
		t.Errorf("X-Request-Id %s: the upstream body the Response hook received differs from the body the client got:\nhook:   %q\nclient: %q",
			id, hookBody, r.Body)
	}
	if api.key != "" {
		if got := respObj.GetSession().GetKeyId(); got != api.key {
			t.Errorf("X-Request-Id %s: the Response hook's session.key_id is %q in the journal, expected the fingerprint %q", id, got, api.key)
		}
	}
}

func TestNoPluginsAPIDispatchesNothing(t *testing.T) {
	l := getLab(t)
	id := newID(t)
	mark := l.mark(t)
	r := l.send(t, http.MethodGet, "/no-plugins/anything/e2e/get?q=1", id, "", nil)
	expectProxied(t, r, id, http.MethodGet, "/anything/e2e/get?q=1", "", http.StatusOK)
	if recs := l.recordsFor(t, mark, id); len(recs) != 0 {
		t.Errorf("X-Request-Id %s: expected no dispatch for the API without plugins (classic-no-plugins); the journal held:\n%s", id, describe(recs))
	}
}
