// Message sizes: the largest body docs/gateway.md documents passes through both
// of /classic/'s hooks with the lab's echoing upstream; 1 MiB more fails as
// documented (500 "Middleware error", the gateway logging gRPC's size
// error). The Response hook's Object carries the request body and the
// response body, each twice (body and raw_body): with an upstream that
// echoes the request, four times the body must fit in the gRPC limit.
package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// largestBody is the largest request body that passes through a Pre and a
// Response hook with an echoing upstream, for a gRPC limit of limit bytes:
// a quarter of it, less 1 MiB of headroom for headers, the session and the
// echo's own JSON (docs/gateway.md, "Message sizes").
func largestBody(limit int) int { return limit/4 - 1<<20 }

// grpcLimit is the lab's gRPC message limit, GRPC_MAX_MESSAGE_BYTES in .env.
func grpcLimit(t *testing.T) int {
	t.Helper()
	root, _ := filepath.Abs("..")
	env, err := labEnv(root)
	if err != nil {
		t.Fatal(err)
	}
	limit, err := strconv.Atoi(env.get("GRPC_MAX_MESSAGE_BYTES", "33554432"))
	if err != nil {
		t.Fatalf("GRPC_MAX_MESSAGE_BYTES: %v", err)
	}
	return limit
}

func TestMessageSizeBoundary(t *testing.T) {
	l := getLab(t)
	limit := grpcLimit(t)
	fits := largestBody(limit)
	t.Logf("gRPC limit %d MiB: the largest documented body is %d MiB", limit>>20, fits>>20)

	// It passes both hooks, whole.
	id := newID(t)
	mark := l.mark(t)
	body := strings.Repeat("a", fits)
	r := l.send(t, http.MethodPost, "/classic/anything/e2e/size", id, body, map[string]string{"Content-Type": "text/plain"})
	var e upstreamEcho
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &e) != nil || len(e.Data) != len(body) {
		t.Fatalf("X-Request-Id %s: a %d MiB body: HTTP %d, %d bytes back (the upstream echoed %d bytes of body); want 200 and the body whole",
			id, fits>>20, r.Status, len(r.Body), len(e.Data))
	}
	expectDispatches(t, id, l.recordsFor(t, mark, id),
		pre("classic-keyless", http.MethodPost, "/classic/anything/e2e/size"),
		response("classic-keyless", http.MethodPost, "/classic/anything/e2e/size", http.StatusOK, journal.SessionEmpty, ""))

	// 1 MiB more: the Response hook's Object is over the limit.
	since := time.Now()
	id = newID(t)
	mark = l.mark(t)
	l.expectResponseHookTooLarge(t, "/classic/anything/e2e/size", id, "text/plain", strings.Repeat("a", fits+1<<20))
	// The Pre hook (twice the body) still fits; the Response hook never
	// reaches the plugin server.
	expectDispatches(t, id, l.recordsFor(t, mark, id), pre("classic-keyless", http.MethodPost, "/classic/anything/e2e/size"))

	if l.External {
		t.Log("external mode: the gateway's log is not read")
		return
	}
	// What the gateway logs of it, at its default level: for a Response
	// hook only that the hook failed (gRPC's error is at debug level).
	l.expectGatewayLog(t, since, `"Failed to process response"`, "mw=CustomMiddlewareResponseHook")

	// Over half the limit: the Pre hook's Object is too large; the upstream
	// is never called, and the gateway logs gRPC's error with both sizes.
	since = time.Now()
	id = newID(t)
	mark = l.mark(t)
	r = l.send(t, http.MethodPost, "/classic/anything/e2e/size", id, strings.Repeat("a", limit/2+1<<20), map[string]string{"Content-Type": "text/plain"})
	if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "Middleware error") {
		t.Errorf("X-Request-Id %s: a %d MiB body: HTTP %d %.200s; want 500 Middleware error", id, (limit/2+1<<20)>>20, r.Status, r.Body)
	}
	expectDispatches(t, id, l.recordsFor(t, mark, id))
	l.expectGatewayLog(t, since, `"Dispatch error"`, "larger than max")
}

// expectResponseHookTooLarge sends body, too large for the Response
// hook's Object: 500 Middleware error, or no answer from a gateway that
// panics on a failed Response hook (5.8.11).
func (l *Lab) expectResponseHookTooLarge(t *testing.T, path, id, contentType, body string) {
	t.Helper()
	if l.has(t, facts.ResponseHookFailure) {
		r := l.send(t, http.MethodPost, path, id, body, map[string]string{"Content-Type": contentType})
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "Middleware error") {
			t.Errorf("X-Request-Id %s: %s, a %d MiB body: HTTP %d %.200s; want 500 Middleware error", id, path, len(body)>>20, r.Status, r.Body)
		}
	} else if err := l.sendErr(http.MethodPost, path, id, body); err == nil {
		t.Errorf("X-Request-Id %s: %s, a %d MiB body got an answer; gateway %s was seen to drop the connection", id, path, len(body)>>20, l.Version)
	} else {
		t.Logf("X-Request-Id %s: no answer, as expected of gateway %s: %v", id, l.Version, err)
	}
}

// largestRawBody is largestBody with raw_body_only on every hook: each
// body travels once, so the Response hook's Object carries twice the body
// (request and echo), not four times.
func largestRawBody(limit int) int { return limit/2 - 1<<20 }

// With raw_body_only (/bodies-raw/: Pre, Post and Response hooks) a body
// twice as large passes: the largest documented passes whole there and
// fails on the same API without it (/bodies/); 1 MiB more fails there too.
func TestMessageSizeBoundaryRawBodyOnly(t *testing.T) {
	l := getLab(t)
	limit := grpcLimit(t)
	fits := largestRawBody(limit)
	t.Logf("gRPC limit %d MiB: with raw_body_only the largest documented body is %d MiB (without, %d MiB)", limit>>20, fits>>20, largestBody(limit)>>20)
	body := strings.Repeat("a", fits)
	id := newID(t)
	mark := l.mark(t)
	r := l.send(t, http.MethodPost, "/bodies-raw/anything/e2e/size", id, body, map[string]string{"Content-Type": "text/plain"})
	var e upstreamEcho
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &e) != nil || len(e.Data) != len(body) {
		t.Fatalf("X-Request-Id %s: /bodies-raw/, a %d MiB body: HTTP %d, %d bytes back (the upstream echoed %d bytes of body); want 200 and the body whole",
			id, fits>>20, r.Status, len(r.Body), len(e.Data))
	}
	for _, rec := range l.recordsFor(t, mark, id) {
		if rec.Bodies != journal.BodiesRawOnly || rec.Bytes > limit {
			t.Errorf("X-Request-Id %s: %s journaled bodies %q, %d bytes; want %q, under %d", id, rec.HookType, rec.Bodies, rec.Bytes, journal.BodiesRawOnly, limit)
		}
	}
	l.expectResponseHookTooLarge(t, "/bodies/anything/e2e/size", newID(t), "text/plain", body)
	l.expectResponseHookTooLarge(t, "/bodies-raw/anything/e2e/size", newID(t), "text/plain", strings.Repeat("a", fits+1<<20))

	// A JSON body comes back twice in go-httpbin's echo (data and json):
	// the Response hook's Object is 6 × the body without raw_body_only, 3 ×
	// with it. The README's trial posts JSON.
	both, raw := largestJSONBody(limit, false), largestJSONBody(limit, true)
	t.Logf("a JSON body echoed: %d MiB passes without raw_body_only, %d MiB with it", both>>20, raw>>20)
	for _, c := range []struct {
		path string
		size int
		ok   bool
	}{
		{"/bodies/", both, true},
		{"/bodies/", raw, false},
		{"/bodies-raw/", raw, true},
	} {
		id := newID(t)
		doc := `{"data":"` + strings.Repeat("a", c.size-len(`{"data":""}`)) + `"}`
		if !c.ok {
			l.expectResponseHookTooLarge(t, c.path+"anything/e2e/size", id, "application/json", doc)
			continue
		}
		r := l.send(t, http.MethodPost, c.path+"anything/e2e/size", id, doc, map[string]string{"Content-Type": "application/json"})
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &e) != nil || len(e.Data) != len(doc) {
			t.Errorf("X-Request-Id %s: %s, a %d MiB JSON body: HTTP %d, the upstream echoed %d bytes; want 200 and the body whole", id, c.path, c.size>>20, r.Status, len(e.Data))
		}
	}
}

// largestJSONBody is the largest JSON body that passes a Pre and a Response
// hook with go-httpbin's echo, which holds a JSON body twice: limit less 2
// MiB of headroom, over 6 (each of 3 bodies twice) or, with raw_body_only,
// over 3.
func largestJSONBody(limit int, rawBodyOnly bool) int {
	if rawBodyOnly {
		return (limit - 2<<20) / 3
	}
	return (limit - 2<<20) / 6
}

// expectGatewayLog waits for a line of the gateway's log, written since
// since (to the second), that holds every one of parts, and shows it.
func (l *Lab) expectGatewayLog(t *testing.T, since time.Time, parts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gw, err := l.container(ctx, "tyk-gateway")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs, err := l.logs(ctx, gw.GetContainerID(), since, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(logs, "\n") {
			if lineHasAll(line, parts) {
				t.Logf("the gateway logged: %s", strings.TrimSpace(strings.ToValidUTF8(line, "")))
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the gateway's log (since %s) has no line with %q", since.Format(time.TimeOnly), parts)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func lineHasAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// sendErr makes a request for which no answer is expected and returns the
// client's error (nil if an answer came).
func (l *Lab) sendErr(method, path, id, body string) error {
	req, err := http.NewRequest(method, l.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
