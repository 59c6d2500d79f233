// Package inspectortest drives the inspector's page in a real headless
// Chromium (chromedp), for the plugin server's tests and the e2e suite's.
package inspectortest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvRequire, or the e2e suite's E2E_REQUIRE, set to 1 turns a missing
// browser into a test failure instead of a skip.
const EnvRequire = "PLUGIN_TEST_REQUIRE_BROWSER"

// browsers are the names Chromium goes by (Debian's package: chromium).
var browsers = []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"}

// Browser starts a headless Chromium for the duration of t and returns a
// context for chromedp actions on one tab. Without Chromium on PATH it
// skips t, saying why, or fails it when a browser is required.
func Browser(t testing.TB) context.Context {
	t.Helper()
	var bin string
	for _, name := range browsers {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		msg := fmt.Sprintf("no Chromium on PATH (looked for %v; Debian: apt-get install chromium)", browsers)
		if required() {
			t.Fatalf("%s, and a browser is required (%s=1 or E2E_REQUIRE=1)", msg, EnvRequire)
		}
		t.Skipf("%s; %s=1 makes this a failure", msg, EnvRequire)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.WindowSize(1600, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses root otherwise
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start it now, so that a broken browser fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return ctx
}

func required() bool {
	for _, v := range []string{EnvRequire, "E2E_REQUIRE"} {
		if b, _ := strconv.ParseBool(os.Getenv(v)); b {
			return true
		}
	}
	return false
}

// Do runs chromedp actions on the browser's tab within timeout, failing t
// with the page's text on error.
func Do(t testing.TB, ctx context.Context, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v\nthe page:\n%s", what, err, PageText(ctx))
	}
}

// Eval evaluates a JavaScript expression on the page.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// PageText is the page's visible text, cut to 4,000 characters: what a
// failed test shows.
func PageText(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return s
}

// HTML is the page's whole HTML as it stands (after the script ran).
func HTML(t testing.TB, ctx context.Context) string {
	return Eval[string](t, ctx, "document.documentElement.outerHTML")
}

// Row is the list's row of the request whose id (X-Request-Id) is id.
func Row(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`#requests tr[data-id=%q]`, id)) }

// HookCard is the open request's card of the hook named name.
func HookCard(name string) string { return fmt.Sprintf(`#detail .hookcard[data-hook=%q]`, name) }

// Screenshot writes a PNG of the whole page to path.
func Screenshot(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
