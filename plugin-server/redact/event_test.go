// Tests event payload parsing (clear errors on non-JSON) and redaction
// (the raw key and the original request never survive, the rest is kept,
// the input is not changed).
package redact

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		payload string
		wantErr string
	}{
		{`{"event": "test"}`, ""},
		{`[1, "a", null]`, ""},
		{`"just a string"`, ""},
		{` {"a": 1} `, ""},
		{``, "event payload is not valid JSON: EOF"},
		{`not json`, "event payload is not valid JSON: invalid character"},
		{`{"a": 1`, "event payload is not valid JSON: unexpected EOF"},
		{`{"a": 1} {"b": 2}`, "event payload is not valid JSON: data after the first value"},
		{`{"a": 1}]`, "event payload is not valid JSON: data after the first value"},
		{`{"a": 1}}`, "event payload is not valid JSON: data after the first value"},
		{`1 2`, "event payload is not valid JSON: data after the first value"},
	}
	for _, tt := range tests {
		_, err := ParseEvent([]byte(tt.payload))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseEvent(%q): %v", tt.payload, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("ParseEvent(%q) error = %v, want %q", tt.payload, err, tt.wantErr)
		}
	}
}

func TestParseEventKeepsNumbersExact(t *testing.T) {
	v, err := ParseEvent([]byte(`{"big": 12345678901234567890, "f": 1.50}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Event(v))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"big":12345678901234567890,"f":1.50}` {
		t.Errorf("re-encoded as %s", b)
	}
}

func TestEventRedactsCaptures(t *testing.T) {
	for i, p := range captures.MustEvents(t) {
		v, err := ParseEvent(p)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		before, _ := json.Marshal(v)
		r := Event(v)
		after, _ := json.Marshal(v)
		if string(before) != string(after) {
			t.Fatalf("event %d: Event changed its input", i)
		}

		var in, out struct {
			HandlerName string `json:"handler_name"`
			Message     struct {
				Type, TimeStamp string
				Meta            map[string]string
			} `json:"message"`
			Spec map[string]string `json:"spec"`
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		mustUnmarshal(t, p, &in)
		mustUnmarshal(t, b, &out)
		if got, want := out.Message.Meta["Key"], Fingerprint(in.Message.Meta["Key"]); got != want {
			t.Errorf("event %d: Meta.Key = %q, want %q", i, got, want)
		}
		if got := out.Message.Meta["OriginatingRequest"]; got != Placeholder {
			t.Errorf("event %d: Meta.OriginatingRequest = %q", i, got)
		}
		for _, k := range []string{"Message", "Origin", "Path"} {
			if out.Message.Meta[k] != in.Message.Meta[k] {
				t.Errorf("event %d: Meta.%s = %q, want %q", i, k, out.Message.Meta[k], in.Message.Meta[k])
			}
		}
		if out.HandlerName != in.HandlerName || out.Message.Type != in.Message.Type ||
			out.Message.TimeStamp != in.Message.TimeStamp || !reflect.DeepEqual(out.Spec, in.Spec) {
			t.Errorf("event %d: non-secret fields changed:\nin  %s\nout %s", i, p, b)
		}
		for _, secret := range []string{in.Message.Meta["Key"], in.Message.Meta["OriginatingRequest"]} {
			if strings.Contains(string(b), secret) {
				t.Errorf("event %d: %q survived: %s", i, secret, b)
			}
		}
	}
}

func TestEvent(t *testing.T) {
	fpKey := Fingerprint("rawkey-123")
	tests := []struct {
		name, in, want string
	}{
		{"key any case", `{"key":"rawkey-123","KEY":"rawkey-123","Key":""}`,
			`{"KEY":"` + fpKey + `","Key":"","key":"` + fpKey + `"}`},
		{"originating request", `{"originatingrequest":"R0VUIC8=","OriginatingRequest":""}`,
			`{"OriginatingRequest":"","originatingrequest":"[REDACTED]"}`},
		{"sensitive names", `{"token":"rawkey-123","Authorization":"rawkey-123","user":"alice"}`,
			`{"Authorization":"` + fpKey + `","token":"` + fpKey + `","user":"alice"}`},
		{"nested in arrays", `[{"Meta":{"Key":"rawkey-123"}},["Key"],"Key"]`,
			`[{"Meta":{"Key":"` + fpKey + `"}},["Key"],"Key"]`},
		{"null and empty stay", `{"Key":null,"OriginatingRequest":null,"k":{}}`,
			`{"Key":null,"OriginatingRequest":null,"k":{}}`},
		{"scalars", `{"n":1,"b":true,"s":"x"}`, `{"b":true,"n":1,"s":"x"}`},
		// The gateway sends strings, but a Key of any other type is a
		// secret too: it is replaced whole, not walked into.
		{"key as a number", `{"Key":12345678}`, `{"Key":"[REDACTED]"}`},
		{"key as an object", `{"Key":{"id":"rawkey-123"}}`, `{"Key":"[REDACTED]"}`},
		{"key as an array", `{"Key":["rawkey-123"]}`, `{"Key":"[REDACTED]"}`},
		{"originating request as an object", `{"OriginatingRequest":{"Header":{"Authorization":["x"]},"Body":"b"}}`,
			`{"OriginatingRequest":"[REDACTED]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseEvent([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(Event(v))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("Event(%s)\n = %s\nwant %s", tt.in, b, tt.want)
			}
			if again, _ := json.Marshal(v); string(again) != compact(t, tt.in) {
				t.Errorf("input changed: %s", again)
			}
		})
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var v any
	mustUnmarshal(t, []byte(s), &v)
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
