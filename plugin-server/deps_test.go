package main

import (
	"encoding/json"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// The production plugin server (what the image holds) carries no test
// harness: it links no testing package, no plugintest, no test kit, and
// embeds no captures (nor any other test data).
func TestBinaryCarriesNoTestHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,EmbedFiles", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		switch {
		case p.ImportPath == "testing" || strings.HasPrefix(p.ImportPath, "testing/"),
			strings.HasSuffix(p.ImportPath, "/plugintest"),
			strings.Contains(p.ImportPath, "/internal/testkit/"),
			strings.HasSuffix(p.ImportPath, "/examplecheck"),
			strings.HasSuffix(p.ImportPath, "/inspectortest"):
			t.Errorf("the plugin server links %s", p.ImportPath)
		}
		for _, f := range p.EmbedFiles {
			if strings.Contains(f, "testdata/") || path.Ext(f) == ".jsonl" {
				t.Errorf("%s embeds %s", p.ImportPath, f)
			}
		}
	}
	if n < 50 {
		t.Fatalf("go list -deps listed %d packages", n)
	}
}
