// The inspector's page in a real headless Chromium (inspectortest), on
// what the plugin server really journals: the live list, one request's
// story, an undecodable entry, and Redis going away and coming back.
package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/inspector/inspectortest"
)

func TestInspectorPageInBrowser(t *testing.T) {
	ctx := inspectortest.Browser(t)
	l := startInspectorLab(t, true, 0)
	page := func(js string) string { return inspectortest.Eval[string](t, ctx, js) }

	inspectortest.Do(t, ctx, 10*time.Second, "open the page", chromedp.Navigate(l.url), chromedp.WaitVisible(chromedp.CSS("#empty")))
	if s := page(`document.querySelector("#status").textContent`); s != "live" {
		t.Errorf("status: %q, want live", s)
	}

	// Live: a request shows up without a reload, within a second.
	l.exampleRequest(t, "browser-1", "Bearer "+secretToken)
	inspectortest.Do(t, ctx, time.Second, "the request, live, within a second", chromedp.WaitVisible(inspectortest.Row("browser-1")))

	// Its story: five hooks in lifecycle order, Pre's header highlighted,
	// and the model's prediction.
	inspectortest.Do(t, ctx, 5*time.Second, "open the request",
		chromedp.Click(inspectortest.Row("browser-1")),
		chromedp.WaitVisible(chromedp.CSS(inspectortest.HookCard("ExampleResponse"))))
	if got := page(`[...document.querySelectorAll("table.timeline tbody tr")].map(r => r.dataset.hook).join(",")`); got != "ExamplePreRequest,ExampleAuthCheck,ExamplePostKeyAuth,ExamplePost,ExampleResponse" {
		t.Errorf("timeline: %s", got)
	}
	if got := page(`[...document.querySelectorAll('` + inspectortest.HookCard("ExamplePreRequest") + ` .returned .added')].map(e => e.textContent).join("\n")`); !strings.Contains(got, `"X-Example-Pre": "added"`) {
		t.Errorf("Pre's returned object: highlighted %q, want the X-Example-Pre it set", got)
	}
	if got := page(`document.querySelector('` + inspectortest.HookCard("ExamplePreRequest") + ` .prediction').textContent`); !strings.Contains(got, "X-Example-Pre: added") || !strings.Contains(got, "prediction") {
		t.Errorf("Pre's prediction: %q", got)
	}
	if got := page(`location.search`); got != "?request=browser-1" {
		t.Errorf("the URL names the request: %q", got)
	}

	// A request id in the URL opens that request directly.
	l.exampleRequest(t, "browser-denied", "Bearer not-a-lab-token")
	inspectortest.Do(t, ctx, 10*time.Second, "open a request by its URL",
		chromedp.Navigate(l.url+"/?request=browser-denied"),
		chromedp.WaitVisible(chromedp.CSS(inspectortest.HookCard("ExampleAuthCheck"))))
	if got := page(`document.querySelector("#detail dl.meta").textContent`); !strings.Contains(got, "403") {
		t.Errorf("the denied request: %q, want its 403", got)
	}

	// An entry the inspector cannot decode is shown as such.
	if err := l.redis.Client.XAdd(context.Background(), &redis.XAddArgs{Stream: l.stream, Values: map[string]any{"record": "{garbage"}}).Err(); err != nil {
		t.Fatal(err)
	}
	inspectortest.Do(t, ctx, 5*time.Second, "the undecodable entry", chromedp.WaitVisible(chromedp.CSS("#requests tr.bad")))

	// Redis goes away: the page says so, keeps what it shows, and says
	// when Redis is back.
	l.redis.Stop()
	inspectortest.Do(t, ctx, 10*time.Second, "the outage shown", chromedp.WaitVisible(chromedp.CSS("#status.down")))
	if got := page(`document.querySelector("#status").textContent`); !strings.Contains(got, "Redis unreachable") {
		t.Errorf("status during the outage: %q", got)
	}
	if n := inspectortest.Eval[int](t, ctx, `document.querySelectorAll("#requests tr.req").length`); n != 3 {
		t.Errorf("during the outage the list shows %d rows, want the 3 read before", n)
	}
	l.redis = l.redis.Restart(t)
	inspectortest.Do(t, ctx, 10*time.Second, "the reconnection shown", chromedp.WaitVisible(chromedp.CSS("#status.ok")))
	if got := page(`document.querySelector("#status").textContent`); !strings.Contains(got, "reconnected") {
		t.Errorf("status after the outage: %q", got)
	}

	// Never a secret in the page.
	if html := inspectortest.HTML(t, ctx); strings.Contains(html, secretToken) || strings.Contains(html, secretKey) {
		t.Error("the page shows a secret")
	}
}
