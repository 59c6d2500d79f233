// Package redact removes secrets from what the gateway sends before it is
// logged or journaled: API keys, credentials in headers and metadata, and the
// raw key and original request inside events.
//
// Redaction always works on copies: the Object returned to the gateway must
// never change.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Placeholder replaces a secret that has no use beyond being present.
const Placeholder = "[REDACTED]"

// fingerprintPrefix marks a value replaced by Fingerprint.
const fingerprintPrefix = "redacted:sha256:"

// Fingerprint replaces a secret by a short hash of it, so that two records
// can be told to carry the same key without revealing it. The empty string
// stays empty: "no key" must remain visible.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return fingerprintPrefix + hex.EncodeToString(sum[:6])
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
	n := strings.ToLower(name)
	if sensitiveHeaders[n] {
		return true
	}
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
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
	var out map[string]string
	for k, v := range m {
		if v == "" {
			continue
		}
		r := o.value(IsSensitiveName(k), v)
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
		return Fingerprint(v)
	}
	return o.scrub(v)
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
	secrets []string
}

// minScrubLen keeps short values (a "1", a "yes") from being scrubbed out of
// bodies where they would mostly match by chance.
const minScrubLen = 8

// collectSecrets lists the credential values o carries.
func collectSecrets(o *coprocess.Object) []string {
	var out []string
	add := func(v string) {
		if len(v) >= minScrubLen {
			out = append(out, v)
		}
	}
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
// caller must treat both as read-only.
func Object(o *coprocess.Object, opts Options) *coprocess.Object {
	if o == nil {
		return nil
	}
	opts.secrets = collectSecrets(o)
	return &coprocess.Object{
		HookType: o.GetHookType(),
		HookName: o.GetHookName(),
		Request:  request(o.GetRequest(), opts),
		Session:  Session(o.GetSession()),
		Metadata: opts.stringMap(o.GetMetadata()),
		Spec:     o.GetSpec(),
		Response: response(o.GetResponse(), opts),
	}
}

// RequestURI returns the object's request URI with any key or credential
// in its query string replaced; a URI without a query is returned as is,
// at no cost.
func RequestURI(o *coprocess.Object) string {
	uri := o.GetRequest().GetRequestUri()
	if !strings.Contains(uri, "?") {
		return uri
	}
	return Options{secrets: collectSecrets(o)}.scrub(uri)
}

// Truncate cuts an object's bodies to opts.MaxBody without redacting
// anything, for when redaction is switched off.
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

// truncatedMark ends a body cut by MaxBody.
const truncatedMark = "…[truncated]"

func (o Options) cutString(s string) string {
	if o.MaxBody >= 0 && len(s) > o.MaxBody {
		// Cut on a character boundary: proto3 strings must stay valid
		// UTF-8, or the copy cannot be marshaled.
		n := o.MaxBody
		for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
			n--
		}
		s = s[:n] + truncatedMark
	}
	return o.scrub(s)
}

func (o Options) cutBytes(b []byte) []byte {
	if o.MaxBody >= 0 && len(b) > o.MaxBody {
		out := make([]byte, 0, o.MaxBody+len(truncatedMark))
		b = append(append(out, b[:o.MaxBody]...), truncatedMark...)
	}
	if len(o.secrets) == 0 || len(b) == 0 {
		return b
	}
	if s := o.scrub(string(b)); s != string(b) {
		return []byte(s)
	}
	return b
}

// scrub replaces every known secret in s by its fingerprint.
func (o Options) scrub(s string) string {
	for _, secret := range o.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Fingerprint(secret))
		}
	}
	return s
}
