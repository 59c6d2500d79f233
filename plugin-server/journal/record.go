// Package journal appends every dispatch and event the plugin server handles
// to a Redis Stream, so that tests and people can see what the gateway sent
// and what the plugin returned.
//
// Record is the journal's one schema: the plugin server's log line is a
// Record's JSON, the stream holds it, Decode reads it back, and
// `plugin-server journal`, `make smoke` and the e2e suite print or assert it.
// Each stream entry has up to three fields: "record", the Record as JSON
// (readable with redis-cli); "received", the redacted Object the gateway
// sent, as protobuf; "returned", the redacted Object the plugin returned,
// when it changed anything.
package journal

import (
	"encoding/json"
	"fmt"
	segjson "github.com/segmentio/encoding/json"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// DefaultStream is the stream key the plugin server writes to by default.
const DefaultStream = "plugin-lab:journal"

// DefaultMaxLen is the stream's default bound (approximate), and so how
// many records the inspector keeps.
const DefaultMaxLen = 10000

// Kind tells dispatch records from event records.
type Kind string

const (
	KindDispatch Kind = "dispatch"
	KindEvent    Kind = "event"
)

// Session says what session a dispatch carried.
const (
	SessionNone    = "none"    // no session (Pre, CustomKeyCheck)
	SessionEmpty   = "empty"   // an all-zero session: a keyless API
	SessionPresent = "present" // a key's session
)

// Bodies says how a dispatch's bodies travelled: the gateway fills
// raw_body, and body with the same text when it is UTF-8 and the hook's
// middleware definition does not set raw_body_only.
const (
	BodiesTwice   = "body+raw_body" // UTF-8, in body and raw_body
	BodiesRawOnly = "raw_body_only" // UTF-8, in raw_body only: raw_body_only is set
	BodiesBinary  = "raw_body"      // not UTF-8: in raw_body only, whatever raw_body_only says
)

// Stream field names.
const (
	fieldRecord   = "record"
	fieldReceived = "received"
	fieldReturned = "returned"
)

// Record is one dispatch or event: what the gateway sent, what the plugin
// did with it, and how long that took. Secrets are redacted (unless the
// plugin server runs with redaction off) and bodies cut to the journal's
// size.
type Record struct {
	// ID is the stream entry's ID (set by Decode).
	ID   string    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`

	HookType string `json:"hook_type,omitempty"`
	HookName string `json:"hook_name,omitempty"`
	APIID    string `json:"api_id,omitempty"`
	OrgID    string `json:"org_id,omitempty"`
	Method   string `json:"method,omitempty"`
	// Path is the request URI, a key in its query string redacted.
	Path string `json:"path,omitempty"`
	// Status is the upstream's response status (Response hooks).
	Status int `json:"status,omitempty"`
	// Session is SessionNone, SessionEmpty or SessionPresent.
	Session string `json:"session,omitempty"`
	// Bodies is how the gateway sent the bodies (BodiesTwice,
	// BodiesRawOnly, BodiesBinary); empty when there was no body.
	Bodies string `json:"bodies,omitempty"`
	// Bytes is the size of the Object the gateway sent, as protobuf: what
	// counts against the gRPC message limit.
	Bytes int `json:"bytes,omitempty"`
	// Key is the session's key_id, as a fingerprint.
	Key string `json:"key,omitempty"`
	// CorrelationID is the value of the correlation header (X-Request-Id).
	CorrelationID string `json:"correlation_id,omitempty"`
	// TraceID is the OpenTelemetry trace the call belongs to (the
	// gateway's, when it sends one), when the plugin server traces.
	TraceID string `json:"trace_id,omitempty"`
	// Replica names the plugin server that wrote the record (its host
	// name), so that records of several replicas can be told apart.
	Replica    string `json:"replica,omitempty"`
	DurationUS int64  `json:"duration_us"`

	// Changes says what the plugin changed in the object it returned, one
	// item per change ("set_headers X-Plugin", "return_overrides 403",
	// "body changed"); empty when it returned the object unchanged.
	Changes []string `json:"changes,omitempty"`
	// Error is the gRPC error the plugin returned: the gateway answered
	// the client 500 "Middleware error" (403 for CustomKeyCheck).
	Error string `json:"error,omitempty"`
	// FailedOpen is why the hook failed when it is one that fails open
	// (PLUGIN_FAIL_OPEN): the gateway got the object it sent, unchanged,
	// and the request went on.
	FailedOpen string `json:"failed_open,omitempty"`
	// Abandoned is true when the deadline (PLUGIN_DISPATCH_TIMEOUT) ended
	// the call while the hook ran on, ignoring its cancelled context: its
	// goroutine runs until the hook returns (tyk_plugin_hooks_abandoned).
	Abandoned bool `json:"abandoned,omitempty"`

	// EventType and Event are an event's type and redacted payload.
	EventType string          `json:"event_type,omitempty"`
	Event     json.RawMessage `json:"event,omitempty"`

	// Received is the Object the gateway sent, Returned the one the plugin
	// returned when it changed anything (nil otherwise). They travel as
	// protobuf, beside the JSON.
	Received *coprocess.Object `json:"-"`
	Returned *coprocess.Object `json:"-"`

	json []byte // the JSON encoding, once computed
}

// JSON is the record's JSON encoding (the journal's "record" field, and
// the plugin server's log line: logwriter.NewHandler), computed once.
// Change the record before the first call only. segmentio/encoding writes
// what encoding/json writes, in half the time; this runs per dispatch.
func (r *Record) JSON() []byte {
	if r.json == nil {
		b, err := segjson.Marshal(r)
		if err != nil { // only Event could fail, and it is valid JSON
			b = []byte(`{"error":` + quote(err.Error()) + `}`)
		}
		r.json = b
	}
	return r.json
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// LogValue makes a Record log as the same object as its JSON, key for key
// (TestLogValueIsTheJSON holds the two together): the log line and the
// journal have one schema. Built from attributes rather than from the JSON
// because a log handler re-parses raw JSON, and this runs per dispatch.
func (r *Record) LogValue() slog.Value {
	a := make([]slog.Attr, 0, 20)
	str := func(k, v string) {
		if v != "" {
			a = append(a, slog.String(k, v))
		}
	}
	a = append(a, slog.Time("time", r.Time))
	str("kind", string(r.Kind))
	str("hook_type", r.HookType)
	str("hook_name", r.HookName)
	str("api_id", r.APIID)
	str("org_id", r.OrgID)
	str("method", r.Method)
	str("path", r.Path)
	if r.Status != 0 {
		a = append(a, slog.Int("status", r.Status))
	}
	str("session", r.Session)
	str("bodies", r.Bodies)
	if r.Bytes != 0 {
		a = append(a, slog.Int("bytes", r.Bytes))
	}
	str("key", r.Key)
	str("correlation_id", r.CorrelationID)
	str("trace_id", r.TraceID)
	str("replica", r.Replica)
	a = append(a, slog.Int64("duration_us", r.DurationUS))
	if len(r.Changes) > 0 {
		a = append(a, slog.Any("changes", r.Changes))
	}
	str("error", r.Error)
	str("failed_open", r.FailedOpen)
	if r.Abandoned {
		a = append(a, slog.Bool("abandoned", true))
	}
	str("event_type", r.EventType)
	if len(r.Event) > 0 {
		a = append(a, slog.Any("event", r.Event))
	}
	return slog.GroupValue(a...)
}

// Outcome is what the plugin did, in a few words: its error, its changes,
// or "unchanged". Events have none.
func (r *Record) Outcome() string {
	switch {
	case r.Kind != KindDispatch:
		return ""
	case r.Error != "":
		return "error: " + r.Error
	case r.FailedOpen != "":
		return "failed open (sent on unchanged): " + r.FailedOpen
	case len(r.Changes) == 0:
		return "unchanged"
	default:
		return strings.Join(r.Changes, ", ")
	}
}

// Text is the record in one short line, as `make smoke` prints it.
func (r *Record) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-8s", r.Time.Format("15:04:05.000"), r.Kind)
	if r.Kind == KindEvent {
		fmt.Fprintf(&b, " %s api=%s", r.EventType, r.APIID)
	} else {
		fmt.Fprintf(&b, " %-14s %-22s api=%s %s %s", r.HookType, r.HookName, r.APIID, r.Method, r.Path)
		if r.Status != 0 {
			fmt.Fprintf(&b, " status=%d", r.Status)
		}
		fmt.Fprintf(&b, " session=%s", r.Session)
	}
	if r.Key != "" {
		fmt.Fprintf(&b, " key=%s", r.Key)
	}
	if r.CorrelationID != "" {
		fmt.Fprintf(&b, " id=%s", r.CorrelationID)
	}
	if r.TraceID != "" {
		fmt.Fprintf(&b, " trace=%s", r.TraceID)
	}
	if r.Replica != "" {
		fmt.Fprintf(&b, " replica=%s", r.Replica)
	}
	if o := r.Outcome(); o != "" {
		fmt.Fprintf(&b, " → %s", o)
	}
	return b.String()
}

// Decode turns a stream entry into a Record.
func Decode(m redis.XMessage) (Record, error) {
	r := Record{ID: m.ID}
	raw, _ := m.Values[fieldRecord].(string)
	if raw == "" {
		return r, fmt.Errorf("journal entry %s: no %s field: not written by this version of the journal", m.ID, fieldRecord)
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return r, fmt.Errorf("journal entry %s: %s: %w", m.ID, fieldRecord, err)
	}
	r.ID = m.ID
	var err error
	if r.Received, err = decodeObject(m, fieldReceived); err != nil {
		return r, err
	}
	if r.Returned, err = decodeObject(m, fieldReturned); err != nil {
		return r, err
	}
	return r, nil
}

func decodeObject(m redis.XMessage, field string) (*coprocess.Object, error) {
	s, ok := m.Values[field].(string)
	if !ok {
		return nil, nil
	}
	o := &coprocess.Object{}
	if err := proto.Unmarshal([]byte(s), o); err != nil {
		return nil, fmt.Errorf("journal entry %s: %s: %w", m.ID, field, err)
	}
	return o, nil
}

// SessionOf classifies the session a dispatch carried. The gateway sends an
// all-zero session to keyless APIs, so "empty" means one that names no key,
// organisation or API access.
func SessionOf(s *coprocess.SessionState) string {
	switch {
	case s == nil:
		return SessionNone
	case s.GetKeyId() == "" && s.GetOrgId() == "" && len(s.GetAccessRights()) == 0:
		return SessionEmpty
	default:
		return SessionPresent
	}
}

// BodiesOf says how the gateway sent obj's bodies (the request's and, to
// a Response hook, the response's): BodiesTwice, BodiesRawOnly,
// BodiesBinary, or "" when they are empty.
func BodiesOf(obj *coprocess.Object) string {
	mode := ""
	for _, b := range []struct {
		text string
		raw  []byte
	}{
		{obj.GetRequest().GetBody(), obj.GetRequest().GetRawBody()},
		{obj.GetResponse().GetBody(), obj.GetResponse().GetRawBody()},
	} {
		switch {
		case b.text != "":
			return BodiesTwice
		case len(b.raw) == 0:
		case utf8.Valid(b.raw):
			return BodiesRawOnly
		default:
			mode = BodiesBinary
		}
	}
	return mode
}

// JSONWithObjects is the record's JSON with the received (and returned)
// Object added as protobuf JSON under "received" and "returned": one line
// of `plugin-server journal -objects`, and of what `make capture` writes.
// ParseJSONWithObjects reads it back.
func (r *Record) JSONWithObjects() ([]byte, error) {
	var out map[string]json.RawMessage
	if err := json.Unmarshal(r.JSON(), &out); err != nil {
		return nil, err
	}
	for name, o := range map[string]*coprocess.Object{fieldReceived: r.Received, fieldReturned: r.Returned} {
		if o == nil {
			continue
		}
		b, err := (protojson.MarshalOptions{UseProtoNames: true}).Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("render %s object of %s: %w", name, r.ID, err)
		}
		out[name] = b
	}
	return json.Marshal(out)
}

// ParseJSONWithObjects reads a line JSONWithObjects wrote.
func ParseJSONWithObjects(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("not a journal record: %w", err)
	}
	var objs map[string]json.RawMessage
	if err := json.Unmarshal(line, &objs); err != nil {
		return r, err
	}
	for field, dst := range map[string]**coprocess.Object{fieldReceived: &r.Received, fieldReturned: &r.Returned} {
		raw := objs[field]
		if len(raw) == 0 {
			continue
		}
		*dst = &coprocess.Object{}
		if err := protojson.Unmarshal(raw, *dst); err != nil {
			return r, fmt.Errorf("decoding the %s object: %w", field, err)
		}
	}
	return r, nil
}
