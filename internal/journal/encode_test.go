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
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/internal/captures"
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
		fill(o.ProtoReflect(), seed, 0)
		checkEncoding(t, fmt.Sprint("every field, seed ", seed), o)
	}
}

// fill sets every field of m to a non-zero value derived from seed.
func fill(m protoreflect.Message, seed, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := 0; j < 2; j++ {
				k := protoreflect.ValueOfString(fmt.Sprintf("k%d-%d", seed, j)).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					fill(v.Message(), seed+j, depth+1)
					mp.Set(k, v)
				} else {
					mp.Set(k, scalar(fd.MapValue(), seed+j))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := 0; j < 2; j++ {
				if fd.Message() != nil {
					v := l.NewElement()
					fill(v.Message(), seed+j, depth+1)
					l.Append(v)
				} else {
					l.Append(scalar(fd, seed+j))
				}
			}
		case fd.Message() != nil:
			if depth < 4 {
				fill(m.Mutable(fd).Message(), seed, depth+1)
			}
		default:
			m.Set(fd, scalar(fd, seed))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, seed int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-é", fd.Name(), seed))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0, 0xff, byte(seed)})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(-seed * int(fd.Number())))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(seed) * int64(fd.Number()) * 1e12)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(seed) * -0.5 * float64(fd.Number()))
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(seed%vals.Len()).Number() + 0)
	}
	panic(fmt.Sprintf("field %s: kind %s not covered by the test", fd.FullName(), fd.Kind()))
}

// TestEncodeAllocatesNothing: the point of the encoder.
func TestEncodeAllocatesNothing(t *testing.T) {
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_Response, true))
	buf := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(100, func() { appendObject(buf[:0], o) }); n > 0 {
		t.Errorf("appendObject allocates %v times per object", n)
	}
}
