// What differs between the gateway lines the lab supports, in one table:
// each fact with the release that brought it. The suite reads the gateway's
// version from /hello and asserts what that version really does; a check
// that does not apply to a version says so in the test output (t.Log or a
// subtest skipped with the reason), never silently.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

// fact is one behaviour of the gateway that depends on its version.
type fact struct {
	// Since is the first release with the behaviour; what gateways before
	// it do instead is in Before.
	Since, Before, What string
}

// Facts by name. Where the release that changed a behaviour is not known,
// Since is the oldest release seen with it and the text says so.
var facts = struct {
	KeyID, Ready, RoundRobin, OTelPropagation, ResponseHookFailure, NaNRate fact
}{
	KeyID: fact{Since: "5.9.0",
		What:   "the session sent to the plugin carries key_id",
		Before: "no session.key_id: the journal's key is empty"},
	Ready: fact{Since: "5.8.3",
		What:   "GET /ready answers",
		Before: "no /ready endpoint"},
	RoundRobin: fact{Since: "5.8.3",
		What:   "coprocess_options.grpc_round_robin_load_balancing exists",
		Before: "one plugin server address only"},
	OTelPropagation: fact{Since: "5.11.0",
		What:   "OpenTelemetry trace context is propagated to the plugin server",
		Before: "no trace context in the gRPC metadata: each hook's span starts a trace of its own"},
	ResponseHookFailure: fact{Since: gatewaymodel.ResponseFailureAnswered, // the harness models it too
		What: "a failed Response-hook Dispatch answers the client 500 Middleware error " +
			"(5.13.1 is the oldest release seen doing so; 5.8.11 does not)",
		Before: "the gateway panics in CustomMiddlewareResponseHook.HandleError and closes the client's connection without a response"},
	NaNRate: fact{Since: "5.13.1",
		What:   "a session with a NaN rate is refused on every request, 429 (5.13.1 is the oldest release seen doing so)",
		Before: "a NaN rate is no limit: every request passes"},
}

// version is a gateway release, e.g. 5.8.11.
type version struct{ major, minor, patch int }

func parseVersion(s string) (version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	s, _, _ = strings.Cut(s, "-") // 5.15.0-rc1 counts as 5.15.0
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return version{}, fmt.Errorf("gateway version %q: want MAJOR.MINOR.PATCH", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return version{}, fmt.Errorf("gateway version %q: %v", s, err)
		}
		v[i] = n
	}
	return version{v[0], v[1], v[2]}, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

func (v version) atLeast(o version) bool {
	if v.major != o.major {
		return v.major > o.major
	}
	if v.minor != o.minor {
		return v.minor > o.minor
	}
	return v.patch >= o.patch
}

// has reports whether the lab's gateway has fact f, and logs which way it
// goes, so that the output says what was asserted for this version.
func (l *Lab) has(t *testing.T, f fact) bool {
	t.Helper()
	since, err := parseVersion(f.Since)
	if err != nil {
		t.Fatal(err)
	}
	if l.Version.atLeast(since) {
		return true
	}
	t.Logf("gateway %s is older than %s: %s; asserting that instead", l.Version, f.Since, f.Before)
	return false
}

// gatewayVersion reads the version from the gateway's /hello.
func gatewayVersion(ctx context.Context, c *http.Client, gatewayURL string) (version, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"/hello", nil)
	if err != nil {
		return version{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return version{}, fmt.Errorf("gateway /hello: %w", err)
	}
	defer resp.Body.Close()
	var hello struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&hello); err != nil {
		return version{}, fmt.Errorf("gateway /hello: %w", err)
	}
	return parseVersion(hello.Version)
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]version{"5.14.0": {5, 14, 0}, "v5.8.11": {5, 8, 11}, "5.15.0-rc1": {5, 15, 0}} {
		if got, err := parseVersion(in); err != nil || got != want {
			t.Errorf("parseVersion(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseVersion("five"); err == nil {
		t.Error("parseVersion(five) did not fail")
	}
	if !(version{5, 9, 0}).atLeast(version{5, 8, 11}) || (version{5, 8, 11}).atLeast(version{5, 9, 0}) {
		t.Error("atLeast is wrong")
	}
}

// TestReadyEndpoint: /ready answers from 5.8.3 on.
func TestReadyEndpoint(t *testing.T) {
	l := getLab(t)
	resp, err := l.http.Get(l.GatewayURL + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l.has(t, facts.Ready) {
		if resp.StatusCode != http.StatusOK {
			t.Errorf("gateway %s: /ready answers %d, want 200", l.Version, resp.StatusCode)
		}
	} else if resp.StatusCode == http.StatusOK {
		t.Errorf("gateway %s: /ready answers 200, yet the table says it came in %s", l.Version, facts.Ready.Since)
	}
}
