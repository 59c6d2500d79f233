// Package instrument is the lab's instrumentation around any Dispatcher, as
// a gRPC interceptor: for every Dispatch it keeps the Object the gateway
// sent, calls the plugin, works out what the plugin changed (or the error it
// returned), and writes one log line and one journal record, both the same
// journal.Record, with secrets redacted. Events (DispatchEvent) are decoded,
// logged and journaled the same way. The plugin itself knows nothing of it.
package instrument

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/textproto"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
)

// Journal receives every record; *journal.Writer is one.
type Journal interface {
	Append(*journal.Record) bool
}

// Options configure the instrumentation.
type Options struct {
	Logger *slog.Logger
	// Journal, when not nil, receives every dispatch and event.
	Journal Journal
	// Redact removes secrets from logs and the journal (the default). The
	// objects exchanged with the gateway are never changed either way.
	Redact bool
	// MaxBody is how many bytes of each body the journal keeps; negative
	// keeps them whole.
	MaxBody int
	// CorrelationHeader names the request header whose value ties records
	// to a client request.
	CorrelationHeader string
	// Replica names this plugin server in every record.
	Replica string
}

// Instrument is the lab's instrumentation.
type Instrument struct {
	log        *slog.Logger
	journal    Journal
	redact     bool
	maxBody    int
	corrHeader string
	replica    string
}

// New returns the instrumentation for opts.
func New(opts Options) *Instrument {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Instrument{
		log:        log,
		journal:    opts.Journal,
		redact:     opts.Redact,
		maxBody:    opts.MaxBody,
		corrHeader: textproto.CanonicalMIMEHeaderKey(opts.CorrelationHeader),
		replica:    opts.Replica,
	}
}

// UnaryServerInterceptor instruments the Dispatcher's two methods and lets
// every other call through.
func (in *Instrument) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		switch info.FullMethod {
		case coprocess.Dispatcher_Dispatch_FullMethodName:
			if obj, ok := req.(*coprocess.Object); ok {
				return in.dispatch(ctx, obj, handler)
			}
		case coprocess.Dispatcher_DispatchEvent_FullMethodName:
			if ev, ok := req.(*coprocess.Event); ok {
				return in.event(ctx, ev, handler)
			}
		}
		return handler(ctx, req)
	}
}

// hookMessages are the per-hook log messages, as in Tyk's echo tutorial.
var hookMessages = map[coprocess.HookType]string{
	coprocess.HookType_Pre:            "pre hook: request received, before authentication",
	coprocess.HookType_CustomKeyCheck: "custom key check hook: authenticating the request",
	coprocess.HookType_PostKeyAuth:    "post-key-auth hook: request authenticated",
	coprocess.HookType_Post:           "post hook: request about to go upstream",
	coprocess.HookType_Response:       "response hook: upstream answered",
}

// fateKey holds, in a Dispatch's context, where FailedOpen and Abandoned
// note what became of the hook.
type fateKey struct{}

// fate is what the interceptors after this one say of a call.
type fate struct {
	failedOpen string
	abandoned  bool
}

// FailedOpen tells the instrumentation that the hook of the Dispatch whose
// context (or a context derived from it) is ctx failed (reason), and that
// the gateway gets the object it sent, unchanged: the journal and the log
// say so. The plugin server passes it to the deadline interceptor, after
// this one in the chain, as its OnFailOpen.
func (in *Instrument) FailedOpen(ctx context.Context, reason string) {
	if f, ok := ctx.Value(fateKey{}).(*fate); ok {
		f.failedOpen = reason
	}
}

// Abandoned tells the instrumentation that the deadline ended the Dispatch
// whose context is ctx while its hook ran on, ignoring its context: the
// journal says so. The deadline interceptor's OnAbandoned.
func (in *Instrument) Abandoned(ctx context.Context) {
	if f, ok := ctx.Value(fateKey{}).(*fate); ok {
		f.abandoned = true
	}
}

func (in *Instrument) dispatch(ctx context.Context, obj *coprocess.Object, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	received := keep(obj)
	var fate fate
	resp, err := handler(context.WithValue(ctx, fateKey{}, &fate), obj)
	elapsed := time.Since(start)
	returned, _ := resp.(*coprocess.Object)
	if err == nil && returned == nil {
		err = status.Errorf(codes.Internal, "plugin returned no object for hook %q: return the object it received", obj.GetHookName())
		resp = nil
	}

	// The objects go to the journal and the debug log only.
	objects := in.journal != nil || in.log.Enabled(ctx, slog.LevelDebug)
	rec := in.record(received, returned, err, start, elapsed, objects)
	rec.FailedOpen, rec.Abandoned = fate.failedOpen, fate.abandoned
	msg, level := hookMessages[received.GetHookType()], slog.LevelInfo
	if msg == "" {
		msg, level = "dispatch with an unknown hook type", slog.LevelWarn
	}
	switch {
	case err != nil:
		msg, level = "plugin returned an error: the gateway answers 500 Middleware error (403 for CustomKeyCheck)", slog.LevelWarn
	case fate.failedOpen != "":
		msg, level = "hook failed open: the gateway gets the object it sent, unchanged", slog.LevelWarn
	}
	annotate(ctx, rec)
	in.emit(ctx, level, msg, rec)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// record builds the dispatch's journal record: the summary and, with
// objects, the objects redacted with the secrets of both and their bodies
// cut.
func (in *Instrument) record(received, returned *coprocess.Object, err error, start time.Time, elapsed time.Duration, objects bool) *journal.Record {
	req := received.GetRequest()
	rec := &journal.Record{
		Time:          start,
		Kind:          journal.KindDispatch,
		HookType:      received.GetHookType().String(),
		HookName:      received.GetHookName(),
		APIID:         received.GetSpec()["APIID"],
		OrgID:         received.GetSpec()["OrgID"],
		Method:        req.GetMethod(),
		Session:       journal.SessionOf(received.GetSession()),
		Bodies:        journal.BodiesOf(received),
		Bytes:         received.SizeVT(),
		CorrelationID: in.correlationID(received),
		Replica:       in.replica,
		DurationUS:    elapsed.Microseconds(),
	}
	if r := received.GetResponse(); r != nil {
		rec.Status = int(r.GetStatusCode())
	}
	if err != nil {
		rec.Error = status.Convert(err).Message()
	} else {
		rec.Changes = Changes(received, returned)
	}
	if len(rec.Changes) == 0 {
		returned = nil
	}
	opts := redact.Options{MaxBody: in.maxBody}
	if in.redact {
		red := redact.For(opts, received, returned)
		rec.Path = red.RequestURI(received)
		rec.Key = red.Fingerprint(received.GetSession().GetKeyId())
		if objects {
			rec.Received, rec.Returned = red.Object(received), red.Object(returned)
		}
	} else {
		rec.Path = req.GetRequestUri()
		rec.Key = received.GetSession().GetKeyId()
		if objects {
			rec.Received, rec.Returned = redact.Truncate(received, opts), redact.Truncate(returned, opts)
		}
	}
	return rec
}

// emit writes the record's log line and journal entry.
func (in *Instrument) emit(ctx context.Context, level slog.Level, msg string, rec *journal.Record) {
	if in.log.Enabled(ctx, level) {
		// Straight to the handler: Logger.LogAttrs would also record the
		// caller's program counter, which the log does not show.
		r := slog.NewRecord(time.Now(), level, msg, 0)
		r.AddAttrs(slog.Any(string(rec.Kind), rec))
		_ = in.log.Handler().Handle(ctx, r)
	}
	if rec.Kind == journal.KindDispatch && in.log.Enabled(ctx, slog.LevelDebug) {
		in.log.LogAttrs(ctx, slog.LevelDebug, "dispatch objects",
			slog.String("hook_name", rec.HookName),
			slog.Any("received", protoJSON{rec.Received}),
			slog.Any("returned", protoJSON{rec.Returned}))
	}
	if in.journal != nil {
		in.journal.Append(rec)
	}
}

func (in *Instrument) correlationID(obj *coprocess.Object) string {
	if in.corrHeader == "" {
		return ""
	}
	return obj.GetRequest().GetHeaders()[in.corrHeader]
}

// protoJSON renders an Object as JSON inside a log line, lazily.
type protoJSON struct{ m *coprocess.Object }

func (p protoJSON) MarshalJSON() ([]byte, error) {
	if p.m == nil {
		return []byte("null"), nil
	}
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(p.m)
}

// event decodes, logs and journals a gateway event, then hands it to the
// plugin. A payload that is not JSON is refused with InvalidArgument.
func (in *Instrument) event(ctx context.Context, ev *coprocess.Event, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	payload, err := redact.ParseEvent([]byte(ev.GetPayload()))
	if err != nil {
		in.log.LogAttrs(ctx, slog.LevelWarn, "event refused", slog.String("error", err.Error()),
			slog.Int("payload_bytes", len(ev.GetPayload())))
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp, herr := handler(ctx, ev)
	typ, apiID, origReq := eventSummary(payload)
	rec := &journal.Record{
		Time:          start,
		Kind:          journal.KindEvent,
		EventType:     typ,
		APIID:         apiID,
		CorrelationID: in.requestCorrelationID(origReq),
		Replica:       in.replica,
		DurationUS:    time.Since(start).Microseconds(),
	}
	if herr != nil {
		rec.Error = status.Convert(herr).Message()
	}
	logged := payload
	if in.redact {
		logged = redact.Event(payload)
	}
	if rec.Event, err = json.Marshal(logged); err != nil {
		in.log.Error("event: encoding payload", "error", err)
	}
	annotate(ctx, rec)
	in.emit(ctx, slog.LevelInfo, "event received", rec)
	if herr != nil {
		return nil, herr
	}
	return resp, nil
}

// eventSummary reads message.Type, spec.APIID and message.Meta.
// OriginatingRequest from a gateway event payload.
func eventSummary(payload any) (eventType, apiID, originatingRequest string) {
	m, _ := payload.(map[string]any)
	msg, _ := m["message"].(map[string]any)
	spec, _ := m["spec"].(map[string]any)
	meta, _ := msg["Meta"].(map[string]any)
	eventType, _ = msg["Type"].(string)
	apiID, _ = spec["APIID"].(string)
	originatingRequest, _ = meta["OriginatingRequest"].(string)
	return eventType, apiID, originatingRequest
}

// requestCorrelationID reads the correlation header from the original HTTP
// request that events carry (base64 of the request as sent), so that an
// event can be tied to the request that caused it.
func (in *Instrument) requestCorrelationID(originatingRequest string) string {
	if in.corrHeader == "" || originatingRequest == "" {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(originatingRequest)
	if err != nil {
		return ""
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return ""
	}
	return req.Header.Get(in.corrHeader)
}
