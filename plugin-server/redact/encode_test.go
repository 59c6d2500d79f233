// Tests the hand-written encoder (encode.go) against proto and against
// Object and Truncate: every field of every message, set to a value that is
// not the zero value, and every captured gateway Object must decode through
// proto.Unmarshal to exactly the copy Object (or Truncate) makes.
package redact

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/protofill"
)

// decoded is what proto.Unmarshal makes of b.
func decoded(t *testing.T, name string, b []byte) *coprocess.Object {
	t.Helper()
	got := &coprocess.Object{}
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatalf("%s: decoding: %v", name, err)
	}
	return got
}

// checkEncoding: with bodies whole and nothing redacted, the encoding is
// the Object's own.
func checkEncoding(t *testing.T, name string, o *coprocess.Object) {
	t.Helper()
	if got := decoded(t, name, AppendTruncated(nil, o, Options{MaxBody: -1})); !proto.Equal(got, o) {
		t.Errorf("%s: decoded object differs\n got: %v\nwant: %v", name, got, o)
	}
	// The encoder appends: what was in the buffer stays.
	prefix := []byte("prefix")
	if b := AppendObject(prefix, o, Options{}); string(b[:len(prefix)]) != "prefix" {
		t.Errorf("%s: the buffer's content was overwritten", name)
	}
}

// checkCopies: AppendObject writes Object's copy and AppendTruncated
// Truncate's, for each body size.
func checkCopies(t *testing.T, name string, o *coprocess.Object) {
	t.Helper()
	before := proto.Clone(o)
	for _, maxBody := range []int{-1, 0, 5, 16, 1024} {
		opts := Options{MaxBody: maxBody}
		if got, want := decoded(t, name, AppendObject(nil, o, opts)), Object(o, opts); !proto.Equal(got, want) {
			t.Errorf("%s, MaxBody %d: AppendObject differs from Object\n got: %v\nwant: %v", name, maxBody, got, want)
		}
		if got, want := decoded(t, name, AppendTruncated(nil, o, opts)), Truncate(o, opts); !proto.Equal(got, want) {
			t.Errorf("%s, MaxBody %d: AppendTruncated differs from Truncate\n got: %v\nwant: %v", name, maxBody, got, want)
		}
	}
	r := For(o, Options{})
	if got, want := r.RequestURI(), RequestURI(o); got != want {
		t.Errorf("%s: Redactor.RequestURI = %q, want %q", name, got, want)
	}
	if key := o.GetSession().GetKeyId(); r.Fingerprint(key) != Fingerprint(key) {
		t.Errorf("%s: Redactor.Fingerprint(%q) = %q, want %q", name, key, r.Fingerprint(key), Fingerprint(key))
	}
	if !proto.Equal(o, before) {
		t.Fatalf("%s: the encoder changed its input", name)
	}
}

func TestEncodeCapturedObjects(t *testing.T) {
	for i, o := range captures.MustDispatches(t) {
		checkEncoding(t, fmt.Sprint("capture ", i), o)
		checkCopies(t, fmt.Sprint("capture ", i), o)
	}
	checkEncoding(t, "empty", &coprocess.Object{})
	checkCopies(t, "empty", &coprocess.Object{})
	if b := AppendObject([]byte("x"), nil, Options{}); string(b) != "x" {
		t.Errorf("AppendObject(nil object) = %q", b)
	}
	// Nested messages whose length takes 1, 2, 3 and 4 bytes.
	for _, n := range []int{10, 1000, 20000, 3 << 20} {
		o := proto.Clone(captures.MustFind(t, captures.Hook(coprocess.HookType_Response, true))).(*coprocess.Object)
		o.Response.RawBody = []byte(strings.Repeat("b", n))
		o.Response.Body = strings.Repeat("é", n/2)
		checkEncoding(t, fmt.Sprint("body of ", n, " bytes"), o)
	}
}

// TestEncodeEveryField sets every field of every message reachable from
// Object, so that a field added to the protos and not to the encoder fails
// here. Each run uses other values (seeds 1 to 3), negative numbers
// included; the key is also sent in headers, metadata and bodies, so that
// every kind of replacement happens.
func TestEncodeEveryField(t *testing.T) {
	for seed := 1; seed <= 3; seed++ {
		o := &coprocess.Object{}
		protofill.Fill(o.ProtoReflect(), seed)
		name := fmt.Sprint("every field, seed ", seed)
		checkEncoding(t, name, o)
		checkCopies(t, name, o)

		key := o.GetSession().GetKeyId()
		o.Request.Headers["Authorization"] = key
		o.Request.Headers["X-Echo"] = "sent " + key
		o.Request.Params["api_key"] = "param-secret"
		o.Request.RequestUri = "/p?api_key=param-secret&x=1"
		o.Metadata["token"] = "meta-secret-" + key
		o.Session.Metadata["password"] = "p"
		o.Session.Alias = key + "-alias"
		o.Request.Body = "body " + key + strings.Repeat("é", 10)
		o.Request.RawBody = []byte(o.Request.Body)
		o.Response.Body = strings.Repeat("x", 3) + key
		o.Response.RawBody = []byte(o.Response.Body)
		o.Response.MultivalueHeaders[0].Key = "Set-Cookie"
		checkCopies(t, name+", with the key repeated", o)
	}
}

// TestEncodeAllocations: the point of the encoder. Without redaction it
// allocates nothing; with it, only for the values it replaces (here the
// key's fingerprint and the list of the object's secrets).
func TestEncodeAllocations(t *testing.T) {
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_Response, true))
	buf := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(100, func() { AppendTruncated(buf[:0], o, Options{MaxBody: 1024}) }); n > 0 {
		t.Errorf("AppendTruncated allocates %v times per object", n)
	}
	if n := testing.AllocsPerRun(100, func() { AppendObject(buf[:0], o, Options{MaxBody: 1024}) }); n > 4 {
		t.Errorf("AppendObject allocates %v times per object, want at most 4", n)
	}
}

func BenchmarkAppendObject(b *testing.B) {
	o := captures.MustFind(b, captures.Hook(coprocess.HookType_Response, true))
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendObject(buf[:0], o, Options{MaxBody: 1024})
	}
}
