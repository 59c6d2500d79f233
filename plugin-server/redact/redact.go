// Package redact removes secrets from what the gateway sends before it is
// logged or journaled: API keys, credentials in headers, metadata and the
// API's configuration (spec), and the raw key and original request inside
// events.
//
// Redaction always works on copies: the Object returned to the gateway must
// never change.
package redact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// Placeholder replaces a secret that has no use beyond being present.
const Placeholder = "[REDACTED]"

// fingerprintPrefix marks a value replaced by Fingerprint.
const fingerprintPrefix = "redacted:sha256:"

// Fingerprint replaces a secret by a short hash of it, so that two records
// can be told to carry the same key without revealing it. The empty string
// stays empty: "no key" must remain visible. A fingerprint stays itself, so
// that redacting a redacted object again (the inspector does) changes
// nothing.
func Fingerprint(secret string) string {
	if secret == "" || isFingerprint(secret) {
		return secret
	}
	// Keys are short: hash them from the stack rather than a heap copy.
	var in [128]byte
	var sum [sha256.Size]byte
	if len(secret) <= len(in) {
		sum = sha256.Sum256(append(in[:0], secret...))
	} else {
		sum = sha256.Sum256([]byte(secret))
	}
	var fp [len(fingerprintPrefix) + 12]byte
	copy(fp[:], fingerprintPrefix)
	hex.Encode(fp[len(fingerprintPrefix):], sum[:6])
	return string(fp[:])
}

func isFingerprint(s string) bool {
	hexPart, ok := strings.CutPrefix(s, fingerprintPrefix)
	if !ok || len(hexPart) != 12 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

// sensitiveHeaders are header names (lower case) that carry credentials.
var sensitiveHeaders = map[string]bool{
	"authorization":        true,
	"proxy-authorization":  true,
	"cookie":               true,
	"set-cookie":           true,
	"x-api-key":            true,
	"api-key":              true,
	"apikey":               true,
	"x-auth-token":         true,
	"x-access-token":       true,
	"x-csrf-token":         true,
	"x-amz-security-token": true,
}

// sensitiveWords mark a header or map key as secret wherever they appear in
// its lower-cased name.
var sensitiveWords = []string{"token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "auth", "cookie", "credential", "signature"}

// IsSensitiveName reports whether a header or metadata name looks like it
// carries a credential.
func IsSensitiveName(name string) bool {
	// It runs for every header, parameter and metadata name of every
	// dispatch, and the same names come back all the time: remember the
	// answers, for a bounded number of names (clients choose them).
	if v, ok := nameCache.Load(name); ok {
		return v.(bool)
	}
	sensitive := isSensitiveName(name)
	if nameCacheLen.Load() < nameCacheMax {
		if _, loaded := nameCache.LoadOrStore(name, sensitive); !loaded {
			nameCacheLen.Add(1)
		}
	}
	return sensitive
}

// nameCache maps names to IsSensitiveName's answer; it holds at most
// nameCacheMax names.
var (
	nameCache    sync.Map
	nameCacheLen atomic.Int64
)

const nameCacheMax = 4096

func isSensitiveName(name string) bool {
	// Lower-case short ASCII names on the stack rather than with
	// strings.ToLower, which allocates.
	var buf [64]byte
	if len(name) > len(buf) {
		return isSensitiveLower([]byte(strings.ToLower(name)))
	}
	n := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return isSensitiveLower([]byte(strings.ToLower(name)))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		n[i] = c
	}
	return isSensitiveLower(n)
}

func isSensitiveLower(n []byte) bool {
	if sensitiveHeaders[string(n)] {
		return true
	}
	for _, w := range sensitiveWords {
		if bytes.Contains(n, []byte(w)) {
			return true
		}
	}
	return false
}

// StringMap returns m with the values of sensitive names fingerprinted. It
// returns m itself when nothing needs redacting, so the common case does not
// allocate.
func StringMap(m map[string]string) map[string]string {
	return Options{}.stringMap(m)
}

// stringMap is StringMap that also scrubs the object's known secrets from
// the other values: a key sent in a header of any name (Tyk's auth header
// name is configurable) must not survive.
func (o Options) stringMap(m map[string]string) map[string]string {
	return o.redactMap(m, false)
}

// redactMap is stringMap; for spec (the Object's spec), with its
// configuration redacted by specValue.
func (o Options) redactMap(m map[string]string, spec bool) map[string]string {
	var out map[string]string
	for k, v := range m {
		if v == "" {
			continue
		}
		var r string
		if spec {
			r = o.specValue(k, v)
		} else {
			r = o.value(IsSensitiveName(k), v)
		}
		if r == v {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(m))
			for k2, v2 := range m {
				out[k2] = v2
			}
		}
		out[k] = r
	}
	if out == nil {
		return m
	}
	return out
}

// headerValues returns the redacted values of one header, or nil when none
// changes.
func (o Options) headerValues(name string, values []string) []string {
	sensitive := IsSensitiveName(name)
	var out []string
	for i, v := range values {
		r := o.value(sensitive, v)
		if r != v && out == nil {
			out = append([]string(nil), values...)
		}
		if out != nil {
			out[i] = r
		}
	}
	return out
}

// value redacts one value: fingerprinted whole under a sensitive name,
// otherwise scrubbed of the known secrets.
func (o Options) value(sensitive bool, v string) string {
	if sensitive {
		return o.fingerprint(v)
	}
	return o.scrub(v)
}

// fingerprint is Fingerprint, reusing the one computed for a known secret.
func (o Options) fingerprint(v string) string {
	for i := range o.secrets {
		if o.secrets[i].value == v {
			return o.secrets[i].fp()
		}
	}
	return Fingerprint(v)
}

// Options say what a redacted copy keeps.
type Options struct {
	// MaxBody is how many bytes of each body the copy keeps; negative keeps
	// them whole. Truncation only applies to the copy.
	MaxBody int

	// secrets are values found in the object's credentials, also scrubbed
	// from its bodies (an echoing upstream repeats the Authorization header
	// in its response body, for instance) and from the values of its other
	// headers and metadata.
	secrets []secret
}

// secret is a credential value found in an object. Its fingerprint and
// bytes are computed when first needed, once per object.
type secret struct {
	value       string
	fingerprint string
	raw         []byte
}

func (s *secret) fp() string {
	if s.fingerprint == "" {
		s.fingerprint = Fingerprint(s.value)
	}
	return s.fingerprint
}

// bytes is the value as bytes, to search bytes without converting them.
func (s *secret) bytes() []byte {
	if s.raw == nil {
		s.raw = []byte(s.value)
	}
	return s.raw
}

// minScrubLen keeps short values (a "1", a "yes") from being scrubbed out of
// bodies where they would mostly match by chance.
const minScrubLen = 8

// addSecret adds v to out, unless it is there already or too short to
// scrub.
func addSecret(out []secret, v string) []secret {
	if len(v) < minScrubLen {
		return out
	}
	for _, s := range out {
		if s.value == v {
			return out
		}
	}
	return append(out, secret{value: v})
}

// collectSecrets adds the credential values o carries to out, each once.
// configSeen is the configuration text (spec's) of the previous object, if
// any: the gateway sends the same with the received and the returned
// object, walked once.
func collectSecrets(o *coprocess.Object, out []secret, configSeen *string) []secret {
	add := func(v string) { out = addSecret(out, v) }
	for k, v := range o.GetRequest().GetHeaders() {
		if IsSensitiveName(k) {
			add(v)
		}
	}
	for k, v := range o.GetMetadata() {
		if IsSensitiveName(k) {
			add(v)
		}
	}
	// The API's configuration holds upstream credentials: a hook that
	// puts one in the request (its URL, a header of any name) must not
	// reveal it.
	for k, v := range o.GetSpec() {
		switch {
		case k == tykplugin.SpecConfigData:
			if v != *configSeen {
				*configSeen = v
				out = configSecrets(v, out)
			}
		case IsSensitiveName(k):
			add(v)
		}
	}
	// Tyk can take the key from a query parameter (use_param).
	for k, v := range o.GetRequest().GetParams() {
		if IsSensitiveName(k) {
			add(v)
		}
	}
	s := o.GetSession()
	add(s.GetKeyId())
	add(s.GetBasicAuthData().GetPassword())
	add(s.GetHmacSecret())
	add(s.GetJwtData().GetSecret())
	return out
}

// Object returns a copy of o fit to be logged or stored: keys, credentials
// and secret session fields are replaced, and bodies are cut to
// opts.MaxBody. Unchanged sub-messages are shared with o, not copied, so the
// caller must treat both as read-only. protobuf-go encodes the copy like any
// Object.
func Object(o *coprocess.Object, opts Options) *coprocess.Object {
	return For(opts, o).Object(o)
}

// Redactor redacts objects with the secrets of a set of objects: what a
// plugin returns is redacted with the secrets the gateway sent too (an
// echoed header, a body that repeats the key).
type Redactor struct{ opts Options }

// For finds the secrets of objs (nil ones are skipped) once.
func For(opts Options, objs ...*coprocess.Object) Redactor {
	opts.secrets = nil
	var config string
	for _, o := range objs {
		if o != nil {
			opts.secrets = collectSecrets(o, opts.secrets, &config)
		}
	}
	return Redactor{opts: opts}
}

// Object is Object(o, opts) with the Redactor's secrets.
func (r Redactor) Object(o *coprocess.Object) *coprocess.Object {
	if o == nil {
		return nil
	}
	opts := r.opts
	session := Session(o.GetSession())
	if session != nil {
		// A key's alias is free text: people name a key after itself.
		session.Alias = opts.scrub(session.GetAlias())
	}
	return &coprocess.Object{
		HookType: o.GetHookType(),
		HookName: o.GetHookName(),
		Request:  request(o.GetRequest(), opts),
		Session:  session,
		Metadata: opts.stringMap(o.GetMetadata()),
		Spec:     opts.redactMap(o.GetSpec(), true),
		Response: response(o.GetResponse(), opts),
	}
}

// RequestURI is o's request URI with the Redactor's secrets scrubbed from
// its query string; a URI without a query is returned as is, at no cost.
func (r Redactor) RequestURI(o *coprocess.Object) string {
	uri := o.GetRequest().GetRequestUri()
	if !strings.Contains(uri, "?") {
		return uri
	}
	return r.opts.scrub(uri)
}

// Fingerprint is Fingerprint(v), computed once for a known secret.
func (r Redactor) Fingerprint(v string) string {
	return r.opts.fingerprint(v)
}

// Truncate cuts an object's bodies to opts.MaxBody without redacting
// anything (spec and its configuration included), for when redaction is
// switched off.
func Truncate(o *coprocess.Object, opts Options) *coprocess.Object {
	if o == nil || opts.MaxBody < 0 {
		return o
	}
	r, resp := o.GetRequest(), o.GetResponse()
	if len(r.GetBody()) <= opts.MaxBody && len(r.GetRawBody()) <= opts.MaxBody &&
		len(resp.GetBody()) <= opts.MaxBody && len(resp.GetRawBody()) <= opts.MaxBody {
		return o
	}
	c := &coprocess.Object{
		HookType: o.GetHookType(),
		HookName: o.GetHookName(),
		Session:  o.GetSession(),
		Metadata: o.GetMetadata(),
		Spec:     o.GetSpec(),
	}
	if r != nil {
		c.Request = copyRequest(r, opts)
	}
	if resp != nil {
		c.Response = copyResponse(resp, resp.GetHeaders(), resp.GetMultivalueHeaders(), opts)
	}
	return c
}

func request(r *coprocess.MiniRequestObject, opts Options) *coprocess.MiniRequestObject {
	if r == nil {
		return nil
	}
	c := copyRequest(r, opts)
	c.Headers = opts.stringMap(r.GetHeaders())
	c.SetHeaders = opts.stringMap(r.GetSetHeaders())
	c.Url = opts.scrub(r.GetUrl())
	c.RequestUri = opts.scrub(r.GetRequestUri())
	c.Params = opts.stringMap(r.GetParams())
	c.AddParams = opts.stringMap(r.GetAddParams())
	c.ExtendedParams = opts.stringMap(r.GetExtendedParams())
	if ro := r.GetReturnOverrides(); ro != nil {
		c.ReturnOverrides = &coprocess.ReturnOverrides{
			ResponseCode:  ro.GetResponseCode(),
			ResponseError: ro.GetResponseError(),
			Headers:       opts.stringMap(ro.GetHeaders()),
			OverrideError: ro.GetOverrideError(),
			ResponseBody:  ro.GetResponseBody(),
		}
	}
	return c
}

// copyRequest copies r with its bodies cut to opts.MaxBody (and scrubbed of
// opts' secrets); everything else is shared with r.
func copyRequest(r *coprocess.MiniRequestObject, opts Options) *coprocess.MiniRequestObject {
	return &coprocess.MiniRequestObject{
		Headers:         r.GetHeaders(),
		SetHeaders:      r.GetSetHeaders(),
		DeleteHeaders:   r.GetDeleteHeaders(),
		Body:            opts.cutString(r.GetBody()),
		Url:             r.GetUrl(),
		Params:          r.GetParams(),
		AddParams:       r.GetAddParams(),
		ExtendedParams:  r.GetExtendedParams(),
		DeleteParams:    r.GetDeleteParams(),
		ReturnOverrides: r.GetReturnOverrides(),
		Method:          r.GetMethod(),
		RequestUri:      r.GetRequestUri(),
		Scheme:          r.GetScheme(),
		RawBody:         opts.cutBytes(r.GetRawBody()),
	}
}

func response(r *coprocess.ResponseObject, opts Options) *coprocess.ResponseObject {
	if r == nil {
		return nil
	}
	mv := r.GetMultivalueHeaders()
	copied := false
	for i, h := range mv {
		vals := opts.headerValues(h.GetKey(), h.GetValues())
		if vals == nil {
			continue
		}
		if !copied {
			mv = append([]*coprocess.Header(nil), mv...)
			copied = true
		}
		mv[i] = &coprocess.Header{Key: h.GetKey(), Values: vals}
	}
	return copyResponse(r, opts.stringMap(r.GetHeaders()), mv, opts)
}

func copyResponse(r *coprocess.ResponseObject, headers map[string]string, mv []*coprocess.Header, opts Options) *coprocess.ResponseObject {
	return &coprocess.ResponseObject{
		StatusCode:        r.GetStatusCode(),
		RawBody:           opts.cutBytes(r.GetRawBody()),
		Body:              opts.cutString(r.GetBody()),
		Headers:           headers,
		MultivalueHeaders: mv,
	}
}

// Session returns a copy of s with the key and every credential replaced.
func Session(s *coprocess.SessionState) *coprocess.SessionState {
	if s == nil {
		return nil
	}
	c := &coprocess.SessionState{
		LastCheck:               s.GetLastCheck(),
		Allowance:               s.GetAllowance(),
		Rate:                    s.GetRate(),
		Per:                     s.GetPer(),
		Expires:                 s.GetExpires(),
		QuotaMax:                s.GetQuotaMax(),
		QuotaRenews:             s.GetQuotaRenews(),
		QuotaRemaining:          s.GetQuotaRemaining(),
		QuotaRenewalRate:        s.GetQuotaRenewalRate(),
		AccessRights:            s.GetAccessRights(),
		OrgId:                   s.GetOrgId(),
		OauthClientId:           s.GetOauthClientId(),
		OauthKeys:               fingerprintValues(s.GetOauthKeys()),
		HmacEnabled:             s.GetHmacEnabled(),
		HmacSecret:              placeholder(s.GetHmacSecret()),
		IsInactive:              s.GetIsInactive(),
		ApplyPolicyId:           s.GetApplyPolicyId(),
		DataExpires:             s.GetDataExpires(),
		Monitor:                 s.GetMonitor(),
		EnableDetailedRecording: s.GetEnableDetailedRecording(),
		Metadata:                StringMap(s.GetMetadata()),
		Tags:                    s.GetTags(),
		Alias:                   s.GetAlias(),
		LastUpdated:             s.GetLastUpdated(),
		IdExtractorDeadline:     s.GetIdExtractorDeadline(),
		SessionLifetime:         s.GetSessionLifetime(),
		ApplyPolicies:           s.GetApplyPolicies(),
		Certificate:             s.GetCertificate(),
		MaxQueryDepth:           s.GetMaxQueryDepth(),
		KeyId:                   Fingerprint(s.GetKeyId()),
		PostExpiryAction:        s.GetPostExpiryAction(),
		PostExpiryGracePeriod:   s.GetPostExpiryGracePeriod(),
	}
	if b := s.GetBasicAuthData(); b != nil {
		c.BasicAuthData = &coprocess.BasicAuthData{Password: placeholder(b.GetPassword()), Hash: b.GetHash()}
	}
	if j := s.GetJwtData(); j != nil {
		c.JwtData = &coprocess.JWTData{Secret: placeholder(j.GetSecret())}
	}
	return c
}

func fingerprintValues(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = Fingerprint(v)
	}
	return out
}

func placeholder(s string) string {
	if s == "" {
		return ""
	}
	return Placeholder
}

// TruncatedMark ends a body cut by MaxBody (the journal keeps
// PLUGIN_JOURNAL_MAX_BODY_BYTES of each).
const TruncatedMark = "…[truncated]"

// Bodies are cut before they are scrubbed, so that redaction costs the same
// whatever the size of the body; the part searched reaches past the cut by
// the length of the longest secret, so that a secret straddling the cut is
// replaced whole rather than left half in clear.

func (o Options) cutString(s string) string {
	if o.fits(len(s)) {
		return o.scrub(s)
	}
	return string(o.appendCutString(make([]byte, 0, o.MaxBody+len(TruncatedMark)), s))
}

func (o Options) cutBytes(b []byte) []byte {
	if o.fits(len(b)) {
		return o.scrubBytes(b)
	}
	return o.appendCutBytes(make([]byte, 0, o.MaxBody+len(TruncatedMark)), b)
}

// fits reports whether a body of n bytes is kept whole.
func (o Options) fits(n int) bool {
	return o.MaxBody < 0 || n <= o.MaxBody
}

// appendCutString appends s, which does not fit, cut to MaxBody and
// scrubbed, then the truncation mark.
func (o Options) appendCutString(b []byte, s string) []byte {
	// Cut on a character boundary: proto3 strings must stay valid UTF-8,
	// or the copy cannot be marshaled.
	n := o.MaxBody
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	o.cutScrubbed(s, n, func(part string) { b = append(b, part...) })
	return append(b, TruncatedMark...)
}

// appendCutBytes appends v, which does not fit, cut to MaxBody and
// scrubbed, then the truncation mark.
func (o Options) appendCutBytes(b, v []byte) []byte {
	n := o.MaxBody
	window := v[:min(len(v), n+o.longestSecret())]
	if !o.holdsSecret(window) {
		return append(append(b, v[:n]...), TruncatedMark...)
	}
	o.cutScrubbed(string(window), n, func(part string) { b = append(b, part...) })
	return append(b, TruncatedMark...)
}

// scrubBytes is scrub for bytes: v itself when it holds no secret.
func (o Options) scrubBytes(v []byte) []byte {
	if !o.holdsSecret(v) {
		return v
	}
	return o.appendScrubbed(nil, string(v))
}

// holdsSecret reports whether b contains a known secret.
func (o Options) holdsSecret(b []byte) bool {
	for i := range o.secrets {
		s := &o.secrets[i]
		if len(b) >= len(s.value) && bytes.Contains(b, s.bytes()) {
			return true
		}
	}
	return false
}

func (o Options) longestSecret() int {
	n := 0
	for _, s := range o.secrets {
		n = max(n, len(s.value))
	}
	return n
}

// cutScrubbed emits, in parts, s[:n] with every known secret that starts
// before n replaced by its fingerprint, whole, even when it runs past n.
func (o Options) cutScrubbed(s string, n int, emit func(string)) {
	i := 0
	for i < n {
		at, found := -1, (*secret)(nil)
		for k := range o.secrets {
			sec := &o.secrets[k]
			end := min(len(s), n+len(sec.value)-1)
			if end-i < len(sec.value) {
				continue
			}
			// The earliest wins; at the same place, the longest.
			if j := strings.Index(s[i:end], sec.value); j >= 0 &&
				(at < 0 || i+j < at || i+j == at && len(sec.value) > len(found.value)) {
				at, found = i+j, sec
			}
		}
		if at < 0 {
			emit(s[i:n])
			return
		}
		emit(s[i:at])
		emit(found.fp())
		i = at + len(found.value)
	}
}

// scrub replaces every known secret in s by its fingerprint, in one pass
// from the left (at the same place, the longest secret wins): s itself,
// without allocating, when it holds none.
func (o Options) scrub(s string) string {
	if !o.holdsSecretString(s) {
		return s
	}
	return string(o.appendScrubbed(make([]byte, 0, len(s)+len(fingerprintPrefix)), s))
}

// appendScrubbed appends scrub(s).
func (o Options) appendScrubbed(b []byte, s string) []byte {
	o.cutScrubbed(s, len(s), func(part string) { b = append(b, part...) })
	return b
}

// holdsSecretString reports whether s contains a known secret.
func (o Options) holdsSecretString(s string) bool {
	for i := range o.secrets {
		if v := o.secrets[i].value; len(s) >= len(v) && strings.Contains(s, v) {
			return true
		}
	}
	return false
}
