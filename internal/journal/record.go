// Package journal appends every dispatch and event the plugin server handles
// to a Redis Stream, so that tests and people can see what the gateway sent.
//
// Each stream entry is a flat record: summary fields as plain strings (easy
// to read with redis-cli), plus the redacted Object as protobuf binary, which
// is far cheaper to produce than JSON (see BENCHMARKS.md). Read records back
// with Decode, or with `plugin-server journal`.
package journal

import (
	"encoding/json"
	"fmt"
	"strconv"
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
	fieldTime          = "time"
	fieldKind          = "kind"
	fieldHookType      = "hook_type"
	fieldHookName      = "hook_name"
	fieldAPIID         = "api_id"
	fieldOrgID         = "org_id"
	fieldMethod        = "method"
	fieldPath          = "path"
	fieldStatus        = "status"
	fieldCorrelationID = "correlation_id"
	fieldSession       = "session"
	fieldKey           = "key"
	fieldDurationUS    = "duration_us"
	fieldObject        = "object"
	fieldEventType     = "event_type"
	fieldEvent         = "event"
)

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
	str := func(k string) string {
		s, _ := m.Values[k].(string)
		return s
	}
	r := Record{
		ID:            m.ID,
		Kind:          Kind(str(fieldKind)),
		HookType:      str(fieldHookType),
		HookName:      str(fieldHookName),
		APIID:         str(fieldAPIID),
		OrgID:         str(fieldOrgID),
		Method:        str(fieldMethod),
		Path:          str(fieldPath),
		CorrelationID: str(fieldCorrelationID),
		Session:       str(fieldSession),
		Key:           str(fieldKey),
		EventType:     str(fieldEventType),
	}
	var err error
	if r.Time, err = time.Parse(time.RFC3339Nano, str(fieldTime)); err != nil {
		return r, fmt.Errorf("journal entry %s: time: %w", m.ID, err)
	}
	if s := str(fieldStatus); s != "" {
		if r.Status, err = strconv.Atoi(s); err != nil {
			return r, fmt.Errorf("journal entry %s: status: %w", m.ID, err)
		}
	}
	if s := str(fieldDurationUS); s != "" {
		us, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return r, fmt.Errorf("journal entry %s: duration: %w", m.ID, err)
		}
		r.Duration = time.Duration(us) * time.Microsecond
	}
	if s := str(fieldEvent); s != "" {
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
