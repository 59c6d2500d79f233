// Command upstream is the lab's local HTTP upstream: it answers every
// request with a JSON echo of what it received (method, URI, headers, body),
// so that what a plugin changed on the way is visible, and the lab needs no
// internet.
//
//	upstream [-listen :8000]        serve
//	upstream healthcheck [-url]     exit 0 when the server answers /healthz
//
// A request may ask for a status code with the query parameter
// echo_status=NNN (used by the e2e tests).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// EnvListenAddr is the listen address (flag -listen).
const EnvListenAddr = "UPSTREAM_LISTEN_ADDR"

// maxBody bounds what the echo reads of a request body.
const maxBody = 32 << 20

// Echo is the JSON the upstream answers with.
type Echo struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

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
	srv := &http.Server{Addr: *addr, Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
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

// Handler echoes every request; /healthz answers 200 "ok".
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		code := http.StatusOK
		if s := r.URL.Query().Get("echo_status"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n >= 200 && n <= 599 {
				code = n
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "echo")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(Echo{Method: r.Method, URI: r.RequestURI, Headers: r.Header, Body: string(body)})
	})
	return mux
}

func healthcheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upstream healthcheck", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8000/healthz", "URL to check")
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
