// Tests spec redaction: sensitive spec values and the values of sensitive
// keys inside config_data (any depth) are fingerprinted, the object's known
// secrets are scrubbed from spec, config_data's own credentials are
// scrubbed from the rest of the object, and everything else stays byte for
// byte.
package redact

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

const upstreamKey = "s3cr3t-upstream-api-key"

func specObj(spec map[string]string) *coprocess.Object {
	return &coprocess.Object{
		HookType: coprocess.HookType_Pre,
		HookName: "MyPreRequestPlugin",
		Request: &coprocess.MiniRequestObject{
			Headers:    map[string]string{"Authorization": testKey, "Accept": "*/*"},
			Url:        "/x",
			RequestUri: "/x",
			Method:     "GET",
		},
		Spec: spec,
	}
}

func TestSpecConfigDataKey(t *testing.T) {
	if tykplugin.SpecConfigData != "config_data" {
		t.Fatalf("tykplugin.SpecConfigData = %q", tykplugin.SpecConfigData)
	}
}

func TestSpec(t *testing.T) {
	fp := func(s string) string { return `"` + Fingerprint(s) + `"` }
	tests := []struct {
		name       string
		configData string
		want       string
	}{
		{"top-level sensitive key",
			`{"upstream_api_key":"` + upstreamKey + `","service":"x"}`,
			`{"upstream_api_key":` + fp(upstreamKey) + `,"service":"x"}`},
		{"nested objects and arrays, whitespace kept",
			"{\n  \"upstream\": {\"auth\": {\"user\": \"bob\", \"pass\": \"hunter2hunter2\", \"tries\": [1, \"two\", true, null, \"\"]}},\n  \"tenants\": [{\"name\": \"a\", \"client_secret\": \"cs-123456789\"}],\n  \"n\": 42\n}\n",
			"{\n  \"upstream\": {\"auth\": {\"user\": " + fp("bob") + ", \"pass\": " + fp("hunter2hunter2") + ", \"tries\": [" + fp("1") + ", " + fp("two") + ", true, null, \"\"]}},\n  \"tenants\": [{\"name\": \"a\", \"client_secret\": " + fp("cs-123456789") + "}],\n  \"n\": 42\n}\n"},
		{"number under a sensitive key", `{"pin_token":12345678,"port":8080}`, `{"pin_token":` + fp("12345678") + `,"port":8080}`},
		{"escaped sensitive key and value", `{"api\u005fkey":"a\"b\\c\u00e9\ud83d\ude00"}`, `{"api\u005fkey":` + fp("a\"b\\cé😀") + `}`},
		{"nothing sensitive: byte for byte",
			`{"max_body_bytes":1048576,"owner":"\u003cplugin-team@example.com\u003e","service":"examples"}`,
			`{"max_body_bytes":1048576,"owner":"\u003cplugin-team@example.com\u003e","service":"examples"}`},
		{"known secret in a value", `{"note":"the client key is ` + testKey + `"}`, `{"note":"the client key is ` + Fingerprint(testKey) + `"}`},
		{"known secret escaped in a value", `{"note":"` + strings.Replace(testKey, "e", `\u0065`, 1) + `"}`, `{"note":"` + Fingerprint(testKey) + `"}`},
		{"known secret as an object key", `{"` + testKey + `":1}`, `{"` + Fingerprint(testKey) + `":1}`},
		{"not JSON", `{"upstream_api_key":"` + upstreamKey + `"`, Fingerprint(`{"upstream_api_key":"` + upstreamKey + `"`)},
		{"two values", `{"a":1} {"token":"x"}`, Fingerprint(`{"a":1} {"token":"x"}`)},
		{"a string", `"just-a-string"`, `"just-a-string"`},
		{"empty values stay", `{"token":"","secret":{},"password":[],"auth":null,"api_key":false}`, `{"token":"","secret":{},"password":[],"auth":null,"api_key":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := map[string]string{
				"APIID": "classic-config-secret", "OrgID": "default", "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e",
				tykplugin.SpecConfigData: tt.configData,
				"upstream_token":         "tok-abcdefgh",
				"note":                   "key " + testKey,
			}
			in := specObj(spec)
			before := proto.Clone(in)
			out := Object(in, Options{MaxBody: -1})
			if !proto.Equal(in, before) {
				t.Fatalf("Object changed its input")
			}
			got := out.GetSpec()
			if got[tykplugin.SpecConfigData] != tt.want {
				t.Errorf("config_data\n got %s\nwant %s", got[tykplugin.SpecConfigData], tt.want)
			}
			if json.Valid([]byte(tt.configData)) && !json.Valid([]byte(got[tykplugin.SpecConfigData])) {
				t.Errorf("config_data is no longer JSON: %s", got[tykplugin.SpecConfigData])
			}
			for k, want := range map[string]string{
				"APIID": "classic-config-secret", "OrgID": "default", "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e",
				"upstream_token": Fingerprint("tok-abcdefgh"), "note": "key " + Fingerprint(testKey),
			} {
				if got[k] != want {
					t.Errorf("spec[%q] = %q, want %q", k, got[k], want)
				}
			}
			if len(got) != len(spec) {
				t.Errorf("spec keys changed: %v", got)
			}
			if _, err := proto.Marshal(out); err != nil {
				t.Errorf("redacted copy does not marshal: %v", err)
			}
			again := Object(out, Options{MaxBody: -1})
			if !proto.Equal(again, out) {
				t.Errorf("redacting twice changes spec:\nonce  %v\ntwice %v", out.GetSpec(), again.GetSpec())
			}
			if tr := Truncate(in, Options{MaxBody: 1}); !equalMaps(tr.GetSpec(), spec) {
				t.Errorf("Truncate (redaction off) changed spec: %v", tr.GetSpec())
			}
		})
	}
}

// A credential of the configuration is a known secret: a hook that puts it
// in the request it returns (the URL, a header of any name, the body) does
// not reveal it.
func TestConfigSecretsAreScrubbedFromTheObject(t *testing.T) {
	spec := map[string]string{"APIID": "a", tykplugin.SpecConfigData: `{"upstream":{"api_key":"` + upstreamKey + `"},"service":"x"}`}
	received := specObj(spec)
	returned := proto.Clone(received).(*coprocess.Object)
	returned.Request.Url = "http://upstream/x?k=" + upstreamKey
	returned.Request.SetHeaders = map[string]string{"X-Upstream": upstreamKey}
	returned.Request.Body = `{"k":"` + upstreamKey + `"}`
	r := For(Options{MaxBody: -1}, received, returned)
	for _, o := range []*coprocess.Object{r.Object(received), r.Object(returned)} {
		b, err := proto.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), upstreamKey) {
			t.Errorf("%s still holds the configuration's key: %v", o.GetHookName(), o)
		}
		if !strings.Contains(o.GetSpec()[tykplugin.SpecConfigData], `"service":"x"`) {
			t.Errorf("config_data lost its plain values: %s", o.GetSpec()[tykplugin.SpecConfigData])
		}
	}
	if got := r.Object(returned).GetRequest().GetUrl(); got != "http://upstream/x?k="+Fingerprint(upstreamKey) {
		t.Errorf("url = %q", got)
	}
}

// A spec without config_data and without sensitive keys costs nothing; nor
// does a configuration without a credential once seen.
func TestSpecDoesNotAllocate(t *testing.T) {
	o := For(Options{MaxBody: -1}, specObj(nil)).opts
	for name, spec := range map[string]map[string]string{
		"no config_data": {"APIID": "classic-auth", "OrgID": "default", "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e"},
		"plain config_data": {"APIID": "classic-auth", "OrgID": "default",
			"config_data": `{"max_body_bytes":1048576,"owner":"\u003cplugin-team@example.com\u003e","service":"examples"}`},
	} {
		var out map[string]string
		if n := testing.AllocsPerRun(100, func() { out = o.redactMap(spec, true) }); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
		if !equalMaps(out, spec) {
			t.Errorf("%s: spec changed: %v", name, out)
		}
	}
}

func BenchmarkObjectSpec(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec map[string]string
	}{
		{"no config_data", map[string]string{"APIID": "classic-auth", "OrgID": "default", "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e"}},
		{"plain config_data", map[string]string{"APIID": "classic-auth", "OrgID": "default", "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e",
			"config_data": `{"max_body_bytes":1048576,"owner":"\u003cplugin-team@example.com\u003e","service":"examples"}`}},
		{"secret in config_data", map[string]string{"APIID": "classic-auth", "OrgID": "default", "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e",
			"config_data": `{"upstream_api_key":"s3cr3t-upstream-value","service":"x","nested":{"auth":{"password":"hunter2hunter2"}}}`}},
	} {
		o := specObj(bc.spec)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = For(Options{MaxBody: 1024}, o).Object(o)
			}
		})
	}
}
