// Tests that a key sent in the query string (Tyk's use_param) is redacted
// from the URI, url and params of the copy, and from RequestURI.
package redact_test

import (
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
)

func TestKeyInQueryIsRedacted(t *testing.T) {
	const key = "query-key-0123456789"
	for _, tc := range []struct {
		name string
		obj  *coprocess.Object
	}{
		{"sensitive param name, no session (Pre)", &coprocess.Object{
			HookType: coprocess.HookType_Pre,
			Request: &coprocess.MiniRequestObject{
				Url:        "/api/x?authorization=" + key + "&a=1",
				RequestUri: "/api/x?authorization=" + key + "&a=1",
				Params:     map[string]string{"authorization": key, "a": "1"},
			},
		}},
		{"any param name, key known from the session", &coprocess.Object{
			HookType: coprocess.HookType_Response,
			Request: &coprocess.MiniRequestObject{
				Url:        "http://upstream/x?k=" + key,
				RequestUri: "/api/x?k=" + key,
				Params:     map[string]string{"k": key},
			},
			Session: &coprocess.SessionState{KeyId: key},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redact.Object(tc.obj, redact.Options{MaxBody: -1})
			for field, v := range map[string]string{
				"url":         r.GetRequest().GetUrl(),
				"request_uri": r.GetRequest().GetRequestUri(),
				"RequestURI":  redact.For(redact.Options{}, tc.obj).RequestURI(tc.obj),
			} {
				if strings.Contains(v, key) {
					t.Errorf("%s still holds the key: %q", field, v)
				}
				if !strings.Contains(v, redact.Fingerprint(key)) {
					t.Errorf("%s lacks the key's fingerprint: %q", field, v)
				}
			}
			for k, v := range r.GetRequest().GetParams() {
				if v == key {
					t.Errorf("params[%q] still holds the key", k)
				}
			}
			if !strings.Contains(tc.obj.GetRequest().GetRequestUri(), key) {
				t.Error("the original object was altered")
			}
		})
	}
	plain := &coprocess.Object{Request: &coprocess.MiniRequestObject{RequestUri: "/plain/path"}}
	if got := redact.For(redact.Options{}, plain).RequestURI(plain); got != "/plain/path" {
		t.Errorf("RequestURI without a query = %q", got)
	}
}

// TestAliasNamedAfterKeyIsRedacted: the lab's own demo key once had its
// alias equal to the key, and the journal kept the key in clear.
func TestAliasNamedAfterKeyIsRedacted(t *testing.T) {
	const key = "lab-demo-key"
	o := &coprocess.Object{
		HookType: coprocess.HookType_Response,
		Request:  &coprocess.MiniRequestObject{Headers: map[string]string{"Authorization": key}},
		Session:  &coprocess.SessionState{KeyId: "eyJvcmciOiJkZWZhdWx0In0=", Alias: key},
	}
	r := redact.Object(o, redact.Options{MaxBody: -1})
	if got := r.GetSession().GetAlias(); got != redact.Fingerprint(key) {
		t.Errorf("alias = %q, want the key's fingerprint", got)
	}
	if o.GetSession().GetAlias() != key {
		t.Error("the original session was altered")
	}
}
