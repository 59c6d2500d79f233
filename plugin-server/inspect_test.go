// Tests the inspector (package inspector, served by `plugin-server
// inspect`) on what the plugin server really journals: captured gateway
// objects dispatched through real gRPC to the plugin's hooks, journaled to
// a real Redis, read back over HTTP and in a real browser (browser_test.go).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/inspector"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/redistest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/plugintest"
)

// Secrets the inspector must never show: a bearer token ExampleAuthCheck
// accepts, and a key in a query string.
const (
	secretToken = "lab-token-inspector-secret-7f3a"
	secretKey   = "query-key-5c1d9e0b"
)

// inspectorLab is a plugin server journaling to a real Redis, and an
// inspector reading it.
type inspectorLab struct {
	redis  *redistest.Server
	client coprocess.DispatcherClient
	url    string // the inspector's base URL
	stream string
}

// startInspectorLab starts Redis, the plugin server with its journal
// (redaction as given) and the inspector with at most maxRecords.
func startInspectorLab(t *testing.T, redact bool, maxRecords int) *inspectorLab {
	t.Helper()
	rs := redistest.Start(t)
	l := &inspectorLab{redis: rs, stream: journal.DefaultStream}
	srv := startServe(t, map[string]string{
		config.EnvJournalRedisURL: rs.URL,
		config.EnvRedact:          fmt.Sprint(redact),
		config.EnvJournalLinger:   "5ms",
	}, nil)
	l.client = coprocess.NewDispatcherClient(grpctest.Dial(t, srv.Addr))
	l.url = l.startInspector(t, rs.URL, maxRecords)
	return l
}

// startInspector serves an inspector of the Redis at url, until the test
// ends, and returns its base URL.
func (l *inspectorLab) startInspector(t *testing.T, url string, maxRecords int) string {
	t.Helper()
	rdb, err := newRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveInspector(ctx, lis, inspector.Options{Redis: rdb, Stream: l.stream, MaxRecords: maxRecords,
			TraceURL: "http://127.0.0.1:16686/trace/{trace_id}", Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("inspector: %v", err)
		}
		rdb.Close()
	})
	return "http://" + lis.Addr().String()
}

// exampleRequest dispatches, through gRPC, the five example hooks of one
// /examples/ request the gateway sent (the lab's v5.14.0 captures), with
// correlation id id and the given Authorization header, as the gateway
// would: each hook gets the request as the previous one left it.
func (l *inspectorLab) exampleRequest(t *testing.T, id, authorization string) {
	t.Helper()
	var hooks []plugintest.Capture
	for _, c := range plugintest.Captures(t, plugintest.Match{Gateway: "v5.14.0", APIID: "classic-examples"}) {
		if c.Record.CorrelationID == firstExampleID(t) {
			hooks = append(hooks, c)
		}
	}
	if len(hooks) != 5 {
		t.Fatalf("captures of one examples request: %d hooks, want 5", len(hooks))
	}
	for _, c := range hooks {
		obj := c.Object.CloneVT()
		h := obj.GetRequest().GetHeaders()
		h["X-Request-Id"] = id
		h["Authorization"] = authorization
		// A key in the query string, as the gateway sends it: in the URI,
		// the URL and the params.
		obj.Request.RequestUri += "&api_key=" + secretKey
		obj.Request.Url += "&api_key=" + secretKey
		if obj.Request.Params == nil {
			obj.Request.Params = map[string]string{}
		}
		obj.Request.Params["api_key"] = secretKey
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := l.client.Dispatch(ctx, obj)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.Record.HookName, err)
		}
	}
}

// firstExampleID is the correlation id of the captured request that went
// through all five example hooks.
func firstExampleID(t *testing.T) string {
	for _, c := range plugintest.Captures(t, plugintest.Match{Gateway: "v5.14.0", APIID: "classic-examples", HookName: "ExampleResponse"}) {
		return c.Record.CorrelationID
	}
	t.Fatal("no captured ExampleResponse")
	return ""
}

// list is /api/requests' answer, as much as the tests read.
type list struct {
	Requests []struct {
		Key, ID      string
		GroupedBy    string `json:"grouped_by"`
		Status       int
		StatusSource string `json:"status_source"`
		Hooks        []struct{ Kind, Type, Name string }
		Undecodable  string
		TraceURL     string `json:"trace_url"`
	}
	More   bool
	Status inspector.Status
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func getList(t *testing.T, url string) list {
	t.Helper()
	code, body := getBody(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var l list
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return l
}

// waitList polls the list until cond holds.
func waitList(t *testing.T, url string, what string, cond func(list) bool) list {
	t.Helper()
	var l list
	grpctest.Eventually(t, 5*time.Second, func() bool { l = getList(t, url); return cond(l) }, "the inspector's list: %s", what)
	return l
}

func TestInspectorTellsOneRequestsStory(t *testing.T) {
	l := startInspectorLab(t, false, 0) // the journal holds secrets: the inspector must not show them
	l.exampleRequest(t, "story-1", "Bearer "+secretToken)
	l.exampleRequest(t, "story-denied", "Bearer not-a-lab-token")

	got := waitList(t, l.url+"/api/requests", "two requests of 5 hooks", func(x list) bool {
		return len(x.Requests) == 2 && len(x.Requests[0].Hooks) == 5 && len(x.Requests[1].Hooks) == 5
	})
	// Newest first, grouped by correlation id, hooks in lifecycle order.
	if got.Requests[0].ID != "story-denied" || got.Requests[1].ID != "story-1" {
		t.Fatalf("list: %+v", got.Requests)
	}
	var order []string
	for _, h := range got.Requests[1].Hooks {
		order = append(order, h.Type+" "+h.Name)
	}
	if want := "Pre ExamplePreRequest,CustomKeyCheck ExampleAuthCheck,PostKeyAuth ExamplePostKeyAuth,Post ExamplePost,Response ExampleResponse"; strings.Join(order, ",") != want {
		t.Errorf("hooks: %s\nwant %s", strings.Join(order, ","), want)
	}
	if r := got.Requests[0]; r.Status != 403 || r.StatusSource != "return_overrides" {
		t.Errorf("denied request: status %d from %q, want 403 from return_overrides", r.Status, r.StatusSource)
	}

	code, body := getBody(t, l.url+"/api/request?id=story-1")
	if code != http.StatusOK {
		t.Fatalf("detail: %d %s", code, body)
	}
	var d struct {
		Records []struct {
			Record     journal.Record
			Received   json.RawMessage
			Returned   json.RawMessage
			Prediction struct {
				Upstream *struct {
					Header http.Header
				}
				Client *struct{ Status int }
			}
			Problem string
		}
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 5 {
		t.Fatalf("detail: %d records", len(d.Records))
	}
	pre := d.Records[0]
	returned := &coprocess.Object{}
	if err := protojson.Unmarshal(pre.Returned, returned); err != nil {
		t.Fatal(err)
	}
	if returned.GetRequest().GetSetHeaders()["X-Example-Pre"] != "added" {
		t.Errorf("Pre's returned object lacks set_headers X-Example-Pre: %s", pre.Returned)
	}
	if pre.Prediction.Upstream == nil || pre.Prediction.Upstream.Header.Get("X-Example-Pre") != "added" {
		t.Errorf("Pre's prediction: the request going on has no X-Example-Pre: %+v", pre.Prediction)
	}
	if c := d.Records[4].Prediction.Client; c == nil || c.Status != 200 {
		t.Errorf("Response's prediction: %+v, want the client's 200", c)
	}
	_, denied := getBody(t, l.url+"/api/request?id=story-denied")
	if !strings.Contains(denied, `"status":403`) || !strings.Contains(denied, "invalid or missing bearer token") {
		t.Errorf("the denied request's detail does not predict the 403: %s", denied)
	}

	// Never a secret: the journal holds them (redaction off), no answer
	// of the inspector does.
	for _, path := range []string{"/", "/app.js", "/api/requests", "/api/requests?q=story", "/api/request?id=story-1", "/api/request?id=story-denied"} {
		_, body := getBody(t, l.url+path)
		for _, secret := range []string{secretToken, secretKey} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the secret %q", path, secret)
			}
		}
	}
	raw, err := l.redis.Client.XRange(context.Background(), l.stream, "-", "+").Result()
	if err != nil || !strings.Contains(fmt.Sprint(raw), secretToken) {
		t.Errorf("the test's premise: the journal (redaction off) should hold the token: %v", err)
	}
}

func TestInspectorFiltersAndPages(t *testing.T) {
	l := startInspectorLab(t, true, 1000)
	ctx := context.Background()
	// 3,000 records of 1,500 requests, straight into the stream: more
	// than the inspector keeps.
	w := journal.NewWriter(l.redis.Client, journal.Options{Stream: l.stream})
	start := time.Now()
	for i := range 1500 {
		for j, hook := range []string{"Pre", "Response"} {
			w.Append(&journal.Record{Time: start.Add(time.Duration(i)*time.Millisecond + time.Duration(j)*time.Microsecond),
				Kind: journal.KindDispatch, HookType: hook, HookName: "My" + hook, APIID: fmt.Sprintf("api-%d", i%3),
				Method: "GET", Path: fmt.Sprintf("/p/%d", i), CorrelationID: fmt.Sprintf("bulk-%04d", i)})
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	first := waitList(t, l.url+"/api/requests", "the newest bulk request on top", func(x list) bool {
		return len(x.Requests) > 0 && x.Requests[0].ID == "bulk-1499"
	})
	if st := first.Status; st.Records > st.Max || st.Max != 1000 {
		t.Errorf("memory bound: holds %d records, max %d (want ≤ 1000)", st.Records, st.Max)
	}
	// Pages of 100, newest first, no request twice, until the oldest held.
	seen := map[string]bool{}
	page, n := first, 0
	for {
		for _, r := range page.Requests {
			if seen[r.Key] {
				t.Fatalf("request %s listed twice", r.ID)
			}
			seen[r.Key] = true
		}
		n++
		if !page.More {
			break
		}
		page = getList(t, l.url+"/api/requests?before="+page.Requests[len(page.Requests)-1].Key)
		if n > 20 {
			t.Fatal("more than 20 pages")
		}
	}
	if len(seen) != 500 || n != 5 {
		t.Errorf("paged through %d requests in %d pages, want the 500 newest in 5", len(seen), n)
	}
	// Filters: API, hook, text.
	byAPI := getList(t, l.url+"/api/requests?api=api-1&limit=1000")
	for _, r := range byAPI.Requests {
		if (mustAtoi(t, strings.TrimPrefix(r.ID, "bulk-")))%3 != 1 {
			t.Errorf("api=api-1 lists %s", r.ID)
		}
	}
	if len(byAPI.Requests) < 160 || len(byAPI.Requests) > 170 {
		t.Errorf("api=api-1: %d requests, want a third of 500", len(byAPI.Requests))
	}
	if x := getList(t, l.url+"/api/requests?q=BULK-1234"); len(x.Requests) != 1 || x.Requests[0].ID != "bulk-1234" {
		t.Errorf("q=BULK-1234: %+v", x.Requests)
	}
	if x := getList(t, l.url+"/api/requests?hook=NoSuchHook"); len(x.Requests) != 0 {
		t.Errorf("hook=NoSuchHook: %d requests", len(x.Requests))
	}
	if code, body := getBody(t, l.url+"/api/requests?limit=abc"); code != http.StatusBadRequest {
		t.Errorf("limit=abc: %d %s, want 400", code, body)
	}
	if code, body := getBody(t, l.url+"/api/request?id=bulk-0001"); code != http.StatusNotFound || !strings.Contains(body, "newest") {
		t.Errorf("a request no longer held: %d %s, want 404 saying why", code, body)
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInspectorShowsUndecodableRecords(t *testing.T) {
	l := startInspectorLab(t, true, 0)
	ctx := context.Background()
	for _, values := range []map[string]any{
		{"record": "{not json"},
		{"something": "else"},
		{"record": `{"kind":"dispatch","hook_type":"Pre","hook_name":"X","time":"2026-01-01T00:00:00Z"}`, "received": "\xff\x00not protobuf"},
	} {
		if err := l.redis.Client.XAdd(ctx, &redis.XAddArgs{Stream: l.stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	l.exampleRequest(t, "after-the-bad-ones", "Bearer "+secretToken)
	got := waitList(t, l.url+"/api/requests", "three undecodable entries and the request after", func(x list) bool {
		return len(x.Requests) == 4 && len(x.Requests[0].Hooks) == 5
	})
	for _, r := range got.Requests[1:] {
		if r.Undecodable == "" || r.GroupedBy != inspector.Undecodable {
			t.Errorf("entry %s: %+v, want it shown as undecodable", r.Key, r)
		}
		code, body := getBody(t, l.url+"/api/request?id="+r.Key)
		if code != http.StatusOK || !strings.Contains(body, `"problem"`) {
			t.Errorf("detail of undecodable %s: %d %s", r.Key, code, body)
		}
	}
}

func TestInspectorOutlivesRedisRestart(t *testing.T) {
	l := startInspectorLab(t, true, 0)
	l.exampleRequest(t, "before-restart", "Bearer "+secretToken)
	waitList(t, l.url+"/api/requests", "the request, all five hooks journaled", func(x list) bool {
		return len(x.Requests) == 1 && len(x.Requests[0].Hooks) == 5
	})

	events, stop := liveEvents(t, l.url)
	defer stop()
	l.redis.Stop()
	down := waitList(t, l.url+"/api/requests", "Redis unreachable", func(x list) bool { return x.Status.Redis == "unreachable" })
	if down.Status.Error == "" || len(down.Requests) != 1 {
		t.Errorf("while Redis is down: %+v, want the error and the request read before", down)
	}
	rs := l.redis.Restart(t)
	l.redis = rs
	up := waitList(t, l.url+"/api/requests", "Redis back", func(x list) bool { return x.Status.Redis == "connected" })
	if !up.Status.Reconnected {
		t.Errorf("after the restart: %+v, want reconnected", up.Status)
	}
	// The plugin server's journal reconnects too; a new request shows.
	grpctest.Eventually(t, 10*time.Second, func() bool {
		l.exampleRequest(t, fmt.Sprintf("after-restart-%d", time.Now().UnixNano()), "Bearer "+secretToken)
		x := getList(t, l.url+"/api/requests?q=after-restart")
		return len(x.Requests) > 0
	}, "a request after Redis restarted")
	// The page was told, live: unreachable, then reconnected.
	seen := events.String()
	if !strings.Contains(seen, `"redis":"unreachable"`) || !strings.Contains(seen, `"reconnected":true`) {
		t.Errorf("live events did not tell of the outage and the reconnection:\n%s", seen)
	}
	// The request read before the restart is still listed; its objects
	// went with Redis, and its detail says so.
	_, body := getBody(t, l.url+"/api/request?id=before-restart")
	if !strings.Contains(body, "no longer in Redis") {
		t.Errorf("detail of a request Redis lost: %s", body)
	}
}

// liveEvents reads /api/live in the background until stop.
func liveEvents(t *testing.T, url string) (*syncText, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncText{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			out.add(string(buf[:n]))
			if err != nil {
				return
			}
		}
	}()
	return out, func() { cancel(); resp.Body.Close(); <-done }
}

type syncText struct{ v atomic.Value }

func (s *syncText) add(x string) {
	old, _ := s.v.Load().(string)
	s.v.Store(old + x)
}

func (s *syncText) String() string { v, _ := s.v.Load().(string); return v }

func TestInspectCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{nil, nil, "no Redis URL"},
		{map[string]string{config.EnvJournalRedisURL: "redis://127.0.0.1:1/0", envInspectorMaxRecords: "many"}, nil, `INSPECTOR_MAX_RECORDS="many": not a number`},
		{map[string]string{config.EnvJournalRedisURL: "redis://127.0.0.1:1/0"}, []string{"-max-records", "0"}, "must be at least 1"},
		{map[string]string{config.EnvJournalRedisURL: "nope://x"}, nil, "journal Redis URL"},
		{map[string]string{config.EnvJournalRedisURL: "redis://127.0.0.1:1/0"}, []string{"-addr", "127.0.0.1:99999"}, "listen on 127.0.0.1:99999"},
	} {
		code, _, stderr := runCmd(t, tc.vars, append([]string{"inspect"}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("inspect %v with %v: exit %d, %q; want 1 and %q", tc.args, tc.vars, code, stderr, tc.want)
		}
	}
}
