// Command devloop is `make dev`'s inner loop: it builds the plugin server
// on the host, serves it where the lab's gateway looks for it in dev mode
// (compose.dev.yaml), and on every saved change to a Go file under
// plugin-server/ or coprocess/ builds again and swaps the running server
// for the new one, printing how long the change took to go live. A build
// that fails leaves the running server in place and prints the errors.
//
//	go run ./plugin-server/internal/devloop -listen 172.17.0.1:50052
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address the plugin server listens on (the gateway's dev address)")
	poll := flag.Duration("poll", 200*time.Millisecond, "how often to look for changed files")
	flag.Parse()
	if *listen == "" {
		log.Fatal("devloop: -listen is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *poll); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal("devloop: ", err)
	}
}

var roots = []string{"plugin-server", "coprocess"}

func run(ctx context.Context, listen string, poll time.Duration) error {
	dir, err := os.MkdirTemp("", "devloop")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "plugin-server")

	var srv *exec.Cmd
	defer func() { halt(srv) }()
	last := snapshot()
	changed := time.Now()
	for {
		start := time.Now()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin+".new", "./plugin-server").CombinedOutput()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			fmt.Fprintf(os.Stderr, "devloop: build failed; the running server stays:\n%s\n", out)
		default:
			built := time.Since(start)
			halt(srv)
			if err := os.Rename(bin+".new", bin); err != nil {
				return err
			}
			srv = exec.Command(bin, "serve")
			srv.Env = append(os.Environ(), "PLUGIN_LISTEN_ADDR="+listen)
			srv.Stdout, srv.Stderr = os.Stdout, os.Stderr
			if err := srv.Start(); err != nil {
				return err
			}
			if err := waitListening(ctx, listen); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "devloop: serving on %s, %.1f s after the change (build %.1f s); watching %s\n",
				listen, time.Since(changed).Seconds(), built.Seconds(), strings.Join(roots, ", "))
		}
		// Wait for the next change.
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(poll):
			}
			if now := snapshot(); now != last {
				last, changed = now, time.Now()
				fmt.Fprintln(os.Stderr, "devloop: change seen, building")
				break
			}
		}
	}
}

// snapshot sums what identifies the Go files' state: names, sizes and
// modification times.
func snapshot() string {
	var b strings.Builder
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") && p != "go.mod" {
				return nil
			}
			if info, err := d.Info(); err == nil {
				fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
			}
			return nil
		})
	}
	return b.String()
}

// halt stops a running server: SIGTERM (its graceful stop), then SIGKILL.
func halt(c *exec.Cmd) {
	if c == nil || c.Process == nil {
		return
	}
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.Process.Kill()
		<-done
	}
}

// waitListening waits until addr accepts connections.
func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the plugin server does not listen on %s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
