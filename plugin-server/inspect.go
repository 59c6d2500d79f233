// The inspect subcommand serves the inspector: the journal as a web page.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/inspector"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// The inspector's settings (flags of the same meaning win).
const (
	envInspectorAddr       = "INSPECTOR_ADDR"
	envInspectorMaxRecords = "INSPECTOR_MAX_RECORDS"
	envInspectorTraceURL   = "INSPECTOR_TRACE_URL"
	envInspectorGatewayURL = "INSPECTOR_GATEWAY_URL"
)

// defaultInspectorAddr is where the inspector listens unless told.
const defaultInspectorAddr = ":7070"

func inspect(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("plugin-server inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", orDefault(getenv(envInspectorAddr), defaultInspectorAddr), "HTTP listen address ($"+envInspectorAddr+")")
	url := fs.String("redis-url", getenv(config.EnvJournalRedisURL), "Redis URL of the journal ($"+config.EnvJournalRedisURL+")")
	stream := fs.String("stream", orDefault(getenv(config.EnvJournalStream), journal.DefaultStream), "journal stream key ($"+config.EnvJournalStream+")")
	maxRecords := journal.DefaultMaxLen
	if s := getenv(envInspectorMaxRecords); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("$%s=%q: not a number", envInspectorMaxRecords, s)
		}
		maxRecords = n
	}
	fs.IntVar(&maxRecords, "max-records", maxRecords, "journal records kept in memory, the newest ($"+envInspectorMaxRecords+")")
	traceURL := fs.String("trace-url", getenv(envInspectorTraceURL), "link to a trace, {trace_id} replaced, e.g. http://127.0.0.1:16686/trace/{trace_id} ($"+envInspectorTraceURL+")")
	gatewayURL := fs.String("gateway-url", getenv(envInspectorGatewayURL), "the gateway, asked for its version so that predictions match it ($"+envInspectorGatewayURL+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *url == "":
		return errors.New("no Redis URL: set -redis-url or $" + config.EnvJournalRedisURL)
	case maxRecords < 1:
		return fmt.Errorf("max records %d: must be at least 1", maxRecords)
	}
	rdb, err := newRedis(*url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	log.Info("inspector serving", "addr", lis.Addr().String(), "redis", rdb.Options().Addr, "stream", *stream)
	return serveInspector(ctx, lis, inspector.Options{Redis: rdb, Stream: *stream, MaxRecords: maxRecords,
		TraceURL: *traceURL, GatewayURL: *gatewayURL, Logger: log})
}

// serveInspector serves the inspector on lis until ctx ends.
func serveInspector(ctx context.Context, lis net.Listener, opts inspector.Options) error {
	in := inspector.New(opts)
	// The base context ends the live streams when ctx ends.
	srv := &http.Server{Handler: in.Handler(), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go in.Run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return srv.Close()
	}
	return nil
}
