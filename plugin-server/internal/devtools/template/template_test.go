package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lab as a template, as a user starts from it: gonew copies the
// checkout (served by a file-system GOPROXY, so offline) under a module
// path of the user's; the copy builds and vets, its unit tests pass, and
// after `make remove-examples` they still do. Every package the copy
// builds is the user's: nothing imports the lab's module path. The copy's
// modules come from the module cache only (GOPROXY=off): it needs nothing
// the lab does not.
func TestGonewCopyWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the copy's build and unit tests take minutes")
	}
	if os.Getenv(nestedEnv) != "" {
		t.Skip("in a copy this test made: a copy of the copy proves nothing more")
	}
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	// Whatever the lab needs is in the module cache (a no-op when it is).
	goCmd(t, root, nil, "mod", "download")

	const mod = "example.com/you/yourplugin"
	dest := filepath.Join(t.TempDir(), "yourplugin")
	var out bytes.Buffer
	if err := New(root, mod, dest, &out, &out); err != nil {
		t.Fatalf("gonew: %v\n%s", err, out.String())
	}
	if b, err := os.ReadFile(filepath.Join(dest, "go.mod")); err != nil || !strings.HasPrefix(string(b), "module "+mod+"\n") {
		t.Fatalf("the copy's go.mod: %.80q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "scripts", "up.sh")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("scripts/up.sh in the copy: %v, %v; want it executable", fi, err)
	}
	offline := []string{"GOPROXY=off", "GOFLAGS=-mod=readonly", nestedEnv + "=1"}
	check := func(stage string) {
		t.Helper()
		deps := goCmd(t, dest, offline, "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")
		for _, p := range strings.Fields(deps) {
			if strings.HasPrefix(p, "github.com/tyk-lab/grpc-plugin-lab") {
				t.Errorf("%s: the copy builds the lab's package %s, not its own", stage, p)
			}
		}
		goCmd(t, dest, offline, "vet", "./...")
		goCmd(t, dest, offline, "test", "-count=1", "./plugin-server/...")
	}
	check("the copy")

	script := filepath.Join(dest, "scripts", "remove-examples.sh")
	cmd := exec.Command("bash", script)
	cmd.Dir = dest
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make remove-examples: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dest, "plugin-server", "examples")); !os.IsNotExist(err) {
		t.Errorf("plugin-server/examples is still there after remove-examples (%v)", err)
	}
	check("the copy without the examples")
}

// nestedEnv marks the copy's own test run, where this test skips.
const nestedEnv = "LAB_TEMPLATE_TEST_COPY"

// goCmd runs the go command in dir with env added, fails the test on an
// error, and returns its standard output.
func goCmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s (in %s): %v\n%s%s", strings.Join(args, " "), dir, err, stdout.String(), stderr.String())
	}
	t.Logf("go %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Second))
	return stdout.String()
}
