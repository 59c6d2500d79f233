// Observability through the real gateway, with the examples: the plugin
// server's metrics count what the journal holds, and with the tracing part
// on (compose.tracing.yaml) one request through the five example hooks is
// one trace in Jaeger, the gateway's spans and a span per hook, each the
// child of a gateway span (from 5.11.0; older gateways send no trace
// context, so each hook's span starts a trace of its own). The plumbing
// (scrape, jaegerTrace, renderTrace, traceSVG) is observe_test.go. `make
// remove-examples` deletes this file.
package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// TestMetricsCountWhatTheJournalHolds: after known traffic through the
// examples (every hook) and the bad configuration (an error), the metrics
// moved by exactly what the journal recorded.
func TestMetricsCountWhatTheJournalHolds(t *testing.T) {
	l := getLab(t)
	before := l.scrape(t)
	mark := l.mark(t)
	var ids []string
	auth := map[string]string{"Authorization": "Bearer " + examples.LabTokenPrefix + "e2e-" + randomHex(4)}
	for i := range 3 {
		id := newID(t) + "-" + strconv.Itoa(i)
		ids = append(ids, id)
		l.send(t, http.MethodGet, "/examples/anything/e2e/metrics", id, "", auth)
	}
	badID := newID(t) + "-bad"
	ids = append(ids, badID)
	l.send(t, http.MethodGet, "/config-bad/anything/e2e/metrics", badID, "", nil)
	var recs []journal.Record
	for _, id := range ids {
		recs = append(recs, l.recordsFor(t, mark, id)...)
	}
	// Every journal entry after the mark (the barriers' too) counts as
	// written; the last ones may still be on their way, so both are read
	// until they agree.
	written := `tyk_plugin_journal_entries_total{result="written"}`
	var after map[string]float64
	var all []journal.Record
	for deadline := time.Now().Add(journalTimeout); ; time.Sleep(100 * time.Millisecond) {
		after = l.scrape(t)
		all = l.after(t, mark)
		if after[written]-before[written] == float64(len(all)) || time.Now().After(deadline) {
			break
		}
	}

	want := map[string]float64{}
	for _, r := range recs {
		if r.Kind == journal.KindDispatch {
			want[dispatchSample(r)]++
		}
	}
	if len(want) < 6 {
		t.Fatalf("expected the examples' five hooks and an error in the journal; it held:\n%s", describe(recs))
	}
	for sample, n := range want {
		sample = strings.Replace(sample, `code="error"`, `code="FailedPrecondition"`, 1)
		if got := after[sample] - before[sample]; got != n {
			t.Errorf("%s rose by %v; the journal holds %v such dispatches", sample, got, n)
		}
	}
	for hook, n := range map[string]float64{"ExamplePreRequest": 3, "ExampleResponse": 3} {
		typ := map[string]string{"ExamplePreRequest": "Pre", "ExampleResponse": "Response"}[hook]
		sample := fmt.Sprintf(`tyk_plugin_dispatch_duration_seconds_count{hook_name=%q,hook_type=%q}`, hook, typ)
		if got := after[sample] - before[sample]; got != n {
			t.Errorf("%s rose by %v, want %v", sample, got, n)
		}
	}
	if got := after[written] - before[written]; got != float64(len(all)) {
		t.Errorf("%s rose by %v; the journal holds %d entries after the test's mark", written, got, len(all))
	}
	for _, result := range []string{"dropped", "failed"} {
		s := `tyk_plugin_journal_entries_total{result="` + result + `"}`
		if after[s] != before[s] {
			t.Errorf("%s rose from %v to %v", s, before[s], after[s])
		}
	}
}

// TestTraceThroughEveryHook: one request through the five example hooks,
// found in Jaeger by the trace id its journal records carry.
func TestTraceThroughEveryHook(t *testing.T) {
	l := getLab(t)
	if l.JaegerURL == "" {
		if required() {
			t.Fatalf("E2E_REQUIRE is set and the tracing part cannot run: %s", l.NoTracing)
		}
		t.Skipf("the tracing part cannot run: %s", l.NoTracing)
	}
	id := newID(t)
	mark := l.mark(t)
	r := l.send(t, http.MethodGet, "/examples/anything/e2e/trace", id, "",
		map[string]string{"Authorization": "Bearer " + examples.LabTokenPrefix + "e2e-" + randomHex(4)})
	if r.Status != http.StatusOK {
		t.Fatalf("X-Request-Id %s: HTTP %d: %s", id, r.Status, r.Body)
	}
	recs := l.recordsFor(t, mark, id)
	expectSteps(t, id, recs, stepPreNoBody, stepAuth, stepPostKeyAuth, stepPost, stepResponse)
	wantNames := []string{"Pre ExamplePreRequest", "CustomKeyCheck ExampleAuthCheck", "PostKeyAuth ExamplePostKeyAuth", "Post ExamplePost", "Response ExampleResponse"}
	traceIDs := map[string]bool{}
	for _, rec := range recs {
		if rec.TraceID == "" {
			t.Fatalf("X-Request-Id %s: record %s has no trace_id: is the plugin server tracing?\n%s", id, rec.ID, describe(recs))
		}
		traceIDs[rec.TraceID] = true
	}

	if !l.has(t, facts.OTelPropagation) {
		// Each hook's span is a trace of its own, a root.
		if len(traceIDs) != len(recs) {
			t.Errorf("gateway %s sends no trace context, yet the hooks' spans share traces: %v", l.Version, traceIDs)
		}
		for _, rec := range recs {
			tr := l.jaegerTrace(t, rec.TraceID, func(tr jaegerTrace) bool { return len(tr.Spans) > 0 })
			for _, s := range tr.Spans {
				// The hook's span is the root; ExampleAuthCheck's own span
				// (internal) its child.
				if tag(s.Tags, "span.kind") == "server" && len(s.References) != 0 {
					t.Errorf("trace %s: span %q has a parent %v; want a root span", rec.TraceID, s.OperationName, s.References)
				}
			}
			if !slices.ContainsFunc(tr.Spans, func(s jaegerSpan) bool { return s.OperationName == rec.HookType+" "+rec.HookName }) {
				t.Errorf("trace %s holds no span %q", rec.TraceID, rec.HookType+" "+rec.HookName)
			}
		}
		return
	}
	if len(traceIDs) != 1 {
		t.Fatalf("X-Request-Id %s: the hooks' records carry %d trace ids %v; want the one trace of the gateway", id, len(traceIDs), traceIDs)
	}
	traceID := recs[0].TraceID
	// The plugin server's spans: the hooks' (server spans, kind tag) and
	// ExampleAuthCheck's own child span.
	plugins := func(tr jaegerTrace, kind string) (out []int) {
		for i, s := range tr.Spans {
			if tr.Processes[s.ProcessID].ServiceName == pluginService && tag(s.Tags, "span.kind") == kind {
				out = append(out, i)
			}
		}
		return out
	}
	tr := l.jaegerTrace(t, traceID, func(tr jaegerTrace) bool {
		return len(plugins(tr, "server")) >= 5 && len(plugins(tr, "internal")) >= 1 && len(tr.Spans) > 6
	})
	t.Logf("trace %s (%s/trace/%s):\n%s", traceID, l.JaegerURL, traceID, renderTrace(tr))
	if out := os.Getenv("E2E_TRACE_SVG"); out != "" {
		title := fmt.Sprintf("GET /examples/anything/e2e/trace through gateway %s and the five example hooks", l.Version)
		if err := os.WriteFile(out, []byte(traceSVG(tr, title)), 0o644); err != nil {
			t.Error(err)
		}
	}
	byID := map[string]int{}
	for i, s := range tr.Spans {
		byID[s.SpanID] = i
	}
	for _, i := range plugins(tr, "internal") {
		s := tr.Spans[i]
		if len(s.References) != 1 || tr.Spans[byID[s.References[0].SpanID]].OperationName != "CustomKeyCheck ExampleAuthCheck" {
			t.Errorf("ExampleAuthCheck's own span %q is not the child of its hook's span (references %v)", s.OperationName, s.References)
		}
	}
	ps := plugins(tr, "server")
	sort.Slice(ps, func(a, b int) bool { return tr.Spans[ps[a]].StartTime < tr.Spans[ps[b]].StartTime })
	var names []string
	for _, i := range ps {
		s := tr.Spans[i]
		names = append(names, s.OperationName)
		parent := -1
		for _, ref := range s.References {
			if ref.RefType == "CHILD_OF" {
				if j, ok := byID[ref.SpanID]; ok {
					parent = j
				}
			}
		}
		if parent < 0 {
			t.Errorf("plugin span %q has no parent in the trace (references %v)", s.OperationName, s.References)
			continue
		}
		if svc := tr.Processes[tr.Spans[parent].ProcessID].ServiceName; svc == pluginService {
			t.Errorf("plugin span %q is the child of %q of %s; want a gateway span", s.OperationName, tr.Spans[parent].OperationName, svc)
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("the plugin's spans, in start order: %q; want %q", names, wantNames)
	}
}
