// Observability plumbing: the plugin server's Prometheus metrics (scrape)
// and, with the tracing part on (compose.tracing.yaml), its traces in
// Jaeger (jaegerTrace), drawn as text or SVG. The tests that use them on
// the examples' hooks are examples_observe_test.go: the metrics count what
// the journal holds, and one request through the five example hooks is one
// trace, a span per hook, each the child of a gateway span (from 5.11.0;
// older gateways send no trace context, so each hook's span starts a trace
// of its own).
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

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
// TestTraceThroughEveryHook (examples_observe_test.go) writes it where
// E2E_TRACE_SVG says (docs/observing.md's picture, docs/trace.svg).
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
