// Package journal appends every dispatch and event the plugin server handles
// to a Redis Stream, so that tests and people can see what the gateway sent.
//
// Each stream entry has two fields: "meta", the summary as one JSON object
// (readable with redis-cli: time, kind, hook type and name, API, method,
// path, status, session, redacted key, correlation id, duration), and
// "object", the redacted Object as protobuf, or "event", an event's redacted
// payload as JSON. Two fields rather than one per summary item: Redis parses
// and stores each argument of XADD on its own, and every dispatch pays for
// them (see BENCHMARKS.md). Read records back with Decode, or with
// `plugin-server journal`.
package journal

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// DefaultStream is the stream key the plugin server writes to by default.
const DefaultStream = "plugin-lab:journal"

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

// Stream field names.
const (
	fieldMeta   = "meta"
	fieldObject = "object"
	fieldEvent  = "event"
)

// meta is the "meta" field's JSON: the writer appends it by hand (render.go)
// with these names.
type meta struct {
	Time          time.Time `json:"time"`
	Kind          Kind      `json:"kind"`
	HookType      string    `json:"hook_type"`
	HookName      string    `json:"hook_name"`
	APIID         string    `json:"api_id"`
	OrgID         string    `json:"org_id"`
	Method        string    `json:"method"`
	Path          string    `json:"path"`
	Status        int       `json:"status"`
	Session       string    `json:"session"`
	Key           string    `json:"key"`
	CorrelationID string    `json:"correlation_id"`
	DurationUS    int64     `json:"duration_us"`
	EventType     string    `json:"event_type"`
}

// Record is one journal entry as read back from the stream.
type Record struct {
	ID            string          `json:"id"`
	Time          time.Time       `json:"time"`
	Kind          Kind            `json:"kind"`
	HookType      string          `json:"hook_type,omitempty"`
	HookName      string          `json:"hook_name,omitempty"`
	APIID         string          `json:"api_id,omitempty"`
	OrgID         string          `json:"org_id,omitempty"`
	Method        string          `json:"method,omitempty"`
	Path          string          `json:"path,omitempty"`
	Status        int             `json:"status,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Session       string          `json:"session,omitempty"`
	Key           string          `json:"key,omitempty"`
	Duration      time.Duration   `json:"duration_ns,omitempty"`
	EventType     string          `json:"event_type,omitempty"`
	Event         json.RawMessage `json:"event,omitempty"`
	// Object is the redacted Object (bodies cut to the configured size).
	Object *coprocess.Object `json:"-"`
}

// Decode turns a stream entry into a Record.
func Decode(m redis.XMessage) (Record, error) {
	r := Record{ID: m.ID}
	raw, _ := m.Values[fieldMeta].(string)
	if raw == "" {
		return r, fmt.Errorf("journal entry %s: no %s field: not written by this journal", m.ID, fieldMeta)
	}
	var md meta
	if err := json.Unmarshal([]byte(raw), &md); err != nil {
		return r, fmt.Errorf("journal entry %s: %s: %w", m.ID, fieldMeta, err)
	}
	r.Time, r.Kind, r.HookType, r.HookName = md.Time, md.Kind, md.HookType, md.HookName
	r.APIID, r.OrgID, r.Method, r.Path, r.Status = md.APIID, md.OrgID, md.Method, md.Path, md.Status
	r.Session, r.Key, r.CorrelationID, r.EventType = md.Session, md.Key, md.CorrelationID, md.EventType
	r.Duration = time.Duration(md.DurationUS) * time.Microsecond
	if s, _ := m.Values[fieldEvent].(string); s != "" {
		r.Event = json.RawMessage(s)
	}
	if s, ok := m.Values[fieldObject].(string); ok {
		r.Object = &coprocess.Object{}
		if err := proto.Unmarshal([]byte(s), r.Object); err != nil {
			return r, fmt.Errorf("journal entry %s: object: %w", m.ID, err)
		}
	}
	return r, nil
}
