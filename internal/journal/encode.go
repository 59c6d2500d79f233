// A protobuf encoder for the journal's copy of coprocess.Object, written by
// hand because proto.Marshal walks map fields through reflection, with
// several allocations per entry, and an Object is mostly maps (headers,
// parameters, spec, metadata, session). It produces the protobuf wire format
// (proto.Unmarshal reads it back into an equal message; the field order may
// differ from proto.Marshal's, which protobuf allows) without allocating.
// encode_test.go checks it against every field of every message it covers.

package journal

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// appendObject appends the encoding of o to b.
func appendObject(b []byte, o *coprocess.Object) []byte {
	b = appendVarintField(b, 1, uint64(o.GetHookType()))
	b = appendStringField(b, 2, o.GetHookName())
	if r := o.GetRequest(); r != nil {
		b = appendMessageField(b, 3, func(b []byte) []byte { return appendRequest(b, r) })
	}
	if s := o.GetSession(); s != nil {
		b = appendMessageField(b, 4, func(b []byte) []byte { return appendSession(b, s) })
	}
	b = appendStringMap(b, 5, o.GetMetadata())
	b = appendStringMap(b, 6, o.GetSpec())
	if r := o.GetResponse(); r != nil {
		b = appendMessageField(b, 7, func(b []byte) []byte { return appendResponse(b, r) })
	}
	return b
}

func appendRequest(b []byte, r *coprocess.MiniRequestObject) []byte {
	b = appendStringMap(b, 1, r.GetHeaders())
	b = appendStringMap(b, 2, r.GetSetHeaders())
	b = appendStrings(b, 3, r.GetDeleteHeaders())
	b = appendStringField(b, 4, r.GetBody())
	b = appendStringField(b, 5, r.GetUrl())
	b = appendStringMap(b, 6, r.GetParams())
	b = appendStringMap(b, 7, r.GetAddParams())
	b = appendStringMap(b, 8, r.GetExtendedParams())
	b = appendStrings(b, 9, r.GetDeleteParams())
	if ro := r.GetReturnOverrides(); ro != nil {
		b = appendMessageField(b, 10, func(b []byte) []byte {
			b = appendVarintField(b, 1, uint64(int64(ro.GetResponseCode())))
			b = appendStringField(b, 2, ro.GetResponseError())
			b = appendStringMap(b, 3, ro.GetHeaders())
			b = appendBoolField(b, 4, ro.GetOverrideError())
			return appendStringField(b, 5, ro.GetResponseBody())
		})
	}
	b = appendStringField(b, 11, r.GetMethod())
	b = appendStringField(b, 12, r.GetRequestUri())
	b = appendStringField(b, 13, r.GetScheme())
	return appendBytesField(b, 14, r.GetRawBody())
}

func appendResponse(b []byte, r *coprocess.ResponseObject) []byte {
	b = appendVarintField(b, 1, uint64(int64(r.GetStatusCode())))
	b = appendBytesField(b, 2, r.GetRawBody())
	b = appendStringField(b, 3, r.GetBody())
	b = appendStringMap(b, 4, r.GetHeaders())
	for _, h := range r.GetMultivalueHeaders() {
		b = appendMessageField(b, 5, func(b []byte) []byte {
			b = appendStringField(b, 1, h.GetKey())
			return appendStrings(b, 2, h.GetValues())
		})
	}
	return b
}

func appendSession(b []byte, s *coprocess.SessionState) []byte {
	b = appendVarintField(b, 1, uint64(s.GetLastCheck()))
	b = appendDoubleField(b, 2, s.GetAllowance())
	b = appendDoubleField(b, 3, s.GetRate())
	b = appendDoubleField(b, 4, s.GetPer())
	b = appendVarintField(b, 5, uint64(s.GetExpires()))
	b = appendVarintField(b, 6, uint64(s.GetQuotaMax()))
	b = appendVarintField(b, 7, uint64(s.GetQuotaRenews()))
	b = appendVarintField(b, 8, uint64(s.GetQuotaRemaining()))
	b = appendVarintField(b, 9, uint64(s.GetQuotaRenewalRate()))
	for k, v := range s.GetAccessRights() {
		b = appendMessageField(b, 10, func(b []byte) []byte {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, k)
			// Map-free messages: proto.Marshal is fast on those.
			return appendMessageField(b, 2, func(b []byte) []byte { return marshalAppend(b, v) })
		})
	}
	b = appendStringField(b, 11, s.GetOrgId())
	b = appendStringField(b, 12, s.GetOauthClientId())
	b = appendStringMap(b, 13, s.GetOauthKeys())
	if m := s.GetBasicAuthData(); m != nil {
		b = appendMessageField(b, 14, func(b []byte) []byte { return marshalAppend(b, m) })
	}
	if m := s.GetJwtData(); m != nil {
		b = appendMessageField(b, 15, func(b []byte) []byte { return marshalAppend(b, m) })
	}
	b = appendBoolField(b, 16, s.GetHmacEnabled())
	b = appendStringField(b, 17, s.GetHmacSecret())
	b = appendBoolField(b, 18, s.GetIsInactive())
	b = appendStringField(b, 19, s.GetApplyPolicyId())
	b = appendVarintField(b, 20, uint64(s.GetDataExpires()))
	if m := s.GetMonitor(); m != nil {
		b = appendMessageField(b, 21, func(b []byte) []byte { return marshalAppend(b, m) })
	}
	b = appendBoolField(b, 22, s.GetEnableDetailedRecording())
	b = appendStringMap(b, 23, s.GetMetadata())
	b = appendStrings(b, 24, s.GetTags())
	b = appendStringField(b, 25, s.GetAlias())
	b = appendStringField(b, 26, s.GetLastUpdated())
	b = appendVarintField(b, 27, uint64(s.GetIdExtractorDeadline()))
	b = appendVarintField(b, 28, uint64(s.GetSessionLifetime()))
	b = appendStrings(b, 29, s.GetApplyPolicies())
	b = appendStringField(b, 30, s.GetCertificate())
	b = appendVarintField(b, 31, uint64(s.GetMaxQueryDepth()))
	b = appendStringField(b, 32, s.GetKeyId())
	b = appendStringField(b, 33, s.GetPostExpiryAction())
	return appendVarintField(b, 34, uint64(s.GetPostExpiryGracePeriod()))
}

// marshalAppend encodes a message without map fields with proto itself.
func marshalAppend(b []byte, m proto.Message) []byte {
	// It cannot fail: the message came out of proto.Unmarshal, and
	// without required fields a proto3 message always encodes.
	out, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b
	}
	return out
}

// Proto3 scalars are written only when not zero, as proto.Marshal does.

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBoolField(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarintField(b, num, 1)
}

func appendDoubleField(b []byte, num protowire.Number, v float64) []byte {
	// Negative zero is not zero to proto3.
	if math.Float64bits(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendStrings(b []byte, num protowire.Number, vs []string) []byte {
	for _, v := range vs {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

// appendStringMap writes a map<string, string> field: one entry message
// (key = 1, value = 2) per pair.
func appendStringMap(b []byte, num protowire.Number, m map[string]string) []byte {
	for k, v := range m {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(k))+1+protowire.SizeBytes(len(v))))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

// appendMessageField writes a length-delimited field whose content enc
// appends. The length is known only afterwards: room is left for a 2-byte
// length (up to 16 KiB, most messages), and the content moves only when
// its length takes another size.
func appendMessageField(b []byte, num protowire.Number, enc func([]byte) []byte) []byte {
	const guess = 2
	b = protowire.AppendTag(b, num, protowire.BytesType)
	at := len(b)
	b = append(b, 0, 0)
	b = enc(b)
	n := len(b) - at - guess
	switch l := protowire.SizeVarint(uint64(n)); {
	case l < guess:
		copy(b[at+l:], b[at+guess:])
		b = b[:len(b)-(guess-l)]
	case l > guess:
		var room [10]byte
		b = append(b, room[:l-guess]...)
		copy(b[at+l:], b[at+guess:at+guess+n])
	}
	protowire.AppendVarint(b[at:at], uint64(n))
	return b
}
