// The inspector (compose.yaml's inspector service) in a real headless
// Chromium, on requests sent through the real gateway: a request with the
// demo key appears with its hooks, and no secret sent is ever on the page or
// in the inspector's API. The examples' requests (five hooks in order, Pre's
// header highlighted, a refused bearer token with its 403 and AuthFailure
// event) are TestInspectorInBrowser, examples_inspector_test.go.
package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/inspector/inspectortest"
)

func TestInspectorInBrowserDemoKey(t *testing.T) {
	l := getLab(t)
	ctx := openInspector(t, l)

	// The demo key (a Tyk Classic auth token).
	demo := newID(t)
	if r := l.send(t, http.MethodGet, "/auth/anything/inspector", demo, "", map[string]string{"Authorization": "lab-demo-key"}); r.Status != http.StatusOK {
		t.Fatalf("/auth/ with the demo key: %d %s", r.Status, r.Body)
	}
	inspectortest.Do(t, ctx, 10*time.Second, "the demo key's request in the list", chromedp.WaitVisible(inspectortest.Row(demo)))
	inspectortest.Do(t, ctx, 10*time.Second, "open the demo key's request", chromedp.Navigate(l.InspectorURL+"/?request="+demo),
		chromedp.WaitVisible(chromedp.CSS(inspectortest.HookCard("MyResponsePlugin"))))

	// Never a secret: not in the page, nor in any answer of its API.
	expectNoSecret(t, l, inspectortest.HTML(t, ctx), []string{"lab-demo-key"}, demo)
}

// openInspector opens the lab's inspector in a headless Chromium and waits
// until it reads the journal live.
func openInspector(t *testing.T, l *Lab) context.Context {
	t.Helper()
	ctx := inspectortest.Browser(t)
	inspectortest.Do(t, ctx, 15*time.Second, "open the inspector "+l.InspectorURL,
		chromedp.Navigate(l.InspectorURL), chromedp.WaitVisible(chromedp.CSS("#status.ok")))
	return ctx
}

// expectNoSecret fails t when one of secrets is in html (the pages the test
// saw) or in an answer of the inspector: its list, the requests ids, its
// script and its page.
func expectNoSecret(t *testing.T, l *Lab, html string, secrets []string, ids ...string) {
	t.Helper()
	paths := []string{"/api/requests"}
	for _, id := range ids {
		paths = append(paths, "/api/request?id="+id)
	}
	for _, path := range append(paths, "/app.js", "/") {
		resp, err := l.http.Get(l.InspectorURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		html += string(b)
	}
	for _, s := range secrets {
		if strings.Contains(html, s) {
			t.Errorf("the inspector shows the secret %q", s)
		}
	}
}
