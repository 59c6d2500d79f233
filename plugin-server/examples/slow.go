package examples

import (
	"context"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// ExampleDelayHeader asks the slow examples to take that long, e.g.
// "X-Example-Delay: 8s" (at most MaxExampleDelay): a stand-in for a slow
// identity provider or enrichment service.
const (
	ExampleDelayHeader = "X-Example-Delay"
	MaxExampleDelay    = 30 * time.Second
)

// ExampleSlowCheck (Pre) is a check the request must pass, behind a slow
// dependency: it waits for the delay asked, or until its context ends, and
// then lets the request through with X-Example-Checked. The gateway sets
// no deadline; the plugin server's PLUGIN_DISPATCH_TIMEOUT does: past it,
// the call fails (the gateway answers 500), the check being required.
func ExampleSlowCheck(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	if err := exampleDelay(ctx, obj); err != nil {
		return nil, err
	}
	tykplugin.SetHeader(obj, "X-Example-Checked", "yes")
	return obj, nil
}

// ExampleEnrich (Pre) adds what a slow service knows, X-Example-Enriched,
// after the delay asked. Enrichment is optional: listed in
// PLUGIN_FAIL_OPEN, it fails open, and past the timeout the request goes
// on unchanged, without the header.
func ExampleEnrich(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	if err := exampleDelay(ctx, obj); err != nil {
		return nil, err
	}
	tykplugin.SetHeader(obj, "X-Example-Enriched", "yes")
	return obj, nil
}

// exampleDelay waits as the request's ExampleDelayHeader says, or until
// ctx ends; a delay that does not parse is no delay.
func exampleDelay(ctx context.Context, obj *coprocess.Object) error {
	d, err := time.ParseDuration(obj.GetRequest().GetHeaders()[ExampleDelayHeader])
	if err != nil || d <= 0 {
		return nil
	}
	t := time.NewTimer(min(d, MaxExampleDelay))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
