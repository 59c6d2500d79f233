// -swap-bare: puts bench/bareecho in place of the lab's plugin server for
// one phase of rounds, then restores the plugin server. The bare echo runs
// in the plugin server's own image (so nothing is pulled), with the binary
// mounted in, on the lab's network under the alias plugin-server, which is
// the address the gateway dials.
package main

import (
	"context"
	"errors"
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

// productionEnv are the production settings (README, "Production"): no
// journal, log level warn, redaction on, and the lab's message sizes.
var productionEnv = []string{"PLUGIN_LOG_LEVEL=warn", "PLUGIN_REDACT=true",
	"PLUGIN_GRPC_MAX_RECV_BYTES=33554432", "PLUGIN_GRPC_MAX_SEND_BYTES=33554432"}

// withProduction puts the plugin server, run from the lab's image with the
// production settings, in place of the lab's for the rest of the run, and
// returns what restores the lab's.
func (m *meter) withProduction(ctx context.Context) (restore func(), err error) {
	if m.docker == nil || m.plugin.ID == "" || m.plugin.Network == "" {
		return nil, errors.New("-production needs the Docker Engine API and the lab's plugin-server container")
	}
	lab := m.plugin
	image, err := dockerCLI(ctx, "inspect", "-f", "{{.Config.Image}}", lab.ID)
	if err != nil {
		return nil, err
	}
	fmt.Printf("-production: stopping %s, running its image with the production settings as plugin-server (%s)\n", lab.Name, strings.Join(productionEnv, " "))
	restore = func() {
		rctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, _ = dockerCLI(rctx, "rm", "-f", prodContainer)
		if _, err := dockerCLI(rctx, "start", lab.ID); err != nil {
			fmt.Fprintf(os.Stderr, "RESTORE FAILED: start %s by hand (make up): %v\n", lab.Name, err)
			return
		}
		m.plugin = lab
		if err := waitClassic(rctx, m); err != nil {
			fmt.Fprintf(os.Stderr, "after restoring %s: %v\n", lab.Name, err)
			return
		}
		fmt.Printf("-production: %s restored\n", lab.Name)
	}
	if _, err := dockerCLI(ctx, "stop", "-t", "10", lab.ID); err != nil {
		restore()
		return nil, err
	}
	_, _ = dockerCLI(ctx, "rm", "-f", prodContainer)
	args := []string{"run", "-d", "--name", prodContainer, "--network", lab.Network, "--network-alias", "plugin-server"}
	for _, e := range productionEnv {
		args = append(args, "-e", e)
	}
	id, err := dockerCLI(ctx, append(args, image)...)
	if err != nil {
		restore()
		return nil, err
	}
	m.plugin = labContainer{ID: strings.TrimSpace(id), Name: prodContainer, Network: lab.Network}
	if err := waitClassic(ctx, m); err != nil {
		restore()
		return nil, fmt.Errorf("the gateway did not reach the production plugin server: %w", err)
	}
	return restore, nil
}

func (m *meter) withBareEcho(ctx context.Context) (map[string][]round, error) {
	if m.docker == nil || m.plugin.ID == "" || m.plugin.Network == "" {
		return nil, errors.New("-swap-bare needs the Docker Engine API and the lab's plugin-server container")
	}
	dir, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bareecho")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./plugin-server/internal/bench/bareecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build bareecho: %w", err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return nil, err
	}
	image, err := dockerCLI(ctx, "inspect", "-f", "{{.Config.Image}}", m.plugin.ID)
	if err != nil {
		return nil, err
	}

	fmt.Printf("\n-swap-bare: stopping %s, running bench/bareecho as plugin-server on %s\n", m.plugin.Name, m.plugin.Network)
	// Restore whatever happens from here on, even on Ctrl-C (ctx is done
	// then: use a fresh one).
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, _ = dockerCLI(rctx, "rm", "-f", bareContainer)
		if _, err := dockerCLI(rctx, "start", m.plugin.ID); err != nil {
			fmt.Fprintf(os.Stderr, "RESTORE FAILED: start %s by hand (make up): %v\n", m.plugin.Name, err)
			return
		}
		if err := waitClassic(rctx, m); err != nil {
			fmt.Fprintf(os.Stderr, "after restoring %s: %v\n", m.plugin.Name, err)
			return
		}
		fmt.Printf("-swap-bare: %s restored\n\n", m.plugin.Name)
	}()
	if _, err := dockerCLI(ctx, "stop", "-t", "10", m.plugin.ID); err != nil {
		return nil, err
	}
	_, _ = dockerCLI(ctx, "rm", "-f", bareContainer)
	id, err := dockerCLI(ctx, "run", "-d", "--rm", "--name", bareContainer,
		"--network", m.plugin.Network, "--network-alias", "plugin-server",
		"-v", bin+":/bareecho:ro", "--entrypoint", "/bareecho", image, "-listen", ":50051")
	if err != nil {
		return nil, err
	}
	if err := waitClassic(ctx, m); err != nil {
		return nil, fmt.Errorf("the gateway did not reach the bare echo: %w", err)
	}
	return m.phase(ctx, "bare", labContainer{ID: strings.TrimSpace(id), Name: bareContainer}, m.opts.rounds)
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
