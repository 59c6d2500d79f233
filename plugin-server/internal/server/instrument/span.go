package instrument

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// Span attributes of a Dispatch or event (internal/server/tracing starts the
// span; the instrumentation names and annotates it).
const (
	AttrAPIID         = attribute.Key("tyk.api_id")
	AttrOrgID         = attribute.Key("tyk.org_id")
	AttrHookType      = attribute.Key("tyk.hook.type")
	AttrHookName      = attribute.Key("tyk.hook.name")
	AttrChanges       = attribute.Key("tyk.plugin.changes")
	AttrEventType     = attribute.Key("tyk.event.type")
	AttrCorrelationID = attribute.Key("tyk.correlation_id")
)

// annotate puts the call's trace id in its record and, when the call is
// traced, names its span for the hook ("Pre MyPreRequestPlugin", "event
// AuthFailure") with the record's facts as attributes, and an error status
// when the plugin failed. Without tracing it costs a context lookup.
func annotate(ctx context.Context, rec *journal.Record) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	rec.TraceID = span.SpanContext().TraceID().String()
	attrs := make([]attribute.KeyValue, 0, 6)
	if rec.APIID != "" {
		attrs = append(attrs, AttrAPIID.String(rec.APIID))
	}
	if rec.OrgID != "" {
		attrs = append(attrs, AttrOrgID.String(rec.OrgID))
	}
	if rec.CorrelationID != "" {
		attrs = append(attrs, AttrCorrelationID.String(rec.CorrelationID))
	}
	if rec.Kind == journal.KindEvent {
		span.SetName("event " + rec.EventType)
		attrs = append(attrs, AttrEventType.String(rec.EventType))
	} else {
		span.SetName(rec.HookType + " " + rec.HookName)
		attrs = append(attrs, AttrHookType.String(rec.HookType), AttrHookName.String(rec.HookName))
		if len(rec.Changes) > 0 {
			attrs = append(attrs, AttrChanges.StringSlice(rec.Changes))
		}
	}
	span.SetAttributes(attrs...)
	if rec.Error != "" {
		span.SetStatus(otelcodes.Error, rec.Error)
	}
}
