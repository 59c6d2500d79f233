package redact

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// Spec redaction. The gateway sends the API's id, org id and bundle hash in
// spec, and its configuration (config_data, or the OAS plugin
// configuration) as JSON text under tykplugin.SpecConfigData; plugin
// authors keep upstream credentials there. The copy keeps the spec's keys
// and every value that is not a credential:
//
//   - a value whose key is sensitive (IsSensitiveName) is fingerprinted,
//     like a header's;
//   - in the configuration, every string or number under an object key
//     that is sensitive by the same rules, at any depth (inside an object
//     or array under such a key too), is replaced by its fingerprint, as a
//     JSON string; true, false, null and empty strings stay, and so does
//     everything else, byte for byte;
//   - a configuration that is not valid JSON is fingerprinted whole;
//   - the object's known secrets (its credentials, and those found in the
//     configuration: see collectSecrets) are scrubbed from every other
//     value, as they are from bodies.

// specValue redacts the value of spec key k.
func (o Options) specValue(k, v string) string {
	if k == tykplugin.SpecConfigData {
		return o.configData(v)
	}
	return o.value(IsSensitiveName(k), v)
}

// configData redacts a configuration text.
func (o Options) configData(text string) string {
	info := configInfoOf(text)
	switch {
	case !info.valid:
		return o.fingerprint(text)
	case !info.sensitive && !info.escaped && !o.holdsSecretString(text):
		return text // nothing to redact: the usual case, at no cost
	}
	w := configWalk{o: o, s: text}
	w.value(false)
	// What the walk does not treat as a string value (an object key, a
	// number) is scrubbed as text: a known secret survives nowhere.
	return o.scrub(w.result())
}

// configSecrets adds the values of text's sensitive keys to out, each
// once.
func configSecrets(text string, out []secret) []secret {
	if info := configInfoOf(text); !info.valid || !info.sensitive {
		return out
	}
	w := configWalk{s: text, collecting: true, found: out}
	w.value(false)
	return w.found
}

// configWalk walks a valid JSON text once, from the left. It either
// collects the values under sensitive keys (collecting, into found), or
// builds the redacted text: out holds the text up to s[done:], and stays
// nil while nothing changes, so that a configuration without a credential
// is returned as it is, without allocating.
type configWalk struct {
	o    Options
	s    string
	i    int
	out  []byte
	done int

	collecting    bool
	found         []secret
	sensitiveSeen bool
}

func (w *configWalk) result() string {
	if w.out == nil {
		return w.s
	}
	return string(append(w.out, w.s[w.done:]...))
}

func (w *configWalk) space() {
	for w.i < len(w.s) {
		switch w.s[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// value walks one value; sensitive says that an object key above it is.
func (w *configWalk) value(sensitive bool) {
	w.space()
	start := w.i
	switch w.s[w.i] {
	case '{':
		w.i++
		w.space()
		if w.s[w.i] == '}' {
			w.i++
			return
		}
		for {
			w.space()
			k := w.i
			w.skipString()
			name := unquote(w.s[k:w.i])
			w.space()
			w.i++ // ':'
			w.value(sensitive || isSensitiveName(name))
			w.space()
			c := w.s[w.i]
			w.i++
			if c == '}' {
				return
			}
		}
	case '[':
		w.i++
		w.space()
		if w.s[w.i] == ']' {
			w.i++
			return
		}
		for {
			w.value(sensitive)
			w.space()
			c := w.s[w.i]
			w.i++
			if c == ']' {
				return
			}
		}
	case '"':
		w.skipString()
		w.str(start, sensitive)
	case 't', 'f', 'n':
		for w.i < len(w.s) && 'a' <= w.s[w.i] && w.s[w.i] <= 'z' {
			w.i++
		}
	default: // a number
		for w.i < len(w.s) && strings.IndexByte("+-0123456789.eE", w.s[w.i]) >= 0 {
			w.i++
		}
		if sensitive {
			w.sensitive(start, w.s[start:w.i])
		}
	}
}

// skipString moves past the string that starts at w.i.
func (w *configWalk) skipString() {
	w.i++ // '"'
	for w.s[w.i] != '"' {
		if w.s[w.i] == '\\' {
			w.i++
		}
		w.i++
	}
	w.i++
}

// str handles the string s[start:w.i].
func (w *configWalk) str(start int, sensitive bool) {
	raw := w.s[start:w.i]
	switch {
	case len(raw) == 2: // "" stays: "no value" must remain visible
	case sensitive:
		w.sensitive(start, unquote(raw))
	case w.collecting || len(w.o.secrets) == 0:
	case strings.IndexByte(raw, '\\') < 0:
		if v := raw[1 : len(raw)-1]; w.o.holdsSecretString(v) {
			q, _ := json.Marshal(w.o.scrub(v))
			w.replace(start, q)
		}
	default:
		// Escaped: look for the secrets in the decoded value, decoded
		// on the stack when it is short.
		var buf [256]byte
		if b := appendUnquoted(buf[:0], raw); w.o.holdsSecret(b) {
			q, _ := json.Marshal(w.o.scrub(string(b)))
			w.replace(start, q)
		}
	}
}

// sensitive handles the value v, sensitive, that starts at start and ends
// at w.i.
func (w *configWalk) sensitive(start int, v string) {
	if w.collecting {
		w.sensitiveSeen = true
		w.found = addSecret(w.found, v)
		return
	}
	fp := w.o.fingerprint(v)
	if raw := w.s[start:w.i]; len(raw) == len(fp)+2 && raw[1:len(raw)-1] == fp {
		return // already a fingerprint
	}
	w.replace(start, nil)
	w.out = append(append(append(w.out, '"'), fp...), '"')
}

// replace replaces s[start:w.i] by with.
func (w *configWalk) replace(start int, with []byte) {
	if w.out == nil {
		w.out = make([]byte, 0, len(w.s)+len(fingerprintPrefix)+16)
	}
	w.out = append(append(w.out, w.s[w.done:start]...), with...)
	w.done = w.i
}

// unquote decodes a valid JSON string; without escapes, it is a part of
// raw, not a copy.
func unquote(raw string) string {
	if strings.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	return string(appendUnquoted(nil, raw))
}

// appendUnquoted appends the value of raw, a valid JSON string, to b. An
// escaped UTF-16 surrogate that is not half of a pair becomes U+FFFD, as
// with encoding/json.
func appendUnquoted(b []byte, raw string) []byte {
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := unicode.ReplacementChar
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2 : i+6])
				}
				if p := utf16.DecodeRune(r, r2); p != unicode.ReplacementChar {
					r = p
					i += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			b = append(b, unescaped[e])
			i += 2
		}
	}
	return b
}

// unescaped maps the character after a backslash to the one it stands for.
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 decodes 4 hex digits.
func hex4(h string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := h[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// configInfo is what configData needs to know of a configuration text
// before walking it.
type configInfo struct {
	valid     bool // valid JSON
	sensitive bool // a value (not "", true, false or null) under a sensitive key
	escaped   bool // a backslash: an escape might hide a known secret
}

// configInfoOf is the configInfo of text, remembered for a bounded number
// of texts: the gateway sends the same configuration with every dispatch
// of an API. The cache is a map replaced whole when a text is added
// (rarely: once per configuration), so that reading it takes no lock and
// no allocation.
func configInfoOf(text string) configInfo {
	if m := configCache.Load(); m != nil {
		if info, ok := (*m)[text]; ok {
			return info
		}
	}
	info := configInfo{valid: json.Valid([]byte(text)), escaped: strings.IndexByte(text, '\\') >= 0}
	if info.valid {
		w := configWalk{s: text, collecting: true}
		w.value(false)
		info.sensitive = w.sensitiveSeen
	}
	if len(text) <= configCacheMaxText {
		configMu.Lock()
		old := configCache.Load()
		if old == nil || len(*old) < configCacheMax {
			var m map[string]configInfo
			if old == nil {
				m = map[string]configInfo{}
			} else {
				m = make(map[string]configInfo, len(*old)+1)
				for k, v := range *old {
					m[k] = v
				}
			}
			// A copy: the cache must not keep a larger buffer alive.
			m[strings.Clone(text)] = info
			configCache.Store(&m)
		}
		configMu.Unlock()
	}
	return info
}

var (
	configCache atomic.Pointer[map[string]configInfo]
	configMu    sync.Mutex
)

const (
	configCacheMax     = 256
	configCacheMaxText = 64 << 10
)
