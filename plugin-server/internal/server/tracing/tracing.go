// Package tracing continues the gateway's OpenTelemetry trace in the plugin
// server: a gRPC stats handler (otelgrpc) takes the W3C trace context the
// gateway sends with each Dispatch (5.11.0 and later) and starts the
// server's span as its child; the lab's instrumentation names that span for
// the hook and annotates it (internal/server/instrument). Spans go over OTLP,
// configured by the standard OTEL_* variables, and tracing is off unless
// they say where to (FromEnv).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// DefaultServiceName is the service.name of the plugin server's spans
// unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const DefaultServiceName = "tyk-plugin-server"

// Tracing is the plugin server's tracer provider and the stats handler
// that feeds it.
type Tracing struct {
	tp      *sdktrace.TracerProvider
	handler grpc.ServerOption
	dropped atomic.Uint64
}

// Enabled reports whether the OTEL_* variables (read through getenv) turn
// tracing on: an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_TRACES_EXPORTER is unset or
// otlp, and OTEL_SDK_DISABLED is not true. Any other OTEL_TRACES_EXPORTER
// is an error: the plugin server exports over OTLP only.
func Enabled(getenv func(string) string) (bool, error) {
	if v := getenv("OTEL_SDK_DISABLED"); v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("OTEL_SDK_DISABLED=%q: want true or false", v)
		}
		if off {
			return false, nil
		}
	}
	switch e := getenv("OTEL_TRACES_EXPORTER"); e {
	case "none":
		return false, nil
	case "", "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: the plugin server exports traces over OTLP only (otlp, or none)", e)
	}
	if _, err := protocol(getenv); err != nil {
		return false, err
	}
	url, _ := Endpoint(getenv)
	return url != "", nil
}

// protocol is OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: grpc (the default) or
// http/protobuf.
func protocol(getenv func(string) string) (string, error) {
	p := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if p == "" {
		p = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch p {
	case "", "grpc":
		return "grpc", nil
	case "http/protobuf":
		return p, nil
	}
	return "", fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want grpc or http/protobuf", p)
}

// FromEnv sets tracing up as the OTEL_* variables of the process say, or
// returns nil when they leave it off (Enabled). The exporter and the batch
// span processor read their own variables (OTEL_EXPORTER_OTLP_*,
// OTEL_BSP_*, OTEL_TRACES_SAMPLER). The exporter never holds up a
// Dispatch: spans are queued and sent in batches, and a full queue or a
// failed export drops them (Dropped counts both). The provider also
// becomes the global one, so that the plugin's own code can start child
// spans from the ctx it gets (otel.Tracer).
func FromEnv(ctx context.Context, getenv func(string) string, version string) (*Tracing, error) {
	on, err := Enabled(getenv)
	if err != nil || !on {
		return nil, err
	}
	// The endpoint as getenv gives it; the exporter reads the other
	// OTEL_EXPORTER_OTLP_* variables (headers, timeout, …) itself.
	proto, _ := protocol(getenv)
	endpoint, signal := Endpoint(getenv)
	var exp sdktrace.SpanExporter
	if proto == "grpc" {
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	} else {
		if !signal { // the base URL: the signal's path is appended
			endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", DefaultServiceName),
			attribute.String("service.version", version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	t := &Tracing{}
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(newBoundedBatcher(exp, &t.dropped, queueSize(getenv))),
		sdktrace.WithResource(res))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTracerProvider(t.tp)
	otel.SetTextMapPropagator(prop)
	t.handler = grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.tp),
		otelgrpc.WithPropagators(prop),
		// Only the Dispatcher's calls: not health checks nor reflection.
		otelgrpc.WithFilter(filters.ServiceName(coprocess.Dispatcher_ServiceDesc.ServiceName)),
	))
	return t, nil
}

// ServerOption is the stats handler to give the gRPC server.
func (t *Tracing) ServerOption() grpc.ServerOption { return t.handler }

// Dropped is how many spans were not exported: in a batch the OTLP
// endpoint refused or did not answer, or past a full queue.
func (t *Tracing) Dropped() uint64 { return t.dropped.Load() }

// Endpoint is where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the
// signal's own URL (signal true), else OTEL_EXPORTER_OTLP_ENDPOINT, the
// base URL of every signal; "" when neither is set.
func Endpoint(getenv func(string) string) (url string, signal bool) {
	if v := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		return v, true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), false
}

// Shutdown exports what is queued, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// queueSize is OTEL_BSP_MAX_QUEUE_SIZE, as the batch span processor reads
// it (2048 unless set).
func queueSize(getenv func(string) string) int64 {
	if n, err := strconv.Atoi(getenv("OTEL_BSP_MAX_QUEUE_SIZE")); err == nil && n > 0 {
		return int64(n)
	}
	return 2048
}

// boundedBatcher is the SDK's batch span processor with every lost span
// counted. The processor drops spans silently when its queue is full, so
// this one keeps the queue from filling: it counts the spans handed to the
// processor and not yet to the exporter, and drops (and counts) a span that
// would take that past the queue's size. The exporter counts the spans of
// the exports that failed.
type boundedBatcher struct {
	sdktrace.SpanProcessor
	pending *atomic.Int64
	max     int64
	dropped *atomic.Uint64
}

func newBoundedBatcher(exp sdktrace.SpanExporter, dropped *atomic.Uint64, max int64) *boundedBatcher {
	pending := &atomic.Int64{}
	bsp := sdktrace.NewBatchSpanProcessor(&countingExporter{SpanExporter: exp, pending: pending, dropped: dropped},
		sdktrace.WithMaxQueueSize(int(max)))
	return &boundedBatcher{SpanProcessor: bsp, pending: pending, max: max, dropped: dropped}
}

func (b *boundedBatcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the processor exports sampled spans only
	}
	if b.pending.Add(1) > b.max {
		b.pending.Add(-1)
		b.dropped.Add(1)
		return
	}
	b.SpanProcessor.OnEnd(s)
}

// countingExporter counts the spans it was handed, and those of failed
// exports.
type countingExporter struct {
	sdktrace.SpanExporter
	pending *atomic.Int64
	dropped *atomic.Uint64
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.pending.Add(-int64(len(spans)))
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.dropped.Add(uint64(len(spans)))
	}
	return err
}
