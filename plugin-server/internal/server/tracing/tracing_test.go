package tracing

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// slowExporter holds every export until released, as an OTLP endpoint that
// does not answer does, and counts what it got.
type slowExporter struct {
	release  chan struct{}
	exported atomic.Uint64
	once     sync.Once
}

func (e *slowExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	<-e.release
	e.exported.Add(uint64(len(spans)))
	return nil
}

func (e *slowExporter) Shutdown(context.Context) error { return nil }

// Every span is exported or counted as dropped, none lost silently, when
// far more end than the queue holds while the exporter is stuck.
func TestEverySpanExportedOrCounted(t *testing.T) {
	exp := &slowExporter{release: make(chan struct{})}
	var dropped atomic.Uint64
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(newBoundedBatcher(exp, &dropped, 16)))
	tr := tp.Tracer("test")
	const n = 5000
	for range n {
		_, s := tr.Start(context.Background(), "span")
		s.End()
	}
	if dropped.Load() == 0 {
		t.Errorf("%d spans ended against a queue of 16 and a stuck exporter, none dropped", n)
	}
	close(exp.release)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := exp.exported.Load() + dropped.Load(); got != n {
		t.Errorf("exported %d + dropped %d = %d, want %d: spans lost without a count", exp.exported.Load(), dropped.Load(), got, n)
	}
}
