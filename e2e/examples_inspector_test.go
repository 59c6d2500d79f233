// The inspector in a real headless Chromium, on the examples' requests
// through the real gateway: a request appears live with its five hooks in
// order and Pre's header highlighted; a refused bearer token shows its 403
// and the AuthFailure event; no secret sent is ever on the page or in the
// inspector's API. The demo key's request, and the helpers, are
// inspector_test.go. `make remove-examples` deletes this file.
package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/inspector/inspectortest"
)

func TestInspectorInBrowser(t *testing.T) {
	l := getLab(t)
	ctx := openInspector(t, l)
	page := func(js string) string { return inspectortest.Eval[string](t, ctx, js) }

	// A request through the five example hooks, with a token of its own
	// (the gateway caches a token's session).
	id := newID(t)
	token := "lab-token-insp" + randomHex(6)
	r := l.send(t, http.MethodPost, "/examples/anything/inspector?example_remove=1", id, `{"hello":"world"}`,
		map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json", "X-Example-Remove": "gone"})
	if r.Status != http.StatusOK {
		t.Fatalf("/examples/: %d %s", r.Status, r.Body)
	}
	// Live, within a second of the client's answer: the journal's linger,
	// the inspector's read, the page's update.
	inspectortest.Do(t, ctx, time.Second, "the request in the list within a second", chromedp.WaitVisible(inspectortest.Row(id)))
	inspectortest.Do(t, ctx, 10*time.Second, "open the request",
		chromedp.Click(inspectortest.Row(id)),
		chromedp.WaitVisible(chromedp.CSS(inspectortest.HookCard("ExampleResponse"))))
	if got := page(`[...document.querySelectorAll("table.timeline tbody tr")].map(r => r.dataset.hook).join(",")`); got != "ExamplePreRequest,ExampleAuthCheck,ExamplePostKeyAuth,ExamplePost,ExampleResponse" {
		t.Errorf("timeline: %s, want the five example hooks in lifecycle order", got)
	}
	if got := page(`[...document.querySelectorAll('` + inspectortest.HookCard("ExamplePreRequest") + ` .returned .added')].map(e => e.textContent).join("\n")`); !strings.Contains(got, `"X-Example-Pre": "added"`) {
		t.Errorf("Pre's returned object: highlighted %q, want the X-Example-Pre header ExamplePreRequest set", got)
	}
	if got := page(`document.querySelector('` + inspectortest.HookCard("ExamplePreRequest") + ` .bodies').textContent`); !strings.Contains(got, "came twice, in body and raw_body") || !strings.Contains(got, "the gateway sent") {
		t.Errorf("Pre's card: %q, want how its body came (twice: the example's raw_body_only is false) and the size the gateway sent", got)
	}
	if got := page(`document.querySelector('` + inspectortest.HookCard("ExampleAuthCheck") + ` .prediction .session-reuse').textContent`); !strings.Contains(got, "reuses it without calling this hook until") {
		t.Errorf("CustomKeyCheck's prediction: %q, want until when the gateway reuses the session", got)
	}
	if got := page(`document.querySelector("#detail dl.meta").textContent`); !strings.Contains(got, "model of gateway "+l.Version.String()) {
		t.Errorf("the request's facts: %q, want the model of gateway %s", got, l.Version)
	}
	if out := os.Getenv("E2E_INSPECTOR_PNG"); out != "" {
		// The timeline's end and Pre's objects, its header highlighted.
		inspectortest.Eval[bool](t, ctx, `(document.querySelector('`+inspectortest.HookCard("ExamplePreRequest")+`').scrollIntoView(), true)`)
		inspectortest.Eval[bool](t, ctx, `(document.querySelector('#detail').scrollBy(0, -120), true)`)
		inspectortest.Screenshot(t, ctx, out)
		t.Logf("screenshot of request %s: %s", id, out)
	}

	// A refused bearer token.
	refused := newID(t)
	badToken := "lab-token-" + strings.Repeat("x", 70) // too long: ExampleAuthCheck refuses it
	if r := l.send(t, http.MethodGet, "/examples/anything/inspector", refused, "", map[string]string{"Authorization": "Bearer " + badToken}); r.Status != http.StatusForbidden {
		t.Fatalf("/examples/ with a refused token: %d %s", r.Status, r.Body)
	}
	inspectortest.Do(t, ctx, 10*time.Second, "open the refused request by its URL",
		chromedp.Navigate(l.InspectorURL+"/?request="+refused),
		chromedp.WaitVisible(chromedp.CSS(inspectortest.HookCard("ExampleAuthCheck"))),
		// The event arrives after the hooks; the open request is redrawn.
		chromedp.WaitVisible(chromedp.CSS(`#detail table.timeline tr.event[data-hook="AuthFailure"]`)))
	if got := page(`document.querySelector("#detail dl.meta").textContent`); !strings.Contains(got, "403") {
		t.Errorf("the refused request: %q, want its 403", got)
	}
	if got := page(`document.querySelector(".prediction .client").textContent`); !strings.HasPrefix(got, "HTTP 403") {
		t.Errorf("the refused request's prediction: %q, want HTTP 403", got)
	}

	// Never a secret: not in the page, nor in any answer of its API.
	expectNoSecret(t, l, inspectortest.HTML(t, ctx), []string{token, "lab-demo-key", badToken}, id, refused)
}
