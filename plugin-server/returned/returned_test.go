package returned_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
)

// Row is a fact's line in the README's table.
func row(f returned.Fact) string {
	return "| " + f.Hook.String() + " | " + f.Returns + " | " + f.Then + " |"
}

// The README's table "What the gateway does with what you return" says
// exactly what the facts say (which the e2e suite proves).
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile("../../docs/gateway.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	var want []string
	for _, f := range returned.Facts {
		want = append(want, row(f))
	}
	start := strings.Index(readme, want[0])
	if start < 0 || !strings.HasPrefix(readme[start:], strings.Join(want, "\n")+"\n") {
		t.Errorf("docs/gateway.md (\"What the gateway does with what you return\") lacks the table of plugin-server/returned's facts; its rows should read:\n%s", strings.Join(want, "\n"))
	}
}

// Each probe changes only what its fact names, only for its own hook type.
func TestHooksApplyTheNamedFact(t *testing.T) {
	hooks := returned.Hooks()
	for _, f := range returned.Facts {
		for name, h := range hooks {
			obj := &coprocess.Object{
				Request:  &coprocess.MiniRequestObject{Headers: map[string]string{returned.Header: f.Name, "X-Upstream": "x"}},
				Response: &coprocess.ResponseObject{Headers: map[string]string{"X-Upstream": "x"}},
			}
			before := obj.String()
			got, err := h(context.Background(), obj)
			if err != nil {
				t.Fatalf("%s on %s: %v", name, f.Name, err)
			}
			applies := name == "Fact"+strings.TrimPrefix(f.Hook.String(), "HookType_")
			if changed := got.String() != before; changed != applies {
				t.Errorf("%s on fact %s (a %s fact): changed=%v", name, f.Name, f.Hook, changed)
			}
		}
	}
}

// SessionAuth returns the session its request names, keyed by the
// credential; SessionSeen changes the session only for its own hook type.
func TestSessionProbes(t *testing.T) {
	hooks := returned.SessionHooks()
	for name, probe := range returned.SessionProbes {
		obj := &coprocess.Object{HookType: coprocess.HookType_CustomKeyCheck, Request: &coprocess.MiniRequestObject{
			Headers: map[string]string{returned.SessionHeader: name, "Authorization": "Bearer x"}}}
		got, err := hooks["SessionAuth"](context.Background(), obj)
		if err != nil {
			t.Fatal(err)
		}
		want, gotS := probe("Bearer x"), got.GetSession().CloneVT()
		want.IdExtractorDeadline, gotS.IdExtractorDeadline = 0, 0  // computed from the clock
		if !gotS.EqualVT(want) && gotS.String() != want.String() { // NaN != NaN
			t.Errorf("%q: session %v, want %v", name, got.GetSession(), want)
		}
		token := got.GetSession().GetMetadata()["token"]
		if name == "object-token" {
			token = got.GetMetadata()["token"]
		}
		if (token == "Bearer x") == (name == "no-token") {
			t.Errorf("%q: token %q", name, token)
		}
	}
	bad := &coprocess.Object{HookType: coprocess.HookType_CustomKeyCheck, Request: &coprocess.MiniRequestObject{
		Headers: map[string]string{returned.SessionHeader: "nope"}}}
	if got, _ := hooks["SessionAuth"](context.Background(), bad); got.GetRequest().GetReturnOverrides().GetResponseCode() != 400 {
		t.Errorf("an unknown probe: %v, want 400", got.GetRequest().GetReturnOverrides())
	}
	for _, hook := range []coprocess.HookType{coprocess.HookType_PostKeyAuth, coprocess.HookType_Post, coprocess.HookType_Response} {
		obj := &coprocess.Object{HookType: hook, Request: &coprocess.MiniRequestObject{
			Headers: map[string]string{returned.SessionEditHeader: coprocess.HookType_Post.String()}},
			Response: &coprocess.ResponseObject{}, Session: &coprocess.SessionState{Rate: 5, KeyId: "k"}}
		got, _ := hooks["SessionSeen"](context.Background(), obj)
		if edited := got.GetSession().GetMetadata()["edited"] != ""; edited != (hook == coprocess.HookType_Post) {
			t.Errorf("%s: edited %v", hook, edited)
		}
		if hook == coprocess.HookType_PostKeyAuth && got.GetRequest().GetSetHeaders()[returned.SeenKeyID] != "k" {
			t.Errorf("PostKeyAuth: set_headers %v", got.GetRequest().GetSetHeaders())
		}
	}
}
