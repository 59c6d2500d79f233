package tykplugin_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

type testConfig struct {
	Header string   `json:"header"`
	Limit  int      `json:"limit"`
	Tags   []string `json:"tags"`
}

func objFor(apiID string, config *string) *coprocess.Object {
	o := &coprocess.Object{Spec: map[string]string{"APIID": apiID, "OrgID": "default"}}
	if config != nil {
		o.Spec[tykplugin.SpecConfigData] = *config
	}
	return o
}

func ptr(s string) *string { return &s }

func TestAPIConfigLookup(t *testing.T) {
	var c tykplugin.APIConfig[testConfig]
	for _, tc := range []struct {
		name   string
		config *string
		want   testConfig
		ok     bool
		errHas []string // an error naming these
	}{
		{name: "none", config: nil},
		{name: "empty", config: ptr(`{}`), ok: true},
		{name: "value", config: ptr(`{"header":"X-A","limit":3,"tags":["a"]}`), ok: true, want: testConfig{Header: "X-A", Limit: 3, Tags: []string{"a"}}},
		{name: "unknown field", config: ptr(`{"hedaer":"X-A"}`), ok: true, errHas: []string{`API "api-unknown field"`, `unknown field "hedaer"`, "plugin_test.testConfig"}},
		{name: "wrong type", config: ptr(`{"limit":"three"}`), ok: true, errHas: []string{`API "api-wrong type"`, "limit", "string"}},
		{name: "not JSON", config: ptr(`{"limit":`), ok: true, errHas: []string{`API "api-not JSON"`, "unexpected EOF"}},
		{name: "two values", config: ptr(`{} {}`), ok: true, errHas: []string{"more than one JSON value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second call is the cache's
				got, ok, err := c.Lookup(objFor("api-"+tc.name, tc.config))
				if ok != tc.ok {
					t.Errorf("ok = %v, want %v", ok, tc.ok)
				}
				if len(tc.errHas) == 0 {
					if err != nil {
						t.Fatalf("error: %v", err)
					}
					if got.Header != tc.want.Header || got.Limit != tc.want.Limit || strings.Join(got.Tags, ",") != strings.Join(tc.want.Tags, ",") {
						t.Errorf("got %+v, want %+v", got, tc.want)
					}
					continue
				}
				var ce *tykplugin.ConfigError
				if !errors.As(err, &ce) || ce.APIID != "api-"+tc.name {
					t.Fatalf("error %v: want a *tykplugin.ConfigError naming the API", err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != err.Error() {
					t.Errorf("gRPC status %v %q, want FailedPrecondition with the message", st.Code(), st.Message())
				}
			}
		})
	}
}

// A changed configuration (the API reloaded with other config_data) is
// decoded again; each API keeps its own.
func TestAPIConfigFollowsChanges(t *testing.T) {
	var c tykplugin.APIConfig[testConfig]
	a1, b := objFor("a", ptr(`{"limit":1}`)), objFor("b", ptr(`{"limit":2}`))
	a2 := objFor("a", ptr(`{"limit":3}`))
	for _, step := range []struct {
		obj  *coprocess.Object
		want int
	}{{a1, 1}, {b, 2}, {a2, 3}, {b, 2}, {a1, 1}} {
		got, _, err := c.Lookup(step.obj)
		if err != nil || got.Limit != step.want {
			t.Errorf("API %s with %s: limit %d, %v; want %d", step.obj.Spec["APIID"], step.obj.Spec[tykplugin.SpecConfigData], got.Limit, err, step.want)
		}
	}
}

func TestAPIConfigConcurrent(t *testing.T) {
	var c tykplugin.APIConfig[testConfig]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				cfg := `{"limit":1}`
				if (i+j)%2 == 0 {
					cfg = `{"limit":2}`
				}
				got, ok, err := c.Lookup(objFor("shared", &cfg))
				if !ok || err != nil || (got.Limit != 1 && got.Limit != 2) || cfg != map[int]string{1: `{"limit":1}`, 2: `{"limit":2}`}[got.Limit] {
					t.Errorf("config %s: got %+v %v %v", cfg, got, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Decoding happens once per API and text: a cached lookup allocates
// nothing.
func TestAPIConfigCached(t *testing.T) {
	var c tykplugin.APIConfig[testConfig]
	obj := objFor("a", ptr(`{"header":"X-A","tags":["a","b"]}`))
	c.Lookup(obj)
	if n := testing.AllocsPerRun(100, func() { c.Lookup(obj) }); n != 0 {
		t.Errorf("a cached Lookup allocates %v times, want 0", n)
	}
}

func BenchmarkAPIConfigLookup(b *testing.B) {
	var c tykplugin.APIConfig[testConfig]
	obj := objFor("a", ptr(`{"header":"X-A","limit":3,"tags":["a","b","c"]}`))
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(obj)
	}
}
