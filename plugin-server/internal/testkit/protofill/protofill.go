// Package protofill sets every field of a protobuf message, for tests that
// must fail when a field is added to the protos but forgotten by code that
// copies or encodes messages field by field.
package protofill

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxDepth bounds recursion through singular message fields.
const maxDepth = 4

// Fill sets every field of m, recursively, to non-zero values derived from
// the field's name and seed (seed > 0: a zero seed would leave numbers at
// zero): strings and bytes are long enough to count as secrets and hold a
// non-ASCII character, maps and lists get two entries, numbers include
// negatives. Different seeds give different values.
func Fill(m protoreflect.Message, seed int) {
	fill(m, seed, 0)
}

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
			if depth < maxDepth {
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
		return protoreflect.ValueOfBytes([]byte(fmt.Sprintf("bytes-of-%s-%d\x00\xff", fd.Name(), seed)))
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
		return protoreflect.ValueOfEnum(vals.Get(seed % vals.Len()).Number())
	}
	panic(fmt.Sprintf("protofill: field %s: kind %s not covered", fd.FullName(), fd.Kind()))
}
