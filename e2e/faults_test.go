// Faults: with the plugin server's container stopped, the gateway answers
// 500 {"error": "Middleware error"} on a plugin API; once it is started
// again, requests succeed (and are journaled) within a bounded time, which
// the test reports. Skipped in external mode: the suite never stops a lab it
// did not start.
package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// recoveryLimit bounds how long the gateway may take to use the plugin
// server again: it reconnects on gRPC's backoff (about 1 s after a 1 s
// outage, 13.7 s after a 45 s one in the reference captures).
const recoveryLimit = 90 * time.Second

func TestPluginServerOutage(t *testing.T) {
	l := getLab(t)
	if l.External {
		t.Skip("external mode: this test stops the plugin server, and the suite never stops a lab it did not start")
	}
	ctx := context.Background()
	ps, err := l.container(ctx, "plugin-server")
	if err != nil {
		t.Fatal(err)
	}
	// Whatever happens below, the next tests get a running plugin server.
	t.Cleanup(func() {
		if st, err := ps.State(ctx); err == nil && !st.Running {
			if err := ps.Start(ctx); err != nil {
				t.Errorf("restarting the plugin server after the test: %v", err)
			}
		}
	})

	stopTimeout := 10 * time.Second
	if err := ps.Stop(ctx, &stopTimeout); err != nil {
		t.Fatalf("stopping the plugin server: %v", err)
	}
	stopped := time.Now()

	// The first request may wait for gRPC's connect timeout (20 s): the
	// stopped container's address drops packets rather than refusing them.
	for i := range 3 {
		id := newID(t)
		sent := time.Now()
		r := l.send(t, http.MethodGet, "/classic/anything/e2e/outage", id, "", nil)
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "Middleware error") {
			t.Errorf("request %d with the plugin server stopped (X-Request-Id %s): got HTTP %d %s, expected 500 with \"Middleware error\"", i+1, id, r.Status, r.Body)
		}
		t.Logf("request %d with the plugin server stopped: HTTP %d in %s", i+1, r.Status, time.Since(sent).Round(10*time.Millisecond))
	}

	if err := ps.Start(ctx); err != nil {
		t.Fatalf("starting the plugin server again: %v", err)
	}
	started := time.Now()
	t.Logf("plugin server stopped for %s", started.Sub(stopped).Round(10*time.Millisecond))

	// Poll until the gateway uses it again.
	var (
		last     reply
		attempts int
		id       string
		mark     string
	)
	for {
		attempts++
		id = newID(t)
		mark = l.mark(t)
		last = l.send(t, http.MethodGet, "/classic/anything/e2e/recovered", id, "", nil)
		if last.Status == http.StatusOK {
			break
		}
		if time.Since(started) > recoveryLimit {
			t.Fatalf("the gateway did not recover within %s of the plugin server starting again (%d attempts); last answer: HTTP %d %s",
				recoveryLimit, attempts, last.Status, last.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the gateway recovered %s after the plugin server started again (%d attempts)", time.Since(started).Round(10*time.Millisecond), attempts)

	// And the first successful request made both dispatches, journaled.
	path := "/classic/anything/e2e/recovered"
	expectDispatches(t, id, l.recordsFor(t, mark, id),
		pre("classic-keyless", http.MethodGet, path),
		response("classic-keyless", http.MethodGet, path, http.StatusOK, journal.SessionEmpty, ""))
}
