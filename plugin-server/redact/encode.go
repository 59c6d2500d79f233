// The journal's encoding of an Object: the protobuf bytes of its redacted
// (or merely truncated) copy, written straight from the Object instead of
// building the copy and marshaling it. Building the copy re-creates every
// map that holds a credential (the headers of nearly every request) and
// proto.Marshal walks maps through reflection; together they were half of
// the journal's cost per dispatch. This encoder writes each value as it
// reads it, replaced where Object would replace it, and allocates only for
// the values it replaces.
//
// Object stays the definition of what redaction keeps: encode_test.go and
// FuzzRedactObject check that what AppendObject writes decodes to exactly
// Object's copy, and AppendTruncated's to Truncate's, for every field of
// every message.

package redact

import (
	"math"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// AppendObject appends to b the protobuf encoding of Object(o, opts): keys
// and credentials replaced, bodies cut to opts.MaxBody. o is only read.
// proto.Unmarshal reads the result back into a message equal to Object's
// (the field order may differ from proto.Marshal's, which protobuf allows).
func AppendObject(b []byte, o *coprocess.Object, opts Options) []byte {
	return For(o, opts).AppendObject(b)
}

// Redactor redacts what one Object carries, finding its secrets once for
// all that is redacted after.
type Redactor struct {
	o    *coprocess.Object
	opts Options
}

// For prepares the redaction of o's values.
func For(o *coprocess.Object, opts Options) Redactor {
	opts.secrets = collectSecrets(o)
	return Redactor{o: o, opts: opts}
}

// AppendObject is AppendObject(b, o, opts).
func (r Redactor) AppendObject(b []byte) []byte {
	if r.o == nil {
		return b
	}
	e := encoder{opts: r.opts, redact: true}
	return e.object(b, r.o)
}

// RequestURI is RequestURI(o).
func (r Redactor) RequestURI() string {
	uri := r.o.GetRequest().GetRequestUri()
	if !strings.Contains(uri, "?") {
		return uri
	}
	return r.opts.scrub(uri)
}

// Fingerprint is Fingerprint(v), computed once for the object's secrets.
func (r Redactor) Fingerprint(v string) string {
	return r.opts.fingerprint(v)
}

// AppendTruncated appends the encoding of Truncate(o, opts): bodies cut to
// opts.MaxBody (whole when negative), nothing redacted.
func AppendTruncated(b []byte, o *coprocess.Object, opts Options) []byte {
	if o == nil {
		return b
	}
	opts.secrets = nil
	e := encoder{opts: opts}
	return e.object(b, o)
}

// encoder writes an Object as Object (redact) or Truncate (not) would copy
// it. With no secrets in opts, scrubbing leaves values as they are.
type encoder struct {
	opts   Options
	redact bool
}

func (e *encoder) object(b []byte, o *coprocess.Object) []byte {
	b = appendVarintField(b, 1, uint64(o.GetHookType()))
	b = appendStringField(b, 2, o.GetHookName())
	if r := o.GetRequest(); r != nil {
		b = appendDelimited(b, 3, func(b []byte) []byte { return e.request(b, r) })
	}
	if s := o.GetSession(); s != nil {
		b = appendDelimited(b, 4, func(b []byte) []byte { return e.session(b, s) })
	}
	b = e.stringMap(b, 5, o.GetMetadata())
	b = appendStringMap(b, 6, o.GetSpec())
	if r := o.GetResponse(); r != nil {
		b = appendDelimited(b, 7, func(b []byte) []byte { return e.response(b, r) })
	}
	return b
}

func (e *encoder) request(b []byte, r *coprocess.MiniRequestObject) []byte {
	b = e.stringMap(b, 1, r.GetHeaders())
	b = e.stringMap(b, 2, r.GetSetHeaders())
	b = appendStrings(b, 3, r.GetDeleteHeaders())
	b = e.body(b, 4, r.GetBody())
	b = appendStringField(b, 5, e.opts.scrub(r.GetUrl()))
	b = e.stringMap(b, 6, r.GetParams())
	b = e.stringMap(b, 7, r.GetAddParams())
	b = e.stringMap(b, 8, r.GetExtendedParams())
	b = appendStrings(b, 9, r.GetDeleteParams())
	if ro := r.GetReturnOverrides(); ro != nil {
		b = appendDelimited(b, 10, func(b []byte) []byte {
			b = appendVarintField(b, 1, uint64(int64(ro.GetResponseCode())))
			b = appendStringField(b, 2, ro.GetResponseError())
			b = e.stringMap(b, 3, ro.GetHeaders())
			b = appendBoolField(b, 4, ro.GetOverrideError())
			return appendStringField(b, 5, ro.GetResponseBody())
		})
	}
	b = appendStringField(b, 11, r.GetMethod())
	b = appendStringField(b, 12, e.opts.scrub(r.GetRequestUri()))
	b = appendStringField(b, 13, r.GetScheme())
	return e.rawBody(b, 14, r.GetRawBody())
}

func (e *encoder) response(b []byte, r *coprocess.ResponseObject) []byte {
	b = appendVarintField(b, 1, uint64(int64(r.GetStatusCode())))
	b = e.rawBody(b, 2, r.GetRawBody())
	b = e.body(b, 3, r.GetBody())
	b = e.stringMap(b, 4, r.GetHeaders())
	for _, h := range r.GetMultivalueHeaders() {
		b = appendDelimited(b, 5, func(b []byte) []byte {
			b = appendStringField(b, 1, h.GetKey())
			if !e.redact {
				return appendStrings(b, 2, h.GetValues())
			}
			sensitive := IsSensitiveName(h.GetKey())
			for _, v := range h.GetValues() {
				b = appendString(b, 2, e.opts.value(sensitive, v))
			}
			return b
		})
	}
	return b
}

func (e *encoder) session(b []byte, s *coprocess.SessionState) []byte {
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
		b = appendDelimited(b, 10, func(b []byte) []byte {
			b = appendString(b, 1, k)
			// Map-free messages: proto.Marshal is fast on those.
			return appendDelimited(b, 2, func(b []byte) []byte { return marshalAppend(b, v) })
		})
	}
	b = appendStringField(b, 11, s.GetOrgId())
	b = appendStringField(b, 12, s.GetOauthClientId())
	if e.redact {
		for k, v := range s.GetOauthKeys() {
			b = appendMapEntry(b, 13, k, Fingerprint(v))
		}
	} else {
		b = appendStringMap(b, 13, s.GetOauthKeys())
	}
	if m := s.GetBasicAuthData(); m != nil {
		b = appendDelimited(b, 14, func(b []byte) []byte {
			if !e.redact {
				return marshalAppend(b, m)
			}
			b = appendStringField(b, 1, placeholder(m.GetPassword()))
			return appendStringField(b, 2, m.GetHash())
		})
	}
	if m := s.GetJwtData(); m != nil {
		b = appendDelimited(b, 15, func(b []byte) []byte {
			if !e.redact {
				return marshalAppend(b, m)
			}
			return appendStringField(b, 1, placeholder(m.GetSecret()))
		})
	}
	b = appendBoolField(b, 16, s.GetHmacEnabled())
	if e.redact {
		b = appendStringField(b, 17, placeholder(s.GetHmacSecret()))
	} else {
		b = appendStringField(b, 17, s.GetHmacSecret())
	}
	b = appendBoolField(b, 18, s.GetIsInactive())
	b = appendStringField(b, 19, s.GetApplyPolicyId())
	b = appendVarintField(b, 20, uint64(s.GetDataExpires()))
	if m := s.GetMonitor(); m != nil {
		b = appendDelimited(b, 21, func(b []byte) []byte { return marshalAppend(b, m) })
	}
	b = appendBoolField(b, 22, s.GetEnableDetailedRecording())
	if e.redact {
		// As Session: sensitive names only, the object's secrets are not
		// searched for here (StringMap).
		plain := encoder{redact: true}
		b = plain.stringMap(b, 23, s.GetMetadata())
	} else {
		b = appendStringMap(b, 23, s.GetMetadata())
	}
	b = appendStrings(b, 24, s.GetTags())
	b = appendStringField(b, 25, e.opts.scrub(s.GetAlias()))
	b = appendStringField(b, 26, s.GetLastUpdated())
	b = appendVarintField(b, 27, uint64(s.GetIdExtractorDeadline()))
	b = appendVarintField(b, 28, uint64(s.GetSessionLifetime()))
	b = appendStrings(b, 29, s.GetApplyPolicies())
	b = appendStringField(b, 30, s.GetCertificate())
	b = appendVarintField(b, 31, uint64(s.GetMaxQueryDepth()))
	if e.redact {
		b = appendStringField(b, 32, e.opts.fingerprint(s.GetKeyId()))
	} else {
		b = appendStringField(b, 32, s.GetKeyId())
	}
	b = appendStringField(b, 33, s.GetPostExpiryAction())
	return appendVarintField(b, 34, uint64(s.GetPostExpiryGracePeriod()))
}

// stringMap writes m as Options.stringMap leaves it when redacting, as it
// is otherwise.
func (e *encoder) stringMap(b []byte, num protowire.Number, m map[string]string) []byte {
	if !e.redact {
		return appendStringMap(b, num, m)
	}
	for k, v := range m {
		if v != "" {
			v = e.opts.value(IsSensitiveName(k), v)
		}
		b = appendMapEntry(b, num, k, v)
	}
	return b
}

// body writes a string body as Options.cutString leaves it.
func (e *encoder) body(b []byte, num protowire.Number, s string) []byte {
	switch {
	case !e.opts.fits(len(s)):
	case !e.opts.holdsSecretString(s):
		return appendStringField(b, num, s)
	default:
		return appendDelimited(b, num, func(b []byte) []byte { return e.opts.appendScrubbed(b, s) })
	}
	return appendDelimited(b, num, func(b []byte) []byte { return e.opts.appendCutString(b, s) })
}

// rawBody writes a bytes body as Options.cutBytes leaves it.
func (e *encoder) rawBody(b []byte, num protowire.Number, v []byte) []byte {
	switch {
	case !e.opts.fits(len(v)):
	case !e.opts.holdsSecret(v):
		return appendBytesField(b, num, v)
	default:
		// A body this short holding a key: rare enough to copy.
		return appendDelimited(b, num, func(b []byte) []byte { return e.opts.appendScrubbed(b, string(v)) })
	}
	return appendDelimited(b, num, func(b []byte) []byte { return e.opts.appendCutBytes(b, v) })
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
	return appendString(b, num, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendString writes a string even when empty: a list element.
func appendString(b []byte, num protowire.Number, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendStrings(b []byte, num protowire.Number, vs []string) []byte {
	for _, v := range vs {
		b = appendString(b, num, v)
	}
	return b
}

// appendStringMap writes a map<string, string> field.
func appendStringMap(b []byte, num protowire.Number, m map[string]string) []byte {
	for k, v := range m {
		b = appendMapEntry(b, num, k, v)
	}
	return b
}

// appendMapEntry writes one pair of a map<string, string> field: an entry
// message with key = 1, value = 2.
func appendMapEntry(b []byte, num protowire.Number, k, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(k))+1+protowire.SizeBytes(len(v))))
	b = appendString(b, 1, k)
	return appendString(b, 2, v)
}

// appendDelimited writes a length-delimited field (a message, or a body
// written in parts) whose content enc appends. The length is known only
// afterwards: room is left for a 2-byte length (up to 16 KiB, most
// messages), and the content moves only when its length takes another
// size.
func appendDelimited(b []byte, num protowire.Number, enc func([]byte) []byte) []byte {
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
