// Per-API configuration: what the gateway sends a hook as
// spec["config_data"] (configDataFacts), the table "What the gateway sends
// as config_data" in docs/gateway.md. The tests that prove each fact through the examples'
// ExampleConfigured, and the per-API configuration of one hook on a
// Classic, an OAS and a misconfigured API, are examples_apiconfig_test.go.
package e2e

import (
	"os"
	"strings"
	"testing"
)

// configDataFacts are what the gateway does with an API's configuration,
// each asserted by TestConfigDataFacts (examples_apiconfig_test.go), with
// the releases it was seen on (the same on every supported line; `make
// e2e-matrix`).
var configDataFacts = []struct{ Name, What, Seen string }{
	{"every-hook", "every Dispatch of the API (Pre, CustomKeyCheck, PostKeyAuth, Post, Response) carries `spec.config_data`", configSeen},
	{"events", "events (DispatchEvent) carry none: the payload's `spec` holds only `APIID` and `OrgID`", configSeen},
	{"encoding", "the text is the gateway's own encoding of the value: keys sorted, compact, `<` `>` `&` escaped as `\\u003c` `\\u003e` `\\u0026`", configSeen},
	{"oas-same", "an OAS API's `pluginConfig.data.value` arrives as the same text as the same Classic `config_data`", configSeen},
	{"classic-disabled", "Classic `config_data_disabled: true`: no `config_data` key", configSeen},
	{"oas-disabled", "OAS `pluginConfig.data.enabled: false`: no `config_data` key", configSeen},
	{"empty", "an empty configuration (`{}`): no `config_data` key, as if there were none", configSeen},
}

const configSeen = "5.8.11, 5.13.1, 5.14.0"

// The table "What the gateway sends as config_data" in docs/gateway.md is
// configDataFacts.
func TestConfigDataFactsInREADME(t *testing.T) {
	expectFactTable(t, "What the gateway sends as config_data", configDataFacts)
}

// expectFactTable fails t unless docs/gateway.md (its section section)
// holds facts as the rows of a table "| what | seen on |".
func expectFactTable(t *testing.T, section string, facts []struct{ Name, What, Seen string }) {
	t.Helper()
	b, err := os.ReadFile("../docs/gateway.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, f := range facts {
		rows = append(rows, "| "+f.What+" | "+f.Seen+" |")
	}
	if !strings.Contains(string(b), strings.Join(rows, "\n")+"\n") {
		t.Errorf("docs/gateway.md (%q) lacks its table of facts; its rows should read:\n%s", section, strings.Join(rows, "\n"))
	}
}
