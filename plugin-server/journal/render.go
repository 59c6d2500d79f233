// Rendering an entry into its XADD command, on the caller's goroutine: the
// "meta" JSON appended by hand (encoding/json would reflect over a struct
// per dispatch) and the Object encoded redacted (redact.AppendObject), both
// into buffers of a pooled record. Every argument of the command is a
// constant or points into the record, so handing it to go-redis boxes
// nothing.

package journal

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
)

// record is an entry rendered as an XADD command.
type record struct {
	args []any
	meta bytesArg
	// body is the encoded Object (dispatch) or the event's JSON (event).
	body bytesArg
}

// bytesArg hands go-redis a buffer through encoding.BinaryMarshaler: boxing
// a pointer to it allocates nothing, where boxing a []byte would.
type bytesArg struct{ b []byte }

func (a *bytesArg) MarshalBinary() ([]byte, error) { return a.b, nil }

// maxPooled keeps a huge buffer (bodies stored whole) out of the pool.
const maxPooled = 64 << 10

var records = sync.Pool{New: func() any {
	return &record{
		args: make([]any, 0, 12),
		meta: bytesArg{make([]byte, 0, 512)},
		body: bytesArg{make([]byte, 0, 4<<10)},
	}
}}

// recycle returns a record to the pool, holding nothing of its entry.
func recycle(r *record) {
	clear(r.args)
	r.args = r.args[:0]
	for _, a := range []*bytesArg{&r.meta, &r.body} {
		a.b = a.b[:0]
		if cap(a.b) > maxPooled {
			a.b = nil
		}
	}
	records.Put(r)
}

// render turns an entry into its XADD command.
func (w *Writer) render(e *Entry) *record {
	r := records.Get().(*record)
	r.args = append(r.args, w.xadd...)
	m := append(r.meta.b, `{"time":"`...)
	m = e.Time.UTC().AppendFormat(m, time.RFC3339Nano)
	m = append(m, `","kind":`...)
	m = appendJSONString(m, string(e.Kind))
	switch e.Kind {
	case KindDispatch:
		m = w.renderDispatch(r, m, e.Object)
	case KindEvent:
		m = w.renderEvent(r, m, e)
	}
	m = appendField(m, "correlation_id", e.CorrelationID)
	if us := e.Duration.Microseconds(); us > 0 {
		m = strconv.AppendInt(append(m, `,"duration_us":`...), us, 10)
	}
	r.meta.b = append(m, '}')
	r.args = append(r.args, fieldMeta, &r.meta)
	if len(r.body.b) > 0 || e.Kind == KindDispatch {
		name := fieldObject
		if e.Kind == KindEvent {
			name = fieldEvent
		}
		r.args = append(r.args, name, &r.body)
	}
	return r
}

// renderDispatch appends a dispatch's summary to m and encodes its Object,
// redacted and its bodies cut, into the record's body.
func (w *Writer) renderDispatch(r *record, m []byte, o *coprocess.Object) []byte {
	req := o.GetRequest()
	m = appendField(m, "hook_type", o.GetHookType().String())
	m = appendField(m, "hook_name", o.GetHookName())
	m = appendField(m, "api_id", o.GetSpec()["APIID"])
	m = appendField(m, "org_id", o.GetSpec()["OrgID"])
	m = appendField(m, "method", req.GetMethod())
	if resp := o.GetResponse(); resp != nil {
		m = strconv.AppendInt(append(m, `,"status":`...), int64(resp.GetStatusCode()), 10)
	}
	m = appendField(m, "session", SessionOf(o.GetSession()))
	key, path := o.GetSession().GetKeyId(), req.GetRequestUri()
	stored := redact.Options{MaxBody: w.opts.MaxBody}
	if w.opts.Redact {
		red := redact.For(o, stored)
		key, path = red.Fingerprint(key), red.RequestURI()
		r.body.b = red.AppendObject(r.body.b)
	} else {
		r.body.b = redact.AppendTruncated(r.body.b, o, stored)
	}
	m = appendField(m, "path", path)
	return appendField(m, "key", key)
}

// renderEvent appends an event's summary to m and its payload, redacted, as
// JSON to the record's body. Events are rare: encoding/json is fine here.
func (w *Writer) renderEvent(r *record, m []byte, e *Entry) []byte {
	m = appendField(m, "event_type", e.EventType)
	m = appendField(m, "api_id", e.APIID)
	ev := e.Event
	if w.opts.Redact {
		ev = redact.Event(ev)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		w.log.Error("journal: encoding event", "error", err)
		return m
	}
	r.body.b = append(r.body.b, b...)
	return m
}

// appendField appends `,"name":"value"` unless value is empty. name must
// need no escaping.
func appendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString appends s as a JSON string. Values come from clients
// (paths, header values): anything but plain printable ASCII goes through
// encoding/json, which escapes it and replaces invalid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
