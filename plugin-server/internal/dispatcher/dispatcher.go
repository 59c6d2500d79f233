// Package dispatcher implements Tyk's coprocess Dispatcher service for the
// lab: every call is logged as one JSON line, journaled, and the received
// Object is returned unchanged (the gateway rebuilds the request body from
// raw_body and the response from response, so nothing may be dropped).
package dispatcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/textproto"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
)

// Journal receives a copy of every call; *journal.Writer is one.
type Journal interface {
	Append(journal.Entry) bool
}

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// Journal, when not nil, receives every dispatch and event.
	Journal Journal
	// Redact removes secrets from logs (and is the default). The object
	// returned to the gateway is never changed either way.
	Redact bool
	// CorrelationHeader names the request header whose value ties journal
	// records and log lines to a client request.
	CorrelationHeader string
}

// Server is the lab's Dispatcher.
type Server struct {
	coprocess.UnimplementedDispatcherServer

	log        *slog.Logger
	journal    Journal
	redact     bool
	corrHeader string
}

var _ coprocess.DispatcherServer = (*Server)(nil)

// New returns a Server.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		log:        log,
		journal:    opts.Journal,
		redact:     opts.Redact,
		corrHeader: textproto.CanonicalMIMEHeaderKey(opts.CorrelationHeader),
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

// Dispatch logs and journals the object, then returns it unchanged.
func (s *Server) Dispatch(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	start := time.Now()
	corr := s.correlationID(obj)
	s.logDispatch(ctx, obj, corr, start)
	if s.journal != nil {
		s.journal.Append(journal.Entry{
			Time:          start,
			Kind:          journal.KindDispatch,
			Object:        obj,
			CorrelationID: corr,
			Duration:      time.Since(start),
		})
	}
	return obj, nil
}

func (s *Server) correlationID(obj *coprocess.Object) string {
	if s.corrHeader == "" {
		return ""
	}
	return obj.GetRequest().GetHeaders()[s.corrHeader]
}

func (s *Server) logDispatch(ctx context.Context, obj *coprocess.Object, corr string, start time.Time) {
	msg, ok := hookMessages[obj.GetHookType()]
	level := slog.LevelInfo
	if !ok {
		msg, level = "dispatch with an unknown hook type", slog.LevelWarn
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	req := obj.GetRequest()
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("hook_type", obj.GetHookType().String()),
		slog.String("hook_name", obj.GetHookName()),
		slog.String("api_id", obj.GetSpec()["APIID"]),
		slog.String("org_id", obj.GetSpec()["OrgID"]),
		slog.String("method", req.GetMethod()),
		slog.String("path", s.path(obj)),
	)
	if resp := obj.GetResponse(); resp != nil {
		attrs = append(attrs, slog.Int("status", int(resp.GetStatusCode())))
	}
	attrs = append(attrs, slog.String("session", journal.SessionOf(obj.GetSession())))
	if key := obj.GetSession().GetKeyId(); key != "" {
		attrs = append(attrs, slog.String("key", s.secret(key)))
	}
	if corr != "" {
		attrs = append(attrs, slog.String("correlation_id", corr))
	}
	attrs = append(attrs, slog.Int64("duration_us", time.Since(start).Microseconds()))
	// Straight to the handler: Logger.LogAttrs would also record the
	// caller's program counter (runtime.Callers, about a microsecond per
	// dispatch), which the plugin server's log does not show.
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	_ = s.log.Handler().Handle(ctx, r)

	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "dispatch object",
			slog.String("hook_type", obj.GetHookType().String()),
			slog.Any("object", protoJSON{s.logged(obj)}))
	}
}

// path is the request URI as it may be logged: a key sent as a query
// parameter is redacted.
func (s *Server) path(obj *coprocess.Object) string {
	if s.redact {
		return redact.RequestURI(obj)
	}
	return obj.GetRequest().GetRequestUri()
}

func (s *Server) secret(v string) string {
	if s.redact {
		return redact.Fingerprint(v)
	}
	return v
}

// logged is the object as it may appear in logs: redacted, bodies whole.
func (s *Server) logged(obj *coprocess.Object) *coprocess.Object {
	if s.redact {
		return redact.Object(obj, redact.Options{MaxBody: -1})
	}
	return obj
}

// protoJSON renders a message as JSON inside a log line, lazily.
type protoJSON struct{ m *coprocess.Object }

func (p protoJSON) MarshalJSON() ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(p.m)
}

// DispatchEvent decodes, logs and journals a gateway event. A payload that is
// not JSON is refused with InvalidArgument.
func (s *Server) DispatchEvent(ctx context.Context, ev *coprocess.Event) (*coprocess.EventReply, error) {
	start := time.Now()
	payload, err := redact.ParseEvent([]byte(ev.GetPayload()))
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "event refused", slog.String("error", err.Error()),
			slog.Int("payload_bytes", len(ev.GetPayload())))
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	logged := payload
	if s.redact {
		logged = redact.Event(payload)
	}
	typ, apiID, origReq := eventSummary(payload)
	corr := s.requestCorrelationID(origReq)
	s.log.LogAttrs(ctx, slog.LevelInfo, "event received",
		slog.String("event_type", typ),
		slog.String("api_id", apiID),
		slog.String("correlation_id", corr),
		slog.Any("payload", logged),
		slog.Int64("duration_us", time.Since(start).Microseconds()))
	if s.journal != nil {
		s.journal.Append(journal.Entry{
			Time:          start,
			Kind:          journal.KindEvent,
			Event:         payload,
			EventType:     typ,
			APIID:         apiID,
			CorrelationID: corr,
			Duration:      time.Since(start),
		})
	}
	return &coprocess.EventReply{}, nil
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
func (s *Server) requestCorrelationID(originatingRequest string) string {
	if s.corrHeader == "" || originatingRequest == "" {
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
	return req.Header.Get(s.corrHeader)
}
