// Fuzz targets for redaction, seeded from the gateway captures:
// FuzzParseEvent (event payloads), FuzzRedactObject (Objects built from
// fuzzed header, key and body) and FuzzRedactSpec (spec.config_data). Run
// e.g.
//
//	go test -run='^$' -fuzz=FuzzParseEvent -fuzztime=20s ./internal/redact
package redact

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// FuzzParseEvent: ParseEvent and Event never panic; a payload that parses
// redacts to something that marshals, and every non-empty value found under
// a "Key" or "OriginatingRequest" field (any case, any depth) is replaced by
// a fingerprint or placeholder, while everything else is kept.
func FuzzParseEvent(f *testing.F) {
	for _, p := range captures.MustEvents(f) {
		f.Add(p)
	}
	for _, s := range []string{
		`{"event": "test"}`, `{"Key":["raw"],"originatingrequest":{"h":"x"}}`, `{"KEY":1}`,
		`[{"Meta":{"Key":""}}]`, `"x"`, `null`, ``, `not json`, `{"a":1}]`, `1 2`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		v, err := ParseEvent(payload)
		if err != nil {
			if v != nil || !strings.HasPrefix(err.Error(), "event payload is not valid JSON") {
				t.Fatalf("ParseEvent error %v with value %v", err, v)
			}
			return
		}
		before, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("parsed value does not marshal: %v", err)
		}
		r := Event(v)
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("redacted event does not marshal: %v", err)
		}
		if after, _ := json.Marshal(v); string(after) != string(before) {
			t.Fatalf("Event changed its input:\nbefore %s\nafter  %s", before, after)
		}
		checkEvent(t, "$", v, r)
	})
}

// checkEvent walks a decoded payload and its redacted copy side by side.
func checkEvent(t *testing.T, path string, in, out any) {
	t.Helper()
	switch iv := in.(type) {
	case map[string]any:
		ov, ok := out.(map[string]any)
		if !ok || len(ov) != len(iv) {
			t.Fatalf("%s: object became %#v", path, out)
		}
		for k, x := range iv {
			y, ok := ov[k]
			p := path + "." + k
			switch {
			case !ok:
				t.Fatalf("%s: field lost", p)
			case eventSecretFields[strings.ToLower(k)]:
				if isEmpty(x) || x == "" {
					if !reflect.DeepEqual(x, y) {
						t.Fatalf("%s: empty secret %#v became %#v", p, x, y)
					}
					continue
				}
				ys, isString := y.(string)
				if !isString || !(ys == Placeholder || strings.HasPrefix(ys, fingerprintPrefix)) {
					t.Fatalf("%s: secret %#v became %#v, not a fingerprint or placeholder", p, x, y)
				}
				if xs, ok := x.(string); ok && xs == ys && ys != Placeholder {
					t.Fatalf("%s: secret %q kept", p, xs)
				}
			case IsSensitiveName(k):
				if xs, ok := x.(string); ok {
					if y != Fingerprint(xs) {
						t.Fatalf("%s: sensitive %q became %#v", p, xs, y)
					}
					continue
				}
				checkEvent(t, p, x, y)
			default:
				checkEvent(t, p, x, y)
			}
		}
	case []any:
		ov, ok := out.([]any)
		if !ok || len(ov) != len(iv) {
			t.Fatalf("%s: array became %#v", path, out)
		}
		for i := range iv {
			checkEvent(t, path+"[]", iv[i], ov[i])
		}
	default:
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: %#v became %#v", path, in, out)
		}
	}
}

// markers are what redaction itself writes. A key that happens to end with
// the start of a marker can appear to straddle one ("…xyz" + "redacted:…"),
// so leaks are looked for between markers, not across them.
var markers = regexp.MustCompile(regexp.QuoteMeta(fingerprintPrefix) + `[0-9a-f]{12}|` +
	regexp.QuoteMeta(Placeholder) + `|` + regexp.QuoteMeta(TruncatedMark))

// FuzzRedactObject: Object never panics, never changes its input, keeps
// valid UTF-8 valid (the copy marshals), and the copy holds the session's
// key nowhere once it is 8 bytes or more (shorter values are not scrubbed
// from bodies, by design).
func FuzzRedactObject(f *testing.F) {
	for _, o := range captures.MustDispatches(f) {
		key := o.GetSession().GetKeyId()
		auth := o.GetRequest().GetHeaders()["Authorization"]
		if key == "" && auth == "" {
			continue
		}
		f.Add("Authorization", auth, key, o.GetResponse().GetBody(), 1024)
		f.Add("X-Custom-Key", auth, key, o.GetRequest().GetBody(), 40)
	}
	f.Add("Set-Cookie", "sid=1", "aaaaaaar", "aaaaaaaaaaaaaar", -1)
	f.Add("Accept", "é", "keykeykey", "aééééé"+"keykeykey", 4)
	f.Add("", "", "", "", 0)
	f.Fuzz(func(t *testing.T, name, value, key, body string, maxBody int) {
		if maxBody < -1 {
			maxBody = -1
		}
		maxBody %= 2048
		in := &coprocess.Object{
			HookType: coprocess.HookType_Response,
			Request: &coprocess.MiniRequestObject{
				Headers:    map[string]string{name: value, "X-Echo": body},
				SetHeaders: map[string]string{name: value},
				Body:       body,
				RawBody:    []byte(body),
			},
			Session:  &coprocess.SessionState{KeyId: key},
			Metadata: map[string]string{name: value},
			Response: &coprocess.ResponseObject{
				Body:              body,
				RawBody:           []byte(body),
				Headers:           map[string]string{name: value},
				MultivalueHeaders: []*coprocess.Header{{Key: name, Values: []string{value, body}}},
			},
		}
		before := proto.Clone(in)
		out := Object(in, Options{MaxBody: maxBody})
		if !proto.Equal(in, before) {
			t.Fatalf("Object changed its input:\nbefore %v\nafter  %v", before, in)
		}
		if utf8.ValidString(name) && utf8.ValidString(value) && utf8.ValidString(key) && utf8.ValidString(body) {
			if _, err := proto.Marshal(out); err != nil {
				t.Fatalf("redacted copy of a valid Object does not marshal: %v", err)
			}
		}
		if len(key) < minScrubLen || strings.Contains(name, key) {
			return // too short to scrub; or a name, which is not a value
		}
		walkStrings(out.ProtoReflect(), func(field, s string) {
			for _, piece := range markers.Split(s, -1) {
				if strings.Contains(piece, key) {
					t.Fatalf("%s still holds the key %q: %q", field, key, s)
				}
			}
		})
	})
}

// walkStrings calls fn with every string and bytes value in m (map values
// and list elements included; map keys are names, not values).
func walkStrings(m protoreflect.Message, fn func(field, s string)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.FullName())
		visit := func(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
			switch fd.Kind() {
			case protoreflect.StringKind:
				fn(name, v.String())
			case protoreflect.BytesKind:
				fn(name, string(v.Bytes()))
			case protoreflect.MessageKind:
				walkStrings(v.Message(), fn)
			}
		}
		switch {
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				visit(fd.MapValue(), mv)
				return true
			})
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				visit(fd, v.List().Get(i))
			}
		default:
			visit(fd, v)
		}
		return true
	})
}

// FuzzRedactSpec: redacting an Object whose spec.config_data is fuzzed
// never panics nor changes its input; a configuration that is not JSON is
// fingerprinted whole; one that is stays JSON with the same keys, every
// string or number under a sensitive key (any depth) replaced by its
// fingerprint and every other value kept (when the client's key is too
// short to be scrubbed); and the client's key, once it can be scrubbed, is
// nowhere in spec.
func FuzzRedactSpec(f *testing.F) {
	for _, o := range captures.MustDispatches(f) {
		if c, ok := o.GetSpec()[tykplugin.SpecConfigData]; ok {
			f.Add(c, o.GetRequest().GetHeaders()["Authorization"])
		}
	}
	for _, c := range []string{
		`{"upstream_api_key":"s3cr3t","service":"x"}`, `{"a":{"token":[1,{"b":"c"},true,null,""]}}`,
		`{"api\u005fkey":"\ud83d\ude00\ud800x\"\\"}`, `[{"password":-1.5e+3}]`, ` "s" `, `{"a":1} 2`, `{`, ``,
		`{"k":"the-client-key-1"}`, `{"the-client-key-1":0}`,
	} {
		f.Add(c, "the-client-key-1")
		f.Add(c, "")
	}
	f.Fuzz(func(t *testing.T, config, key string) {
		if !utf8.ValidString(config) || !utf8.ValidString(key) {
			return // proto3 strings are valid UTF-8
		}
		in := &coprocess.Object{
			Request: &coprocess.MiniRequestObject{Headers: map[string]string{"Authorization": key}},
			Spec:    map[string]string{"APIID": "a", tykplugin.SpecConfigData: config},
		}
		before := proto.Clone(in)
		out := Object(in, Options{MaxBody: -1})
		if !proto.Equal(in, before) {
			t.Fatalf("Object changed its input")
		}
		if _, err := proto.Marshal(out); err != nil {
			t.Fatalf("redacted copy does not marshal: %v", err)
		}
		got := out.GetSpec()[tykplugin.SpecConfigData]
		if out.GetSpec()["APIID"] != "a" {
			t.Fatalf("APIID became %q", out.GetSpec()["APIID"])
		}
		if len(key) >= minScrubLen {
			for _, piece := range markers.Split(got, -1) {
				if strings.Contains(piece, key) {
					t.Fatalf("config_data still holds the key %q: %q", key, got)
				}
			}
		}
		switch {
		case config == "":
			if got != "" {
				t.Fatalf("empty config_data became %q", got)
			}
		case !json.Valid([]byte(config)):
			if got != Fingerprint(config) {
				t.Fatalf("config_data that is not JSON became %q", got)
			}
		case len(key) < minScrubLen:
			checkConfig(t, "$", false, decodeJSON(t, config), decodeJSON(t, got))
		}
	})
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %q", err, s)
	}
	return v
}

// checkConfig walks a decoded configuration and its redacted copy side by
// side; sensitive says a key above is.
func checkConfig(t *testing.T, path string, sensitive bool, in, out any) {
	t.Helper()
	switch iv := in.(type) {
	case map[string]any:
		ov, ok := out.(map[string]any)
		if !ok || len(ov) != len(iv) {
			t.Fatalf("%s: object became %#v", path, out)
		}
		for k, x := range iv {
			y, ok := ov[k]
			if !ok {
				t.Fatalf("%s.%s: field lost", path, k)
			}
			checkConfig(t, path+"."+k, sensitive || IsSensitiveName(k), x, y)
		}
	case []any:
		ov, ok := out.([]any)
		if !ok || len(ov) != len(iv) {
			t.Fatalf("%s: array became %#v", path, out)
		}
		for i := range iv {
			checkConfig(t, path+"[]", sensitive, iv[i], ov[i])
		}
	case string:
		if sensitive && iv != "" {
			if out != Fingerprint(iv) {
				t.Fatalf("%s: sensitive %q became %#v", path, iv, out)
			}
		} else if out != iv {
			t.Fatalf("%s: %q became %#v", path, iv, out)
		}
	case json.Number:
		if sensitive {
			if out != Fingerprint(iv.String()) {
				t.Fatalf("%s: sensitive %s became %#v", path, iv, out)
			}
		} else if out != iv {
			t.Fatalf("%s: %s became %#v", path, iv, out)
		}
	default:
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: %#v became %#v", path, in, out)
		}
	}
}
