// Package metrics is the plugin server's Prometheus metrics: a gRPC
// interceptor that counts and times every Dispatch by hook type, hook name
// and gRPC code, and every event by type; go-grpc-middleware's standard
// grpc_server_* metrics; the journal's entries written, dropped and failed;
// the spans the tracer could not export; build info, Go and process
// collectors. Serve puts them on an HTTP port of their own (/metrics).
//
// Label values are bounded: a hook name the plugin does not serve counts
// as "other", and so does any event type past the first MaxEventTypes.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// Other is the label value of a hook name the plugin does not serve, and of
// event types past MaxEventTypes.
const Other = "other"

// MaxEventTypes bounds the event_type label's values.
const MaxEventTypes = 64

// Options configure the metrics.
type Options struct {
	// HookNames are the function names the plugin serves: the only values
	// of the hook_name label besides Other.
	HookNames []string
	// Journal, when not nil, reports the journal's counts.
	Journal func() journal.Stats
	// SpansFailed, when not nil, reports how many spans the tracer could
	// not export.
	SpansFailed func() uint64
	// Abandoned, when not nil, reports the hooks the dispatch timeout left
	// running: how many run now, and how many since the start.
	Abandoned func() (running int64, total uint64)
	// Version is the plugin server's version, for build info.
	Version string
}

// Metrics holds the collectors and the interceptors that feed them.
type Metrics struct {
	reg        *prometheus.Registry
	grpc       *grpcprom.ServerMetrics
	dispatches *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	events     *prometheus.CounterVec
	hookNames  map[string]bool

	mu         sync.Mutex
	eventTypes map[string]bool
}

// New registers the lab's collectors on a registry of their own.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(0.0001, 4, 10)))),
		dispatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tyk_plugin_dispatches_total",
			Help: "Dispatch calls from the gateway, by hook type, hook name (function name; \"other\" for one the plugin does not serve) and gRPC code (OK, or the code the gateway got: it answers the client 500, 403 for CustomKeyCheck).",
		}, []string{"hook_type", "hook_name", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tyk_plugin_dispatch_duration_seconds",
			Help:    "Time the plugin server took for a Dispatch, the lab's instrumentation included, by hook type and hook name.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"hook_type", "hook_name"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tyk_plugin_events_total",
			Help: "Events (DispatchEvent) from the gateway, by event type.",
		}, []string{"event_type"}),
		hookNames:  map[string]bool{},
		eventTypes: map[string]bool{},
	}
	for _, n := range opts.HookNames {
		m.hookNames[n] = true
	}
	m.reg.MustRegister(m.grpc, m.dispatches, m.duration, m.events,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tyk_plugin_server_info",
			Help:        "The plugin server's version, always 1.",
			ConstLabels: prometheus.Labels{"version": opts.Version},
		}, func() float64 { return 1 }),
	)
	if opts.Journal != nil {
		for _, c := range []struct {
			result string
			get    func(journal.Stats) uint64
		}{
			{"written", func(s journal.Stats) uint64 { return s.Written }},
			{"dropped", func(s journal.Stats) uint64 { return s.Dropped }},
			{"failed", func(s journal.Stats) uint64 { return s.Failed }},
		} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "tyk_plugin_journal_entries_total",
				Help:        "Journal entries by result: written to Redis, dropped (buffer full), failed (Redis refused or unreachable).",
				ConstLabels: prometheus.Labels{"result": c.result},
			}, func() float64 { return float64(c.get(opts.Journal())) }))
		}
	}
	if opts.Abandoned != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tyk_plugin_hooks_abandoned",
			Help: "Hooks still running after the dispatch timeout ended their call (they ignore their context): each holds a goroutine. Past PLUGIN_MAX_ABANDONED_HOOKS the server reports NOT_SERVING.",
		}, func() float64 { n, _ := opts.Abandoned(); return float64(n) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "tyk_plugin_hooks_abandoned_total",
				Help: "Hooks the dispatch timeout left running, since the start.",
			}, func() float64 { _, n := opts.Abandoned(); return float64(n) }))
	}
	if opts.SpansFailed != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tyk_plugin_spans_dropped_total",
			Help: "Spans the tracer did not export: its queue was full or the OTLP endpoint failed.",
		}, func() float64 { return float64(opts.SpansFailed()) }))
	}
	return m
}

// UnaryServerInterceptors are the interceptors that feed the metrics:
// the standard grpc_server_* ones, then the lab's per hook.
func (m *Metrics) UnaryServerInterceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{m.grpc.UnaryServerInterceptor(), m.unary}
}

// StreamServerInterceptor feeds grpc_server_* for streams (health Watch,
// reflection).
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor()
}

// InitializeMetrics gives every method of s its grpc_server_* series at 0.
func (m *Metrics) InitializeMetrics(s *grpc.Server) { m.grpc.InitializeMetrics(s) }

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	switch info.FullMethod {
	case coprocess.Dispatcher_Dispatch_FullMethodName:
		obj, _ := req.(*coprocess.Object)
		start := time.Now()
		resp, err := handler(ctx, req)
		typ, name := obj.GetHookType().String(), obj.GetHookName()
		if !m.hookNames[name] {
			name = Other
		}
		m.duration.WithLabelValues(typ, name).Observe(time.Since(start).Seconds())
		m.dispatches.WithLabelValues(typ, name, status.Code(err).String()).Inc()
		return resp, err
	case coprocess.Dispatcher_DispatchEvent_FullMethodName:
		resp, err := handler(ctx, req)
		ev, _ := req.(*coprocess.Event)
		m.events.WithLabelValues(m.eventType(EventType(ev.GetPayload()))).Inc()
		return resp, err
	}
	return handler(ctx, req)
}

// eventType bounds the event_type label.
func (m *Metrics) eventType(t string) string {
	if t == "" {
		return Other
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.eventTypes[t] {
		if len(m.eventTypes) >= MaxEventTypes {
			return Other
		}
		m.eventTypes[t] = true
	}
	return t
}

// Handler serves the metrics in Prometheus' text and OpenMetrics formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: m.reg})
}

// Listen binds addr for Serve, so that a bad address fails at start.
func Listen(addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %q (PLUGIN_METRICS_ADDR): %w", addr, err)
	}
	return lis, nil
}

// Serve serves /metrics on lis until ctx ends.
func (m *Metrics) Serve(ctx context.Context, lis net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", lis.Addr().String(), "path", "/metrics")
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// EventType reads message.Type from a gateway event's payload ("" when it
// has none).
func EventType(payload string) string {
	var p struct {
		Message struct{ Type string } `json:"message"`
	}
	_ = json.Unmarshal([]byte(payload), &p)
	return p.Message.Type
}
