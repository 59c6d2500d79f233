package tykplugin_test

import (
	"os/exec"
	"strings"
	"testing"
)

// labModules are what a plugin author's code must not get by importing
// the SDK: the lab's own packages and what they are built on (Redis,
// Docker, Kubernetes, the browser, Prometheus, OpenTelemetry).
var labModules = []string{
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/", // but the SDK itself
	"github.com/redis/",
	"github.com/docker/", "github.com/moby/", "github.com/testcontainers/", "github.com/compose-spec/",
	"k8s.io/", "sigs.k8s.io/",
	"github.com/chromedp/",
	"github.com/prometheus/", "github.com/grpc-ecosystem/",
	"go.opentelemetry.io/",
}

// Importing the SDK (tykplugin, and gatewaymodel beside it) brings in the
// coprocess protocol, gRPC, protobuf and the standard library: nothing of
// the lab, and no testing package.
func TestSDKImportsNothingOfTheLab(t *testing.T) {
	const sdk = "github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".", "./gatewaymodel").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		if p == sdk || strings.HasPrefix(p, sdk+"/") {
			continue
		}
		if p == "testing" || strings.HasPrefix(p, "testing/") {
			t.Errorf("the SDK imports %s", p)
		}
		for _, m := range labModules {
			if strings.HasPrefix(p, m) {
				t.Errorf("the SDK imports %s (of %s)", p, m)
			}
		}
	}
}
