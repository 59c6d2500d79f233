// Command upstream is the lab's local HTTP upstream: go-httpbin
// (github.com/mccutchen/go-httpbin, pinned in go.mod), httpbin.org's API
// without the internet. /anything echoes the request as JSON (method, url,
// args, headers, data), so what a plugin changed on the way is visible;
// /status/N, /response-headers, /cookies/set, /delay/N, /bytes/N and the
// rest are there for tests and for trying plugins. Every answer carries
// X-Upstream: go-httpbin, so that a client can tell it from the gateway's.
//
//	upstream [-listen :8000]        serve
//	upstream healthcheck [-url]     exit 0 when the server answers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// EnvListenAddr is the listen address (flag -listen).
const EnvListenAddr = "UPSTREAM_LISTEN_ADDR"

// maxBody bounds the bodies httpbin reads: the gRPC limit (32 MiB), so that
// the lab's message-size boundary is the gateway's, not the upstream's.
const maxBody = 32 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:])
	}
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	def := os.Getenv(EnvListenAddr)
	if def == "" {
		def = ":8000"
	}
	addr := fs.String("listen", def, "listen address ($"+EnvListenAddr+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv := &http.Server{Addr: *addr, Handler: Handler(log), ReadHeaderTimeout: 10 * time.Second}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	log.Info("upstream listening", "addr", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// Handler is go-httpbin with the lab's X-Upstream header.
func Handler(log *slog.Logger) http.Handler {
	h := httpbin.New(
		httpbin.WithMaxBodySize(maxBody),
		httpbin.WithObserver(httpbin.StdLogObserver(log)),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "go-httpbin")
		h.ServeHTTP(w, r)
	})
}

func healthcheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upstream healthcheck", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8000/status/200", "URL to check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %s", *url, resp.Status)
	}
	return nil
}
