// Per-API configuration through the real gateway, with the examples: one
// hook (ExampleConfigured) wired to a Classic and an OAS API with different
// config_data, an API whose configuration does not decode, and the facts
// of what the gateway sends as spec["config_data"] (configDataFacts,
// apiconfig_test.go) through the examples' APIs. `make remove-examples`
// deletes this file.
package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples/examplecheck"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// The examples' configuration (apis/classic-examples.json, oas-examples.json)
// as every hook of those APIs receives it.
const examplesConfigData = `{"max_body_bytes":1048576,"owner":"\u003cplugin-team@example.com\u003e","service":"examples"}`

// configAPIs are the APIs wiring ExampleConfigured.
var configAPIs = []struct {
	apiID, listenPath string
	headers           map[string]string // what its config_data sets
	denied            string            // a method it denies, or ""
}{
	{"classic-config", "/config", map[string]string{"X-Tenant": "classic-tenant"}, http.MethodDelete},
	{"oas-config", "/oas-config", map[string]string{"X-Tenant": "oas-tenant", "X-Plan": "gold"}, ""},
}

func TestPerAPIConfig(t *testing.T) {
	l := getLab(t)
	for _, api := range configAPIs {
		t.Run(api.apiID, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodDelete} {
				id := newID(t)
				mark := l.mark(t)
				r := l.send(t, method, api.listenPath+"/anything/e2e/config", id, "", nil)
				recs := l.recordsFor(t, mark, id)
				if method == api.denied {
					expectNone(t, id, examplecheck.ConfigDenied(r.client(), method))
					expectSteps(t, id, recs, hookStep{"Pre", "ExampleConfigured", "return_overrides 405"})
				} else {
					if r.Status != http.StatusOK {
						t.Fatalf("X-Request-Id %s: %s HTTP %d, want 200; body: %s", id, method, r.Status, r.Body)
					}
					if e, ok := decodeEcho(t, id, r); ok {
						expectNone(t, id, examplecheck.Configured(e.upstream(), api.headers))
					}
					expectSteps(t, id, recs, hookStep{"Pre", "ExampleConfigured", "set_headers " + strings.Join(sortedKeys(api.headers), ",")})
				}
				expectModel(t, l, id, recs, "Pre", r)
			}
		})
	}

	t.Run("a configuration that does not decode", func(t *testing.T) {
		start := time.Now()
		id := newID(t)
		mark := l.mark(t)
		r := l.send(t, http.MethodGet, "/config-bad/anything/e2e/config", id, "", nil)
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "Middleware error") {
			t.Errorf("X-Request-Id %s: HTTP %d %s; want 500 Middleware error", id, r.Status, r.Body)
		}
		const why = `API "classic-config-bad": config_data does not decode into examples.ExampleConfig: json: unknown field "set_header"`
		recs := l.recordsFor(t, mark, id)
		if len(recs) != 1 || recs[0].Error != why {
			t.Errorf("X-Request-Id %s: want one Pre record with the error %q; the journal held:\n%s", id, why, describe(recs))
		}
		if !l.External {
			// The log line is the same record: the error is in it too.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := l.container(ctx, "plugin-server")
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(journalTimeout)
			for {
				logs, err := l.logs(ctx, c.GetContainerID(), start, false)
				if err != nil {
					t.Fatal(err)
				}
				quoted, _ := json.Marshal(why)
				if line := lineWith(logs, id); strings.Contains(line, string(quoted)) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("the plugin server's log has no line for X-Request-Id %s with the error %s; since the request it holds:\n%s", id, quoted, logs)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// Every other API keeps working.
		for _, api := range configAPIs {
			id := newID(t)
			if r := l.send(t, http.MethodGet, api.listenPath+"/anything/e2e/after-bad", id, "", nil); r.Status != http.StatusOK {
				t.Errorf("X-Request-Id %s: %s answers HTTP %d after the bad configuration's 500", id, api.listenPath, r.Status)
			}
		}
	})
}

// lineWith returns the first line of logs holding s.
func lineWith(logs, s string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func TestConfigDataFacts(t *testing.T) {
	l := getLab(t)
	run := func(name string, f func(t *testing.T)) {
		for _, fact := range configDataFacts {
			if fact.Name == name {
				t.Run(name, func(t *testing.T) {
					t.Logf("fact: %s", fact.What)
					f(t)
				})
				return
			}
		}
		t.Fatalf("no fact %q in configDataFacts", name)
	}

	// One request through the examples' five hooks on each API.
	sent := map[string][]journal.Record{}
	for _, api := range exampleAPIs {
		id := newID(t)
		mark := l.mark(t)
		r := l.send(t, http.MethodGet, api.listenPath+"/anything/e2e/config-facts", id, "",
			map[string]string{"Authorization": "Bearer " + examples.LabTokenPrefix + "e2e-" + randomHex(4)})
		if r.Status != http.StatusOK {
			t.Fatalf("X-Request-Id %s: HTTP %d, want 200; body: %s", id, r.Status, r.Body)
		}
		recs := l.recordsFor(t, mark, id)
		expectSteps(t, id, recs, stepPreNoBody, stepAuth, stepPostKeyAuth, stepPost, stepResponse)
		sent[api.apiID] = recs
	}
	run("every-hook", func(t *testing.T) {
		for api, recs := range sent {
			for _, rec := range recs {
				if got, ok := rec.Received.GetSpec()[tykplugin.SpecConfigData]; !ok || got == "" {
					t.Errorf("%s %s/%s: no spec.config_data; spec: %v", api, rec.HookType, rec.HookName, rec.Received.GetSpec())
				}
			}
		}
	})
	run("encoding", func(t *testing.T) {
		for _, rec := range sent["classic-examples"] {
			if got := rec.Received.GetSpec()[tykplugin.SpecConfigData]; got != examplesConfigData {
				t.Errorf("classic-examples %s: spec.config_data\n%s\nwant\n%s", rec.HookType, got, examplesConfigData)
			}
		}
	})
	run("oas-same", func(t *testing.T) {
		for _, rec := range sent["oas-examples"] {
			if got := rec.Received.GetSpec()[tykplugin.SpecConfigData]; got != examplesConfigData {
				t.Errorf("oas-examples %s: spec.config_data\n%s\nwant the Classic API's\n%s", rec.HookType, got, examplesConfigData)
			}
		}
	})
	run("events", func(t *testing.T) {
		id := newID(t)
		mark := l.mark(t)
		l.send(t, http.MethodGet, "/examples/anything/e2e/config-event", id, "", map[string]string{"Authorization": "Bearer not-a-lab-token"})
		recs := l.waitJournal(t, mark, "the AuthFailure event of "+id, hasEvent(id))
		for _, r := range byID(recs, id) {
			if r.Kind != journal.KindEvent {
				continue
			}
			var payload struct{ Spec map[string]any }
			if err := json.Unmarshal(r.Event, &payload); err != nil {
				t.Fatalf("event %s: %v", r.ID, err)
			}
			if _, ok := payload.Spec[tykplugin.SpecConfigData]; ok || payload.Spec["APIID"] != "classic-examples" || len(payload.Spec) != 2 {
				t.Errorf("event %s: spec %v; want only APIID (classic-examples) and OrgID", r.ID, payload.Spec)
			}
		}
	})
	for _, probe := range []struct{ fact, path, apiID string }{
		{"classic-disabled", "/config-disabled", "classic-config-disabled"},
		{"oas-disabled", "/oas-config-disabled", "oas-config-disabled"},
		{"empty", "/config-empty", "classic-config-empty"},
	} {
		run(probe.fact, func(t *testing.T) {
			id := newID(t)
			mark := l.mark(t)
			r := l.send(t, http.MethodGet, probe.path+"/anything/e2e/config-facts", id, "", nil)
			recs := l.recordsFor(t, mark, id)
			// ExampleConfigured passes a request without configuration.
			expectSteps(t, id, recs, hookStep{"Pre", "ExampleConfigured", "unchanged"})
			if r.Status != http.StatusOK {
				t.Errorf("X-Request-Id %s: HTTP %d, want 200", id, r.Status)
			}
			for _, rec := range recs {
				if got, ok := rec.Received.GetSpec()[tykplugin.SpecConfigData]; ok || rec.APIID != probe.apiID {
					t.Errorf("%s: spec.config_data %q sent (api %s); want none", probe.apiID, got, rec.APIID)
				}
			}
		})
	}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
