// Package plugintest runs a plugin's hooks in an ordinary go test, without
// the gateway, Docker or the network: feed a hook an Object a real gateway
// sent (captured by `make capture`, or one of the lab's own captures of
// each hook on each gateway line), and read what the gateway would do with
// what it returns: the request that goes on upstream, or the client's
// answer, or the session a CustomKeyCheck made.
//
//	func TestAddsHeader(t *testing.T) {
//		obj := plugintest.Object(t, plugintest.Match{Hook: coprocess.HookType_Pre})
//		res := plugintest.Run(plugin.MyPreRequestPlugin, obj)
//		if got := res.Upstream.Header.Get("X-Plugin"); got != "hello" {
//			t.Errorf("X-Plugin = %q", got)
//		}
//	}
//
// The prediction is gatewaymodel's, which the e2e suite compares with what
// the real gateway did, so a divergence fails a test there.
package plugintest

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

// What a hook call comes to, as gatewaymodel works it out.
type (
	Result   = gatewaymodel.Result
	Upstream = gatewaymodel.Upstream
	Client   = gatewaymodel.Client
)

// Run calls hook with obj, as the gateway would, and applies what it
// returns. obj is the hook's to change; Run keeps a copy of it as received.
func Run(hook tykplugin.Hook, obj *coprocess.Object) *Result {
	return runFor("", hook, obj)
}

// Run calls hook with a copy of the captured object and applies what it
// returns as the capture's gateway version does.
func (c Capture) Run(hook tykplugin.Hook) *Result {
	return runFor(c.Gateway, hook, c.Object.CloneVT())
}

func runFor(gateway string, hook tykplugin.Hook, obj *coprocess.Object) *Result {
	received := obj.CloneVT()
	returned, err := hook(context.Background(), obj)
	return gatewaymodel.ApplyFor(gateway, received, returned, err)
}

// Capture is one Dispatch a real gateway made, as `make capture` wrote it:
// a journal record (secrets redacted) with the Object received.
type Capture struct {
	// Gateway is the gateway's version (the capture's directory, e.g.
	// v5.14.0); File and Line say where it was read.
	Gateway string
	File    string
	Line    int
	Record  journal.Record
	Object  *coprocess.Object
}

func (c Capture) String() string {
	return fmt.Sprintf("%s:%d (gateway %s, %s/%s, api %s)", c.File, c.Line, c.Gateway, c.Record.HookType, c.Record.HookName, c.Record.APIID)
}

// Match selects captures; a zero field matches anything.
type Match struct {
	Gateway  string // e.g. "v5.8.11"
	APIID    string
	Hook     coprocess.HookType
	HookName string
	// Keyed: only objects whose session carries a key.
	Keyed bool
}

func (m Match) matches(c Capture) bool {
	return (m.Gateway == "" || m.Gateway == c.Gateway) &&
		(m.APIID == "" || m.APIID == c.Record.APIID) &&
		(m.Hook == 0 || m.Hook == c.Object.GetHookType()) &&
		(m.HookName == "" || m.HookName == c.Record.HookName) &&
		(!m.Keyed || c.Object.GetSession().GetKeyId() != "")
}

//go:embed testdata
var labCaptures embed.FS

// Captures returns the lab's own captures matching m, newest gateway
// first: every hook type, keyless and keyed, Classic and OAS, from each
// gateway line the lab supports (testdata/<version>/*.jsonl).
func Captures(t testing.TB, m Match) []Capture {
	t.Helper()
	all, err := load(labCaptures, "testdata")
	if err != nil {
		t.Fatalf("plugintest: the lab's captures: %v", err)
	}
	return filter(all, m)
}

// Object returns a copy of the first of the lab's captured Objects that
// matches m, newest gateway first.
func Object(t testing.TB, m Match) *coprocess.Object {
	t.Helper()
	cs := Captures(t, m)
	if len(cs) == 0 {
		t.Fatalf("plugintest: no capture matches %+v", m)
	}
	return cs[0].Object.CloneVT()
}

// Load reads the captures `make capture` wrote under dir
// (<dir>/<gateway version>/*.jsonl), matching m.
func Load(t testing.TB, dir string, m Match) []Capture {
	t.Helper()
	all, err := load(os.DirFS(dir), ".")
	if err != nil {
		t.Fatalf("plugintest: captures in %s: %v", dir, err)
	}
	for i := range all {
		all[i].File = filepath.Join(dir, all[i].File)
	}
	return filter(all, m)
}

func filter(all []Capture, m Match) []Capture {
	var out []Capture
	for _, c := range all {
		if m.matches(c) {
			out = append(out, c)
		}
	}
	return out
}

// load reads every <version>/*.jsonl under root of fsys, newest version
// first.
func load(fsys fs.FS, root string) ([]Capture, error) {
	files, err := fs.Glob(fsys, path.Join(root, "*", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.SliceStable(files, func(i, j int) bool {
		return newer(path.Base(path.Dir(files[i])), path.Base(path.Dir(files[j])))
	})
	var out []Capture
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		gw := path.Base(path.Dir(f))
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 64<<20)
		for n := 1; sc.Scan(); n++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			c, err := ParseLine(sc.Bytes())
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f, n, err)
			}
			if c.Object == nil { // an event, or a record without its object
				continue
			}
			c.Gateway, c.File, c.Line = gw, strings.TrimPrefix(f, root+"/"), n
			out = append(out, c)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return out, nil
}

// ParseLine reads one line of `plugin-server journal -objects` (what `make
// capture` writes): journal.ParseJSONWithObjects.
func ParseLine(line []byte) (Capture, error) {
	r, err := journal.ParseJSONWithObjects(line)
	return Capture{Record: r, Object: r.Received}, err
}

// newer orders gateway versions (v5.14.0 before v5.8.11).
func newer(a, b string) bool {
	if c := gatewaymodel.CompareVersions(a, b); c != 0 {
		return c > 0
	}
	return a < b
}

// WithConfig sets the API configuration obj carries as the gateway sets it
// (spec["config_data"]) and returns obj: config is the API definition's
// config_data (Classic) or pluginConfig.data.value (OAS), as a JSON text
// (string, []byte, json.RawMessage) or any value json.Marshal takes. The
// gateway decodes it into a JSON object and sends that re-encoded (keys
// sorted, compact, <, > and & escaped, numbers as float64), and sends
// nothing for an empty object; WithConfig does the same. A nil config
// removes it: an API without configuration (or with config_data_disabled).
func WithConfig(t testing.TB, obj *coprocess.Object, config any) *coprocess.Object {
	t.Helper()
	if obj.Spec == nil {
		obj.Spec = map[string]string{}
	}
	delete(obj.Spec, tykplugin.SpecConfigData)
	if config == nil {
		return obj
	}
	var text []byte
	switch c := config.(type) {
	case string:
		text = []byte(c)
	case []byte:
		text = c
	case json.RawMessage:
		text = c
	default:
		var err error
		if text, err = json.Marshal(config); err != nil {
			t.Fatalf("plugintest.WithConfig: %v", err)
		}
	}
	// What the gateway holds: apidef's ConfigData, a map[string]any.
	var m map[string]any
	if err := json.Unmarshal(text, &m); err != nil || m == nil {
		t.Fatalf("plugintest.WithConfig: the gateway takes a JSON object as an API's configuration, not %s (%v)", text, err)
	}
	if len(m) == 0 {
		return obj
	}
	sent, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("plugintest.WithConfig: %v", err)
	}
	obj.Spec[tykplugin.SpecConfigData] = string(sent)
	return obj
}

// RawBodyOnly returns obj as the gateway sends it to a hook whose
// middleware definition sets raw_body_only (Classic `raw_body_only`, OAS
// `rawBodyOnly`): the request's and the response's bodies in raw_body
// only, body empty. obj is left alone.
func RawBodyOnly(obj *coprocess.Object) *coprocess.Object {
	o := obj.CloneVT()
	if o.Request != nil {
		o.Request.Body = ""
	}
	if o.Response != nil {
		o.Response.Body = ""
	}
	return o
}
