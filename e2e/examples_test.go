// The example plugins (plugin-server/examples) through the real gateway,
// on the Classic and the OAS API that wire all five hooks
// (apis/classic-examples.json, apis/oas-examples.json): what the upstream
// received, what the client got, and what the journal says each hook did,
// in the order the gateway called them.
//
// This file and every e2e/examples_*_test.go test the lab's examples only:
// `make remove-examples` deletes them with the examples.
package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples/examplecheck"
)

// exampleAPIs are the two APIs wiring the examples.
var exampleAPIs = []struct{ apiID, listenPath string }{
	{"classic-examples", "/examples"},
	{"oas-examples", "/oas-examples"},
}

// expectNone fails t with each of an examplecheck's problems.
func expectNone(t *testing.T, id string, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("X-Request-Id %s: %s", id, p)
	}
}

// The examples' dispatches, with what each changes.
var (
	stepPre = hookStep{"Pre", "ExamplePreRequest",
		"set_headers X-Example-Pre, delete_headers X-Example-Remove, add_params example, delete_params example_remove, raw_body changed, body changed"}
	stepPreNoBody = hookStep{"Pre", "ExamplePreRequest",
		"set_headers X-Example-Pre, delete_headers X-Example-Remove, add_params example, delete_params example_remove"}
	stepAuth        = hookStep{"CustomKeyCheck", "ExampleAuthCheck", "session set"}
	stepAuthDenied  = hookStep{"CustomKeyCheck", "ExampleAuthCheck", "return_overrides 403"}
	stepPostKeyAuth = hookStep{"PostKeyAuth", "ExamplePostKeyAuth", "set_headers X-User-Id"}
	stepPost        = hookStep{"Post", "ExamplePost", "unchanged"}
	stepPostShort   = hookStep{"Post", "ExamplePost", "return_overrides 200"}
	stepResponse    = hookStep{"Response", "ExampleResponse",
		"response headers X-Example-Response, response multivalue_headers X-Example-Response, response raw_body changed, response body changed"}
)

func TestExamples(t *testing.T) {
	l := getLab(t)
	for _, api := range exampleAPIs {
		t.Run(api.apiID, func(t *testing.T) {
			// A user of its own: the gateway caches a token's session.
			user := "e2e-" + randomHex(4)
			auth := map[string]string{"Authorization": "Bearer " + examples.LabTokenPrefix + user}
			withAuth := func(h map[string]string) map[string]string {
				out := map[string]string{}
				for k, v := range auth {
					out[k] = v
				}
				for k, v := range h {
					out[k] = v
				}
				return out
			}

			t.Run("every hook in order", func(t *testing.T) {
				id := newID(t)
				mark := l.mark(t)
				sent := `{"sent":"by the client"}`
				r := l.send(t, http.MethodPost, api.listenPath+"/anything/e2e/examples?keep=1&example_remove=x", id,
					sent, withAuth(map[string]string{"Content-Type": "application/json", "X-Example-Remove": "client"}))
				if r.Status != http.StatusOK {
					t.Fatalf("X-Request-Id %s: HTTP %d, want 200; body: %s", id, r.Status, r.Body)
				}
				e, ok := decodeEcho(t, id, r)
				if !ok {
					return
				}
				// The examples' checks, as the plugin's unit tests run them on
				// plugintest's prediction.
				up := e.upstream()
				expectNone(t, id, examplecheck.PreRequest(up, sent))
				expectNone(t, id, examplecheck.PostKeyAuth(up, user))
				expectNone(t, id, examplecheck.Response(r.client(), nil))
				// CustomKeyCheck's session: its quota, as the gateway reports it.
				if got := r.Header.Get("X-Ratelimit-Limit"); got != fmt.Sprint(examples.ExampleQuotaMax) {
					t.Errorf("X-Request-Id %s: the client got X-RateLimit-Limit %q, want the session's quota_max %d", id, got, examples.ExampleQuotaMax)
				}
				recs := l.recordsFor(t, mark, id)
				expectSteps(t, id, recs, stepPre, stepAuth, stepPostKeyAuth, stepPost, stepResponse)
				expectModel(t, l, id, recs, "Pre", r) // the body and query the upstream got
			})

			t.Run("second request skips CustomKeyCheck", func(t *testing.T) {
				id := newID(t)
				mark := l.mark(t)
				r := l.send(t, http.MethodGet, api.listenPath+"/anything/e2e/examples-cached", id, "", auth)
				if r.Status != http.StatusOK {
					t.Fatalf("X-Request-Id %s: HTTP %d, want 200; body: %s", id, r.Status, r.Body)
				}
				if e, ok := decodeEcho(t, id, r); ok {
					expectNone(t, id, examplecheck.PostKeyAuth(e.upstream(), user)) // from the cached session
				}
				expectSteps(t, id, l.recordsFor(t, mark, id), stepPreNoBody, stepPostKeyAuth, stepPost, stepResponse)
			})

			t.Run("bad token", func(t *testing.T) {
				id := newID(t)
				mark := l.mark(t)
				r := l.send(t, http.MethodGet, api.listenPath+"/anything/e2e/examples-denied", id, "",
					map[string]string{"Authorization": "Bearer not-a-lab-token"})
				expectNone(t, id, examplecheck.AuthRefused(r.client()))
				if r.Header.Get("X-Upstream") != "" {
					t.Errorf("X-Request-Id %s: the upstream answered a refused request", id)
				}
				recs := l.recordsFor(t, mark, id)
				expectSteps(t, id, recs, stepPreNoBody, stepAuthDenied)
				expectModel(t, l, id, recs, "CustomKeyCheck", r)
			})

			t.Run("no Authorization header", func(t *testing.T) {
				// The ID extractor reads the header before the plugin runs:
				// without it the gateway answers 400 itself.
				id := newID(t)
				mark := l.mark(t)
				r := l.send(t, http.MethodGet, api.listenPath+"/anything/e2e/examples-anonymous", id, "", nil)
				if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "Authorization field missing") {
					t.Errorf("X-Request-Id %s: HTTP %d %s; want the ID extractor's 400 Authorization field missing", id, r.Status, r.Body)
				}
				expectSteps(t, id, l.recordsFor(t, mark, id), stepPreNoBody)
			})

			t.Run("the session's rate limit", func(t *testing.T) {
				// A user of its own: ExampleRate requests pass, the next is 429.
				own := map[string]string{"Authorization": "Bearer " + examples.LabTokenPrefix + "e2e-rate-" + randomHex(4)}
				var got []int
				for range examples.ExampleRate + 1 {
					got = append(got, l.send(t, http.MethodGet, api.listenPath+"/anything/e2e/examples-rate", newID(t), "", own).Status)
				}
				want := slices.Repeat([]int{http.StatusOK}, examples.ExampleRate)
				want = append(want, http.StatusTooManyRequests)
				if !slices.Equal(got, want) {
					t.Errorf("%d requests within %v: HTTP %v, want %v", examples.ExampleRate+1, examples.ExamplePer, got, want)
				}
			})

			t.Run("Post short-circuits", func(t *testing.T) {
				id := newID(t)
				mark := l.mark(t)
				r := l.send(t, http.MethodGet, api.listenPath+"/e2e/short-circuit", id, "", auth)
				expectNone(t, id, examplecheck.ShortCircuit(r.client()))
				if r.Header.Get("X-Upstream") != "" {
					t.Errorf("X-Request-Id %s: the upstream answered a short-circuited request", id)
				}
				recs := l.recordsFor(t, mark, id)
				expectSteps(t, id, recs, stepPreNoBody, stepPostKeyAuth, stepPostShort)
				expectModel(t, l, id, recs, "Post", r)
			})

			t.Run("Response keeps every Set-Cookie", func(t *testing.T) {
				id := newID(t)
				mark := l.mark(t)
				r := l.send(t, http.MethodGet, api.listenPath+"/response-headers?Set-Cookie=a%3D1&Set-Cookie=b%3D2", id, "", auth)
				if r.Status != http.StatusOK {
					t.Errorf("X-Request-Id %s: HTTP %d, want 200", id, r.Status)
				}
				expectNone(t, id, examplecheck.Response(r.client(), []string{"a=1", "b=2"}))
				recs := l.recordsFor(t, mark, id)
				expectSteps(t, id, recs, stepPreNoBody, stepPostKeyAuth, stepPost, stepResponse)
				expectModel(t, l, id, recs, "Response", r)
			})
		})
	}
}
