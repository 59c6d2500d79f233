// Command devloop is `make dev`'s inner loop: it builds the plugin server
// on the host, serves it where the lab's gateway looks for it in dev mode
// (compose.dev.yaml), and on every saved change to a Go file under
// plugin-server/ or coprocess/ builds again and swaps the running server
// for the new one, printing how long the change took to go live. A build
// that fails leaves the running server in place and prints the errors.
//
// The gateway keeps one gRPC connection and, when a connection attempt
// fails, backs off a second or more: a server stopped and started again on
// the same port would cost the requests in between and that backoff. So
// devloop owns the listening address and forwards each connection to the
// current server, which listens on a loopback port of its own: a swap
// starts the new server, points new connections at it, then stops the old
// one gracefully (its calls finish; the gateway reconnects, to the new
// one). No request fails.
//
//	go run ./plugin-server/internal/devtools/devloop -listen 172.17.0.1:50052
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
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
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer lis.Close()
	var backend atomic.Value // the current server's address
	go forward(lis, &backend)

	var srv *exec.Cmd
	defer func() { halt(srv) }()
	last := snapshot()
	changed := time.Now()
	for n := 1; ; n++ {
		start := time.Now()
		bin := filepath.Join(dir, fmt.Sprintf("plugin-server-%d", n))
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./plugin-server").CombinedOutput()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			fmt.Fprintf(os.Stderr, "devloop: build failed; the running server stays:\n%s\n", out)
		default:
			built := time.Since(start)
			addr, err := freeAddr()
			if err != nil {
				return err
			}
			next := exec.Command(bin)
			next.Env = append(os.Environ(), "PLUGIN_LISTEN_ADDR="+addr)
			next.Stdout, next.Stderr = os.Stdout, os.Stderr
			if err := next.Start(); err != nil {
				return err
			}
			if err := waitListening(ctx, addr); err != nil {
				next.Process.Kill()
				fmt.Fprintf(os.Stderr, "devloop: the new server did not start (%v); the running server stays\n", err)
				break
			}
			backend.Store(addr)
			go halt(srv) // graceful: its calls finish, its connections move
			srv = next
			os.Remove(bin) // the running process keeps it
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

// forward pipes every connection to lis to the current backend.
func forward(lis net.Listener, backend *atomic.Value) {
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			addr, _ := backend.Load().(string)
			if addr == "" {
				return
			}
			b, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer b.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(b, c); done <- struct{}{} }()
			go func() { io.Copy(c, b); done <- struct{}{} }()
			<-done
		}()
	}
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
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
