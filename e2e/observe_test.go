// Observability through the real gateway: the plugin server's metrics
// count what the journal holds, and with the tracing part on
// (compose.tracing.yaml) one request through the five example hooks is one
// trace in Jaeger, the gateway's spans and a span per hook, each the child
// of a gateway span (from 5.11.0; older gateways send no trace context, so
// each hook's span starts a trace of its own).
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
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

// scrape reads the plugin server's metrics: sample (name{labels}) → value.
func (l *Lab) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	url := l.MetricsURL
	if !l.External {
		ep, err := l.endpoint(shared.ctx, "plugin-server", "9464/tcp")
		if err != nil {
			t.Fatal(err)
		}
		url = "http://" + ep + "/metrics"
	}
	resp, err := l.http.Get(url)
	if err != nil {
		t.Fatalf("scraping the plugin server's metrics at %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func dispatchSample(r journal.Record) string {
	code := "OK"
	if r.Error != "" {
		code = "error"
	}
	return fmt.Sprintf(`tyk_plugin_dispatches_total{code=%q,hook_name=%q,hook_type=%q}`, code, r.HookName, r.HookType)
}

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

// jaegerTrace is the part of Jaeger's query API answer (/api/traces/{id})
// the suite reads.
type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// jaegerSpan is one span of a jaegerTrace.
type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64  `json:"startTime"` // µs
	Duration  int64  `json:"duration"`  // µs
	ProcessID string `json:"processID"`
	Tags      []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// jaegerTrace fetches a trace from Jaeger, polling until cond holds.
func (l *Lab) jaegerTrace(t *testing.T, traceID string, cond func(jaegerTrace) bool) jaegerTrace {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		resp, err := l.http.Get(l.JaegerURL + "/api/traces/" + traceID)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			var out struct{ Data []jaegerTrace }
			if json.Unmarshal(b, &out) == nil && len(out.Data) == 1 && cond(out.Data[0]) {
				return out.Data[0]
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger (%s) has no complete trace %s within 30 s; it last answered:\n%.3000s", l.JaegerURL, traceID, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

const pluginService = "tyk-plugin-server"

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

// spanRow is a span of a trace in tree order: its index and depth.
type spanRow struct{ i, depth int }

// treeOrder lists a trace's spans as its timeline shows them: each after
// its parent, siblings by start time, and returns the trace's start and
// end (µs).
func treeOrder(tr jaegerTrace) (rows []spanRow, start, end int64) {
	ids := map[string]bool{}
	start = tr.Spans[0].StartTime
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
		start = min(start, s.StartTime)
		end = max(end, s.StartTime+s.Duration)
	}
	children := map[string][]int{}
	var roots []int
	for i, s := range tr.Spans {
		parent := ""
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" && ids[r.SpanID] {
				parent = r.SpanID
			}
		}
		if parent == "" {
			roots = append(roots, i)
		} else {
			children[parent] = append(children[parent], i)
		}
	}
	byStart := func(xs []int) {
		sort.Slice(xs, func(a, b int) bool { return tr.Spans[xs[a]].StartTime < tr.Spans[xs[b]].StartTime })
	}
	var walk func(i, depth int)
	walk = func(i, depth int) {
		rows = append(rows, spanRow{i, depth})
		kids := children[tr.Spans[i].SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	byStart(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	return rows, start, end
}

// renderTrace draws a trace as text: one line a span, indented under its
// parent, with its offset and duration.
func renderTrace(tr jaegerTrace) string {
	if len(tr.Spans) == 0 {
		return "(no spans)"
	}
	rows, start, _ := treeOrder(tr)
	var b strings.Builder
	fmt.Fprintf(&b, "%11s %11s  %-18s %s\n", "start", "duration", "service", "span")
	for _, r := range rows {
		s := tr.Spans[r.i]
		fmt.Fprintf(&b, "%8.2f ms %8.2f ms  %-18s %s%s\n", float64(s.StartTime-start)/1000, float64(s.Duration)/1000,
			tr.Processes[s.ProcessID].ServiceName, strings.Repeat("  ", r.depth), s.OperationName)
	}
	return b.String()
}

// traceSVG draws a trace as Jaeger's timeline does: one row a span, in
// tree order, its bar placed by start and duration, coloured by service.
// TestTraceThroughEveryHook writes it where E2E_TRACE_SVG says (the
// README's picture, docs/trace.svg).
func traceSVG(tr jaegerTrace, title string) string {
	rows, start, end := treeOrder(tr)
	const labelW, barW, rowH, top = 430, 520, 22, 46
	total := float64(max(end-start, 1))
	colours := map[string]string{pluginService: "#2f9e44"}
	var b strings.Builder
	h := top + len(rows)*rowH + 30
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="12">`+"\n", labelW+barW+90, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", xmlEscape(title))
	fmt.Fprintf(&b, `<text x="8" y="36" fill="#555">trace %s · %.2f ms · %d spans · green: the plugin server, blue: the gateway</text>`+"\n", tr.TraceID, total/1000, len(tr.Spans))
	for n, r := range rows {
		s := tr.Spans[r.i]
		svc := tr.Processes[s.ProcessID].ServiceName
		colour, ok := colours[svc]
		if !ok {
			colour = "#1c7ed6"
		}
		y := top + n*rowH
		x := labelW + int(float64(s.StartTime-start)/total*barW)
		w := max(int(float64(s.Duration)/total*barW), 2)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", 8+r.depth*14, y+15, xmlEscape(s.OperationName))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="14" rx="2" fill="%s"/>`+"\n", x, y+3, w, colour)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%.2f ms</text>`+"\n", min(x+w+4, labelW+barW+10), y+15, float64(s.Duration)/1000)
	}
	fmt.Fprintf(&b, `<text x="8" y="%d" fill="#777">rendered by the e2e suite from Jaeger's query API (/api/traces/{id})</text>`+"\n", h-10)
	b.WriteString("</svg>\n")
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// tag is a span tag's value as text ("" when absent).
func tag(tags []struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}
