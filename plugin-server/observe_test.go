package main

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
)

// otlpReceiver is a real OTLP/gRPC trace endpoint, in the test.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	addr  string
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) find(name string) *tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

func startOTLP(t *testing.T) *otlpReceiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{addr: lis.Addr().String()}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, r)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return r
}

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.GetAttributes() {
		if a.GetKey() == key {
			if v := a.GetValue().GetStringValue(); v != "" {
				return v
			}
			var parts []string
			for _, x := range a.GetValue().GetArrayValue().GetValues() {
				parts = append(parts, x.GetStringValue())
			}
			return strings.Join(parts, ",")
		}
	}
	return ""
}

// The gateway's trace context (W3C traceparent, as otelgrpc sends it)
// continues in the plugin server: one span per Dispatch, named for the
// hook, the child of the gateway's span, with the API, the hook and what
// the plugin changed; the journal's record carries the trace id.
func TestTraceContinuesTheGateways(t *testing.T) {
	otlp := startOTLP(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
	log, logs := grpctest.NewLog(0)
	s := startServe(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + otlp.addr}, log)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := metadata.AppendToOutgoingContext(grpctest.Context(t, 10*time.Second), "traceparent", "00-"+traceID+"-"+parentID+"-01")
	obj := captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
	obj.HookName = "ExamplePreRequest"
	if _, err := s.Client.Dispatch(ctx, obj); err != nil {
		t.Fatal(err)
	}
	var span *tracepb.Span
	grpctest.Eventually(t, 10*time.Second, func() bool { span = otlp.find("Pre ExamplePreRequest"); return span != nil },
		"no span named \"Pre ExamplePreRequest\" exported")
	if got := hex.EncodeToString(span.GetTraceId()); got != traceID {
		t.Errorf("trace id %s, want the gateway's %s", got, traceID)
	}
	if got := hex.EncodeToString(span.GetParentSpanId()); got != parentID {
		t.Errorf("parent span %s, want the gateway's %s", got, parentID)
	}
	if span.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span kind %v, want server", span.GetKind())
	}
	if attr(span, "tyk.api_id") != obj.GetSpec()["APIID"] || attr(span, "tyk.hook.type") != "Pre" || attr(span, "tyk.hook.name") != "ExamplePreRequest" ||
		!strings.Contains(attr(span, "tyk.plugin.changes"), "set_headers X-Example-Pre") {
		t.Errorf("span attributes %v", span.GetAttributes())
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("the dispatch's log line lacks trace_id %s:\n%s", traceID, logs.String())
	}

	// A failing hook: an error status.
	bad := captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
	bad.HookName = "Configured"
	bad.Spec["config_data"] = `{"nope":1}`
	if _, err := s.Client.Dispatch(ctx, bad); err == nil {
		t.Fatal("a bad configuration did not fail")
	}
	grpctest.Eventually(t, 10*time.Second, func() bool { span = otlp.find("Pre Configured"); return span != nil },
		"no span for the failed dispatch")
	if span.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || !strings.Contains(span.GetStatus().GetMessage(), `unknown field "nope"`) {
		t.Errorf("failed dispatch's span status %v", span.GetStatus())
	}
}

// An OTLP endpoint that does not answer costs spans, not dispatches: every
// call succeeds, and the spans are counted as dropped.
func TestTracingToNowhere(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
	metricsAddr := closedAddr(t)
	s := startServe(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + closedAddr(t),
		config.EnvMetricsAddr:         metricsAddr,
	}, nil)
	obj := captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
	for range 50 {
		if _, err := s.Client.Dispatch(grpctest.Context(t, 10*time.Second), obj); err != nil {
			t.Fatalf("Dispatch with the OTLP endpoint down: %v", err)
		}
	}
	grpctest.Eventually(t, 20*time.Second, func() bool {
		return metricValue(t, metricsAddr, "tyk_plugin_spans_dropped_total", "") > 0
	}, "tyk_plugin_spans_dropped_total stayed 0 with the OTLP endpoint down")
}

// scrape returns the metrics page.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue is the value of the sample name{labels} ("" for none), or -1.
func metricValue(t *testing.T, addr, name, labels string) float64 {
	t.Helper()
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	for line := range strings.Lines(scrape(t, addr)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == want {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// The metrics count what the plugin server did, with bounded labels.
func TestMetrics(t *testing.T) {
	addr := closedAddr(t)
	s := startServe(t, map[string]string{config.EnvMetricsAddr: addr}, nil)
	ctx := grpctest.Context(t, 10*time.Second)
	obj := captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
	obj.HookName = "ExamplePreRequest"
	for range 3 {
		if _, err := s.Client.Dispatch(ctx, obj.CloneVT()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 { // names the plugin does not serve: one series
		o := obj.CloneVT()
		o.HookName = "Unknown" + strconv.Itoa(i)
		if _, err := s.Client.Dispatch(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	bad := obj.CloneVT()
	bad.HookName = "Configured"
	bad.Spec["config_data"] = `{"nope":1}`
	if _, err := s.Client.Dispatch(ctx, bad); err == nil {
		t.Fatal("a bad configuration did not fail")
	}
	if _, err := s.Client.DispatchEvent(ctx, &coprocess.Event{Payload: `{"event":"AuthFailure","message":{"Type":"AuthFailure"}}`}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"tyk_plugin_dispatches_total", `code="OK",hook_name="ExamplePreRequest",hook_type="Pre"`, 3},
		{"tyk_plugin_dispatches_total", `code="OK",hook_name="other",hook_type="Pre"`, 100},
		{"tyk_plugin_dispatches_total", `code="FailedPrecondition",hook_name="Configured",hook_type="Pre"`, 1},
		{"tyk_plugin_dispatch_duration_seconds_count", `hook_name="ExamplePreRequest",hook_type="Pre"`, 3},
		{"tyk_plugin_events_total", `event_type="AuthFailure"`, 1},
		{"grpc_server_handled_total", `grpc_code="OK",grpc_method="Dispatch",grpc_service="coprocess.Dispatcher",grpc_type="unary"`, 103},
	} {
		if got := metricValue(t, addr, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	page := scrape(t, addr)
	if strings.Contains(page, "Unknown1") {
		t.Error("an unknown hook name became a label value")
	}
	for _, name := range []string{"go_build_info", "tyk_plugin_server_info", "process_cpu_seconds_total"} {
		if !strings.Contains(page, name) {
			t.Errorf("no %s", name)
		}
	}
}

func TestMetricsAddressErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for addr, want := range map[string]string{
		"nonsense":           `metrics address "nonsense"`,
		busy.Addr().String(): `metrics address "` + busy.Addr().String() + `"`,
		"256.0.0.1:9464":     `metrics address "256.0.0.1:9464"`,
	} {
		code, _, stderr := runCmd(t, map[string]string{config.EnvMetricsAddr: addr}, "-listen", "127.0.0.1:0")
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("PLUGIN_METRICS_ADDR=%s: exit %d, stderr %q; want 1 and %q", addr, code, stderr, want)
		}
	}
	code, _, stderr := runCmd(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_TRACES_EXPORTER": "zipkin"}, "-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "OTEL_TRACES_EXPORTER") {
		t.Errorf("OTEL_TRACES_EXPORTER=zipkin: exit %d, stderr %q", code, stderr)
	}
}
