// Tests that every captured gateway call decodes with our protos, strictly
// (no unknown field) and without loss (re-encoding gives the same JSON),
// which proves the protos match the gateway v5.14.0 wire format.
package captures

import (
	"encoding/json"
	"path"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

func TestEveryDispatchLineParsesWithoutLoss(t *testing.T) {
	total := 0
	for _, phase := range Phases() {
		lines, err := Lines(path.Join(phase, "dispatch.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			total++
			o, err := ParseDispatch(l)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			// The capture was written with UseProtoNames and
			// EmitUnpopulated: writing it back the same way must give
			// the same document, or a field was lost or mistyped.
			back, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(o)
			if err != nil {
				t.Fatalf("%v: marshal: %v", l, err)
			}
			var want, got any
			if err := json.Unmarshal(l.Text, &want); err != nil {
				t.Fatalf("%v: %v", l, err)
			}
			if err := json.Unmarshal(back, &got); err != nil {
				t.Fatalf("%v: %v", l, err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%v: re-encoded Object differs from the capture\ncapture: %s\nours:    %s", l, l.Text, back)
			}
		}
	}
	if total < 30 {
		t.Errorf("only %d dispatch lines embedded; testdata incomplete?", total)
	}
}

func TestUnknownFieldIsRefused(t *testing.T) {
	_, err := ParseDispatch(Line{File: "inline", N: 1, Text: []byte(`{"hook_type":"Pre","no_such_field":1}`)})
	if err == nil {
		t.Fatal("an unknown field was accepted: captures would not prove the protos match")
	}
}

func TestDispatchesCoverEveryHookSeen(t *testing.T) {
	objs, err := Dispatches()
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 14 {
		t.Errorf("phase1-basic has %d dispatches, want 14 (see its README.txt)", len(objs))
	}
	seen := map[coprocess.HookType]int{}
	for _, o := range MustDispatches(t) {
		seen[o.GetHookType()]++
	}
	for _, h := range []coprocess.HookType{coprocess.HookType_Pre, coprocess.HookType_PostKeyAuth, coprocess.HookType_Post, coprocess.HookType_Response} {
		if seen[h] == 0 {
			t.Errorf("no %v hook in the captures", h)
		}
	}
	keyed := MustFind(t, Hook(coprocess.HookType_Response, true))
	if keyed.GetSession().GetKeyId() == "" || keyed.GetResponse().GetStatusCode() != 200 {
		t.Errorf("keyed Response capture: key %q, status %d", keyed.GetSession().GetKeyId(), keyed.GetResponse().GetStatusCode())
	}
	if pre := MustFind(t, Hook(coprocess.HookType_Pre, false)); pre.GetSession() != nil {
		t.Errorf("Pre capture has a session: %v", pre.GetSession())
	}
}

func TestEveryEventLineParses(t *testing.T) {
	evs, err := Events()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	wantTypes := []string{"AuthFailure", "KeyExpired", "AuthFailure"}
	for i, p := range evs {
		var ev struct {
			Message struct {
				Type string
				Meta struct{ Key, OriginatingRequest string }
			} `json:"message"`
			Spec struct{ APIID string } `json:"spec"`
		}
		if err := json.Unmarshal(p, &ev); err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, p)
		}
		if ev.Message.Type != wantTypes[i] || ev.Spec.APIID != "classic-auth" ||
			ev.Message.Meta.Key == "" || ev.Message.Meta.OriginatingRequest == "" {
			t.Errorf("event %d decoded as %+v", i, ev)
		}
	}
}
