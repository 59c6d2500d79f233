// Helpers shared by the tests: requests with a unique X-Request-Id, reading
// the plugin server's journal (asynchronous, so polled with a deadline), and
// assertions that say what was expected and what the journal held.
package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

const (
	// journalTimeout bounds the wait for a record: the journal is written
	// asynchronously, but within milliseconds.
	journalTimeout = 15 * time.Second
	// demoKey is apis/keys/lab-demo-key.json's key, as clients send it.
	demoKey = "lab-demo-key"
)

// demoKeyID is the demo key as the gateway names it in session.key_id: with
// hashed keys (tyk.conf: hash_keys, murmur64) Tyk stores a custom key under
// the token base64({"org":...,"id":<name>,"h":...}) (its
// storage.GenerateToken), sends that token to plugins, and accepts it as the
// key too. The journal's key field is its fingerprint.
var demoKeyID = base64.StdEncoding.EncodeToString([]byte(`{"org":"default","id":"` + demoKey + `","h":"murmur64"}`))

// reply is what the client got from the gateway.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// upstreamEcho is go-httpbin's /anything answer: the request as the
// upstream received it.
type upstreamEcho struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers"`
	Args    map[string][]string `json:"args"`
	Data    string              `json:"data"`
}

// URI is the request URI the upstream received (path and query).
func (e upstreamEcho) URI() string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return e.URL
	}
	return u.RequestURI()
}

// upstream is the echo as plugintest's Upstream, for the checks that run on
// both (examplecheck).
func (e upstreamEcho) upstream() *gatewaymodel.Upstream {
	u, err := url.Parse(e.URL)
	if err != nil {
		u = &url.URL{}
	}
	return &gatewaymodel.Upstream{Method: e.Method, URL: u, Header: http.Header(e.Headers), Body: []byte(e.Data)}
}

// client is the reply as plugintest's Client.
func (r reply) client() *gatewaymodel.Client {
	return &gatewaymodel.Client{Status: r.Status, Header: r.Header, Body: r.Body}
}

// decodeEcho reads the upstream's echo from the client's body.
func decodeEcho(t *testing.T, id string, r reply) (upstreamEcho, bool) {
	t.Helper()
	var e upstreamEcho
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Method == "" {
		t.Errorf("X-Request-Id %s: the client's body is not go-httpbin's JSON echo (%v):\n%s", id, err, r.Body)
		return e, false
	}
	return e, true
}

// newID returns a correlation id unique to this run, readable in
// `make journal`: e2e-<test name>-<random>.
func newID(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, t.Name())
	return "e2e-" + name + "-" + randomHex(4)
}

// send makes one request to the gateway with X-Request-Id: id.
func (l *Lab) send(t *testing.T, method, path, id, body string, header map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return l.sendReader(t, method, path, id, rd, header)
}

// sendReader is send with the body read from rd: a strings.Reader gives a
// Content-Length, a reader of unknown length a chunked body.
func (l *Lab) sendReader(t *testing.T, method, path, id string, rd io.Reader, header map[string]string) reply {
	t.Helper()
	resp, err := l.http.Do(l.request(t, method, path, id, rd, header))
	if err != nil {
		t.Fatalf("%s %s (X-Request-Id: %s): %v", method, path, id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s (X-Request-Id: %s): reading the body: %v", method, path, id, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// request is a request to the gateway with X-Request-Id: id and header.
func (l *Lab) request(t *testing.T, method, path, id string, rd io.Reader, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, l.GatewayURL+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("X-Request-Id", id)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// expectProxied checks that the client got the upstream's answer unchanged:
// its status (status), its own header, and, for /anything, its JSON echo of
// the request as it arrived (method, URI without the listen path, the
// correlation header, the body intact).
func expectProxied(t *testing.T, r reply, id, method, upstreamURI, body string, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("X-Request-Id %s: the client got HTTP %d, expected the upstream's %d; body: %s", id, r.Status, status, r.Body)
	}
	if got := r.Header.Get("X-Upstream"); got != "go-httpbin" {
		t.Errorf("X-Request-Id %s: the answer lacks the upstream's header X-Upstream: go-httpbin (got %q): it did not come from the upstream unchanged; body: %s", id, got, r.Body)
	}
	if !strings.HasPrefix(upstreamURI, "/anything") {
		return
	}
	e, ok := decodeEcho(t, id, r)
	if !ok {
		return
	}
	if e.Method != method || e.URI() != upstreamURI {
		t.Errorf("X-Request-Id %s: the upstream received %s %s, expected %s %s", id, e.Method, e.URI(), method, upstreamURI)
	}
	if got := e.Headers["X-Request-Id"]; !slices.Equal(got, []string{id}) {
		t.Errorf("X-Request-Id %s: the upstream received X-Request-Id %q", id, got)
	}
	if e.Data != body {
		t.Errorf("X-Request-Id %s: the body did not reach the upstream intact:\nsent:     %q\nreceived: %q", id, body, e.Data)
	}
}

// mark returns the ID of the journal's last entry ("0-0" when it is empty):
// a test reads what comes after it.
func (l *Lab) mark(t *testing.T) string {
	t.Helper()
	msgs, err := l.Redis.XRevRangeN(context.Background(), journal.DefaultStream, "+", "-", 1).Result()
	if err != nil {
		t.Fatalf("reading the journal (Redis DB %d, stream %s): %v", journalDB, journal.DefaultStream, err)
	}
	if len(msgs) == 0 {
		return "0-0"
	}
	return msgs[0].ID
}

// after returns the journal's records after mark, decoded.
func (l *Lab) after(t *testing.T, mark string) []journal.Record {
	t.Helper()
	msgs, err := l.Redis.XRange(context.Background(), journal.DefaultStream, "("+mark, "+").Result()
	if err != nil {
		t.Fatalf("reading the journal (Redis DB %d, stream %s): %v", journalDB, journal.DefaultStream, err)
	}
	recs := make([]journal.Record, 0, len(msgs))
	for _, m := range msgs {
		r, err := journal.Decode(m)
		if err != nil {
			t.Fatalf("decoding journal entry %s: %v", m.ID, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitJournal polls the records after mark until cond holds, and returns
// them; when the deadline passes, the test fails showing what the journal
// held.
func (l *Lab) waitJournal(t *testing.T, mark, what string, cond func([]journal.Record) bool) []journal.Record {
	t.Helper()
	deadline := time.Now().Add(journalTimeout)
	for {
		recs := l.after(t, mark)
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected %s in the journal within %s; after the test's mark it held:\n%s", what, journalTimeout, describe(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recordsFor returns every journal record of request id (sent after mark),
// all of them: it then sends a barrier request to /classic/ and waits for
// the barrier's Pre record. The plugin server journals each call before
// answering it, in order, so a record of a request sent after id's answer
// comes after all of id's dispatch records.
func (l *Lab) recordsFor(t *testing.T, mark, id string) []journal.Record {
	t.Helper()
	return byID(l.settled(t, mark, id), id)
}

// settled returns every journal record after mark once id's are complete
// (recordsFor's barrier): the records of id and of any request answered
// before it.
func (l *Lab) settled(t *testing.T, mark, id string) []journal.Record {
	t.Helper()
	barrier := id + "-barrier"
	l.send(t, http.MethodGet, "/classic/anything/e2e-barrier", barrier, "", nil)
	return l.waitJournal(t, mark,
		fmt.Sprintf("a record of the barrier request GET /classic/e2e-barrier (X-Request-Id: %s), sent to know that the records of %s are complete", barrier, id),
		func(recs []journal.Record) bool { return len(byID(recs, barrier)) > 0 })
}

// hasEvent is a waitJournal condition: an event of correlation id id is in
// the records (the gateway fires events asynchronously, after answering).
func hasEvent(id string) func([]journal.Record) bool {
	return func(recs []journal.Record) bool {
		return slices.ContainsFunc(byID(recs, id), func(r journal.Record) bool { return r.Kind == journal.KindEvent })
	}
}

// byID keeps the records of one correlation id.
func byID(recs []journal.Record, id string) []journal.Record {
	var out []journal.Record
	for _, r := range recs {
		if r.CorrelationID == id {
			out = append(out, r)
		}
	}
	return out
}

// dispatch is one expected Dispatch call.
// pre and response are the records the plugin's two hooks (the
// template's, plugin-server/plugin) should leave: journal.Record is the
// schema of expectations too. They are yours to change, so the suite
// expects them to succeed, whatever they change (anyChange), not to echo.
func pre(apiID, method, path string) journal.Record {
	return journal.Record{Kind: journal.KindDispatch, HookType: "Pre", HookName: "MyPreRequestPlugin", APIID: apiID, Method: method, Path: path, Session: journal.SessionNone,
		Changes: []string{anyChange}}
}

func response(apiID, method, path string, status int, session, key string) journal.Record {
	return journal.Record{Kind: journal.KindDispatch, HookType: "Response", HookName: "MyResponsePlugin", APIID: apiID, Method: method, Path: path, Status: status, Session: session, Key: key,
		Changes: []string{anyChange}}
}

// anyChange, as an expected record's only change, accepts whatever the
// hook returned (unchanged or changed) as long as it neither failed nor
// failed open.
const anyChange = "(whatever the hook returned, no error)"

// asExpected is got as expectDispatches compares it with want: with want's
// anyChange in place of its changes when the hook succeeded.
func asExpected(got, want journal.Record) journal.Record {
	if slices.Equal(want.Changes, []string{anyChange}) && got.Error == "" && got.FailedOpen == "" {
		got.Changes = want.Changes
	}
	return got
}

// line renders the fields of a record that the suite asserts: the hook, the
// request, the session and what the plugin did.
func line(r journal.Record) string {
	if r.Kind == journal.KindEvent {
		return fmt.Sprintf("event %s api_id=%s correlation_id=%s %s", r.EventType, r.APIID, r.CorrelationID, r.Event)
	}
	return fmt.Sprintf("dispatch %s/%s api_id=%s %s %s status=%d session=%s key=%q → %s",
		r.HookType, r.HookName, r.APIID, r.Method, r.Path, r.Status, r.Session, r.Key, r.Outcome())
}

func describe(recs []journal.Record) string {
	if len(recs) == 0 {
		return "  (nothing)"
	}
	var b strings.Builder
	for i, r := range recs {
		fmt.Fprintf(&b, "  %d. [%s] %s\n", i+1, r.ID, line(r))
	}
	return strings.TrimRight(b.String(), "\n")
}

// expectDispatches checks that the records of request id are exactly the
// expected dispatches, in order, and that each decoded Object agrees with
// its summary. It reports whether they matched.
func expectDispatches(t *testing.T, id string, got []journal.Record, want ...journal.Record) bool {
	t.Helper()
	gotLines := make([]string, len(got))
	for i, r := range got {
		if i < len(want) {
			r = asExpected(r, want[i])
		}
		gotLines[i] = line(r)
		if r.Kind != journal.KindDispatch {
			gotLines[i] = "(" + string(r.Kind) + ") " + gotLines[i]
		}
	}
	wantLines := make([]string, len(want))
	var wb strings.Builder
	for i, d := range want {
		wantLines[i] = line(d)
		fmt.Fprintf(&wb, "  %d. %s\n", i+1, wantLines[i])
	}
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("X-Request-Id %s: expected exactly these dispatches, in order:\n%s\nthe journal held:\n%s", id, strings.TrimRight(wb.String(), "\n"), describe(got))
		return false
	}
	ok := true
	for i, r := range got {
		o, d := r.Received, want[i]
		if o == nil {
			t.Errorf("X-Request-Id %s: record %s (%s) holds no Object", id, r.ID, line(r))
			ok = false
			continue
		}
		var problems []string
		if o.GetHookType().String() != d.HookType || o.GetHookName() != d.HookName {
			problems = append(problems, fmt.Sprintf("hook %s/%s", o.GetHookType(), o.GetHookName()))
		}
		if got := o.GetSpec()["APIID"]; got != d.APIID {
			problems = append(problems, fmt.Sprintf("spec.APIID %q", got))
		}
		if got := o.GetRequest().GetRequestUri(); got != d.Path {
			problems = append(problems, fmt.Sprintf("request.request_uri %q", got))
		}
		if got := o.GetRequest().GetMethod(); got != d.Method {
			problems = append(problems, fmt.Sprintf("request.method %q", got))
		}
		switch {
		case d.HookType == "Pre" && o.GetResponse() != nil:
			problems = append(problems, "a response (Pre comes before the upstream)")
		case d.HookType == "Response" && o.GetResponse() == nil:
			problems = append(problems, "no response")
		case d.HookType == "Response" && int(o.GetResponse().GetStatusCode()) != d.Status:
			problems = append(problems, fmt.Sprintf("response.status_code %d", o.GetResponse().GetStatusCode()))
		}
		if len(problems) > 0 {
			t.Errorf("X-Request-Id %s: the Object of record %s (%s) does not match its expectation %s: it has %s", id, r.ID, line(r), line(d), strings.Join(problems, ", "))
			ok = false
		}
	}
	return ok
}

// hookStep is one dispatch as a test expects it: the hook and what the
// journal says it changed (journal.Record.Outcome).
type hookStep struct{ hookType, hookName, outcome string }

func (s hookStep) String() string { return s.hookType + "/" + s.hookName + " → " + s.outcome }

// steps reads the dispatches of recs as hookSteps.
func steps(recs []journal.Record) []hookStep {
	var out []hookStep
	for _, r := range recs {
		if r.Kind == journal.KindDispatch {
			out = append(out, hookStep{r.HookType, r.HookName, r.Outcome()})
		}
	}
	return out
}

// expectSteps checks that the dispatches of recs are exactly want, in order.
func expectSteps(t *testing.T, id string, recs []journal.Record, want ...hookStep) {
	t.Helper()
	if got := steps(recs); !slices.Equal(got, want) {
		t.Errorf("X-Request-Id %s: expected these dispatches, in order:\n  %s\nthe journal held:\n%s", id, join(want), describe(recs))
	}
}

func join(s []hookStep) string {
	lines := make([]string, len(s))
	for i, x := range s {
		lines[i] = x.String()
	}
	return strings.Join(lines, "\n  ")
}

// onlyDispatch waits for the one dispatch of request id.
func onlyDispatch(t *testing.T, l *Lab, mark, id string) journal.Record {
	t.Helper()
	recs := l.waitJournal(t, mark, "the dispatch of "+id, func(recs []journal.Record) bool { return len(byID(recs, id)) > 0 })
	got := byID(recs, id)
	if len(got) != 1 {
		t.Fatalf("request %s: %d records, want its one dispatch:\n%s", id, len(got), describe(got))
	}
	return got[0]
}

var timeoutSetting = regexp.MustCompile(`"dispatch_timeout":"([^"]+)"`)

// dispatchTimeout is the plugin server's PLUGIN_DISPATCH_TIMEOUT, as its
// start-up log line says.
func (l *Lab) dispatchTimeout(t *testing.T) time.Duration {
	t.Helper()
	if l.External {
		return 5 * time.Second // the plugin server's default (internal/server/config)
	}
	c, err := l.container(shared.ctx, "plugin-server")
	if err != nil {
		t.Fatal(err)
	}
	logs, err := l.logs(context.Background(), c.GetContainerID(), time.Time{}, false)
	if err != nil {
		t.Fatal(err)
	}
	m := timeoutSetting.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		t.Fatalf("the plugin server's log has no dispatch_timeout setting:\n%s", lastLines([]byte(logs), 20))
	}
	d, err := time.ParseDuration(m[len(m)-1][1])
	if err != nil || d <= 0 {
		t.Fatalf("the plugin server's dispatch timeout %q: %v", m[len(m)-1][1], err)
	}
	return d
}
