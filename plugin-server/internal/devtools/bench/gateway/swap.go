// -swap-bare: puts bench/bareecho in place of the lab's plugin server for
// one phase of rounds, then restores the plugin server. The bare echo runs
// in the plugin server's own image (so nothing is pulled), with the binary
// mounted in, on the lab's network under the alias plugin-server, which is
// the address the gateway dials.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	bareContainer = "tyk-grpc-lab-bench-bareecho"
	prodContainer = "tyk-grpc-lab-bench-production"
)

// productionEnv are the production settings (docs/production.md, "Production settings"): no
// journal, log level warn, redaction on, and the lab's message sizes.
var productionEnv = []string{"PLUGIN_LOG_LEVEL=warn", "PLUGIN_REDACT=true",
	"PLUGIN_GRPC_MAX_RECV_BYTES=33554432", "PLUGIN_GRPC_MAX_SEND_BYTES=33554432"}

// withProduction puts the plugin server, run from the lab's image with the
// production settings, in place of the lab's for the rest of the run, and
// returns what restores the lab's.
func (m *meter) withProduction(ctx context.Context) (restore func(), err error) {
	fmt.Printf("-production: running the plugin server's image with the production settings (%s)\n", strings.Join(productionEnv, " "))
	var args []string
	for _, e := range productionEnv {
		args = append(args, "-e", e)
	}
	return m.swapIn(ctx, "-production", prodContainer, args, nil)
}

func (m *meter) withBareEcho(ctx context.Context) (map[string][]round, error) {
	dir, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bareecho")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./plugin-server/internal/devtools/bench/bareecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build bareecho: %w", err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return nil, err
	}
	restore, err := m.swapIn(ctx, "-swap-bare", bareContainer,
		[]string{"-v", bin + ":/bareecho:ro", "--entrypoint", "/bareecho"}, []string{"-listen", ":50051"})
	if err != nil {
		return nil, err
	}
	defer restore()
	return m.phase(ctx, "bare", m.plugin, m.opts.rounds)
}

// swapIn stops the plugin server the gateway calls now (m.plugin) and runs
// the container name in its place, from the same image (so nothing is
// pulled), on the lab's network under the alias plugin-server, the address
// the gateway dials; m.plugin is then that container. restore, safe on
// Ctrl-C, removes it and starts the stopped one again.
func (m *meter) swapIn(ctx context.Context, flag, name string, runArgs, cmd []string) (restore func(), err error) {
	if m.docker == nil || m.plugin.ID == "" || m.plugin.Network == "" {
		return nil, fmt.Errorf("%s needs the Docker Engine API and the lab's plugin-server container", flag)
	}
	prev := m.plugin
	image, err := dockerCLI(ctx, "inspect", "-f", "{{.Config.Image}}", prev.ID)
	if err != nil {
		return nil, err
	}
	fmt.Printf("\n%s: stopping %s, running %s as plugin-server on %s\n", flag, prev.Name, name, prev.Network)
	restore = func() {
		// ctx may be done (Ctrl-C): a fresh one.
		rctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, _ = dockerCLI(rctx, "rm", "-f", name)
		if _, err := dockerCLI(rctx, "start", prev.ID); err != nil {
			fmt.Fprintf(os.Stderr, "RESTORE FAILED: start %s by hand (make up): %v\n", prev.Name, err)
			return
		}
		m.plugin = prev
		if err := waitClassic(rctx, m); err != nil {
			fmt.Fprintf(os.Stderr, "after restoring %s: %v\n", prev.Name, err)
			return
		}
		fmt.Printf("%s: %s restored\n\n", flag, prev.Name)
	}
	if _, err := dockerCLI(ctx, "stop", "-t", "10", prev.ID); err != nil {
		restore()
		return nil, err
	}
	_, _ = dockerCLI(ctx, "rm", "-f", name)
	args := append([]string{"run", "-d", "--name", name, "--network", prev.Network, "--network-alias", "plugin-server"}, runArgs...)
	id, err := dockerCLI(ctx, append(append(args, image), cmd...)...)
	if err != nil {
		restore()
		return nil, err
	}
	m.plugin = labContainer{ID: strings.TrimSpace(id), Name: name, Network: prev.Network}
	if err := waitClassic(ctx, m); err != nil {
		restore()
		return nil, fmt.Errorf("the gateway did not reach %s: %w", name, err)
	}
	return restore, nil
}

// waitClassic waits until /classic/ answers 200 a few times in a row: the
// gateway has reconnected to whatever answers as plugin-server.
func waitClassic(ctx context.Context, m *meter) error {
	deadline := time.Now().Add(60 * time.Second)
	okInRow := 0
	var err error
	for okInRow < 5 {
		if time.Now().After(deadline) {
			return fmt.Errorf("/classic/ not answering 200 after 60s: %v", err)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = get(cctx, m.client, m.opts.url+apis[1].path)
		cancel()
		if err != nil {
			okInRow = 0
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		okInRow++
	}
	return nil
}

func dockerCLI(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
