// Tests Object redaction: credential headers, metadata and session fields
// are replaced, multivalue Set-Cookie too, bodies are cut and scrubbed of
// known secrets, every other field is kept, and the input Object is never
// changed.
package redact

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/protofill"
)

const (
	testKey    = "eyJvcmciOiJkZWZhdWx0IiwiaWQiOiJ0ZXN0In0" // what a Tyk key looks like
	testBearer = "Bearer abcdefgh12345678"
)

func TestFingerprint(t *testing.T) {
	if Fingerprint("") != "" {
		t.Error(`Fingerprint("") is not empty: "no key" must stay visible`)
	}
	fp := Fingerprint(testKey)
	if !strings.HasPrefix(fp, fingerprintPrefix) || len(fp) != len(fingerprintPrefix)+12 {
		t.Errorf("Fingerprint = %q", fp)
	}
	if strings.Contains(fp, testKey) || fp != Fingerprint(testKey) || fp == Fingerprint(testKey+"x") {
		t.Errorf("Fingerprint is not a stable, distinct hash: %q", fp)
	}
}

func TestIsSensitiveName(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "proxy-authorization": true, "Cookie": true, "Set-Cookie": true,
		"X-Api-Key": true, "apikey": true, "X-Auth-Token": true, "token": true, "Token": true,
		"client_secret": true, "X-Signature": true, "password": true,
		"Accept": false, "Content-Type": false, "X-Request-Id": false, "user": false, "tier": false, "Host": false,
	} {
		if got := IsSensitiveName(name); got != want {
			t.Errorf("IsSensitiveName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestStringMap(t *testing.T) {
	in := map[string]string{"token": testKey, "user": "alice", "Authorization": "", "X-Api-Key": "k"}
	out := StringMap(in)
	want := map[string]string{"token": Fingerprint(testKey), "user": "alice", "Authorization": "", "X-Api-Key": Fingerprint("k")}
	if !equalMaps(out, want) {
		t.Errorf("StringMap = %v, want %v", out, want)
	}
	if in["token"] != testKey {
		t.Error("StringMap changed its input")
	}
	plain := map[string]string{"user": "alice"}
	if out := StringMap(plain); !equalMaps(out, plain) {
		t.Errorf("StringMap(plain) = %v", out)
	}
}

// obj builds a keyed PostKeyAuth-like Object with every kind of secret.
func obj() *coprocess.Object {
	return &coprocess.Object{
		HookType: coprocess.HookType_Response,
		HookName: "MyResponsePlugin",
		Request: &coprocess.MiniRequestObject{
			Headers: map[string]string{
				"Authorization": testKey, "Cookie": "session=cookievalue123", "X-Api-Key": "apikey-123456",
				"Accept": "*/*", "X-Request-Id": "req-1",
			},
			SetHeaders: map[string]string{"X-Auth-Token": "newtoken-12345", "X-Added": "yes"},
			Body:       `{"user":"alice","password":"hunter2hunter2"}`,
			RawBody:    []byte(`{"user":"alice","password":"hunter2hunter2"}`),
			Url:        "http://upstream/resource?a=b",
			RequestUri: "/resource?a=b",
			Method:     "POST",
			Params:     map[string]string{"a": "b"},
			ReturnOverrides: &coprocess.ReturnOverrides{
				ResponseCode: -1,
				Headers:      map[string]string{"Set-Cookie": "sid=override-secret", "X-Plain": "p"},
			},
		},
		Session: &coprocess.SessionState{
			KeyId:         testKey,
			OrgId:         "default",
			Alias:         "alice-key",
			BasicAuthData: &coprocess.BasicAuthData{Password: "hunter2hunter2", Hash: "bcrypt"},
			JwtData:       &coprocess.JWTData{Secret: "jwt-secret-value"},
			HmacEnabled:   true,
			HmacSecret:    "hmac-secret-value",
			OauthKeys:     map[string]string{"client1": "oauth-key-value"},
			Metadata:      map[string]string{"tier": "gold", "api_token": "meta-token-value"},
			AccessRights:  map[string]*coprocess.AccessDefinition{"api": {ApiId: "api", ApiName: "api"}},
		},
		Metadata: map[string]string{"token": testKey, "user": "alice"},
		Spec:     map[string]string{"APIID": "classic-auth", "OrgID": "default"},
		Response: &coprocess.ResponseObject{
			StatusCode: 200,
			// An echoing upstream repeats the request's credentials.
			Body:    `{"headers":{"Authorization":["` + testKey + `"]},"cookie":"session=cookievalue123"}`,
			RawBody: []byte(`{"headers":{"Authorization":["` + testKey + `"]}}`),
			Headers: map[string]string{"Set-Cookie": "sid=abc; HttpOnly", "Content-Type": "application/json"},
			MultivalueHeaders: []*coprocess.Header{
				{Key: "Set-Cookie", Values: []string{"sid=abc; HttpOnly", "csrf=def"}},
				{Key: "Content-Type", Values: []string{"application/json"}},
			},
		},
	}
}

func TestObject(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		prepare func(in *coprocess.Object) // changes the input first
		check   func(t *testing.T, in, out *coprocess.Object)
	}{
		{"request headers", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			h := out.GetRequest().GetHeaders()
			want := map[string]string{
				"Authorization": Fingerprint(testKey), "Cookie": Fingerprint("session=cookievalue123"),
				"X-Api-Key": Fingerprint("apikey-123456"), "Accept": "*/*", "X-Request-Id": "req-1",
			}
			if !equalMaps(h, want) {
				t.Errorf("headers = %v, want %v", h, want)
			}
			if got := out.GetRequest().GetSetHeaders()["X-Auth-Token"]; got != Fingerprint("newtoken-12345") {
				t.Errorf("set_headers X-Auth-Token = %q", got)
			}
			ro := out.GetRequest().GetReturnOverrides()
			if ro.GetHeaders()["Set-Cookie"] != Fingerprint("sid=override-secret") || ro.GetHeaders()["X-Plain"] != "p" || ro.GetResponseCode() != -1 {
				t.Errorf("return_overrides = %v", ro)
			}
		}},
		{"metadata token", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			if m := out.GetMetadata(); m["token"] != Fingerprint(testKey) || m["user"] != "alice" {
				t.Errorf("metadata = %v", m)
			}
		}},
		{"session secrets", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			s := out.GetSession()
			if s.GetKeyId() != Fingerprint(testKey) {
				t.Errorf("key_id = %q", s.GetKeyId())
			}
			if s.GetBasicAuthData().GetPassword() != Placeholder || s.GetBasicAuthData().GetHash() != "bcrypt" {
				t.Errorf("basic_auth_data = %v", s.GetBasicAuthData())
			}
			if s.GetHmacSecret() != Placeholder || !s.GetHmacEnabled() {
				t.Errorf("hmac = %v %q", s.GetHmacEnabled(), s.GetHmacSecret())
			}
			if s.GetJwtData().GetSecret() != Placeholder {
				t.Errorf("jwt_data = %v", s.GetJwtData())
			}
			if s.GetOauthKeys()["client1"] != Fingerprint("oauth-key-value") {
				t.Errorf("oauth_keys = %v", s.GetOauthKeys())
			}
			if s.GetMetadata()["api_token"] != Fingerprint("meta-token-value") || s.GetMetadata()["tier"] != "gold" {
				t.Errorf("session metadata = %v", s.GetMetadata())
			}
			if s.GetAlias() != "alice-key" || s.GetOrgId() != "default" || len(s.GetAccessRights()) != 1 {
				t.Errorf("non-secret session fields lost: %v", s)
			}
		}},
		{"multivalue Set-Cookie", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			r := out.GetResponse()
			mv := r.GetMultivalueHeaders()
			if len(mv) != 2 || mv[0].GetKey() != "Set-Cookie" ||
				mv[0].GetValues()[0] != Fingerprint("sid=abc; HttpOnly") || mv[0].GetValues()[1] != Fingerprint("csrf=def") ||
				mv[1].GetValues()[0] != "application/json" {
				t.Errorf("multivalue_headers = %v", mv)
			}
			if r.GetHeaders()["Set-Cookie"] != Fingerprint("sid=abc; HttpOnly") || r.GetHeaders()["Content-Type"] != "application/json" {
				t.Errorf("response headers = %v", r.GetHeaders())
			}
		}},
		{"known secrets scrubbed from bodies", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			for name, body := range bodies(out) {
				for _, secret := range []string{testKey, "hunter2hunter2", "session=cookievalue123"} {
					if strings.Contains(body, secret) {
						t.Errorf("%s still holds %q: %s", name, secret, body)
					}
				}
			}
			if want := `{"headers":{"Authorization":["` + Fingerprint(testKey) + `"]},"cookie":"` + Fingerprint("session=cookievalue123") + `"}`; out.GetResponse().GetBody() != want {
				t.Errorf("response body = %s\nwant %s", out.GetResponse().GetBody(), want)
			}
		}},
		{"bodies cut to MaxBody", Options{MaxBody: 10}, nil, func(t *testing.T, in, out *coprocess.Object) {
			for name, body := range bodies(out) {
				if !strings.HasSuffix(body, TruncatedMark) || len(body) > 10+len(TruncatedMark) {
					t.Errorf("%s not cut to 10 bytes: %q", name, body)
				}
			}
			if got := out.GetRequest().GetBody(); got != `{"user":"a`+TruncatedMark {
				t.Errorf("request body = %q", got)
			}
		}},
		{"bodies whole with MaxBody -1", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			if out.GetRequest().GetBody() != strings.ReplaceAll(in.GetRequest().GetBody(), "hunter2hunter2", Fingerprint("hunter2hunter2")) {
				t.Errorf("request body = %q", out.GetRequest().GetBody())
			}
		}},
		{"short values are not scrubbed from bodies", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			// "alice" is not a secret here, and "1" would match anywhere.
			if !strings.Contains(out.GetRequest().GetBody(), `"user":"alice"`) {
				t.Errorf("request body = %q", out.GetRequest().GetBody())
			}
		}},
		{"unchanged fields kept", Options{MaxBody: -1}, nil, func(t *testing.T, in, out *coprocess.Object) {
			r := out.GetRequest()
			if out.GetHookType() != in.GetHookType() || out.GetHookName() != in.GetHookName() ||
				r.GetUrl() != in.GetRequest().GetUrl() || r.GetRequestUri() != "/resource?a=b" || r.GetMethod() != "POST" ||
				r.GetParams()["a"] != "b" || out.GetSpec()["APIID"] != "classic-auth" || out.GetResponse().GetStatusCode() != 200 {
				t.Errorf("fields lost: %v", out)
			}
		}},
		{"key in a header of any name", Options{MaxBody: -1}, func(in *coprocess.Object) {
			// Tyk's auth header name is configurable (auth_header_name):
			// once the session names the key, it is scrubbed from every
			// header, whatever its name.
			in.GetRequest().GetHeaders()["X-Custom-Key"] = testKey
			in.GetResponse().MultivalueHeaders = append(in.GetResponse().GetMultivalueHeaders(), &coprocess.Header{Key: "X-Echo", Values: []string{"key=" + testKey}})
		}, func(t *testing.T, in, out *coprocess.Object) {
			if got := out.GetRequest().GetHeaders()["X-Custom-Key"]; got != Fingerprint(testKey) {
				t.Errorf("X-Custom-Key = %q, want the fingerprint", got)
			}
			if got := out.GetResponse().GetMultivalueHeaders()[2].GetValues()[0]; got != "key="+Fingerprint(testKey) {
				t.Errorf("X-Echo = %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := obj()
			if tt.prepare != nil {
				tt.prepare(in)
			}
			before := proto.Clone(in)
			out := Object(in, tt.opts)
			tt.check(t, in, out)
			if !proto.Equal(in, before) {
				t.Errorf("Object changed its input:\nbefore %v\nafter  %v", before, in)
			}
			if _, err := proto.Marshal(out); err != nil {
				t.Errorf("redacted copy does not marshal: %v", err)
			}
		})
	}
}

func TestObjectNeverChangesCaptures(t *testing.T) {
	for i, o := range captures.MustDispatches(t) {
		for _, maxBody := range []int{-1, 0, 16, 1024} {
			before := proto.Clone(o)
			r := Object(o, Options{MaxBody: maxBody})
			_ = Truncate(o, Options{MaxBody: maxBody})
			if !proto.Equal(o, before) {
				t.Fatalf("capture %d, MaxBody %d: input changed", i, maxBody)
			}
			if key := o.GetSession().GetKeyId(); key != "" {
				b, err := proto.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), key) {
					t.Errorf("capture %d, MaxBody %d: key still in the redacted copy", i, maxBody)
				}
			}
		}
	}
}

func TestObjectNil(t *testing.T) {
	if Object(nil, Options{}) != nil || Truncate(nil, Options{}) != nil || Session(nil) != nil {
		t.Error("nil in, not nil out")
	}
	empty := &coprocess.Object{HookType: coprocess.HookType_Pre}
	if out := Object(empty, Options{MaxBody: 1}); !proto.Equal(out, empty) {
		t.Errorf("Object(empty) = %v", out)
	}
}

// TestObjectKeepsEveryOtherField fills every field of an Object (so that a
// field added to the protos but forgotten by the copy functions fails) and
// checks that only the secret ones change.
func TestObjectKeepsEveryOtherField(t *testing.T) {
	in := &coprocess.Object{}
	protofill.Fill(in.ProtoReflect(), 1)
	want := proto.Clone(in).(*coprocess.Object)
	s := want.GetSession()
	s.KeyId = Fingerprint(s.GetKeyId())
	s.BasicAuthData.Password = Placeholder
	s.JwtData.Secret = Placeholder
	s.HmacSecret = Placeholder
	for k, v := range s.GetOauthKeys() {
		s.OauthKeys[k] = Fingerprint(v)
	}
	got := Object(in, Options{MaxBody: -1})
	if !proto.Equal(got, want) {
		t.Errorf("redacted copy differs beyond the secret fields:\ngot  %v\nwant %v", got, want)
	}
	if got := Truncate(in, Options{MaxBody: 1000}); got != in {
		t.Error("Truncate copied an object with nothing to cut")
	}
	cut := Truncate(in, Options{MaxBody: 2})
	cut.Request.Body, cut.Request.RawBody = in.GetRequest().GetBody(), in.GetRequest().GetRawBody()
	cut.Response.Body, cut.Response.RawBody = in.GetResponse().GetBody(), in.GetResponse().GetRawBody()
	if !proto.Equal(cut, in) {
		t.Errorf("Truncate changed more than the bodies:\ngot  %v\nwant %v", cut, in)
	}
}

func TestTruncateDoesNotRedact(t *testing.T) {
	in := obj()
	before := proto.Clone(in)
	out := Truncate(in, Options{MaxBody: 5})
	if !proto.Equal(in, before) {
		t.Fatal("Truncate changed its input")
	}
	if out.GetSession().GetKeyId() != testKey || out.GetRequest().GetHeaders()["Authorization"] != testKey {
		t.Error("Truncate redacted")
	}
	if got := out.GetRequest().GetBody(); got != `{"use`+TruncatedMark {
		t.Errorf("body = %q", got)
	}
	if got := string(out.GetResponse().GetRawBody()); got != `{"hea`+TruncatedMark {
		t.Errorf("response raw_body = %q", got)
	}
	if Truncate(in, Options{MaxBody: -1}) != in {
		t.Error("Truncate with MaxBody -1 copied")
	}
}

// A body cut in the middle of a multi-byte character must stay valid UTF-8:
// proto3 refuses to marshal a string field that is not, and the journal
// would lose the Object.
func TestCutKeepsUTF8Valid(t *testing.T) {
	body := "a" + strings.Repeat("é", 20) // 'é' is 2 bytes: cuts at odd lengths split one
	for _, maxBody := range []int{0, 1, 2, 3, 4, 5, 40} {
		in := &coprocess.Object{
			Request:  &coprocess.MiniRequestObject{Body: body, RawBody: []byte(body)},
			Response: &coprocess.ResponseObject{Body: body},
		}
		for name, out := range map[string]*coprocess.Object{
			"Object":   Object(in, Options{MaxBody: maxBody}),
			"Truncate": Truncate(in, Options{MaxBody: maxBody}),
		} {
			for _, s := range []string{out.GetRequest().GetBody(), out.GetResponse().GetBody()} {
				if !utf8.ValidString(s) {
					t.Errorf("%s, MaxBody %d: invalid UTF-8 %q", name, maxBody, s)
				}
				if !strings.HasPrefix(body, strings.TrimSuffix(s, TruncatedMark)) || len(strings.TrimSuffix(s, TruncatedMark)) > maxBody {
					t.Errorf("%s, MaxBody %d: body %q is not a prefix of at most %d bytes", name, maxBody, s, maxBody)
				}
			}
			if _, err := proto.Marshal(out); err != nil {
				t.Errorf("%s, MaxBody %d: %v", name, maxBody, err)
			}
		}
	}
}

func bodies(o *coprocess.Object) map[string]string {
	return map[string]string{
		"request body":      o.GetRequest().GetBody(),
		"request raw_body":  string(o.GetRequest().GetRawBody()),
		"response body":     o.GetResponse().GetBody(),
		"response raw_body": string(o.GetResponse().GetRawBody()),
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The inspector redacts the journal's objects again: a second redaction
// must change nothing, or fingerprints would differ from the log's.
func TestRedactingTwiceChangesNothing(t *testing.T) {
	objs := captures.MustDispatches(t)
	filled := &coprocess.Object{}
	protofill.Fill(filled.ProtoReflect(), 1)
	filled.Request.Headers["Authorization"] = testBearer
	filled.Request.Params["api_key"] = testKey
	for i, o := range append(objs, filled) {
		once := For(Options{MaxBody: -1}, o).Object(o)
		twice := For(Options{MaxBody: -1}, once).Object(once)
		if !proto.Equal(once, twice) {
			t.Errorf("object %d: redacted twice differs from once:\nonce  %v\ntwice %v", i, once, twice)
		}
	}
	if fp := Fingerprint(testKey); Fingerprint(fp) != fp {
		t.Errorf("Fingerprint(Fingerprint(k)) = %q, want %q", Fingerprint(fp), fp)
	}
}
