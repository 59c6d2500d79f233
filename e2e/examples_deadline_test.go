// The deadline the gateway never sets, on the real gateway, with the
// examples' slow hooks: a hook slower than the plugin server's
// PLUGIN_DISPATCH_TIMEOUT ends at the timeout with the gateway's 500
// (ExampleSlowCheck, /slow/), or, listed in PLUGIN_FAIL_OPEN, lets the
// request go on unchanged (ExampleEnrich, /enrich/); the journal says which,
// with the hook and the time. `make remove-examples` deletes this file.
package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDeadlineTheGatewayLacks(t *testing.T) {
	l := getLab(t)
	timeout := l.dispatchTimeout(t)
	delay := map[string]string{"X-Example-Delay": (3 * timeout).String()}
	// The client's answer comes at the timeout, plus the gateway's and the
	// network's share.
	within := func(t *testing.T, took time.Duration) {
		if took < timeout || took > timeout+2*time.Second {
			t.Errorf("the client waited %v, want the timeout (%v) and at most 2 s more", took, timeout)
		}
	}

	t.Run("a required hook fails the request", func(t *testing.T) {
		id, mark := newID(t), l.mark(t)
		start := time.Now()
		r := l.send(t, http.MethodGet, "/slow/anything/deadline", id, "", delay)
		within(t, time.Since(start))
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "Middleware error") {
			t.Errorf("the client got %d %s, want the gateway's 500 Middleware error", r.Status, r.Body)
		}
		rec := onlyDispatch(t, l, mark, id)
		if !strings.Contains(rec.Error, "deadline exceeded: hook ExampleSlowCheck (Pre) took longer than "+timeout.String()) ||
			rec.DurationUS < timeout.Microseconds() {
			t.Errorf("journaled %s, want the deadline exceeded, the hook and the time", line(rec))
		}
	})

	t.Run("a fail-open hook lets the request go on unchanged", func(t *testing.T) {
		id, mark := newID(t), l.mark(t)
		start := time.Now()
		r := l.send(t, http.MethodGet, "/enrich/anything/deadline", id, "", delay)
		within(t, time.Since(start))
		if r.Status != http.StatusOK {
			t.Fatalf("the client got %d %s, want the upstream's 200", r.Status, r.Body)
		}
		if e, ok := decodeEcho(t, id, r); ok && e.Headers["X-Example-Enriched"] != nil {
			t.Errorf("the upstream got X-Example-Enriched: the request should have gone on unchanged")
		}
		rec := onlyDispatch(t, l, mark, id)
		if rec.Error != "" || !strings.Contains(rec.FailedOpen, "deadline exceeded: hook ExampleEnrich (Pre)") || len(rec.Changes) != 0 {
			t.Errorf("journaled %s (failed_open %q), want it failed open on the deadline, unchanged", line(rec), rec.FailedOpen)
		}
	})

	t.Run("in time, both hooks do their work", func(t *testing.T) {
		for path, header := range map[string]string{"/slow/anything/deadline": "X-Example-Checked", "/enrich/anything/deadline": "X-Example-Enriched"} {
			id := newID(t)
			r := l.send(t, http.MethodGet, path, id, "", map[string]string{"X-Example-Delay": "100ms"})
			if e, ok := decodeEcho(t, id, r); ok && strings.Join(e.Headers[header], ",") != "yes" {
				t.Errorf("%s: the upstream got %s %q, want yes", path, header, e.Headers[header])
			}
		}
	})
}
