package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// eventSecretFields are JSON object keys (lower case) inside gateway event
// payloads that hold a secret: the raw API key, and the client's original
// HTTP request (base64, with its credentials).
var eventSecretFields = map[string]bool{
	"key":                true,
	"originatingrequest": true,
}

// ParseEvent decodes a gateway event payload. It fails with a clear message
// on anything that is not a single JSON value.
func ParseEvent(payload []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("event payload is not valid JSON: %w", err)
	}
	// More misses a stray ']' or '}' and a second number; Token does not.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("event payload is not valid JSON: data after the first value")
	}
	return v, nil
}

// Event returns a redacted copy of a decoded event payload: the API key is
// fingerprinted, the original request and credential-like fields replaced.
func Event(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = eventField(k, val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = Event(val)
		}
		return out
	default:
		return v
	}
}

func eventField(name string, v any) any {
	s, isString := v.(string)
	lower := strings.ToLower(name)
	switch {
	case !isString && eventSecretFields[lower] && !isEmpty(v):
		// The gateway sends strings here; anything else is replaced
		// whole rather than walked into, or its contents would survive.
		return Placeholder
	case !isString:
		return Event(v)
	case lower == "originatingrequest":
		return placeholder(s)
	case eventSecretFields[lower] || IsSensitiveName(name):
		return Fingerprint(s)
	default:
		return s
	}
}

// isEmpty reports whether a decoded JSON value holds nothing: null, {} or [].
func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}
