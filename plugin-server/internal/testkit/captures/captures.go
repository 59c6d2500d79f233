// Package captures holds what a real Tyk Gateway v5.14.0 sent to a gRPC
// plugin server, captured on 2026-11-23 (see testdata/README.md), and
// decodes it for tests: the coprocess.Object of every Dispatch call and the
// payload of every DispatchEvent call.
//
// The files under testdata are copies of part of the lab's capture set
// (phase1-basic, phase3-errors and phase5-events); they are data, kept in the
// repository so that tests run anywhere. The keys and IDs in them belong to
// a throwaway local gateway.
package captures

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

//go:embed testdata
var files embed.FS

// Phases of the capture set held here.
const (
	// PhaseBasic: keyless and keyed Classic APIs, OAS APIs, a missing and a
	// bad key (with its AuthFailure event). Its README.txt lists the
	// requests in order.
	PhaseBasic = "phase1-basic"
	// PhaseErrors: the plugin answering gRPC errors (the gateway's requests
	// are ordinary; includes a keyed Response hook).
	PhaseErrors = "phase3-errors"
	// PhaseEvents: AuthFailure and KeyExpired events from event_handlers.
	PhaseEvents = "phase5-events"
)

// Phases lists the phases held here, in order.
func Phases() []string {
	entries, err := fs.ReadDir(files, "testdata")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Line is one line of a capture file.
type Line struct {
	File string // e.g. "phase1-basic/dispatch.jsonl"
	N    int    // line number, from 1
	Text []byte
}

func (l Line) String() string { return fmt.Sprintf("%s:%d", l.File, l.N) }

// Lines returns the non-empty lines of a capture file, e.g.
// Lines("phase1-basic/dispatch.jsonl"). A missing file has no lines.
func Lines(name string) ([]Line, error) {
	b, err := files.ReadFile(path.Join("testdata", name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []Line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		out = append(out, Line{File: name, N: n, Text: bytes.Clone(sc.Bytes())})
	}
	return out, sc.Err()
}

// unmarshal is strict: an unknown field means our protos do not match
// the gateway's.
var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: false}

// ParseDispatch decodes one dispatch.jsonl line (protojson with proto field
// names, enums as names, int64 as strings).
func ParseDispatch(l Line) (*coprocess.Object, error) {
	o := &coprocess.Object{}
	if err := unmarshal.Unmarshal(l.Text, o); err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	return o, nil
}

// DispatchesIn returns every Object the gateway sent in one phase, in order.
func DispatchesIn(phase string) ([]*coprocess.Object, error) {
	lines, err := Lines(path.Join(phase, "dispatch.jsonl"))
	if err != nil {
		return nil, err
	}
	out := make([]*coprocess.Object, 0, len(lines))
	for _, l := range lines {
		o, err := ParseDispatch(l)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Dispatches returns every Object of phase1-basic, in order: the hooks of
// keyless, keyed and OAS APIs (see testdata/phase1-basic/README.txt).
func Dispatches() ([]*coprocess.Object, error) { return DispatchesIn(PhaseBasic) }

// AllDispatches returns the Objects of every phase, in order.
func AllDispatches() ([]*coprocess.Object, error) {
	var out []*coprocess.Object
	for _, p := range Phases() {
		objs, err := DispatchesIn(p)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// ParseEventLine returns the payload of one events.jsonl line as the JSON
// text the gateway sent in Event.payload (the capture stores it decoded
// under "payload").
func ParseEventLine(l Line) ([]byte, error) {
	var rec struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(l.Text, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	if len(rec.Payload) == 0 {
		return nil, fmt.Errorf("%s: no payload", l)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, rec.Payload); err != nil {
		return nil, fmt.Errorf("%s: payload: %w", l, err)
	}
	return buf.Bytes(), nil
}

// EventsIn returns the event payloads of one phase, in order.
func EventsIn(phase string) ([][]byte, error) {
	lines, err := Lines(path.Join(phase, "events.jsonl"))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(lines))
	for _, l := range lines {
		p, err := ParseEventLine(l)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Events returns the payload of every event of every phase, in order: an
// AuthFailure (phase1-basic), then a KeyExpired and an AuthFailure
// (phase5-events). Each is JSON as the gateway sends it in Event.payload.
func Events() ([][]byte, error) {
	var out [][]byte
	for _, p := range Phases() {
		evs, err := EventsIn(p)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// Find returns the first Object of any phase for which match is true.
func Find(match func(*coprocess.Object) bool) (*coprocess.Object, error) {
	objs, err := AllDispatches()
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if match(o) {
			return o, nil
		}
	}
	return nil, fmt.Errorf("no captured Object matches")
}

// MustFind is Find for tests: it fails t when nothing matches.
func MustFind(t testing.TB, match func(*coprocess.Object) bool) *coprocess.Object {
	t.Helper()
	o, err := Find(match)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// MustDispatches is AllDispatches for tests.
func MustDispatches(t testing.TB) []*coprocess.Object {
	t.Helper()
	objs, err := AllDispatches()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// MustEvents is Events for tests.
func MustEvents(t testing.TB) [][]byte {
	t.Helper()
	evs, err := Events()
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// Hook matches the first Object of a hook type; with keyed, only one whose
// session carries a key.
func Hook(h coprocess.HookType, keyed bool) func(*coprocess.Object) bool {
	return func(o *coprocess.Object) bool {
		return o.GetHookType() == h && (!keyed || o.GetSession().GetKeyId() != "")
	}
}
