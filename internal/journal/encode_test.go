// Tests the journal's hand-written Object encoder (encode.go) against
// proto: every field of every message it covers, set to a value that is
// not the zero value, must come back equal through proto.Unmarshal; and so
// must every captured gateway Object, as it is and redacted.
package journal

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/internal/captures"
	"github.com/tyk-lab/grpc-plugin-lab/internal/protofill"
	"github.com/tyk-lab/grpc-plugin-lab/internal/redact"
)

func checkEncoding(t *testing.T, name string, o *coprocess.Object) {
	t.Helper()
	got := &coprocess.Object{}
	if err := proto.Unmarshal(appendObject(nil, o), got); err != nil {
		t.Fatalf("%s: decoding: %v", name, err)
	}
	if !proto.Equal(got, o) {
		t.Errorf("%s: decoded object differs\n got: %v\nwant: %v", name, got, o)
	}
	// The encoder appends: what was in the buffer stays.
	prefix := []byte("prefix")
	if b := appendObject(prefix, o); string(b[:len(prefix)]) != "prefix" {
		t.Errorf("%s: the buffer's content was overwritten", name)
	}
}

func TestEncodeCapturedObjects(t *testing.T) {
	for i, o := range captures.MustDispatches(t) {
		checkEncoding(t, fmt.Sprint("capture ", i), o)
		checkEncoding(t, fmt.Sprint("redacted capture ", i), redact.Object(o, redact.Options{MaxBody: 16}))
	}
	checkEncoding(t, "empty", &coprocess.Object{})
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
// included.
func TestEncodeEveryField(t *testing.T) {
	for seed := 1; seed <= 3; seed++ {
		o := &coprocess.Object{}
		protofill.Fill(o.ProtoReflect(), seed)
		checkEncoding(t, fmt.Sprint("every field, seed ", seed), o)
	}
}

// TestEncodeAllocatesNothing: the point of the encoder.
func TestEncodeAllocatesNothing(t *testing.T) {
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_Response, true))
	buf := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(100, func() { appendObject(buf[:0], o) }); n > 0 {
		t.Errorf("appendObject allocates %v times per object", n)
	}
}
