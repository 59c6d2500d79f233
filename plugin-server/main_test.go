// Tests the plugin-server command: serving through run() and serve() (real
// gRPC, real Redis journal flushed on shutdown), the healthcheck subcommand
// against a running server and against nothing, the journal subcommand
// printing records as JSON lines, and start-up errors.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/redistest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startServe runs serve() with the configuration vars and args give, on a
// loopback port.
func startServe(t *testing.T, vars map[string]string, log *slog.Logger, args ...string) *grpctest.Server {
	t.Helper()
	cfg, err := config.Load(args, getenv(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Serve(t, lis, func(ctx context.Context, lis net.Listener) error {
		return serve(ctx, cfg, serverHooks(), getenv(vars), lis, log)
	})
}

// testConfig is Configured's per-API configuration.
var testConfig tykplugin.APIConfig[struct {
	Header string `json:"header"`
}]

// serverHooks stand in for a plugin's in the tests of serve, so that they
// test the server (and the inspector) whatever the plugin's hooks and the
// examples become, or after `make remove-examples`. The inspector's tests
// replay the lab's captures of one /examples/ request: the stand-ins of
// ExamplePreRequest (it sets X-Example-Pre upstream) and ExampleAuthCheck
// do what the inspector shows of them; the other three hooks of that
// request have no stand-in, and echo.
func serverHooks() map[string]tykplugin.Hook {
	return map[string]tykplugin.Hook{
		"ExamplePreRequest": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			tykplugin.SetHeader(o, "X-Example-Pre", "added")
			return o, nil
		},
		"ExampleAuthCheck": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			token, ok := strings.CutPrefix(o.GetRequest().GetHeaders()["Authorization"], "Bearer lab-token-")
			if !ok || token == "" {
				tykplugin.Deny(o, 403, nil, "invalid or missing bearer token")
				return o, nil
			}
			o.Session = &coprocess.SessionState{Metadata: map[string]string{"token": "lab-token-" + token}}
			return o, nil
		},
		// Configured fails, FailedPrecondition, on an API whose config_data
		// does not decode.
		"Configured": func(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
			if _, _, err := testConfig.Lookup(o); err != nil {
				return nil, err
			}
			return o, nil
		},
	}
}

// runCmd runs the command line args and returns exit code, stdout, stderr.
func runCmd(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(grpctest.Context(t, 30*time.Second), args, getenv(vars), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestHealthcheck(t *testing.T) {
	s := startServe(t, nil, nil)
	_, port, _ := net.SplitHostPort(s.Addr)
	dead := closedAddr(t)
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"running server", nil, []string{"healthcheck", "-addr", s.Addr}, 0, ""},
		{"address from the listen variable", map[string]string{config.EnvListenAddr: ":" + port}, []string{"healthcheck"}, 0, ""},
		{"nothing listening", nil, []string{"healthcheck", "-addr", dead, "-timeout", "2s"}, 1, "healthcheck " + dead},
		{"bad flag", nil, []string{"healthcheck", "-port", "1"}, 1, "-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.vars, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
			if strings.Contains(stderr, "s3cr3t-pw") {
				t.Errorf("stderr shows the Redis password: %q", stderr)
			}
		})
	}

	// And NOT_SERVING once stopped.
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCmd(t, nil, "healthcheck", "-addr", s.Addr, "-timeout", "2s"); code == 0 {
		t.Error("healthcheck passed on a stopped server")
	}
}

func TestLocalAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "127.0.0.1:50051",
		":50051":           "127.0.0.1:50051",
		"0.0.0.0:6000":     "127.0.0.1:6000",
		"[::]:6000":        "127.0.0.1:6000",
		"plugin:50051":     "plugin:50051",
		"10.0.0.1:50051":   "10.0.0.1:50051",
		"unix:///tmp/sock": "unix:///tmp/sock",
	} {
		if got := localAddr(in); got != want {
			t.Errorf("localAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunServes starts the real command line (flags and environment) and
// stops it as SIGTERM would.
func TestRunServes(t *testing.T) {
	log := &grpctest.Log{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0"}, getenv(map[string]string{config.EnvLogLevel: "debug"}), io.Discard, log)
	}()
	var addr string
	grpctest.Eventually(t, 10*time.Second, func() bool {
		for _, l := range log.Lines() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "plugin server listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	}, "server never logged its address:\n%s", log.String())

	c := coprocess.NewDispatcherClient(grpctest.Dial(t, addr))
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_PostKeyAuth, true))
	got, err := c.Dispatch(grpctest.Context(t, 10*time.Second), o)
	if err != nil || !proto.Equal(got, o) {
		t.Fatalf("Dispatch: %v", err)
	}
	if code, _, stderr := runCmd(t, nil, "healthcheck", "-addr", addr); code != 0 {
		t.Errorf("healthcheck: %s", stderr)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after a requested stop:\n%s", code, log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
	out := log.String()
	if !strings.Contains(out, `"msg":"stopped gracefully"`) || !strings.Contains(out, `"msg":"dispatch objects"`) {
		t.Errorf("log lacks the stop or the debug Object:\n%s", out)
	}
	if key := o.GetSession().GetKeyId(); strings.Contains(out, key) || !strings.Contains(out, redact.Fingerprint(key)) {
		t.Error("raw key in the log, or its fingerprint missing")
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"bad variable", map[string]string{config.EnvMaxRecvBytes: "big"}, nil, 1, "plugin-server: " + config.EnvMaxRecvBytes + `="big"`},
		{"help", nil, []string{"-h"}, 0, config.EnvListenAddr},
		{"cannot listen", nil, []string{"-listen", "256.0.0.1:1"}, 1, "listen on 256.0.0.1:1"},
		{"bad journal URL", map[string]string{config.EnvJournalRedisURL: "http://x"}, []string{"-listen", "127.0.0.1:0"}, 1, "journal Redis URL"},
		{"bad journal URL with a password", map[string]string{config.EnvJournalRedisURL: "http://lab:s3cr3t-pw@x"}, []string{"-listen", "127.0.0.1:0"}, 1, `journal Redis URL "http://lab:xxxxx@x"`},
		{"journal URL that does not parse, with a password", map[string]string{config.EnvJournalRedisURL: "redis://lab:s3cr3t-pw@x:port"}, []string{"-listen", "127.0.0.1:0"}, 1, "journal Redis URL (one that does not parse as a URL)"},
		{"journal without URL", nil, []string{"journal"}, 1, "no Redis URL"},
		{"journal help", nil, []string{"journal", "-h"}, 0, "-correlation-id"},
		{"timeout that does not parse", map[string]string{config.EnvDispatchTimeout: "5 seconds"}, nil, 1, config.EnvDispatchTimeout + `="5 seconds": want a duration`},
		{"negative timeout", nil, []string{"-dispatch-timeout", "-1s"}, 1, "dispatch timeout must not be negative"},
		{"fail-open list of nothing", map[string]string{config.EnvFailOpen: " , "}, nil, 1, `fail-open list " , " names no hook`},
		{"fail-open names no hook", map[string]string{config.EnvFailOpen: "FactPre,FactPree", config.EnvLabHooks: "true"}, []string{"-listen", "127.0.0.1:0"}, 1,
			config.EnvFailOpen + ` names "FactPree", which is no hook of this plugin server (its hooks: `},
		{"fail-open names a lab hook, the lab's hooks off", map[string]string{config.EnvFailOpen: "FactPre"}, []string{"-listen", "127.0.0.1:0"}, 1,
			config.EnvFailOpen + ` names "FactPre", which is no hook of this plugin server (its hooks: `},
		{"lab hooks that do not parse", map[string]string{config.EnvLabHooks: "yes please"}, nil, 1, config.EnvLabHooks + `="yes please": want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.vars, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
			if strings.Contains(stderr, "s3cr3t-pw") {
				t.Errorf("stderr shows the Redis password: %q", stderr)
			}
		})
	}
}

// printed is a line of `plugin-server journal`: a journal.Record, with
// -objects the received object as JSON.
type printed struct {
	journal.Record
	ReceivedJSON json.RawMessage `json:"received"`
}

func parseLines(t *testing.T, out string) []printed {
	t.Helper()
	var recs []printed
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p printed
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		recs = append(recs, p)
	}
	return recs
}

// TestJournalEndToEnd serves with the journal on a real Redis, stops (the
// journal must be flushed by then), and reads it back with the journal
// subcommand.
func TestJournalEndToEnd(t *testing.T) {
	r := redistest.Start(t)
	vars := map[string]string{
		config.EnvJournalRedisURL:   r.URL,
		config.EnvJournalStream:     "e2e:journal",
		config.EnvCorrelationHeader: "X-Corr",
	}
	log, logs := grpctest.NewLog(slog.LevelInfo)
	s := startServe(t, vars, log)

	objs := captures.MustDispatches(t)
	for i, o := range objs {
		o = proto.Clone(o).(*coprocess.Object)
		o.GetRequest().GetHeaders()["X-Corr"] = fmt.Sprint("corr-", i)
		if _, err := s.Client.Dispatch(grpctest.Context(t, 10*time.Second), o); err != nil {
			t.Fatal(err)
		}
	}
	events := captures.MustEvents(t)
	for _, p := range events {
		if _, err := s.Client.DispatchEvent(grpctest.Context(t, 10*time.Second), &coprocess.Event{Payload: string(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
	total := len(objs) + len(events)
	if !strings.Contains(logs.String(), fmt.Sprintf(`"msg":"journal closed","written":%d,"dropped":0,"failed":0`, total)) {
		t.Errorf("journal not flushed on shutdown:\n%s", logs.String())
	}

	code, out, stderr := runCmd(t, vars, "journal", "-n", "100")
	if code != 0 {
		t.Fatalf("journal: exit %d: %s", code, stderr)
	}
	recs := parseLines(t, out)
	if len(recs) != total {
		t.Fatalf("%d records printed, want %d", len(recs), total)
	}
	rawKey := captures.MustFind(t, captures.Hook(coprocess.HookType_PostKeyAuth, true)).GetSession().GetKeyId()
	for i, o := range objs {
		p := recs[i]
		if p.Kind != "dispatch" || p.HookType != o.GetHookType().String() || p.APIID != o.GetSpec()["APIID"] ||
			p.Path != o.GetRequest().GetRequestUri() || p.CorrelationID != fmt.Sprint("corr-", i) ||
			p.Key != redact.Fingerprint(o.GetSession().GetKeyId()) || p.ReceivedJSON != nil || p.Outcome() != "unchanged" {
			t.Errorf("line %d = %+v", i, p)
		}
	}
	for i := range events {
		if p := recs[len(objs)+i]; p.Kind != "event" || p.EventType == "" || !json.Valid(p.Event) {
			t.Errorf("event line %d = %+v", i, p)
		}
	}
	if strings.Contains(out, rawKey) {
		t.Error("raw key printed")
	}

	code, out, _ = runCmd(t, vars, "journal", "-n", "2")
	if recs := parseLines(t, out); code != 0 || len(recs) != 2 || recs[1].Kind != "event" {
		t.Errorf("-n 2: exit %d, %d lines", code, len(recs))
	}
	code, out, _ = runCmd(t, vars, "journal", "-n", "100", "-objects", "-correlation-id", "corr-5")
	recs = parseLines(t, out)
	if code != 0 || len(recs) != 1 || recs[0].CorrelationID != "corr-5" || recs[0].HookType != "Response" {
		t.Fatalf("-correlation-id corr-5: exit %d, %+v", code, recs)
	}
	if obj := string(recs[0].ReceivedJSON); !strings.Contains(obj, `"session"`) || !strings.Contains(obj, redact.Fingerprint(rawKey)) || strings.Contains(obj, rawKey) {
		t.Errorf("-objects: %s", obj)
	}
	// A trailing * matches a prefix: corr-1 and corr-10 to corr-19.
	code, out, _ = runCmd(t, vars, "journal", "-n", "100", "-correlation-id", "corr-1*")
	recs = parseLines(t, out)
	if code != 0 || len(recs) != 11 {
		t.Errorf("-correlation-id corr-1*: exit %d, %d lines, want 11", code, len(recs))
	}
	for _, p := range recs {
		if !strings.HasPrefix(p.CorrelationID, "corr-1") {
			t.Errorf("-correlation-id corr-1* printed %q", p.CorrelationID)
		}
	}
	code, out, _ = runCmd(t, vars, "journal", "-n", "100", "-text")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != total {
		t.Fatalf("-text: exit %d, %d lines, want %d", code, len(lines), total)
	}
	for _, want := range []struct {
		line int
		has  []string
	}{
		{3, []string{"dispatch", "PostKeyAuth", "MyPostKeyAuthPlugin", "api=classic-auth", "POST /auth/resource?a=b",
			"session=present", "key=" + redact.Fingerprint(rawKey), "id=corr-3", "→ unchanged"}},
		{5, []string{"Response", "status=200", "id=corr-5"}},
		{len(objs), []string{"event", "AuthFailure", "api=classic-auth"}},
	} {
		for _, h := range want.has {
			if !strings.Contains(lines[want.line], h) {
				t.Errorf("-text line %d %q lacks %q", want.line, lines[want.line], h)
			}
		}
	}
	if strings.Contains(out, rawKey) {
		t.Error("raw key printed by -text")
	}
	if code, out, _ := runCmd(t, vars, "journal", "-stream", "no:such:stream"); code != 0 || out != "" {
		t.Errorf("empty stream: exit %d, %q", code, out)
	}
}

func TestRedactionOffIsLoud(t *testing.T) {
	log, logs := grpctest.NewLog(slog.LevelInfo)
	s := startServe(t, map[string]string{config.EnvRedact: "false"}, log)
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_PostKeyAuth, true))
	if _, err := s.Client.Dispatch(grpctest.Context(t, 10*time.Second), o); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"WARN","msg":"redaction is OFF`) {
		t.Errorf("no warning that redaction is off:\n%s", out)
	}
	if !strings.Contains(out, o.GetSession().GetKeyId()) {
		t.Error("redaction off, yet the key is not in the log")
	}
}

// TestJournalFollow: -f prints records as they come, and stops promptly
// when interrupted.
func TestJournalFollow(t *testing.T) {
	r := redistest.Start(t)
	vars := map[string]string{config.EnvJournalRedisURL: r.URL, config.EnvJournalStream: "follow:journal"}
	s := startServe(t, vars, nil)

	out := &grpctest.Log{} // any concurrency-safe writer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"journal", "-f"}, getenv(vars), out, io.Discard) }()

	o := captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
	grpctest.Eventually(t, 10*time.Second, func() bool {
		// Dispatch until one shows: -f may start after the first.
		if _, err := s.Client.Dispatch(grpctest.Context(t, 5*time.Second), o); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(out.String(), `"hook_type":"Pre"`)
	}, "journal -f printed nothing")

	began := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("journal -f took %v to stop", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("journal -f did not stop")
	}
	for _, p := range parseLines(t, out.String()) {
		if p.Kind != "dispatch" || p.HookType != "Pre" {
			t.Errorf("printed %+v", p)
		}
	}
}
